//! Metrics through the `metrics` facade, so hosts pick their own exporter. Spans are opened
//! where the work happens (the client for calls, the retry layer for attempts).
//!
//! Labels hold the connector, endpoint, outcome and reason, never a tenant (unbounded) and
//! never anything secret.
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

use std::time::Duration;

use crate::pipeline::breaker::BreakerState;
use crate::pipeline::CallContext;

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
}

pub(crate) fn call_finished(ctx: &CallContext, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(names::REQUESTS, "connector" => ctx.connector_name.clone(), "endpoint" => ctx.endpoint.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!(names::REQUEST_DURATION, "connector" => ctx.connector_name.clone(), "endpoint" => ctx.endpoint.clone()).record(elapsed.as_secs_f64());
}

pub(crate) fn attempt(ctx: &CallContext) {
    metrics::counter!(names::ATTEMPTS, "connector" => ctx.connector_name.clone()).increment(1);
}

pub(crate) fn retry(ctx: &CallContext, reason: &'static str) {
    metrics::counter!(names::RETRIES, "connector" => ctx.connector_name.clone(), "reason" => reason).increment(1);
}

pub(crate) fn retry_budget_exhausted(ctx: &CallContext) {
    metrics::counter!(names::RETRY_BUDGET_EXHAUSTED, "connector" => ctx.connector_name.clone())
        .increment(1);
}

pub(crate) fn cache(ctx: &CallContext, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(names::CACHE, "connector" => ctx.connector_name.clone(), "result" => result)
        .increment(1);
}

pub(crate) fn rate_limited(ctx: &CallContext) {
    metrics::counter!(names::RATE_LIMITED, "connector" => ctx.connector_name.clone()).increment(1);
}

#[cfg(feature = "redis")]
pub(crate) fn rate_limiter_fail_open(connector: &std::sync::Arc<str>) {
    metrics::counter!(names::RATE_LIMITER_FAIL_OPEN, "connector" => connector.clone()).increment(1);
}

#[cfg(feature = "redis")]
pub(crate) fn rate_limiter_fail_closed(connector: &std::sync::Arc<str>) {
    metrics::counter!(names::RATE_LIMITER_FAIL_CLOSED, "connector" => connector.clone())
        .increment(1);
}

pub(crate) fn breaker_rejected(ctx: &CallContext) {
    metrics::counter!(names::BREAKER_REJECTED, "connector" => ctx.connector_name.clone())
        .increment(1);
}

/// One breaker changed to `state`; `was_closed` says whether it was closed before.
pub(crate) fn breaker_changed(ctx: &CallContext, was_closed: bool, state: BreakerState) {
    let now_closed = state == BreakerState::Closed;
    if was_closed == now_closed {
        return;
    }
    let g = metrics::gauge!(names::BREAKERS_OPEN, "connector" => ctx.connector_name.clone(), "host" => ctx.host.clone());
    if now_closed {
        g.decrement(1.0);
    } else {
        g.increment(1.0);
    }
}
