//! Metrics through the `metrics` facade, so hosts pick their own exporter. Spans are opened
//! where the work happens (the client for calls, the retry layer for attempts).
//!
//! Labels hold the connector, endpoint, host, outcome and reason, never a tenant (unbounded)
//! and never anything secret.
//!
//! This module sits at the bottom with the plug-in traits: its recording functions take plain
//! labels (strings, a breaker state as its label) rather than the pipeline's call context, so
//! the pipeline, the outbound sender, the webhook router and a rate limiter all record
//! through it, and every metric the crate emits is named in [`names`] and the table below.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `switchboard_requests_total` | counter | connector, endpoint, outcome |
//! | `switchboard_request_duration_seconds` | histogram | connector, endpoint |
//! | `switchboard_attempts_total` | counter | connector |
//! | `switchboard_retries_total` | counter | connector, reason |
//! | `switchboard_retry_budget_exhausted_total` | counter | connector |
//! | `switchboard_cache_total` | counter | connector, result (hit, miss) |
//! | `switchboard_rate_limited_total` | counter | connector |
//! | `switchboard_rate_limiter_fail_open_total` | counter | connector |
//! | `switchboard_rate_limiter_fail_closed_total` | counter | connector |
//! | `switchboard_breaker_rejected_total` | counter | connector |
//! | `switchboard_breakers_open` | gauge: breakers not closed (open or half-open) | connector, host |
//! | `switchboard_webhooks_total` | counter | connector, outcome |
//! | `switchboard_webhook_verification_failures_total` | counter | connector |
//! | `switchboard_outbound_attempts_total` | counter | outcome (delivered, failed) |
//! | `switchboard_outbound_attempt_seconds` | histogram | |

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Metric names, for hosts that describe or filter them.
pub mod names {
    /// Calls, by outcome (`ok` or an error kind).
    pub const REQUESTS: &str = "switchboard_requests_total";
    /// Call latency in seconds.
    pub const REQUEST_DURATION: &str = "switchboard_request_duration_seconds";
    /// Attempts sent to the transport.
    pub const ATTEMPTS: &str = "switchboard_attempts_total";
    /// Retries, by reason.
    pub const RETRIES: &str = "switchboard_retries_total";
    /// Retries refused by the budget.
    pub const RETRY_BUDGET_EXHAUSTED: &str = "switchboard_retry_budget_exhausted_total";
    /// Cache lookups, by result.
    pub const CACHE: &str = "switchboard_cache_total";
    /// Calls refused by the local rate limiter.
    pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
    /// Calls granted without a limit because the shared rate limiter's backend was unreachable
    /// and it fails open.
    pub const RATE_LIMITER_FAIL_OPEN: &str = "switchboard_rate_limiter_fail_open_total";
    /// Calls refused because the shared rate limiter's backend was unreachable and it fails
    /// closed.
    pub const RATE_LIMITER_FAIL_CLOSED: &str = "switchboard_rate_limiter_fail_closed_total";
    /// Calls refused by an open breaker.
    pub const BREAKER_REJECTED: &str = "switchboard_breaker_rejected_total";
    /// How many breakers of a connector and host are not closed (open or half-open), over every
    /// tenant's connection. Breakers are per (tenant, connection, host), so one state gauge per
    /// connector and host would show whichever tenant changed last; a count does not.
    pub const BREAKERS_OPEN: &str = "switchboard_breakers_open";
    /// Inbound webhooks, by connector and outcome (`processed`, `duplicate`, `in_flight`,
    /// `unknown_route`, `verification_failed`, `handler_error`, `store_error`).
    pub const WEBHOOKS: &str = "switchboard_webhooks_total";
    /// Inbound webhooks that failed verification, by connector (per connection: see
    /// `WebhookRouter::verification_failures`).
    pub const WEBHOOK_VERIFICATION_FAILURES: &str =
        "switchboard_webhook_verification_failures_total";
    /// Outbound webhook delivery attempts, by outcome (`delivered` or `failed`).
    pub const OUTBOUND_ATTEMPTS: &str = "switchboard_outbound_attempts_total";
    /// Outbound webhook delivery attempt latency in seconds.
    pub const OUTBOUND_ATTEMPT_DURATION: &str = "switchboard_outbound_attempt_seconds";

    /// Every name above, for hosts that describe them all (and for the test that keeps this
    /// list, the table in the module docs and the recording functions in step).
    pub const ALL: &[&str] = &[
        REQUESTS,
        REQUEST_DURATION,
        ATTEMPTS,
        RETRIES,
        RETRY_BUDGET_EXHAUSTED,
        CACHE,
        RATE_LIMITED,
        RATE_LIMITER_FAIL_OPEN,
        RATE_LIMITER_FAIL_CLOSED,
        BREAKER_REJECTED,
        BREAKERS_OPEN,
        WEBHOOKS,
        WEBHOOK_VERIFICATION_FAILURES,
        OUTBOUND_ATTEMPTS,
        OUTBOUND_ATTEMPT_DURATION,
    ];
}

/// The label of a closed breaker, as `BreakerState::as_str` spells it.
pub(crate) const BREAKER_CLOSED: &str = "closed";

/// Whether a span at `level` can be recorded by the tracing subscriber in effect; the pipeline
/// makes its spans only then (otherwise `Span::none()`). With tracing's `log` feature on (sqlx
/// turns it on) and no subscriber, a disabled span still records its fields and "logs" every
/// enter and exit for the `log` crate: about 2,400 instructions a call, a third of what the
/// pipeline added to a request. Hosts that read switchboard's spans through a subscriber see
/// them unchanged; a host with only a `log` logger sees its events, not span enter and exit.
pub(crate) fn spans_enabled(level: tracing::Level) -> bool {
    level <= tracing::level_filters::STATIC_MAX_LEVEL
        && level <= tracing::level_filters::LevelFilter::current()
}

/// The handles of one connection's per-call metrics (calls, their latency, attempts, cache
/// lookups), registered once instead of on every call.
///
/// Recording through the `metrics` macros with labels that are not literals builds a `Key`
/// with a `Vec` of labels on every call, even with no recorder installed: three allocations a
/// call, a tenth of what the whole pipeline adds to a request. The handles here are registered
/// on first use and kept while the same recorder is in effect. A different recorder (a test's
/// local recorder, or a host that installs its global one after building connections) is
/// noticed by its address and the handles are registered again with it.
pub(crate) struct ConnectionMetrics {
    connector: Arc<str>,
    handles: Mutex<Handles>,
}

/// How many (endpoint, outcome) pairs one connection keeps handles for; past that, calls are
/// recorded through the macros (correct, just not cached), so a host that makes up endpoint
/// labels per call cannot grow this without bound.
const MAX_CACHED_SERIES: usize = 64;

#[derive(Default)]
struct Handles {
    /// The address of the recorder the handles were registered with (0: none yet).
    recorder: usize,
    attempts: Option<metrics::Counter>,
    cache: [Option<metrics::Counter>; 2],
    calls: Vec<(Arc<str>, &'static str, metrics::Counter)>,
    durations: Vec<(Arc<str>, metrics::Histogram)>,
}

impl std::fmt::Debug for ConnectionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionMetrics")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

/// The address of the recorder in effect on this thread, to tell recorders apart.
fn recorder_id() -> usize {
    metrics::with_recorder(|r| r as *const dyn metrics::Recorder as *const () as usize)
}

impl ConnectionMetrics {
    pub(crate) fn new(connector: Arc<str>) -> Self {
        ConnectionMetrics {
            connector,
            handles: Mutex::new(Handles::default()),
        }
    }

    /// The handles, reset when the recorder in effect is not the one they were made with.
    fn with<T>(&self, f: impl FnOnce(&mut Handles) -> T) -> T {
        let id = recorder_id();
        // A panic while holding the lock cannot leave a handle half-made: keep using it.
        let mut h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if h.recorder != id {
            *h = Handles {
                recorder: id,
                ..Handles::default()
            };
        }
        f(&mut h)
    }

    /// One call finished (after retries) with `outcome`, through this connection's handles.
    pub(crate) fn call_finished(
        &self,
        endpoint: &Arc<str>,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let recorded = self.with(|h| {
            let same = |e: &Arc<str>| Arc::ptr_eq(e, endpoint) || **e == **endpoint;
            let call = match h.calls.iter().position(|(e, o, _)| *o == outcome && same(e)) {
                Some(i) => i,
                None if h.calls.len() < MAX_CACHED_SERIES => {
                    let c = metrics::counter!(names::REQUESTS, "connector" => self.connector.clone(), "endpoint" => endpoint.clone(), "outcome" => outcome);
                    h.calls.push((endpoint.clone(), outcome, c));
                    h.calls.len() - 1
                }
                None => return false,
            };
            let duration = match h.durations.iter().position(|(e, _)| same(e)) {
                Some(i) => i,
                None if h.durations.len() < MAX_CACHED_SERIES => {
                    let d = metrics::histogram!(names::REQUEST_DURATION, "connector" => self.connector.clone(), "endpoint" => endpoint.clone());
                    h.durations.push((endpoint.clone(), d));
                    h.durations.len() - 1
                }
                None => return false,
            };
            h.calls[call].2.increment(1);
            h.durations[duration].1.record(elapsed.as_secs_f64());
            true
        });
        if !recorded {
            call_finished(&self.connector, endpoint, outcome, elapsed);
        }
    }

    /// One attempt is about to reach the transport.
    pub(crate) fn attempt(&self) {
        self.with(|h| {
            h.attempts
                .get_or_insert_with(
                    || metrics::counter!(names::ATTEMPTS, "connector" => self.connector.clone()),
                )
                .increment(1);
        });
    }

    /// One cache lookup.
    pub(crate) fn cache(&self, hit: bool) {
        self.with(|h| {
            let result = if hit { "hit" } else { "miss" };
            h.cache[usize::from(hit)]
                .get_or_insert_with(|| metrics::counter!(names::CACHE, "connector" => self.connector.clone(), "result" => result))
                .increment(1);
        });
    }
}

/// One call finished (after retries) with `outcome` (`ok` or an error kind's label).
pub(crate) fn call_finished(
    connector: &Arc<str>,
    endpoint: &Arc<str>,
    outcome: &'static str,
    elapsed: Duration,
) {
    metrics::counter!(names::REQUESTS, "connector" => connector.clone(), "endpoint" => endpoint.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!(names::REQUEST_DURATION, "connector" => connector.clone(), "endpoint" => endpoint.clone()).record(elapsed.as_secs_f64());
}

/// One retry, for `reason`.
pub(crate) fn retry(connector: &Arc<str>, reason: &'static str) {
    metrics::counter!(names::RETRIES, "connector" => connector.clone(), "reason" => reason)
        .increment(1);
}

/// The retry budget refused a retry.
pub(crate) fn retry_budget_exhausted(connector: &Arc<str>) {
    metrics::counter!(names::RETRY_BUDGET_EXHAUSTED, "connector" => connector.clone()).increment(1);
}

/// The local rate limiter refused a call.
pub(crate) fn rate_limited(connector: &Arc<str>) {
    metrics::counter!(names::RATE_LIMITED, "connector" => connector.clone()).increment(1);
}

/// A shared rate limiter's backend was unreachable and it granted the call.
#[cfg(feature = "redis")]
pub(crate) fn rate_limiter_fail_open(connector: &Arc<str>) {
    metrics::counter!(names::RATE_LIMITER_FAIL_OPEN, "connector" => connector.clone()).increment(1);
}

/// A shared rate limiter's backend was unreachable and it refused the call.
#[cfg(feature = "redis")]
pub(crate) fn rate_limiter_fail_closed(connector: &Arc<str>) {
    metrics::counter!(names::RATE_LIMITER_FAIL_CLOSED, "connector" => connector.clone())
        .increment(1);
}

/// An open breaker refused a call.
pub(crate) fn breaker_rejected(connector: &Arc<str>) {
    metrics::counter!(names::BREAKER_REJECTED, "connector" => connector.clone()).increment(1);
}

/// One breaker of `connector` and `host` changed to the state labelled `state` (`closed`,
/// `open`, `half_open`); `was_closed` says whether it was closed before.
pub(crate) fn breaker_changed(
    connector: &Arc<str>,
    host: &Arc<str>,
    was_closed: bool,
    state: &str,
) {
    let now_closed = state == BREAKER_CLOSED;
    if was_closed == now_closed {
        return;
    }
    let g = metrics::gauge!(names::BREAKERS_OPEN, "connector" => connector.clone(), "host" => host.clone());
    if now_closed {
        g.decrement(1.0);
    } else {
        g.increment(1.0);
    }
}

/// One inbound webhook ended with `outcome`.
pub(crate) fn webhook(connector: &Arc<str>, outcome: &'static str) {
    metrics::counter!(names::WEBHOOKS, "connector" => connector.clone(), "outcome" => outcome)
        .increment(1);
}

/// One inbound webhook failed verification.
pub(crate) fn webhook_verification_failure(connector: &Arc<str>) {
    metrics::counter!(names::WEBHOOK_VERIFICATION_FAILURES, "connector" => connector.clone())
        .increment(1);
}

/// One outbound delivery attempt ended, delivered or not, after `latency`.
pub(crate) fn outbound_attempt(delivered: bool, latency: Duration) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics::counter!(names::OUTBOUND_ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(names::OUTBOUND_ATTEMPT_DURATION).record(latency.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name in [`names::ALL`] has a row in the module docs' table, and the table has no
    /// row for a name this module does not define.
    #[test]
    fn the_table_of_names_lists_every_metric_and_nothing_else() {
        let src = include_str!("observe.rs");
        let rows: Vec<&str> = src
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        for name in names::ALL {
            assert!(rows.contains(name), "`{name}` is missing from the table");
        }
        for row in &rows {
            assert!(
                names::ALL.contains(row),
                "the table lists `{row}`, which is not in names::ALL"
            );
        }
        // And nothing records a literal name that bypasses `names`.
        let literal = ["counter!(\"", "histogram!(\"", "gauge!(\""];
        for l in literal {
            assert!(!src.contains(l), "a metric is recorded by a literal name");
        }
    }

    /// Every recording function emits a listed name, and every listed name has a function
    /// that emits it (the outbound sender's included).
    #[test]
    fn every_recording_function_emits_a_listed_name_and_every_name_is_emitted() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let c: Arc<str> = Arc::from("acme");
        let e: Arc<str> = Arc::from("GET");
        metrics::with_local_recorder(&recorder, || {
            call_finished(&c, &e, "ok", Duration::from_millis(3));
            let conn = ConnectionMetrics::new(c.clone());
            conn.attempt();
            conn.cache(true);
            conn.call_finished(&e, "ok", Duration::from_millis(3));
            retry(&c, "status");
            retry_budget_exhausted(&c);
            rate_limited(&c);
            #[cfg(feature = "redis")]
            rate_limiter_fail_open(&c);
            #[cfg(feature = "redis")]
            rate_limiter_fail_closed(&c);
            breaker_rejected(&c);
            breaker_changed(&c, &e, true, "open");
            webhook(&c, "processed");
            webhook_verification_failure(&c);
            outbound_attempt(true, Duration::from_millis(5));
        });
        let mut seen: Vec<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(k, ..)| k.key().name().to_string())
            .collect();
        seen.sort();
        seen.dedup();
        for name in &seen {
            assert!(
                names::ALL.contains(&name.as_str()),
                "`{name}` is not listed"
            );
        }
        for name in names::ALL {
            if !cfg!(feature = "redis")
                && [
                    names::RATE_LIMITER_FAIL_OPEN,
                    names::RATE_LIMITER_FAIL_CLOSED,
                ]
                .contains(name)
            {
                continue;
            }
            assert!(seen.iter().any(|s| s == name), "nothing emits `{name}`");
        }
    }

    /// A breaker that closes again takes itself off the gauge; a change between two states
    /// that are not closed leaves it alone.
    #[test]
    fn breaker_gauge_counts_breakers_that_are_not_closed_by_their_label() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let c: Arc<str> = Arc::from("acme");
        let h: Arc<str> = Arc::from("api.example.com");
        metrics::with_local_recorder(&recorder, || {
            breaker_changed(&c, &h, true, "open");
            breaker_changed(&c, &h, false, "half_open");
            breaker_changed(&c, &h, true, "open");
            breaker_changed(&c, &h, false, BREAKER_CLOSED);
        });
        let gauge = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(k, ..)| k.key().name() == names::BREAKERS_OPEN)
            .map(|(.., v)| v);
        assert_eq!(
            gauge,
            Some(metrics_util::debugging::DebugValue::Gauge(1.0.into()))
        );
    }
}
