//! The threads that carry request and response lines between the judge and the worker's
//! private pipes, so that a worker that stops reading or floods the channel blocks only itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

use serde_json::Value as Json;

/// Longest response line accepted; a longer one means the channel was tampered with. Arrays
/// travel as files, so real responses are small.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// Response lines queued between the reader thread and the judge: a submission flooding the
/// channel blocks itself, not the judge's memory.
const RESPONSE_QUEUE: usize = 64;

/// One response line, or why none could be read.
pub(super) type Response = Result<Json, String>;

/// Writes request lines to the worker from a thread of its own: a worker that stopped
/// reading can block this thread, never the judge (the response timeout still fires).
pub(super) fn spawn_request_writer(mut pipe: std::io::PipeWriter) -> Sender<Vec<u8>> {
    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        for line in receiver {
            if pipe.write_all(&line).is_err() {
                break;
            }
        }
    });
    sender
}

pub(super) fn describe_json(json: &Json) -> String {
    let text = json.to_string();
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Reads response lines (each at most [`MAX_RESPONSE_BYTES`]) until the worker closes fd 4.
pub(super) fn spawn_response_reader(pipe: std::io::PipeReader) -> Receiver<Response> {
    let (sender, receiver): (SyncSender<Response>, _) = mpsc::sync_channel(RESPONSE_QUEUE);
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        loop {
            let mut line = Vec::new();
            match (&mut reader)
                .take(MAX_RESPONSE_BYTES)
                .read_until(b'\n', &mut line)
            {
                Ok(0) | Err(_) => break,
                Ok(n) if line.last() != Some(&b'\n') => {
                    // A line cut off by end-of-file means the worker died while writing:
                    // the closed channel says so. One past the cap is tampering.
                    if n as u64 == MAX_RESPONSE_BYTES {
                        let _ = sender.send(Err(format!(
                            "a response line longer than {} MiB",
                            MAX_RESPONSE_BYTES >> 20
                        )));
                    }
                    break;
                }
                Ok(_) => {
                    let parsed = serde_json::from_slice::<Json>(&line)
                        .map_err(|e| format!("an unreadable line ({e})"))
                        .and_then(|json| {
                            if json.is_object() {
                                Ok(json)
                            } else {
                                Err(format!(
                                    "a line that is no message: {}",
                                    describe_json(&json)
                                ))
                            }
                        });
                    if sender.send(parsed).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}
