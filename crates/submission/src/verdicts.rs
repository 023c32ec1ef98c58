//! Which failures of the runner and of calls are the submission's fault and which the harness's.

use judge_core::Verdict;
use judge_runner::{CallError, RunnerError, Value};

/// Turns a failed call into the verdict it deserves: a protocol failure is ours; a missing
/// name or a call the submission's signature refused is the interface not followed (a contract
/// fault); everything else (exception, timeout, memory) is the submission's.
pub fn call_error_verdict(error: &CallError) -> Verdict {
    match error {
        _ if error.is_harness_fault() => Verdict::harness_error(error.to_string()),
        CallError::Missing { .. } | CallError::Contract { .. } => {
            Verdict::contract_error(error.to_string())
        }
        _ => Verdict::error(error.to_string()),
    }
}

/// A return value whose type or shape is not what the interface declares: the answer could
/// not be read, so the interface was not followed (a contract fault), not a wrong answer.
pub fn return_contract_error(function: &str, returned: &Value, reason: &str) -> Verdict {
    Verdict::contract_error(format!(
        "{function} returned {}: {reason}",
        returned.type_name()
    ))
}

/// [`call_error_verdict`] for a worker started by [`Session::spawn_with_memory_limit`](crate::Session::spawn_with_memory_limit): under
/// the memory cap, running out of memory is exactly what a memory criterion looks for, so it
/// is a FAIL, not an ERROR.
pub fn capped_call_error_verdict(error: &CallError) -> Verdict {
    match error {
        CallError::MemoryLimit {
            limit_bytes,
            detail,
        } => Verdict::fail(format!(
            "ran out of memory under a {limit_bytes} B address-space cap: {detail}"
        )),
        other => call_error_verdict(other),
    }
}

/// A submission folder the runner refuses (too large, unreadable) is the submission's fault;
/// every other runner failure (no sandbox, no interpreter) is the harness's.
pub(crate) fn runner_error_verdict(error: &RunnerError) -> Verdict {
    match error {
        RunnerError::Submission { .. } => Verdict::error(error.to_string()),
        _ => Verdict::harness_error(error.to_string()),
    }
}
