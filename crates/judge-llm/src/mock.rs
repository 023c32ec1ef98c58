//! A canned OpenAI-compatible server on 127.0.0.1 (ephemeral port) for tests: no network.
//!
//! A script decides each answer from the request's index and body. The server accepts at most
//! `limit` connections, then closes its socket, so a client that loops forever meets a refused
//! connection instead of a test that never ends. Every request is recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a [`Canned::Hang`] holds its connection.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// One answer of the mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canned {
    /// HTTP 200 with a chat completion of this text.
    Reply {
        /// The reply's text.
        content: String,
        /// `stop`, or `length` for a reply cut at `max_tokens`.
        finish_reason: String,
    },
    /// This status, body and optional `Retry-After`.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The response body.
        body: String,
        /// The `Retry-After` header's value, if any.
        retry_after: Option<String>,
    },
    /// HTTP 200 whose body is this text as is (not necessarily JSON).
    Raw(String),
    /// Read the request, answer nothing until the server is dropped.
    Hang,
}

impl Canned {
    /// A completed reply.
    pub fn reply(content: impl Into<String>) -> Self {
        Canned::Reply {
            content: content.into(),
            finish_reason: "stop".into(),
        }
    }

    /// A reply the server cut at `max_tokens`.
    pub fn cut(content: impl Into<String>) -> Self {
        Canned::Reply {
            content: content.into(),
            finish_reason: "length".into(),
        }
    }

    /// An error status; `retry_after` in seconds.
    pub fn status(code: u16, retry_after: Option<&str>) -> Self {
        Canned::Status {
            code,
            body: format!("{{\"error\":{{\"message\":\"mock status {code}\"}}}}"),
            retry_after: retry_after.map(str::to_string),
        }
    }
}

/// A request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The HTTP method (`POST`).
    pub method: String,
    /// The request path (`/v1/chat/completions`).
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The request body, as sent.
    pub body: String,
}

impl Recorded {
    /// The value of the first header called `name` (give it lower-cased).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the last message of the request (the prompt).
    pub fn last_message(&self) -> String {
        let value: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        value["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string()
    }
}

type Script = dyn Fn(usize, &Recorded) -> Canned + Send + Sync;

/// The running server; stops when dropped.
pub struct MockServer {
    port: u16,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Serves at most `limit` connections (one request each), answering with `script`.
    pub fn start(
        limit: usize,
        script: impl Fn(usize, &Recorded) -> Canned + Send + Sync + 'static,
    ) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let acceptor = {
            let (recorded, stop) = (recorded.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().take(limit) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (recorded, stop, script) = (recorded.clone(), stop.clone(), script.clone());
                    std::thread::spawn(move || serve(stream, &recorded, &stop, script.as_ref()));
                }
            })
        };
        MockServer {
            port,
            recorded,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The endpoint to give the client (`http://127.0.0.1:PORT/v1`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("recorded lock").clone()
    }

    /// Waits until `count` requests have arrived (false after `timeout`).
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.requests().len() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor if it is blocked in accept().
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<Recorded>>, stop: &AtomicBool, script: &Script) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    let index = {
        let mut all = recorded.lock().expect("recorded lock");
        all.push(request.clone());
        all.len() - 1
    };
    let (code, body, retry_after) = match script(index, &request) {
        Canned::Reply {
            content,
            finish_reason,
        } => {
            let body = serde_json::json!({
                "id": format!("mock-{index}"),
                "object": "chat.completion",
                "model": "mock",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }],
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
            });
            (200, body.to_string(), None)
        }
        Canned::Status {
            code,
            body,
            retry_after,
        } => (code, body, retry_after),
        Canned::Raw(body) => (200, body, None),
        Canned::Hang => {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < HANG_LIMIT {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    };
    let mut head = format!(
        "HTTP/1.1 {code} Mock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(seconds) = retry_after {
        head.push_str(&format!("Retry-After: {seconds}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn read_request(stream: &TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
