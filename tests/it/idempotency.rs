//! Idempotency keys end to end: retries after a reset never create a second object, and a
//! call without a key is never repeated once it may have been received.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt};
use switchboard::test_util::{refused_addr, RawAction, RawRequest, RawServer};
use switchboard::ErrorKind;

use crate::support::{builder, connect, TestConnector};

/// A Stripe-like upstream: the first request with a key creates (commits) an object; a request
/// with a key it has seen returns the stored object. Any request may then be answered with a
/// reset instead of the response (the commit stays).
#[derive(Default)]
struct Store {
    /// key -> object id.
    objects: HashMap<String, String>,
    /// key -> requests seen with that key.
    attempts: HashMap<String, usize>,
    /// Requests that carried no key at all.
    unkeyed: usize,
    /// Requests answered with a reset.
    resets: usize,
    next_id: usize,
}

fn looks_like_uuid(k: &str) -> bool {
    k.len() == 36
        && k.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[derive(Debug)]
enum CallResult {
    /// The object id and key the server echoed.
    Created { id: String, key: String },
    /// OutcomeUnknown, with the key the error carries.
    Unknown { key: String },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_keyed_posts_with_resets_create_exactly_one_object_each() {
    const CALLS: usize = 1_000;
    const EXPLICIT_EVERY: usize = 10; // every 10th call uses the caller's own key
    let store: Arc<Mutex<Store>> = Arc::default();
    let s = store.clone();
    let server = RawServer::start(move |req: &RawRequest| {
        let mut st = s.lock().unwrap();
        let Some(key) = req.header("Idempotency-Key").map(str::to_string) else {
            st.unkeyed += 1;
            return RawAction::status(400, r#"{"error":"missing Idempotency-Key"}"#);
        };
        *st.attempts.entry(key.clone()).or_insert(0) += 1;
        let id = match st.objects.get(&key) {
            Some(id) => id.clone(),
            None => {
                st.next_id += 1;
                let id = format!("obj_{}", st.next_id);
                st.objects.insert(key.clone(), id.clone());
                id
            }
        };
        if fastrand::u8(0..100) < 20 {
            st.resets += 1;
            return RawAction::Reset;
        }
        RawAction::status(200, &format!(r#"{{"id":"{id}","key":"{key}"}}"#))
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());

    let results: Vec<(usize, Result<CallResult, String>)> = stream::iter(0..CALLS)
        .map(|i| {
            let conn = conn.clone();
            async move {
                let mut req = conn
                    .post("/v1/charges")
                    .json(&serde_json::json!({ "amount": i }));
                if i % EXPLICIT_EVERY == 0 {
                    req = req.idempotency_key(format!("k-explicit-{i}"));
                }
                let r = match req.send().await {
                    Ok(resp) => {
                        let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
                        Ok(CallResult::Created {
                            id: v["id"].as_str().unwrap_or_default().to_string(),
                            key: v["key"].as_str().unwrap_or_default().to_string(),
                        })
                    }
                    Err(e) if e.kind() == ErrorKind::OutcomeUnknown => match e.idempotency_key() {
                        Some(k) => Ok(CallResult::Unknown { key: k.to_string() }),
                        None => Err(format!("OutcomeUnknown without a key: {e:?}")),
                    },
                    Err(e) => Err(format!("unexpected error: {e:?}")),
                };
                Ok::<_, String>((i, r))
            }
        })
        .buffer_unordered(50)
        .map(|r| r.expect("decoding a success"))
        .collect()
        .await;

    let st = store.lock().unwrap();
    let mut problems = Vec::new();
    let mut client_keys = HashSet::new();
    let (mut created, mut unknown) = (0, 0);
    for (i, r) in &results {
        match r {
            Ok(CallResult::Created { id, key }) => {
                created += 1;
                if st.objects.get(key) != Some(id) {
                    problems.push(format!(
                        "call {i}: got {id} for {key}, store has {:?}",
                        st.objects.get(key)
                    ));
                }
                check_key(*i, key, EXPLICIT_EVERY, &mut problems);
                client_keys.insert(key.clone());
            }
            Ok(CallResult::Unknown { key }) => {
                unknown += 1;
                // Every attempt of such a call was reset, so the server saw the key 3 times.
                match st.attempts.get(key) {
                    Some(3) => {}
                    other => problems.push(format!(
                        "call {i}: OutcomeUnknown with key {key}, server saw it {other:?} times"
                    )),
                }
                check_key(*i, key, EXPLICIT_EVERY, &mut problems);
                client_keys.insert(key.clone());
            }
            Err(e) => problems.push(format!("call {i}: {e}")),
        }
    }
    let total_requests: usize = st.attempts.values().sum();
    let max_attempts = st.attempts.values().copied().max().unwrap_or(0);
    eprintln!(
        "idempotency: {CALLS} calls, {created} ok, {unknown} outcome unknown; server: {} requests, \
         {} resets, {} objects, max {max_attempts} attempts for one key",
        server.requests(),
        st.resets,
        st.objects.len(),
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(results.len(), CALLS);
    assert_eq!(created + unknown, CALLS);
    assert_eq!(
        st.unkeyed, 0,
        "requests without an Idempotency-Key reached the server"
    );
    // One key per call, the same on every attempt: as many keys as calls, no more.
    assert_eq!(st.attempts.len(), CALLS, "distinct keys seen by the server");
    assert_eq!(
        client_keys.len(),
        CALLS,
        "distinct keys reported to callers"
    );
    assert!(client_keys.iter().all(|k| st.attempts.contains_key(k)));
    // Exactly one object per logical call, despite the retries.
    assert_eq!(st.objects.len(), CALLS, "objects stored");
    let distinct_ids: HashSet<&String> = st.objects.values().collect();
    assert_eq!(distinct_ids.len(), CALLS);
    // Every request the server counted is attributed to a key.
    assert_eq!(total_requests, server.requests());
    assert!(max_attempts <= 3, "a key was sent {max_attempts} times");
    // With 20% resets over 1,000 calls, retries did happen (else this tested nothing).
    assert!(total_requests > CALLS, "no retries happened");
    assert!(st.resets > 0);
}

fn check_key(i: usize, key: &str, explicit_every: usize, problems: &mut Vec<String>) {
    if i.is_multiple_of(explicit_every) {
        if key != format!("k-explicit-{i}") {
            problems.push(format!("call {i}: explicit key came back as {key}"));
        }
    } else if !looks_like_uuid(key) {
        problems.push(format!("call {i}: generated key {key:?} is not a UUID"));
    }
}

/// A server that resets every connection after reading its request, recording what it read.
async fn resetting_server() -> (RawServer, Arc<Mutex<Vec<RawRequest>>>) {
    let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
    let s = seen.clone();
    let server = RawServer::start(move |req: &RawRequest| {
        s.lock().unwrap().push(req.clone());
        RawAction::Reset
    })
    .await;
    (server, seen)
}

#[tokio::test]
async fn unkeyed_post_reset_after_write_is_sent_once_and_outcome_unknown() {
    let (server, seen) = resetting_server().await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let err = conn
        .post("/v1/messages")
        .json(&serde_json::json!({"to": "+15550100"}))
        .without_idempotency_key()
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.requests(), 1, "an unkeyed POST was sent again");
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert!(err.may_have_been_sent());
    assert!(
        !err.is_retryable(),
        "an unkeyed POST that may have been received is not retryable"
    );
    assert_eq!(err.idempotency_key(), None);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].header("Idempotency-Key"), None);
}

#[tokio::test]
async fn post_to_connector_without_key_support_reset_after_write_is_sent_once() {
    let (server, seen) = resetting_server().await;
    let sb = builder().build().unwrap();
    let connector = TestConnector {
        idempotency_header: None,
        ..Default::default()
    };
    let conn = connect(&sb, connector, &server.base_url());
    // No `.without_idempotency_key()`: the default (Auto) finds no header to put a key in.
    let err = conn
        .post("/v1/messages")
        .json(&serde_json::json!({"to": "+15550100"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(server.requests(), 1, "an unkeyed POST was sent again");
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err:?}");
    assert_eq!(err.attempts(), 1);
    assert!(err.may_have_been_sent());
    assert!(!err.is_retryable());
    assert_eq!(err.idempotency_key(), None);
    assert_eq!(seen.lock().unwrap()[0].header("Idempotency-Key"), None);
}

#[tokio::test]
async fn unkeyed_post_to_refused_port_is_retried_because_nothing_was_sent() {
    let sb = builder().build().unwrap();
    let base = format!("http://{}", refused_addr());
    let conn = connect(&sb, TestConnector::default(), &base);
    let err = conn
        .post("/v1/messages")
        .json(&serde_json::json!({"to": "+15550100"}))
        .without_idempotency_key()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert_eq!(err.attempts(), 3);
    assert!(!err.may_have_been_sent());
    assert!(
        err.is_retryable(),
        "nothing was sent, so trying later is safe"
    );
    assert_eq!(err.idempotency_key(), None);
}
