//! The retry table: Stripe-format error answers → how many attempts, the final error's fields,
//! and the same `Idempotency-Key` on every attempt (a caller's key used as given).

use switchboard::stripe::{CreateCustomer, CustomerId, StripeErrorType};
use switchboard::ErrorKind;
use switchboard::ProviderError;

use super::client;
use super::mock::{MockStripe, Scripted};

fn err(kind: &str, code: Option<&str>) -> String {
    let mut e = serde_json::json!({"error": {"type": kind, "message": "scripted"}});
    if let Some(c) = code {
        e["error"]["code"] = c.into();
    }
    e.to_string()
}

struct Row {
    name: &'static str,
    post: bool,
    answers: Vec<Scripted>,
    attempts: usize,
    /// `None`: the call succeeds; else the error kind, status and Stripe error code.
    fails: Option<(ErrorKind, u16, Option<&'static str>)>,
}

fn rows() -> Vec<Row> {
    let s = |status: u16, body: String| Scripted::new(status, body);
    vec![
        Row {
            name: "409 conflict is retried",
            post: true,
            answers: vec![s(409, err("idempotency_error", None))],
            attempts: 2,
            fails: None,
        },
        Row {
            name: "429 lock_timeout is retried",
            post: true,
            answers: vec![
                s(429, err("invalid_request_error", Some("lock_timeout"))),
                s(429, err("invalid_request_error", Some("lock_timeout"))),
            ],
            attempts: 3,
            fails: None,
        },
        Row {
            name: "429 rate limit is not retried",
            post: true,
            answers: vec![s(429, err("invalid_request_error", Some("rate_limit")))],
            attempts: 1,
            fails: Some((ErrorKind::RateLimited, 429, Some("rate_limit"))),
        },
        Row {
            name: "500 on a keyed POST is retried until attempts run out",
            post: true,
            answers: vec![
                s(500, err("api_error", None)),
                s(500, err("api_error", None)),
                s(500, err("api_error", None)),
            ],
            attempts: 3,
            fails: Some((ErrorKind::Status, 500, None)),
        },
        Row {
            name: "Stripe-Should-Retry: true overrides a 400",
            post: true,
            answers: vec![s(400, err("invalid_request_error", None)).header("stripe-should-retry", "true")],
            attempts: 2,
            fails: None,
        },
        Row {
            name: "Stripe-Should-Retry: false overrides a 503",
            post: true,
            answers: vec![s(503, err("api_error", None)).header("stripe-should-retry", "false")],
            attempts: 1,
            fails: Some((ErrorKind::Status, 503, None)),
        },
        Row {
            name: "500 on a GET is retried",
            post: false,
            answers: vec![s(500, err("api_error", None))],
            attempts: 2,
            fails: None,
        },
        Row {
            name: "402 card error is final",
            post: true,
            answers: vec![s(
                402,
                r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","param":"payment_method","message":"Your card has insufficient funds."}}"#.to_string(),
            )],
            attempts: 1,
            fails: Some((ErrorKind::Status, 402, Some("card_declined"))),
        },
    ]
}

#[tokio::test]
async fn stripe_error_answers_drive_the_retry_table() {
    for row in rows() {
        for caller_key in [None, Some("order-42")] {
            if caller_key.is_some() && !row.post {
                continue;
            }
            let mock = MockStripe::start().await;
            for a in &row.answers {
                mock.push(a.clone().header("request-id", "req_scripted"));
            }
            let stripe = client(&mock.base_url());
            let result = if row.post {
                let mut call = stripe
                    .customers()
                    .create(CreateCustomer::new().email("a@b.c"));
                if let Some(k) = caller_key {
                    call = call.idempotency_key(k);
                }
                call.await.map(|_| ())
            } else {
                stripe
                    .customers()
                    .retrieve(&CustomerId::new("cus_1"))
                    .await
                    .map(|_| ())
            };
            let name = row.name;
            let reqs = mock.requests();
            assert_eq!(reqs.len(), row.attempts, "{name}: attempts");
            mock.assert_contract_kept();
            if row.post {
                let keys: Vec<_> = reqs
                    .iter()
                    .map(|r| r.header("idempotency-key").map(str::to_owned))
                    .collect();
                let first = keys[0].clone().expect("a key on the first attempt");
                assert!(
                    keys.iter().all(|k| k.as_deref() == Some(first.as_str())),
                    "{name}: {keys:?}"
                );
                if let Some(k) = caller_key {
                    assert_eq!(first, k, "{name}: the caller's key is used as given");
                }
            }
            match (row.fails, result) {
                (None, Ok(())) => {}
                (None, Err(e)) => panic!("{name}: unexpected error {e}"),
                (Some(_), Ok(())) => panic!("{name}: succeeded, want an error"),
                (Some((kind, status, code)), Err(e)) => {
                    assert_eq!(e.kind(), kind, "{name}: {e}");
                    assert_eq!(e.status().map(|s| s.as_u16()), Some(status), "{name}");
                    assert_eq!(e.code(), code, "{name}");
                    assert_eq!(e.request_id(), Some("req_scripted"), "{name}");
                    assert_eq!(e.core().attempts() as usize, row.attempts, "{name}");
                    if row.post {
                        assert!(e.idempotency_key().is_some(), "{name}");
                    }
                    if status == 402 {
                        assert_eq!(e.error_type(), Some(&StripeErrorType::CardError));
                        assert_eq!(e.decline_code(), Some("insufficient_funds"));
                        assert_eq!(e.param(), Some("payment_method"));
                        assert_eq!(e.message(), Some("Your card has insufficient funds."));
                        assert!(!e.is_retryable());
                    }
                }
            }
        }
    }
}
