//! The retry budget: against an upstream that is down (always 503), retries are capped by
//! tower's `TpsBudget`, and each refusal is counted in
//! `switchboard_retry_budget_exhausted_total`.
//!
//! The bound, from tower 0.5's `TpsBudget::new(ttl = 10 s, min_per_sec = 1, percent = 0.2)`:
//! a percent of 0.2 makes each deposit worth 1 token and each retry cost 1 / 0.2 = 5 tokens; the
//! reserve is `min_per_sec * ttl_secs * 5 = 50` tokens. Each call deposits once (200 tokens for
//! 200 calls) and a retry is allowed while the balance is at least 5. Deposits and withdrawals
//! only expire after the 10 s ttl; the clock is paused here (the budget reads
//! `tokio::time::Instant`), and the whole run takes well under a second of virtual time, so
//! nothing expires and retries <= (50 + 200) / 5 = 50 = 0.2 * 200 + 1 * 10, exactly.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use switchboard::observe::names;
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::{BreakerConfig, ErrorKind, RetryConfig, Switchboard};

use crate::support::{connect, TestConnector};
use switchboard::test_util::freeze_clock_during_attempts;

const CALLS: usize = 200;
const MAX_ATTEMPTS: u32 = 5;

struct Run {
    /// Requests the server saw.
    requests: usize,
    /// Calls that used every attempt (so were never refused by the budget).
    full_calls: usize,
    /// Sum of `err.attempts()` over the calls.
    attempts: usize,
}

fn switchboard(percent: f32) -> Switchboard {
    freeze_clock_during_attempts(Switchboard::builder())
        .retry(
            RetryConfig::default()
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2))
                .max_attempts(MAX_ATTEMPTS)
                .budget(percent, 1, Duration::from_secs(10)),
        )
        // The breaker would open after 20 failed calls and hide the budget: keep it closed.
        .breaker(BreakerConfig::default().min_calls(1_000_000))
        .attempt_timeout(Duration::from_secs(2))
        .call_deadline(Duration::from_secs(10))
        .build()
        .expect("valid switchboard")
}

/// 200 sequential GETs against an always-503 upstream, on a paused current-thread runtime
/// (with the clock frozen during I/O, see `freeze_clock_during_attempts`).
async fn run(percent: f32) -> Run {
    // No body: the server then writes the response in one segment, so the client's delayed
    // ACK never holds a second one back (Nagle), and 1,000 requests take well under a second.
    let server = RawServer::start(|_: &RawRequest| RawAction::status(503, "")).await;
    let sb = switchboard(percent);
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = tokio::time::Instant::now();
    let (mut full_calls, mut attempts) = (0, 0);
    for i in 0..CALLS {
        let err = conn.get("/v1/things").send().await.unwrap_err();
        // Anything but a 503 status (a timeout, say) would mean the run is not what it seems.
        assert_eq!(err.kind(), ErrorKind::Status, "call {i}: {err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
        attempts += err.attempts() as usize;
        if err.attempts() == MAX_ATTEMPTS {
            full_calls += 1;
        }
    }
    // The ttl never elapsed, so the bound below is exact.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    Run {
        requests: server.requests(),
        full_calls,
        attempts,
    }
}

/// Every counter's total over its label sets. (A snapshot drains the counters, so take one.)
fn counters(snapshotter: &Snapshotter) -> HashMap<String, u64> {
    let mut totals = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            *totals.entry(key.key().name().to_string()).or_insert(0) += n;
        }
    }
    totals
}

/// Runs `run(percent)` on a paused current-thread runtime with a local metrics recorder
/// (thread-local, so other tests running in parallel do not touch it).
fn run_recorded(percent: f32) -> (Run, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let r = metrics::with_local_recorder(&recorder, || rt.block_on(run(percent)));
    (r, snapshotter)
}

#[test]
fn budget_caps_retries_against_an_upstream_that_is_down() {
    let (r, snap) = run_recorded(0.2);
    let retries = r.requests - CALLS;
    let counters = counters(&snap);
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    let exhausted = count(names::RETRY_BUDGET_EXHAUSTED);
    eprintln!(
        "budget 20%: {} requests, {retries} retries, {} calls used all attempts, budget refused {exhausted}",
        r.requests, r.full_calls
    );
    let bound = (0.2 * CALLS as f64) as usize + 10;
    assert!(retries <= bound, "{retries} retries > bound {bound}");
    assert!(
        retries > 0,
        "the budget allowed no retry at all (reserve is 50 tokens)"
    );
    assert_eq!(r.attempts, r.requests, "attempts reported == requests seen");
    // Every call either used all its attempts or was stopped by the budget (nothing else can
    // stop a GET that gets 503 without Retry-After), and each such stop is counted once.
    assert!(
        exhausted > 0,
        "{} not incremented",
        names::RETRY_BUDGET_EXHAUSTED
    );
    assert_eq!(r.full_calls as u64 + exhausted, CALLS as u64);
    assert_eq!(count(names::RETRIES), retries as u64);
    assert_eq!(count(names::ATTEMPTS), r.requests as u64);
}

#[test]
fn without_a_budget_limit_every_call_retries_to_max_attempts() {
    // Percent 1000: each deposit pays for 1,000 retries, so the budget never refuses and the
    // only limit is max_attempts: 4 retries per call. This is what the budget above cut down.
    let (r, snap) = run_recorded(1000.0);
    let retries = r.requests - CALLS;
    let counters = counters(&snap);
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    eprintln!(
        "unlimited budget: {} requests, {retries} retries",
        r.requests
    );
    assert_eq!(retries, CALLS * (MAX_ATTEMPTS as usize - 1));
    assert_eq!(r.full_calls, CALLS);
    assert_eq!(count(names::RETRY_BUDGET_EXHAUSTED), 0);
    assert_eq!(count(names::RETRIES), retries as u64);
    assert_eq!(count(names::ATTEMPTS), r.requests as u64);
}
