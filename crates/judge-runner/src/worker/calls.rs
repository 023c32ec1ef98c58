//! Calling the submission: functions, methods of held objects, grader fixtures, and what each
//! call measured.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{CallError, CallOutcome, Worker, wire};
use crate::value::{ObjHandle, Value};

/// What to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function (or class) of the submission's module.
    Function(String),
    /// A method of an object held by the worker (a fixture, or an object the submission
    /// returned). Calls the judge makes on a fixture are not counted as the submission's.
    Method(ObjHandle, String),
}

impl Worker {
    /// Calls a function of the submission (or a method of a held object) with positional and
    /// keyword arguments, within `timeout` (and the sandbox's total time).
    pub fn call(
        &mut self,
        target: Target,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
        timeout: Duration,
    ) -> Result<CallOutcome, CallError> {
        let target = match target {
            Target::Function(name) => json!({"function": name}),
            Target::Method(handle, name) => json!({"method": [handle.0, name]}),
        };
        let argument_bytes: u64 = args
            .iter()
            .chain(kwargs.iter().map(|(_, v)| v))
            .map(array_bytes)
            .sum();
        let (args, kwargs) = self.encode_arguments(&args, &kwargs)?;
        let remote_calls_before = self.total_remote_calls();
        let resident_before = self.resident.and_then(|r| r.start_peak());
        let started = Instant::now();
        let (mut ok, received) = self.request(
            json!({"op": "call", "target": target, "args": args, "kwargs": kwargs}),
            timeout,
        )?;
        let round_trip_seconds = received.duration_since(started).as_secs_f64();
        let resident_peak = self.resident.and_then(|r| r.peak());
        let value = wire::decode(ok["value"].take(), self.sandbox.outbox())
            .map_err(|e| self.tampered(format!("undecodable result: {e}")))?;
        let seconds = ok["seconds"].as_f64().unwrap_or(f64::NAN);
        super::tally::record(seconds, round_trip_seconds);
        Ok(CallOutcome {
            seconds,
            round_trip_seconds,
            peak_bytes: ok["peak_bytes"].as_u64(),
            fixture_calls: ok["fixture_calls"].as_u64().unwrap_or(0),
            remote_calls: self.total_remote_calls() - remote_calls_before,
            resident_extra_bytes: resident_before
                .zip(self.import_resident)
                .zip(resident_peak)
                .map(|((before, import), peak)| {
                    (peak.saturating_sub(before) + import)
                        .saturating_sub(argument_bytes + array_bytes(&value))
                }),
            value,
        })
    }

    /// Calls a function of the submission with positional arguments, within the per-call limit.
    pub fn call_function(
        &mut self,
        name: &str,
        args: Vec<Value>,
    ) -> Result<CallOutcome, CallError> {
        let timeout = self.limits.call_timeout;
        self.call(
            Target::Function(name.to_string()),
            args,
            Vec::new(),
            timeout,
        )
    }

    /// Constructs `class` of the grader fixture module `module`; the handle can be passed to
    /// the submission as [`Value::Obj`]. Calls the submission makes on it are counted.
    pub fn new_fixture(
        &mut self,
        module: &str,
        class: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<ObjHandle, CallError> {
        let (args, kwargs) = self.encode_arguments(&args, &kwargs)?;
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(
            json!({"op": "new_fixture", "module": module, "class": class, "args": args, "kwargs": kwargs}),
            timeout,
        )?;
        ok["obj"]
            .as_u64()
            .map(ObjHandle)
            .ok_or_else(|| CallError::Protocol(format!("no handle in {ok}")))
    }

    /// How many calls the submission has made on a fixture so far.
    pub fn fixture_calls(&mut self, obj: ObjHandle) -> Result<u64, CallError> {
        let timeout = self.limits.call_timeout;
        let (ok, _) = self.request(json!({"op": "fixture_calls", "obj": obj.0}), timeout)?;
        ok.as_u64()
            .ok_or_else(|| CallError::Protocol(format!("not a count: {ok}")))
    }

    pub(super) fn encode_arguments(
        &mut self,
        args: &[Value],
        kwargs: &[(String, Value)],
    ) -> Result<(Json, Json), CallError> {
        let inbox = self.sandbox.inbox().to_path_buf();
        let mut written = Vec::new();
        let mut encode = |v: &Value| wire::encode(v, &inbox, &mut self.next_file, &mut written);
        let args: Result<Vec<Json>, String> = args.iter().map(&mut encode).collect();
        let kwargs: Result<Vec<Json>, String> = kwargs
            .iter()
            .map(|(k, v)| Ok(json!([k, encode(v)?])))
            .collect();
        // Argument files live until the worker has answered: the inbox is emptied after every
        // response, so files of a failed encoding go with the next one.
        match (args, kwargs) {
            (Ok(args), Ok(kwargs)) => Ok((Json::Array(args), Json::Array(kwargs))),
            (Err(e), _) | (_, Err(e)) => Err(CallError::Protocol(e)),
        }
    }
}

/// Bytes of the arrays in `value`, however deeply nested.
fn array_bytes(value: &Value) -> u64 {
    match value {
        Value::Array(array) => array.nbytes(),
        Value::List(items) | Value::Tuple(items) => items.iter().map(array_bytes).sum(),
        Value::Dict(items) => items.iter().map(|(_, v)| array_bytes(v)).sum(),
        _ => 0,
    }
}
