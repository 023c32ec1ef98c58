//! Capped capture of a sandboxed process's stdout and stderr.
//!
//! A reader thread drains each pipe as fast as the child writes, keeps only the last
//! `cap` bytes and counts the rest: a child printing a gigabyte neither blocks on a full
//! pipe nor grows the judge's memory.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The end of what a process wrote to one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The last bytes written (at most the output cap), decoded lossily as UTF-8.
    pub tail: String,
    /// How many bytes were written in all, kept or not.
    pub total_bytes: u64,
    /// How many bytes `tail` was decoded from.
    pub kept_bytes: u64,
}

impl CapturedOutput {
    /// True when the process wrote more than was kept.
    pub fn truncated(&self) -> bool {
        self.total_bytes > self.kept_bytes
    }

    /// The last `n` lines of the tail, for one-line evidence.
    pub fn last_lines(&self, n: usize) -> String {
        let lines: Vec<&str> = self.tail.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

#[derive(Debug)]
struct Tail {
    kept: VecDeque<u8>,
    cap: usize,
    total: u64,
    finished: bool,
}

/// The shared state of one stream's reader thread.
#[derive(Debug, Clone)]
pub(crate) struct StreamCapture {
    state: Arc<(Mutex<Tail>, Condvar)>,
}

impl StreamCapture {
    /// Starts a thread that drains `stream` until end of file.
    pub(crate) fn spawn(mut stream: impl Read + Send + 'static, cap: usize) -> StreamCapture {
        let capture = StreamCapture {
            state: Arc::new((
                Mutex::new(Tail {
                    kept: VecDeque::with_capacity(cap.min(1 << 16)),
                    cap,
                    total: 0,
                    finished: false,
                }),
                Condvar::new(),
            )),
        };
        let shared = capture.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => shared.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let (lock, finished) = &*shared.state;
            lock.lock().unwrap_or_else(PoisonError::into_inner).finished = true;
            finished.notify_all();
        });
        capture
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.state.0.lock().unwrap_or_else(PoisonError::into_inner);
        tail.total += bytes.len() as u64;
        let cap = tail.cap;
        let keep = &bytes[bytes.len().saturating_sub(cap)..];
        tail.kept.extend(keep);
        let excess = tail.kept.len().saturating_sub(cap);
        tail.kept.drain(..excess);
    }

    /// What has been captured so far.
    pub(crate) fn snapshot(&self) -> CapturedOutput {
        let tail = self.state.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (front, back) = tail.kept.as_slices();
        let mut bytes = Vec::with_capacity(tail.kept.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        CapturedOutput {
            tail: String::from_utf8_lossy(&bytes).into_owned(),
            total_bytes: tail.total,
            kept_bytes: bytes.len() as u64,
        }
    }

    /// Waits until every writer has closed the stream, at most `timeout`; true if it ended.
    pub(crate) fn wait_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, finished) = &*self.state;
        let mut tail = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !tail.finished {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            tail = finished
                .wait_timeout(tail, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}
