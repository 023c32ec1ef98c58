//! One request and its response on the worker channel: sequence numbers, callbacks, timeouts,
//! and what a line that answers nothing means (tampering).

use std::fs;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::channel::{Response, describe_json};
use super::{CallError, Worker};
use crate::sandbox::describe_exit;

impl Worker {
    /// Sends one request and waits for its response, at most `timeout` and never past the
    /// sandbox's total deadline, serving the remote-fixture calls the worker makes meanwhile.
    /// Returns the `ok` part and when the response arrived.
    pub(super) fn request(
        &mut self,
        mut message: Json,
        timeout: Duration,
    ) -> Result<(Json, Instant), CallError> {
        if let Some(reason) = &self.stopped {
            return Err(CallError::Stopped {
                reason: reason.clone(),
            });
        }
        // Nothing may be waiting: a line now answers no request (the real answer to an earlier
        // request that a forged line had taken the place of, or garbage).
        match self.responses.try_recv() {
            Ok(line) => {
                return Err(self.tampered(format!(
                    "a line arrived while no request was pending: {}",
                    describe_line(&line)
                )));
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
        }
        self.seq += 1;
        message["seq"] = json!(self.seq);
        let started = Instant::now();
        let call_deadline = started + timeout;
        let total_deadline = self.process.deadline();
        let deadline = call_deadline.min(total_deadline);
        let outcome = self.exchange(message, started, deadline, total_deadline < call_deadline);
        // Argument (and callback reply) files live until the worker has answered.
        self.empty_inbox();
        outcome
    }

    /// Writes one line and reads until the response to it, answering callbacks.
    pub(super) fn exchange(
        &mut self,
        message: Json,
        started: Instant,
        deadline: Instant,
        total: bool,
    ) -> Result<(Json, Instant), CallError> {
        let mut line =
            serde_json::to_vec(&message).map_err(|e| CallError::Protocol(e.to_string()))?;
        loop {
            line.push(b'\n');
            if self.requests.send(line).is_err() {
                return Err(self.died());
            }
            let response = match self
                .responses
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ok(response)) => response,
                Ok(Err(unreadable)) => return Err(self.tampered(unreadable)),
                Err(RecvTimeoutError::Timeout) => {
                    let seconds = started.elapsed().as_secs_f64();
                    let error = CallError::Timeout { seconds, total };
                    self.stop(error.to_string());
                    return Err(error);
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.died()),
            };
            if response["seq"].as_u64() != Some(self.seq) {
                return Err(self.tampered(format!(
                    "a response for request {} arrived while request {} was pending",
                    response["seq"], self.seq
                )));
            }
            let Some(callback) = response.get("callback") else {
                return self.interpret(response).map(|ok| (ok, Instant::now()));
            };
            let reply = self.serve_callback(callback)?;
            line = serde_json::to_vec(&reply).map_err(|e| CallError::Protocol(e.to_string()))?;
        }
    }

    pub(super) fn empty_inbox(&self) {
        if let Ok(entries) = fs::read_dir(self.sandbox.inbox()) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// The response channel closed: the worker is dead or dying. Reaps it, kills what is left
    /// of the sandbox, and reports how it ended with the end of its stderr.
    pub(super) fn died(&mut self) -> CallError {
        let exited = self
            .process
            .wait_until(Instant::now() + Duration::from_secs(2));
        let status = self.process.kill();
        self.process.wait_output_closed(Duration::from_secs(1));
        let status = match exited {
            Some(_) => describe_exit(status),
            None => "closed its protocol channel and was killed".to_string(),
        };
        self.stopped
            .get_or_insert(format!("the worker died earlier ({status})"));
        CallError::WorkerDied {
            status,
            stderr_tail: self.process.stderr().last_lines(20),
        }
    }

    pub(super) fn interpret(&mut self, mut response: Json) -> Result<Json, CallError> {
        if let Some(blocked) = response["blocked"].as_array() {
            for module in blocked.iter().filter_map(Json::as_str) {
                if !self.blocked.iter().any(|b| b == module) {
                    self.blocked.push(module.to_string());
                }
            }
        }
        if let Some(ok) = response.get_mut("ok") {
            return Ok(ok.take());
        }
        if !response["error"].is_object() {
            return Err(self.tampered(format!(
                "a response with neither result nor error: {}",
                describe_json(&response)
            )));
        }
        let error = &response["error"];
        let text = |key: &str| error[key].as_str().unwrap_or("").to_string();
        Err(match error["kind"].as_str() {
            Some("exception") => CallError::Exception {
                type_name: text("type"),
                message: text("message"),
                traceback_tail: text("traceback"),
            },
            Some("memory") => CallError::MemoryLimit {
                limit_bytes: self.limits.memory_bytes,
                detail: format!("{}: {}", text("type"), text("message")),
            },
            Some("missing") => CallError::Missing {
                name: text("name"),
                detail: text("detail"),
            },
            Some("contract") => CallError::Contract {
                name: text("name"),
                detail: text("detail"),
            },
            Some("blocked") => CallError::Blocked {
                module: text("module"),
            },
            Some("protocol") => CallError::Protocol(text("message")),
            _ => {
                return Err(self.tampered(format!(
                    "an error of unknown kind: {}",
                    describe_json(&response)
                )));
            }
        })
    }
}

/// One received line for evidence: its first 200 characters.
pub(super) fn describe_line(line: &Response) -> String {
    match line {
        Ok(json) => describe_json(json),
        Err(unreadable) => unreadable.clone(),
    }
}
