//! One chat completion at a time, with retries for what is worth retrying.
//!
//! Transient failures (HTTP 408, 429, 5xx; a reset, aborted or timed-out connection; a body that
//! is not a completion) are retried with exponential back-off and full jitter, waiting at least
//! what a `Retry-After` header asks. Failures that will not go away by waiting — a URL where no
//! server listens, an unknown host, 401/403/404 — are [`ClientError::Fatal`]: the caller stops
//! the whole run. Other 4xx (a prompt too long for the context, say) fail only that request.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::chat::{ChatRequest, ChatResponse};

/// No reply judge needs comes near this; a larger body is a transient failure.
const RESPONSE_LIMIT: u64 = 16 << 20;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// The back-off before the second try; doubled before each later one.
    pub base_delay: Duration,
    /// No single wait is longer than this, whatever `Retry-After` asks.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `failed + 1` after `failed` failures. A `Retry-After` from the
    /// server is what it asks (the server knows when it will have capacity); without one,
    /// exponential back-off with jitter (`unit` in [0, 1) picks a point in the upper half of the
    /// window, so waits grow even when unlucky). Never longer than `max_delay`.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_delay);
        }
        let window = self
            .base_delay
            .saturating_mul(1u32 << failed.saturating_sub(1).min(16))
            .min(self.max_delay);
        window.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

/// Why a request produced no completion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Waiting will not help and no other request would fare better: stop the run.
    #[error("{0}")]
    Fatal(String),
    /// This request failed for good (after the retries, or a 4xx that names this request).
    #[error("{reason} (after {attempts} tr{})", if *attempts == 1 { "y" } else { "ies" })]
    Failed {
        /// Why the last try failed.
        reason: String,
        /// Tries made, the last included.
        attempts: u32,
    },
}

/// A completed exchange: the parsed reply, the raw body, and what it cost.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The body, parsed.
    pub response: ChatResponse,
    /// The body exactly as the server sent it.
    pub raw: String,
    /// Seconds of the successful try.
    pub latency: f64,
    /// Tries it took, the successful one included.
    pub attempts: u32,
}

/// The outcome of one try.
enum Try {
    Done(Exchange),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    GiveUp(String),
    Fatal(String),
}

/// A client for one endpoint. The key never leaves this struct except as a request header.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
    policy: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("policy", &self.policy)
            .finish()
    }
}

/// The chat-completions URL of `endpoint`: a server root (`http://host:8000`), its `/v1`, or
/// the full `/v1/chat/completions` are all accepted.
pub fn completions_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.ends_with("/chat/completions") {
        trimmed.to_string()
    } else if trimmed.ends_with("/v1") {
        format!("{trimmed}/chat/completions")
    } else {
        format!("{trimmed}/v1/chat/completions")
    }
}

impl Client {
    /// `timeout` bounds one try, connection to last byte.
    pub fn new(
        endpoint: &str,
        api_key: Option<String>,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            url: completions_url(endpoint),
            api_key,
            policy,
        }
    }

    /// The chat-completions URL requests go to (see [`completions_url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `request`, retrying transient failures per the policy. `on_retry` hears each
    /// failed try and the wait before the next (for a progress line).
    pub fn complete(
        &self,
        request: &ChatRequest,
        on_retry: &dyn Fn(&str, Duration),
    ) -> Result<Exchange, ClientError> {
        let body = serde_json::to_string(request).expect("a ChatRequest always serialises");
        let attempts = self.policy.attempts.max(1);
        for attempt in 1..=attempts {
            match self.try_once(&body) {
                Try::Done(mut exchange) => {
                    exchange.attempts = attempt;
                    return Ok(exchange);
                }
                Try::Fatal(reason) => return Err(ClientError::Fatal(reason)),
                Try::GiveUp(reason) => {
                    return Err(ClientError::Failed {
                        reason,
                        attempts: attempt,
                    });
                }
                Try::Retry {
                    reason,
                    retry_after,
                } => {
                    if attempt == attempts {
                        return Err(ClientError::Failed { reason, attempts });
                    }
                    let wait = self.policy.delay(attempt, retry_after, jitter_unit());
                    tracing::info!("{}: {reason}; retrying in {wait:.1?}", self.url);
                    on_retry(&reason, wait);
                    std::thread::sleep(wait);
                }
            }
        }
        unreachable!("the last attempt always returns")
    }

    fn try_once(&self, body: &str) -> Try {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let started = Instant::now();
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => return self.transport_failure(error),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match response
            .body_mut()
            .with_config()
            .limit(RESPONSE_LIMIT)
            .read_to_string()
        {
            Ok(text) => text,
            Err(error) => {
                return Try::Retry {
                    reason: format!("reading the reply: {error}"),
                    retry_after,
                };
            }
        };
        let latency = started.elapsed().as_secs_f64();
        let excerpt = || excerpt(&text);
        match status {
            200..=299 => match serde_json::from_str::<ChatResponse>(&text) {
                Ok(parsed) if !parsed.choices.is_empty() => Try::Done(Exchange {
                    response: parsed,
                    raw: text,
                    latency,
                    attempts: 1,
                }),
                Ok(_) => Try::Retry {
                    reason: "HTTP 200 with no choices in the reply".into(),
                    retry_after,
                },
                Err(e) => Try::Retry {
                    reason: format!("HTTP {status} but not a chat completion ({e})"),
                    retry_after,
                },
            },
            401 | 403 => Try::Fatal(format!(
                "{} refused the credentials (HTTP {status}): check --api-key-env and the key it names; {}",
                self.url,
                excerpt()
            )),
            404 => Try::Fatal(format!(
                "{} answered HTTP 404: is this an OpenAI-compatible endpoint (…/v1)? {}",
                self.url,
                excerpt()
            )),
            408 | 429 | 500..=599 => Try::Retry {
                reason: format!("HTTP {status}: {}", excerpt()),
                retry_after,
            },
            _ => Try::GiveUp(format!("HTTP {status}: {}", excerpt())),
        }
    }

    fn transport_failure(&self, error: ureq::Error) -> Try {
        let fatal = |what: &str| Try::Fatal(format!("cannot reach {}: {what}", self.url));
        match &error {
            ureq::Error::HostNotFound => fatal("unknown host"),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => fatal(&error.to_string()),
            ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                fatal("connection refused (is the server running on that port?)")
            }
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
                fatal(&format!("TLS: {error}"))
            }
            _ => Try::Retry {
                reason: format!("transport: {error}"),
                retry_after: None,
            },
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from these servers and is ignored).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// The start of an error body, on one line, for a message.
fn excerpt(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    flat.trim().to_string()
}

/// A number in [0, 1) from the standard library's per-process random hash keys.
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_stays_in_its_window_and_retry_after_replaces_it() {
        let policy = RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(policy.delay(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(2, None, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(3, None, 0.5), Duration::from_secs(3));
        // The window is capped, and so is a Retry-After beyond the cap.
        assert_eq!(policy.delay(9, None, 1.0), Duration::from_secs(10));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(99)), 0.0),
            Duration::from_secs(10)
        );
        assert_eq!(policy.delay(4, Some(Duration::ZERO), 1.0), Duration::ZERO);
        for _ in 0..100 {
            let unit = jitter_unit();
            assert!((0.0..1.0).contains(&unit));
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn endpoints_are_accepted_with_or_without_the_path() {
        for endpoint in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/chat/completions",
        ] {
            assert_eq!(
                completions_url(endpoint),
                "http://h:8000/v1/chat/completions"
            );
        }
    }

    #[test]
    fn the_key_is_not_in_the_debug_output() {
        let client = Client::new(
            "http://127.0.0.1:1",
            Some("sk-secret-123".into()),
            Duration::from_secs(1),
            RetryPolicy::default(),
        );
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("<set>"));
    }
}
