//! The retry classification table: one row per (server behaviour, method, idempotency key,
//! `Retry-After`, classifier answer), each checked against what the server saw and what the
//! call returned. Every row runs against its own `RawServer` and switchboard, concurrently,
//! and every mismatch is collected so that one failure names every wrong row.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use http::Method;
use switchboard::test_util::{refused_addr, RawAction, RawRequest, RawServer};
use switchboard::{ErrorKind, RetryDecision};

use crate::support::{builder, connect, TestConnector};

/// What the upstream does with every request of a row.
#[derive(Debug, Clone, Copy)]
enum Upstream {
    /// Answers with this status (and the row's `Retry-After`, if any).
    Status(u16),
    /// Nothing listens on the port: connection refused, nothing sent.
    Refused,
    /// The connection is reset as soon as it is accepted, before the request is read.
    ResetOnAccept,
    /// The request is read in full, then the connection is reset.
    ResetAfterRead,
    /// The request is read and never answered (the attempt times out).
    Hang,
}

/// Which idempotency key the call carries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    /// `.without_idempotency_key()` for a POST/PATCH; nothing set for other methods (which then
    /// carry no key, having no side effects).
    Absent,
    /// `.idempotency_key("k-<row name>")`.
    Explicit,
    /// Nothing set on a POST: the switchboard generates a UUID once per call.
    Auto,
}

/// The connector classifier's answer, for every attempt of the row.
#[derive(Debug, Clone, Copy)]
enum Cls {
    NoOpinion,
    Retry(Option<Duration>),
    Never,
}

/// What the call should return.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Ok,
    Err(ErrorKind),
}

#[derive(Debug, Clone, Copy)]
struct Row {
    name: &'static str,
    upstream: Upstream,
    method: &'static str,
    key: Key,
    retry_after: Option<&'static str>,
    cls: Cls,
    /// Attempts the client made (`err.attempts()`); the server saw as many, except for a
    /// refused connection, where it saw none.
    attempts: usize,
    expect: Expect,
    /// `err.retry_after()`, when the row checks it.
    err_retry_after: Option<Duration>,
}

const fn row(
    name: &'static str,
    upstream: Upstream,
    method: &'static str,
    key: Key,
    attempts: usize,
    expect: Expect,
) -> Row {
    Row {
        name,
        upstream,
        method,
        key,
        retry_after: None,
        cls: Cls::NoOpinion,
        attempts,
        expect,
        err_retry_after: None,
    }
}

impl Row {
    const fn cls(mut self, cls: Cls) -> Self {
        self.cls = cls;
        self
    }

    const fn retry_after(
        mut self,
        header: &'static str,
        err_retry_after: Option<Duration>,
    ) -> Self {
        self.retry_after = Some(header);
        self.err_retry_after = err_retry_after;
        self
    }
}

use ErrorKind::{Connect, OutcomeUnknown, RateLimited, Status, Timeout, Transport};
use Expect::{Err as E, Ok as OK};
use Key::{Absent, Auto, Explicit};
use Upstream::{Hang, Refused, ResetAfterRead, ResetOnAccept, Status as S};

/// The table. Columns: name, upstream behaviour, method, idempotency key, attempts the client
/// makes (the server sees as many, or none when refused), outcome; then, where given, the
/// classifier's answer (`.cls`) and the `Retry-After` header with the `err.retry_after()` it
/// should produce (`.retry_after`).
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let retry = Cls::Retry(None);
    let retry_soon = Cls::Retry(Some(Duration::from_millis(5)));
    vec![
        // GET: idempotent, retried on transient statuses and transport failures.
        row("get_200_ok_first_attempt",                       S(200),         "GET",   Absent,   1, OK),
        row("get_400_not_retried",                            S(400),         "GET",   Absent,   1, E(Status)),
        row("get_404_not_retried",                            S(404),         "GET",   Absent,   1, E(Status)),
        row("get_408_retried_to_max",                         S(408),         "GET",   Absent,   3, E(Status)),
        row("get_409_not_retried",                            S(409),         "GET",   Absent,   1, E(Status)),
        row("get_429_retried_then_rate_limited",              S(429),         "GET",   Absent,   3, E(RateLimited)),
        row("get_500_retried_to_max",                         S(500),         "GET",   Absent,   3, E(Status)),
        row("get_502_retried_to_max",                         S(502),         "GET",   Absent,   3, E(Status)),
        row("get_503_retried_to_max",                         S(503),         "GET",   Absent,   3, E(Status)),
        row("get_504_retried_to_max",                         S(504),         "GET",   Absent,   3, E(Status)),
        row("get_refused_retried_to_max",                     Refused,        "GET",   Absent,   3, E(Connect)),
        row("get_reset_on_accept_retried",                    ResetOnAccept,  "GET",   Absent,   3, E(Transport)),
        row("get_reset_after_read_retried",                   ResetAfterRead, "GET",   Absent,   3, E(Transport)),
        row("get_timeout_retried",                            Hang,           "GET",   Absent,   3, E(Timeout)),
        row("get_503_classifier_never_stops_at_once",         S(503),         "GET",   Absent,   1, E(Status)).cls(Cls::Never),
        row("get_refused_classifier_never_stops_at_once",     Refused,        "GET",   Absent,   1, E(Connect)).cls(Cls::Never),
        row("get_reset_classifier_never_stops",               ResetAfterRead, "GET",   Absent,   1, E(Transport)).cls(Cls::Never),
        row("get_400_classifier_retry_is_retried",            S(400),         "GET",   Absent,   3, E(Status)).cls(retry),
        row("get_503_retry_after_0_retried",                  S(503),         "GET",   Absent,   3, E(Status)).retry_after("0", Some(Duration::ZERO)),
        // Beyond the 60 s cap: not slept, handed to the caller as a rate limit.
        row("get_503_retry_after_beyond_cap_stops",           S(503),         "GET",   Absent,   1, E(RateLimited)).retry_after("3600", Some(Duration::from_secs(3600))),
        // Under the cap but past the 10 s call deadline: not slept either.
        row("get_429_retry_after_past_deadline_stops",        S(429),         "GET",   Absent,   1, E(RateLimited)).retry_after("30", Some(Duration::from_secs(30))),
        // A GET with a caller's key keeps it on every attempt; being idempotent, a final
        // transport failure stays Transport (its outcome is not "unknown" in any way that
        // matters: it can be repeated).
        row("get_keyed_reset_retried_with_key",               ResetAfterRead, "GET",   Explicit, 3, E(Transport)),
        // PUT has no side effects by default: retried like GET.
        row("put_unkeyed_503_retried",                        S(503),         "PUT",   Absent,   3, E(Status)),
        // POST without a key: retried only when nothing was sent.
        row("post_unkeyed_200_ok",                            S(200),         "POST",  Absent,   1, OK),
        row("post_unkeyed_400_not_retried",                   S(400),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_408_not_retried",                   S(408),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_409_not_retried",                   S(409),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_429_not_retried",                   S(429),         "POST",  Absent,   1, E(RateLimited)),
        row("post_unkeyed_500_not_retried",                   S(500),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_502_not_retried",                   S(502),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_503_not_retried",                   S(503),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_504_not_retried",                   S(504),         "POST",  Absent,   1, E(Status)),
        row("post_unkeyed_503_retry_after_0_not_retried",     S(503),         "POST",  Absent,   1, E(Status)).retry_after("0", Some(Duration::ZERO)),
        row("post_unkeyed_refused_retried",                   Refused,        "POST",  Absent,   3, E(Connect)),
        // A reset right after accept happens before the server read anything, but the client
        // cannot tell that from a reset after the write (both are a failed exchange on an
        // established connection), so an unkeyed POST must assume the provider may have
        // received it: 1 attempt, outcome unknown. (See the runtime note on the test below.)
        row("post_unkeyed_reset_on_accept_1_attempt",         ResetOnAccept,  "POST",  Absent,   1, E(OutcomeUnknown)),
        row("post_unkeyed_reset_after_read_outcome_unknown",  ResetAfterRead, "POST",  Absent,   1, E(OutcomeUnknown)),
        row("post_unkeyed_timeout_outcome_unknown",           Hang,           "POST",  Absent,   1, E(OutcomeUnknown)),
        // The classifier says the provider did not act: retried even without a key.
        row("post_unkeyed_503_classifier_retry",              S(503),         "POST",  Absent,   3, E(Status)).cls(retry),
        row("post_unkeyed_429_classifier_retry",              S(429),         "POST",  Absent,   3, E(RateLimited)).cls(retry_soon),
        // The last attempt of those was still a reset after the write: outcome unknown.
        row("post_unkeyed_reset_classifier_retry",            ResetAfterRead, "POST",  Absent,   3, E(OutcomeUnknown)).cls(retry),
        row("post_unkeyed_refused_classifier_never",          Refused,        "POST",  Absent,   1, E(Connect)).cls(Cls::Never),
        // PATCH has side effects too.
        row("patch_unkeyed_503_not_retried",                  S(503),         "PATCH", Absent,   1, E(Status)),
        // POST with the caller's key: retried like GET; the key is the same on every attempt.
        row("post_keyed_200_ok",                              S(200),         "POST",  Explicit, 1, OK),
        row("post_keyed_400_not_retried",                     S(400),         "POST",  Explicit, 1, E(Status)),
        row("post_keyed_404_not_retried",                     S(404),         "POST",  Explicit, 1, E(Status)),
        row("post_keyed_409_not_retried",                     S(409),         "POST",  Explicit, 1, E(Status)),
        row("post_keyed_408_retried",                         S(408),         "POST",  Explicit, 3, E(Status)),
        row("post_keyed_429_retried",                         S(429),         "POST",  Explicit, 3, E(RateLimited)),
        row("post_keyed_500_retried",                         S(500),         "POST",  Explicit, 3, E(Status)),
        row("post_keyed_502_retried",                         S(502),         "POST",  Explicit, 3, E(Status)),
        row("post_keyed_503_retried",                         S(503),         "POST",  Explicit, 3, E(Status)),
        row("post_keyed_504_retried",                         S(504),         "POST",  Explicit, 3, E(Status)),
        row("post_keyed_refused_retried",                     Refused,        "POST",  Explicit, 3, E(Connect)),
        row("post_keyed_reset_on_accept_outcome_unknown",     ResetOnAccept,  "POST",  Explicit, 3, E(OutcomeUnknown)),
        row("post_keyed_reset_after_read_outcome_unknown",    ResetAfterRead, "POST",  Explicit, 3, E(OutcomeUnknown)),
        row("post_keyed_timeout_outcome_unknown",             Hang,           "POST",  Explicit, 3, E(OutcomeUnknown)),
        row("post_keyed_503_classifier_never",                S(503),         "POST",  Explicit, 1, E(Status)).cls(Cls::Never),
        row("post_keyed_503_retry_after_beyond_cap",          S(503),         "POST",  Explicit, 1, E(RateLimited)).retry_after("3600", Some(Duration::from_secs(3600))),
        // POST with a generated key: same as an explicit key.
        row("post_auto_key_200_ok",                           S(200),         "POST",  Auto,     1, OK),
        row("post_auto_key_400_not_retried",                  S(400),         "POST",  Auto,     1, E(Status)),
        row("post_auto_key_503_retried",                      S(503),         "POST",  Auto,     3, E(Status)),
        row("post_auto_key_refused_retried",                  Refused,        "POST",  Auto,     3, E(Connect)),
        row("post_auto_key_reset_after_read_outcome_unknown", ResetAfterRead, "POST",  Auto,     3, E(OutcomeUnknown)),
        row("post_auto_key_timeout_outcome_unknown",          Hang,           "POST",  Auto,     3, E(OutcomeUnknown)),
    ]
}

/// Whether the row's request has side effects (POST and PATCH, by default).
fn side_effects(method: &str) -> bool {
    matches!(method, "POST" | "PATCH")
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

/// Runs one row; returns every way it differs from the expectation.
async fn run_row(row: Row) -> Vec<String> {
    let mut wrong = Vec::new();
    let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();

    let server = match row.upstream {
        Upstream::Refused => None,
        Upstream::ResetOnAccept => Some(RawServer::reset_on_accept().await),
        upstream => {
            let seen = seen.clone();
            Some(
                RawServer::start(move |req: &RawRequest| {
                    seen.lock().unwrap().push(req.clone());
                    match upstream {
                        Upstream::Status(code) => {
                            let a = RawAction::status(code, r#"{"row":true}"#);
                            match row.retry_after {
                                Some(v) => a.with_header("Retry-After", v),
                                None => a,
                            }
                        }
                        Upstream::ResetAfterRead => RawAction::Reset,
                        _ => RawAction::Hang,
                    }
                })
                .await,
            )
        }
    };
    let base = match &server {
        Some(s) => s.base_url(),
        None => format!("http://{}", refused_addr()),
    };

    let mut b = builder();
    if matches!(row.upstream, Upstream::Hang) {
        b = b.attempt_timeout(Duration::from_millis(250));
    }
    let sb = b.build().expect("valid switchboard");
    let connector = match row.cls {
        Cls::NoOpinion => TestConnector::default(),
        Cls::Retry(after) => {
            TestConnector::with_classifier(move |_| RetryDecision::Retry { after })
        }
        Cls::Never => TestConnector::with_classifier(|_| RetryDecision::Never),
    };
    let conn = connect(&sb, connector, &base);

    let explicit_key = format!("k-{}", row.name);
    let method: Method = row.method.parse().unwrap();
    let mut req = conn
        .request(method, "/v1/things")
        .json(&serde_json::json!({"n": 1}));
    req = match row.key {
        Key::Absent if side_effects(row.method) => req.without_idempotency_key(),
        Key::Absent => req,
        Key::Explicit => req.idempotency_key(explicit_key.clone()),
        Key::Auto => {
            assert!(
                side_effects(row.method),
                "{}: Auto needs side effects",
                row.name
            );
            req
        }
    };
    let result = req.send().await;

    // What the server saw.
    let server_count = match (&server, row.upstream) {
        (None, _) => 0,
        (Some(s), Upstream::ResetOnAccept) => s.connections(),
        (Some(s), _) => s.requests(),
    };
    let expected_count = if matches!(row.upstream, Upstream::Refused) {
        0
    } else {
        row.attempts
    };
    if server_count != expected_count {
        wrong.push(format!(
            "server saw {server_count} attempts, expected {expected_count}"
        ));
    }

    // What the call returned.
    let err_key = match (&result, row.expect) {
        (Ok(resp), Expect::Ok) => {
            if !resp.status().is_success() {
                wrong.push(format!("Ok with status {}", resp.status()));
            }
            None
        }
        (Ok(resp), Expect::Err(kind)) => {
            wrong.push(format!("Ok({}), expected {kind:?}", resp.status()));
            None
        }
        (Err(e), Expect::Ok) => {
            wrong.push(format!("{e:?}, expected Ok"));
            None
        }
        (Err(e), Expect::Err(kind)) => {
            if e.kind() != kind {
                wrong.push(format!("kind {:?}, expected {kind:?} ({e})", e.kind()));
            }
            if e.attempts() as usize != row.attempts {
                wrong.push(format!(
                    "err.attempts() {}, expected {}",
                    e.attempts(),
                    row.attempts
                ));
            }
            let expected_status = match row.upstream {
                Upstream::Status(code) => Some(code),
                _ => None,
            };
            if e.status().map(|s| s.as_u16()) != expected_status {
                wrong.push(format!(
                    "err.status() {:?}, expected {expected_status:?}",
                    e.status()
                ));
            }
            let sent = !matches!(row.upstream, Upstream::Refused);
            if e.may_have_been_sent() != sent {
                wrong.push(format!(
                    "may_have_been_sent() {}, expected {sent}",
                    e.may_have_been_sent()
                ));
            }
            if row.err_retry_after.is_some() && e.retry_after() != row.err_retry_after {
                wrong.push(format!(
                    "retry_after() {:?}, expected {:?}",
                    e.retry_after(),
                    row.err_retry_after
                ));
            }
            Some(e.idempotency_key().map(str::to_string))
        }
    };

    // The idempotency key: present on every attempt and identical, or absent everywhere.
    let seen = seen.lock().unwrap();
    let keyed = match row.key {
        Key::Explicit => true,
        Key::Auto => true,
        Key::Absent => false,
    };
    let header_values: Vec<Option<&str>> =
        seen.iter().map(|r| r.header("Idempotency-Key")).collect();
    if keyed {
        let first = header_values.first().copied().flatten();
        if header_values.iter().any(|v| v.is_none() || *v != first) {
            wrong.push(format!(
                "attempts did not all carry one key: {header_values:?}"
            ));
        }
        if row.key == Key::Explicit && !seen.is_empty() && first != Some(explicit_key.as_str()) {
            wrong.push(format!("server saw key {first:?}, expected {explicit_key}"));
        }
        if let Some(err_key) = &err_key {
            match err_key.as_deref() {
                None => wrong.push("err.idempotency_key() is None".to_string()),
                Some(k) => {
                    if row.key == Key::Explicit && k != explicit_key {
                        wrong.push(format!(
                            "err.idempotency_key() {k}, expected {explicit_key}"
                        ));
                    }
                    if row.key == Key::Auto && !looks_like_uuid(k) {
                        wrong.push(format!("generated key {k:?} is not a UUID"));
                    }
                    if first.is_some_and(|f| f != k) {
                        wrong.push(format!("err key {k} differs from the key sent {first:?}"));
                    }
                }
            }
        }
        if row.key == Key::Auto && first.is_some_and(|k| !looks_like_uuid(k)) {
            wrong.push(format!("generated key {first:?} is not a UUID"));
        }
    } else {
        if header_values.iter().any(Option::is_some) {
            wrong.push(format!("unkeyed call sent a key: {header_values:?}"));
        }
        if let Some(Some(k)) = &err_key {
            wrong.push(format!("unkeyed call's error carries key {k}"));
        }
    }
    drop(seen);
    drop(server);
    wrong
        .into_iter()
        .map(|w| format!("{}: {w}", row.name))
        .collect()
}

// A current-thread runtime on purpose: with `RawServer::reset_on_accept`, whether the client
// sees the reset while its connect is still completing (reported as a connect error: nothing
// was sent) or after it handed the request to the connection (a transport error: it may have
// been sent) is a race between the server's accept task and the client's tasks. On one thread
// the TCP handshake order fixes it (the client's socket is established before the listener can
// accept), so the client always gets past connect first and the rows are deterministic. On a
// multi-thread runtime the server may reset before the client's connect future completes, and
// the same row would (correctly) come out as `Connect`, retried because nothing was sent.
#[tokio::test]
async fn every_row_of_the_retry_table_has_its_expected_attempts_and_outcome() {
    let rows = rows();
    assert!(rows.len() >= 30, "the table has {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names must be unique");

    let started = std::time::Instant::now();
    let results = join_all(rows.iter().map(|r| run_row(*r))).await;
    let wrong: Vec<String> = results.into_iter().flatten().collect();
    eprintln!(
        "retry table: {} rows in {:?}, {} mismatches",
        rows.len(),
        started.elapsed(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} mismatches in the retry table:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}
