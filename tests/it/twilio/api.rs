//! The typed API over loopback mocks: what goes on the wire (paths, auth, form bodies), list
//! paging, error bodies, subaccounts and API keys, and the bulk send through the limiter.

use std::num::NonZeroU32;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use futures_util::StreamExt;
use switchboard::pipeline::HttpService;
use switchboard::rate_limit::{InMemoryRateLimiter, RateDecision, RateKey};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::twilio::{
    BulkOptions, CreateMessage, ListMessages, MessageSid, MessageStatus, TwilioConfig,
    MESSAGES_BUCKET,
};
use switchboard::ProviderError;
use switchboard::{ConnectionId, ErrorKind, Quota, RateLimiter, TenantId};
use tower::ServiceExt;

use super::{client, config, message_json, AC, SM, SUB};
use crate::support::builder;

type Seen = Arc<Mutex<Vec<RawRequest>>>;

async fn recording(
    respond: impl Fn(&RawRequest) -> RawAction + Send + Sync + 'static,
) -> (RawServer, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let server = RawServer::start(move |req| {
        s.lock().unwrap().push(req.clone());
        respond(req)
    })
    .await;
    (server, seen)
}

fn pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[tokio::test]
async fn sends_sms_mms_and_whatsapp_as_twilio_expects() {
    let (server, seen) =
        recording(|_| RawAction::status(201, &message_json(SM, "+15558675310"))).await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let m = twilio
        .messages()
        .create(
            CreateMessage::new("+15558675310")
                .from("+15017122661")
                .body("Hello"),
        )
        .await
        .unwrap();
    assert_eq!(m.sid.as_str(), SM);
    assert_eq!(m.status, MessageStatus::Queued);
    twilio
        .messages()
        .create(
            CreateMessage::new("+15558675310")
                .messaging_service_sid("MGeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
                .media_url("https://example.com/a.png")
                .media_url("https://example.com/b.png"),
        )
        .await
        .unwrap();
    twilio
        .messages()
        .create(
            CreateMessage::whatsapp("+15558675310")
                .from("+14155238886")
                .body("Hi"),
        )
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for r in seen.iter() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/2010-04-01/Accounts/{AC}/Messages.json"));
        assert_eq!(
            r.header("authorization"),
            Some(basic(AC, "test-token").as_str())
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.header("idempotency-key"),
            None,
            "Twilio has no idempotency keys"
        );
    }
    let p = |k: &str, i: usize| -> Vec<String> {
        pairs(&seen[i].body)
            .into_iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v)
            .collect()
    };
    assert_eq!(p("To", 0), ["+15558675310"]);
    assert_eq!(p("From", 0), ["+15017122661"]);
    assert_eq!(p("Body", 0), ["Hello"]);
    assert_eq!(
        p("MediaUrl", 1),
        ["https://example.com/a.png", "https://example.com/b.png"],
        "one MediaUrl parameter per URL"
    );
    assert_eq!(
        p("MessagingServiceSid", 1),
        ["MGeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"]
    );
    assert!(p("From", 1).is_empty());
    assert_eq!(p("To", 2), ["whatsapp:+15558675310"]);
    assert_eq!(p("From", 2), ["whatsapp:+14155238886"]);
}

#[tokio::test]
async fn uses_the_default_sender_and_refuses_a_message_without_one() {
    let (server, seen) =
        recording(|_| RawAction::status(201, &message_json(SM, "+15558675310"))).await;
    let sb = builder().build().unwrap();
    let with_default = client(&sb, config(&server.base_url()).from_number("+15017122661"));
    with_default
        .messages()
        .create(CreateMessage::new("+15558675310").body("x"))
        .await
        .unwrap();
    assert!(pairs(&seen.lock().unwrap()[0].body).contains(&("From".into(), "+15017122661".into())));

    let without = client(&sb, config(&server.base_url()));
    let e = without
        .messages()
        .create(CreateMessage::new("+15558675310").body("x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing sent");
}

#[tokio::test]
async fn subaccount_scopes_the_path_and_api_keys_authenticate() {
    let (server, seen) = recording(|_| RawAction::status(200, &message_json(SM, "+1"))).await;
    let sb = builder().build().unwrap();
    let key = "SKffffffffffffffffffffffffffffffff";
    let twilio = client(
        &sb,
        TwilioConfig::with_api_key(AC, key, "key-secret")
            .subaccount_sid(SUB)
            .base_url(server.base_url()),
    );
    twilio.messages().fetch(&MessageSid::new(SM)).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{SUB}/Messages/{SM}.json")
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some(basic(key, "key-secret").as_str())
    );
}

#[tokio::test]
async fn list_follows_next_page_uri_only_when_polled_past_a_page() {
    let page = |sids: &[&str], next: Option<&str>| {
        let messages: Vec<serde_json::Value> = sids
            .iter()
            .map(|s| serde_json::from_str(&message_json(s, "+1")).unwrap())
            .collect();
        serde_json::json!({"messages": messages, "next_page_uri": next, "page": 0, "page_size": 2})
            .to_string()
    };
    let next = format!("/2010-04-01/Accounts/{AC}/Messages.json?PageSize=2&Page=1&PageToken=PAxyz");
    let (first, second) = (
        page(
            &[
                "SM00000000000000000000000000000001",
                "SM00000000000000000000000000000002",
            ],
            Some(&next),
        ),
        page(&["SM00000000000000000000000000000003"], None),
    );
    let (server, seen) = recording(move |req| {
        if req.path.contains("PageToken=PAxyz") {
            RawAction::status(200, &second)
        } else {
            RawAction::status(200, &first)
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));

    let two: Vec<_> = twilio
        .messages()
        .list(ListMessages::new().to("+15558675310").page_size(2))
        .take(2)
        .collect()
        .await;
    assert_eq!(two.len(), 2);
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the second page is not fetched yet"
    );
    assert_eq!(
        seen.lock().unwrap()[0].path,
        format!("/2010-04-01/Accounts/{AC}/Messages.json?To=%2B15558675310&PageSize=2")
    );

    let all: Vec<String> = twilio
        .messages()
        .list(ListMessages::new().page_size(2))
        .map(|m| m.unwrap().sid.to_string())
        .collect()
        .await;
    assert_eq!(
        all,
        [
            "SM00000000000000000000000000000001",
            "SM00000000000000000000000000000002",
            "SM00000000000000000000000000000003"
        ]
    );
    assert_eq!(seen.lock().unwrap().last().unwrap().path, next);
}

#[tokio::test]
async fn error_bodies_become_twilio_error_fields() {
    let (server, _) = recording(|req| {
        if req.path.contains("Messages.json") {
            RawAction::status(
                400,
                r#"{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
            )
        } else {
            RawAction::status(404, "<html>not json</html>")
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let e = twilio
        .messages()
        .create(CreateMessage::new("+1555").from("+15017122661").body("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(21211));
    assert_eq!(e.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        e.more_info(),
        Some("https://www.twilio.com/docs/errors/21211")
    );
    assert!(e.message().unwrap().contains("not a valid phone number"));
    assert!(e.to_string().contains("21211"), "{e}");
    assert!(!e.is_retryable());
    assert!(
        std::error::Error::source(&e).is_some(),
        "the core error is the source"
    );

    let e = twilio
        .messages()
        .fetch(&MessageSid::new(SM))
        .await
        .unwrap_err();
    assert_eq!(e.status().map(|s| s.as_u16()), Some(404));
    assert_eq!((e.code(), e.message(), e.more_info()), (None, None, None));
}

/// Delegates to an in-memory limiter and records every key asked for.
#[derive(Debug)]
struct RecordingLimiter {
    inner: InMemoryRateLimiter,
    keys: Mutex<Vec<RateKey>>,
}

#[async_trait]
impl RateLimiter for RecordingLimiter {
    async fn acquire(
        &self,
        key: &RateKey,
        cost: NonZeroU32,
    ) -> Result<RateDecision, switchboard::Error> {
        self.keys.lock().unwrap().push(key.clone());
        self.inner.acquire(key, cost).await
    }
    fn try_acquire_now(&self, key: &RateKey, cost: NonZeroU32) -> Option<RateDecision> {
        self.keys.lock().unwrap().push(key.clone());
        self.inner.try_acquire_now(key, cost)
    }
}

#[tokio::test]
async fn bulk_send_returns_one_result_per_recipient_in_order_through_the_limiter() {
    let (server, _) = recording(|req| {
        let to = url::form_urlencoded::parse(&req.body)
            .find(|(k, _)| k == "To")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if to == "+15550000000" {
            RawAction::status(
                400,
                r#"{"code": 21211, "message": "invalid To", "status": 400}"#,
            )
        } else {
            let sid = format!("SM{:0>32}", to.trim_start_matches('+'));
            RawAction::status(201, &message_json(&sid, &to))
        }
    })
    .await;
    let limiter = Arc::new(RecordingLimiter {
        inner: InMemoryRateLimiter::new().with_quota(
            "twilio",
            MESSAGES_BUCKET,
            Quota::per_minute(NonZeroU32::new(5).unwrap()),
        ),
        keys: Mutex::new(Vec::new()),
    });
    // Counts attempts in flight at once, to check the concurrency bound.
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let sb = builder()
        .rate_limiter(limiter.clone())
        .attempt_layer(move |inner: HttpService| {
            let (n, p) = (n.clone(), p.clone());
            HttpService::new(tower::service_fn(move |req| {
                let (inner, n, p) = (inner.clone(), n.clone(), p.clone());
                async move {
                    let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(c, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    let r = inner.oneshot(req).await;
                    n.fetch_sub(1, Ordering::SeqCst);
                    r
                }
            }))
        })
        .build()
        .unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let recipients = [
        "+15551110001",
        "+15551110002",
        "+15550000000",
        "+15551110004",
        "+15551110005",
    ];
    let results = twilio
        .messages()
        .send_bulk(
            CreateMessage::new("").from("+15017122661").body("Sale!"),
            &recipients,
            BulkOptions::default().concurrency(NonZeroUsize::new(2).unwrap()),
        )
        .await;

    assert_eq!(results.len(), recipients.len());
    for (i, (r, to)) in results.iter().zip(recipients).enumerate() {
        match r {
            Ok(m) => assert_eq!(m.to.as_deref(), Some(to), "result {i} is in place"),
            Err(e) => {
                assert_eq!(i, 2, "only the invalid number fails");
                assert_eq!(e.code(), Some(21211));
            }
        }
    }
    assert!(results[2].is_err());
    assert!(peak.load(Ordering::SeqCst) <= 2, "at most 2 in flight");

    // Every send spent the tenant's `messages` bucket of the core limiter ...
    let keys = limiter.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys
        .iter()
        .all(|k| &*k.connector == "twilio" && &*k.bucket == MESSAGES_BUCKET));
    // ... which is now empty (5 per minute): the next send would have to wait.
    let key = RateKey::new(
        TenantId::new("t1"),
        ConnectionId::new("c1"),
        "twilio",
        MESSAGES_BUCKET,
    );
    assert!(matches!(
        limiter.inner.check(&key, NonZeroU32::MIN),
        RateDecision::RetryAfter(_)
    ));
}

#[tokio::test]
async fn every_endpoint_takes_per_call_options_and_handles_outlive_the_client() {
    let (server, seen) = recording(|_| RawAction::status(200, &message_json(SM, "+1"))).await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let messages = twilio.messages();
    drop(twilio);
    // An owned handle moves into a task of its own.
    let fetched = tokio::spawn(async move {
        messages
            .fetch(&MessageSid::new(SM))
            .header("X-Twilio-Edge", "ashburn")
            .timeout(std::time::Duration::from_secs(5))
            .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(fetched.sid.as_str(), SM);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].header("x-twilio-edge"), Some("ashburn"));
}

#[tokio::test]
async fn a_caller_given_sid_stays_one_path_segment() {
    let (server, seen) = recording(|_| RawAction::status(404, "{}")).await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let _ = twilio
        .messages()
        .fetch(&MessageSid::new("SM1/../../Calls/CA1"))
        .await;
    assert_eq!(
        seen.lock().unwrap()[0].path,
        format!("/2010-04-01/Accounts/{AC}/Messages/SM1%2F..%2F..%2FCalls%2FCA1.json")
    );
}

#[tokio::test]
async fn list_never_follows_a_next_page_uri_to_another_host() {
    let next = "https://elsewhere.example/2010-04-01/Accounts/x/Messages.json?Page=1";
    let body = serde_json::json!({
        "messages": [serde_json::from_str::<serde_json::Value>(&message_json(SM, "+1")).unwrap()],
        "next_page_uri": next,
    })
    .to_string();
    let (server, seen) = recording(move |_| RawAction::status(200, &body)).await;
    let sb = builder().build().unwrap();
    let twilio = client(&sb, config(&server.base_url()));
    let items: Vec<_> = twilio.messages().list(ListMessages::new()).collect().await;
    assert_eq!(items.len(), 2, "the page's item, then the error");
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the other host was never asked"
    );
}
