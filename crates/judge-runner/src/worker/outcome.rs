//! What a call gives back: its value and the judge's measurements, or why it produced none.

use std::path::Path;

use crate::value::Value;

/// A call that returned.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// What the call returned.
    pub value: Value,
    /// Wall seconds of the call itself, measured in the worker (`perf_counter` captured
    /// before the submission loaded).
    pub seconds: f64,
    /// Wall seconds of the whole round trip, measured by the judge (argument and result
    /// transfer included): an upper bound the submission cannot shrink.
    pub round_trip_seconds: f64,
    /// tracemalloc's peak during the call (tracing runs only around the call). `None` when the
    /// submission stopped tracing itself, so no peak can be trusted.
    pub peak_bytes: Option<u64>,
    /// Calls the submission made on grader fixtures during this call, as the worker counted
    /// them (in the submission's process: a figure it can forge).
    pub fixture_calls: u64,
    /// Calls the submission made on remote fixtures during this call, counted by the judge.
    pub remote_calls: u64,
    /// The worker's resident peak during the call above its size when the request was sent,
    /// plus what importing the submission added to it, beyond the argument and result arrays:
    /// the call's working memory, a buffer made at import included. Read by the judge from
    /// `/proc`; `None` when it could not be. (Memory kept from earlier calls is not charged:
    /// the worker keeps returned objects for the judge, which would be charged too.)
    pub resident_extra_bytes: Option<u64>,
}

/// Why a call produced no value. `Display` is a one-line piece of evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The submission raised.
    #[error("{}", exception_line(type_name, message, traceback_tail))]
    Exception {
        /// The exception's class (`ValueError`).
        type_name: String,
        /// `str()` of the exception.
        message: String,
        /// The last lines of the traceback.
        traceback_tail: String,
    },
    /// The call ran past its time; the whole sandbox was killed.
    #[error("timed out after {seconds:.1} s ({}); the sandbox was killed", if *total { "total time limit" } else { "per-call limit" })]
    Timeout {
        /// How long the call had run when it was given up.
        seconds: f64,
        /// Whether the sandbox's total time limit ran out, not the per-call one.
        total: bool,
    },
    /// An allocation failed under the address-space limit (Python's `MemoryError`).
    #[error("memory limit of {} exceeded: {detail}", format_bytes(*limit_bytes))]
    MemoryLimit {
        /// The address-space limit the worker ran under.
        limit_bytes: u64,
        /// The exception's type and message.
        detail: String,
    },
    /// The worker process ended (crash, `os._exit`, killed).
    #[error("the worker died ({status}){}", last_line_suffix(stderr_tail))]
    WorkerDied {
        /// How it ended ("killed by signal 11 (SIGSEGV)").
        status: String,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The submission lacks what was asked for (module, function, method).
    #[error("missing {name}: {detail}")]
    Missing {
        /// What was asked for.
        name: String,
        /// What was looked for and not found.
        detail: String,
    },
    /// The submission's signature refused the call itself (wrong arity or parameter names):
    /// the interface was not followed. `detail` names what was expected and what was found.
    #[error("{detail}")]
    Contract {
        /// The function or method called.
        name: String,
        /// Expected signature against the one found, and Python's complaint.
        detail: String,
    },
    /// The call imported a blocked framework.
    #[error("import of {module} is not allowed (numpy only)")]
    Blocked {
        /// The module imported (`torch`).
        module: String,
    },
    /// An earlier failure (timeout, death) stopped the worker; nothing runs any more.
    #[error("not run: {reason}")]
    Stopped {
        /// The failure that stopped it, as evidence.
        reason: String,
    },

    /// The worker reported that the judge's request made no sense (a judge bug).
    #[error("bridge protocol error: {0}")]
    Protocol(String),
    /// Traffic on the worker channel that the worker does not send: garbage, a line answering
    /// no request or the wrong one, an over-long line, a result that cannot be decoded.
    /// Only code in the worker's process can write there, so it is the submission's doing.
    #[error("the worker channel was tampered with: {0}")]
    Tampered(String),
}

impl CallError {
    /// True for failures that may be the judge's own fault rather than the submission's.
    pub fn is_harness_fault(&self) -> bool {
        matches!(self, CallError::Protocol(_))
    }
}

fn exception_line(type_name: &str, message: &str, traceback: &str) -> String {
    let first_line = message.lines().next().unwrap_or("");
    let short: String = first_line.chars().take(240).collect();
    // The innermost frame: `  File "solution.py", line 12, in add`.
    let location = traceback
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("File \""))
        .and_then(|rest| {
            let (file, rest) = rest.split_once('"')?;
            let line_no = rest.trim_start_matches(", line ").split(',').next()?;
            let file = Path::new(file).file_name()?.to_string_lossy().into_owned();
            Some(format!(" (at {file}:{line_no})"))
        })
        .unwrap_or_default();
    format!("{type_name}: {short}{location}")
}

fn last_line_suffix(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.chars().take(240).collect::<String>()))
        .unwrap_or_default()
}

fn format_bytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_evidence_names_the_innermost_frame() {
        let traceback = "Traceback (most recent call last):\n  File \"/tmp/judge-x/work/sol.py\", line 3, in add\n    return helper(a)\n  File \"/tmp/judge-x/work/util.py\", line 9, in helper\n    raise ValueError('bad')\nValueError: bad";
        assert_eq!(
            exception_line("ValueError", "bad\nsecond line", traceback),
            "ValueError: bad (at util.py:9)"
        );
        assert_eq!(exception_line("KeyError", "'k'", ""), "KeyError: 'k'");
    }

    #[test]
    fn worker_died_shows_the_last_stderr_line() {
        let error = CallError::WorkerDied {
            status: "killed by signal 11 (SIGSEGV)".into(),
            stderr_tail: "Fatal Python error: Segmentation fault\n\n".into(),
        };
        assert_eq!(
            error.to_string(),
            "the worker died (killed by signal 11 (SIGSEGV)): Fatal Python error: Segmentation fault"
        );
    }
}
