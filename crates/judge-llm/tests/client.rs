//! The client against the mock server: retries, give-ups, fatal answers, the key's one place.

use std::time::Duration;

use judge_llm::mock::{Canned, MockServer};
use judge_llm::{ChatRequest, Client, ClientError, Message, RetryPolicy};

fn request() -> ChatRequest {
    ChatRequest {
        model: "mock-model".into(),
        messages: vec![Message::user("write kv.py")],
        temperature: Some(0.0),
        max_tokens: Some(64),
    }
}

/// Fast back-off: the tests check the schedule's effects, not its length.
fn client(server: &MockServer, attempts: u32) -> Client {
    Client::new(
        &server.url(),
        Some("sk-test-key".into()),
        Duration::from_secs(2),
        RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
    )
}

#[test]
fn rate_limits_are_retried_until_the_reply_comes() {
    let server = MockServer::start(10, |i, _| match i {
        0 | 1 => Canned::status(429, Some("0")),
        _ => Canned::reply("ok"),
    });
    let retries = std::sync::Mutex::new(Vec::new());
    let exchange = client(&server, 5)
        .complete(&request(), &|reason, _| {
            retries.lock().unwrap().push(reason.to_string())
        })
        .unwrap();
    assert_eq!(exchange.attempts, 3);
    assert_eq!(exchange.response.content(), "ok");
    assert_eq!(exchange.response.usage.unwrap().completion_tokens, 50);
    assert_eq!(server.requests().len(), 3);
    let retries = retries.into_inner().unwrap();
    assert_eq!(retries.len(), 2);
    assert!(retries[0].starts_with("HTTP 429"), "{retries:?}");

    let sent = &server.requests()[2];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test-key"));
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["model"], "mock-model");
    assert_eq!(body["max_tokens"], 64);
    assert!(!sent.body.contains("sk-test-key"));
}

#[test]
fn retry_after_is_honoured() {
    let server = MockServer::start(10, |i, _| match i {
        0 => Canned::status(503, Some("0.3")),
        _ => Canned::reply("ok"),
    });
    let patient = Client::new(
        &server.url(),
        None,
        Duration::from_secs(2),
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1),
        },
    );
    let waits = std::sync::Mutex::new(Vec::new());
    patient
        .complete(&request(), &|_, wait| waits.lock().unwrap().push(wait))
        .unwrap();
    // The back-off alone would wait at most 5 ms; the header asks for 300.
    assert_eq!(*waits.lock().unwrap(), [Duration::from_millis(300)]);
}

#[test]
fn server_errors_forever_fail_after_the_retry_limit() {
    let server = MockServer::start(20, |_, _| Canned::status(500, None));
    let error = client(&server, 4)
        .complete(&request(), &|_, _| {})
        .unwrap_err();
    match &error {
        ClientError::Failed { reason, attempts } => {
            assert_eq!(*attempts, 4);
            assert!(reason.contains("HTTP 500"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 4);
    assert!(error.to_string().contains("after 4 tries"), "{error}");
}

#[test]
fn a_reply_that_is_not_a_completion_is_retried() {
    let server = MockServer::start(10, |i, _| match i {
        0 => Canned::Raw("<html>gateway</html>".into()),
        _ => Canned::reply("ok"),
    });
    let exchange = client(&server, 3).complete(&request(), &|_, _| {}).unwrap();
    assert_eq!(exchange.attempts, 2);
}

#[test]
fn a_hanging_server_times_out_and_is_retried() {
    let server = MockServer::start(10, |i, _| match i {
        0 => Canned::Hang,
        _ => Canned::reply("ok"),
    });
    let client = Client::new(
        &server.url(),
        None,
        Duration::from_millis(300),
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(5),
        },
    );
    let exchange = client.complete(&request(), &|_, _| {}).unwrap();
    assert_eq!(exchange.attempts, 2);
    assert_eq!(server.requests()[1].header("authorization"), None);
}

#[test]
fn bad_credentials_and_wrong_urls_are_fatal_at_once() {
    let server = MockServer::start(10, |_, _| Canned::status(401, None));
    let error = client(&server, 5)
        .complete(&request(), &|_, _| {})
        .unwrap_err();
    assert!(matches!(error, ClientError::Fatal(_)), "{error:?}");
    assert!(error.to_string().contains("--api-key-env"), "{error}");
    assert_eq!(server.requests().len(), 1, "no retry of a 401");

    let not_found = MockServer::start(10, |_, _| Canned::status(404, None));
    let error = client(&not_found, 5)
        .complete(&request(), &|_, _| {})
        .unwrap_err();
    assert!(matches!(error, ClientError::Fatal(_)), "{error:?}");

    // A port where nothing listens: bind one, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = Client::new(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(2),
        RetryPolicy::default(),
    );
    let error = nobody.complete(&request(), &|_, _| {}).unwrap_err();
    assert!(
        matches!(&error, ClientError::Fatal(m) if m.contains("connection refused")),
        "{error:?}"
    );
}

#[test]
fn other_client_errors_fail_only_that_request() {
    let server = MockServer::start(10, |_, _| Canned::status(400, None));
    let error = client(&server, 5)
        .complete(&request(), &|_, _| {})
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Failed { attempts: 1, reason } if reason.contains("HTTP 400")),
        "{error:?}"
    );
}
