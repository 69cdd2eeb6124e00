//! Twilio's retry rules, as a table over loopback: what the connector's classifier and the
//! core's side-effect gate make of each failure, for an unkeyed Messages POST and a GET.

use switchboard::test_util::{refused_addr, RawAction, RawServer};
use switchboard::twilio::{CreateMessage, MessageSid};
use switchboard::ErrorKind;
use switchboard::ProviderError;

use super::{client, config, message_json, SM};
use crate::support::builder;

#[derive(Debug, Clone, Copy)]
enum Call {
    Send,
    Fetch,
}

#[derive(Debug, Clone, Copy)]
enum Server {
    /// Reads the request, then resets the connection.
    ResetAfterRead,
    /// Nothing listens.
    Refused,
    /// 429 with Twilio error 20429 on the first attempt, then success.
    TooManyRequestsOnce,
    /// 500 on every attempt.
    Always500,
}

struct Row {
    name: &'static str,
    call: Call,
    server: Server,
    /// Attempts the call makes (support::builder allows 3).
    attempts: u32,
    /// `None`: the call succeeds.
    kind: Option<ErrorKind>,
}

#[tokio::test]
async fn retry_table_follows_twilio_rules() {
    let rows = [
        Row {
            name: "POST reset after the request was written: never retried (no idempotency key)",
            call: Call::Send,
            server: Server::ResetAfterRead,
            attempts: 1,
            kind: Some(ErrorKind::OutcomeUnknown),
        },
        Row {
            name: "POST to a refused port: retried (nothing was sent)",
            call: Call::Send,
            server: Server::Refused,
            attempts: 3,
            kind: Some(ErrorKind::Connect),
        },
        Row {
            name: "POST answered 429 / 20429: retried (Twilio did not process it)",
            call: Call::Send,
            server: Server::TooManyRequestsOnce,
            attempts: 2,
            kind: None,
        },
        Row {
            name: "POST answered 500: not retried (Twilio may have acted)",
            call: Call::Send,
            server: Server::Always500,
            attempts: 1,
            kind: Some(ErrorKind::Status),
        },
        Row {
            name: "GET answered 500: retried (no side effect)",
            call: Call::Fetch,
            server: Server::Always500,
            attempts: 3,
            kind: Some(ErrorKind::Status),
        },
    ];
    let mut failures = Vec::new();
    for row in rows {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let server = match row.server {
            Server::Refused => None,
            s => Some(
                RawServer::start(move |req| {
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    match s {
                        Server::ResetAfterRead => RawAction::Reset,
                        Server::TooManyRequestsOnce if n == 0 => RawAction::status(
                            429,
                            r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#,
                        )
                        .with_header("content-type", "application/json"),
                        Server::Always500 => RawAction::status(500, r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#),
                        _ if req.method == "POST" => RawAction::status(201, &message_json(SM, "+15558675310")),
                        _ => RawAction::status(200, &message_json(SM, "+15558675310")),
                    }
                })
                .await,
            ),
        };
        let base = match &server {
            Some(s) => s.base_url(),
            None => format!("http://{}", refused_addr()),
        };
        let sb = builder().build().unwrap();
        let twilio = client(&sb, config(&base));
        let result = match row.call {
            Call::Send => twilio
                .messages()
                .create(
                    CreateMessage::new("+15558675310")
                        .from("+15017122661")
                        .body("hi"),
                )
                .await
                .map(|_| ()),
            Call::Fetch => twilio
                .messages()
                .fetch(&MessageSid::new(SM))
                .await
                .map(|_| ()),
        };
        let (attempts, kind) = match &result {
            Ok(()) => (calls.load(std::sync::atomic::Ordering::SeqCst) as u32, None),
            Err(e) => (e.core().attempts(), Some(e.kind())),
        };
        let served = calls.load(std::sync::atomic::Ordering::SeqCst) as u32;
        let served_ok = server.is_none() || served == row.attempts;
        if attempts != row.attempts || kind != row.kind || !served_ok {
            failures.push(format!(
                "{}: attempts {attempts} (server saw {served}), kind {kind:?}; want {} / {:?}",
                row.name, row.attempts, row.kind
            ));
        }
        if let Err(e) = &result {
            if matches!(row.call, Call::Send) && row.kind == Some(ErrorKind::OutcomeUnknown) {
                assert!(
                    !e.is_retryable(),
                    "{}: an unkeyed POST that may have been sent is not retryable",
                    row.name
                );
                assert!(e.may_have_been_sent());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn twilio_sends_no_idempotency_key() {
    use switchboard::Connector;
    assert_eq!(
        switchboard::twilio::TwilioConnector::new().idempotency_header(),
        None
    );
}
