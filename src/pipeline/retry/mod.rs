//! Stage 5, retry: backoff with jitter, `Retry-After`, a retry budget, and the rule that keeps
//! retries from duplicating side effects.
//!
//! A call with side effects (POST, PATCH, or marked so) is retried only when
//! - nothing was sent (the connection was refused), or
//! - it carries an idempotency key, generated once per logical call and reused on every
//!   attempt, or
//! - the connector's classifier says the provider did not act on it (for example Twilio's
//!   error 20429).
//!
//! When retries stop after a failure that may have reached the provider, such a call ends in
//! [`crate::ErrorKind::OutcomeUnknown`], carrying the key to retry with.

mod budget;
mod policy;

pub use crate::backoff::parse_retry_after;
pub use policy::RetryConfig;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use tracing::Instrument;

pub(crate) use budget::{Budget, Budgets};
use policy::is_transient_status;

use super::orchestrator::Attempt;
use super::{Body, CallContext, Idempotency, PipelineRequest, PipelineResponse};
use crate::backoff::{Backoff, Wait};
use crate::connector::{AttemptOutcome, RetryDecision};
use crate::error::{Error, ErrorKind};
use crate::observe;

/// The retry stage's settings, built once per switchboard.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    backoff: Backoff,
}

impl RetryPolicy {
    pub(crate) fn new(config: RetryConfig) -> Self {
        RetryPolicy {
            backoff: config.to_backoff(),
        }
    }
}

/// What the last attempt left us with.
enum Last {
    Response(PipelineResponse, Bytes),
    Failure(Error),
}

/// Whether and when to try again.
enum Next {
    RetryAfter(Option<Duration>, &'static str),
    Stop,
}

/// Runs `req` through `send_attempt` until it succeeds or the rules say stop. The request
/// is replayed by reference: the idempotency key is already on it (put there once per call
/// when the request was built), so every attempt carries the same one.
pub(crate) async fn run(
    policy: &RetryPolicy,
    ctx: &CallContext,
    req: &PipelineRequest,
    send_attempt: &Attempt,
) -> Result<PipelineResponse, Error> {
    let key = match (&ctx.conn.idempotency_header, &ctx.idempotency) {
        (Some(_), Idempotency::Key(k)) => Some(k.clone()),
        _ => None,
    };
    let budget = &ctx.conn.budget;
    budget::deposit(budget);

    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let result = if observe::spans_enabled(tracing::Level::DEBUG) {
            let span = tracing::debug_span!(
                "switchboard.attempt",
                attempt,
                status = tracing::field::Empty,
                retry_reason = tracing::field::Empty,
                elapsed_ms = tracing::field::Empty,
            );
            let started = tokio::time::Instant::now();
            let result = send_attempt.send(ctx, req).instrument(span.clone()).await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            (result, span)
        } else {
            (send_attempt.send(ctx, req).await, tracing::Span::none())
        };
        let (result, span) = result;
        // Judged by a plain function: what it keeps (the answer, the error) is not held
        // across the backoff's sleep, which keeps this future small.
        let delay = match judge(policy, ctx, req, &key, attempt, result, span) {
            Judged::Done(outcome) => return outcome,
            Judged::RetryIn(delay) => delay,
        };
        tokio::time::sleep(delay).await;
    }
}

/// What one attempt's outcome means for the call.
enum Judged {
    /// The call's outcome: the answer, or the error to end with.
    Done(Result<PipelineResponse, Error>),
    /// Try again after this delay.
    RetryIn(Duration),
}

/// Judges one attempt's outcome by the rules in the module docs.
fn judge(
    policy: &RetryPolicy,
    ctx: &CallContext,
    req: &PipelineRequest,
    key: &Option<String>,
    attempt: u32,
    result: Result<PipelineResponse, Error>,
    span: tracing::Span,
) -> Judged {
    let budget = &ctx.conn.budget;
    ctx.conn.metrics.attempt();

    let result = result.map(|resp| restate_body_failure(ctx, resp));
    let (last, next) = match result {
        Ok(resp) if !is_failure(resp.status()) || ctx.accept_status == Some(resp.status()) => {
            span.record("status", resp.status().as_u16());
            return Judged::Done(Ok(resp));
        }
        Ok(resp) => {
            span.record("status", resp.status().as_u16());
            let body = match resp.body() {
                Body::Full(b) => b.clone(),
                Body::Stream(_) => Bytes::new(),
            };
            let outcome = AttemptOutcome::Response {
                method: req.method(),
                status: resp.status(),
                headers: resp.headers(),
                body: &body,
            };
            // A classifier that says "retry" without a delay still gets the provider's
            // Retry-After: the later of the two wins.
            let header_after = parse_retry_after(resp.headers(), SystemTime::now());
            let answer = match ctx.conn.connector.classify_retry(&outcome) {
                RetryDecision::Retry { after } => RetryDecision::Retry {
                    after: after.max(header_after),
                },
                other => other,
            };
            let next = decide(ctx, key.is_some(), answer, || {
                if is_transient_status(resp.status()) {
                    Next::RetryAfter(header_after, "status")
                } else {
                    Next::Stop
                }
            });
            (Last::Response(resp, body), next)
        }
        Err(err) => {
            let outcome = AttemptOutcome::Failure {
                method: req.method(),
                error: &err,
            };
            let next = decide(
                ctx,
                key.is_some(),
                ctx.conn.connector.classify_retry(&outcome),
                || match err.kind() {
                    ErrorKind::Connect => Next::RetryAfter(None, "connect"),
                    ErrorKind::Timeout => Next::RetryAfter(None, "timeout"),
                    ErrorKind::Transport => Next::RetryAfter(None, "transport"),
                    _ => Next::Stop,
                },
            );
            (Last::Failure(err), next)
        }
    };

    let Next::RetryAfter(after, reason) = next else {
        return Judged::Done(Err(finish(ctx, last, attempt, key.clone(), None)));
    };
    let delay = match policy.backoff.next(attempt, after) {
        Wait::Retry(delay) => delay,
        // Attempts spent, or a `Retry-After` too long to sleep inside a call: the caller
        // gets the delay.
        Wait::GiveUp { retry_after } => {
            return Judged::Done(Err(finish(ctx, last, attempt, key.clone(), retry_after)))
        }
    };
    // The delay may be a provider's `Retry-After` of any size (up to a host's cap, which may
    // be `Duration::MAX`).
    if crate::clock::later(tokio::time::Instant::now(), delay) >= ctx.deadline {
        return Judged::Done(Err(finish(ctx, last, attempt, key.clone(), after)));
    }
    if !budget::withdraw(budget) {
        observe::retry_budget_exhausted(&ctx.conn.connector_name);
        return Judged::Done(Err(finish(ctx, last, attempt, key.clone(), after)));
    }
    span.record("retry_reason", reason);
    observe::retry(&ctx.conn.connector_name, reason);
    tracing::debug!(
        attempt,
        reason,
        delay_ms = delay.as_millis() as u64,
        "retrying"
    );
    Judged::RetryIn(delay)
}

/// What the provider said on the wire when its 2xx answer carried a failure in the body
/// ([`crate::Connector::failure_in_body`]); kept on the restated response for the message.
#[derive(Debug, Clone)]
struct RestatedFailure {
    wire: StatusCode,
    code: String,
}

/// A 2xx answer whose body reports a failure becomes a response with the status that failure
/// stands for, so every rule below (and every layer above) treats it as that failure.
fn restate_body_failure(ctx: &CallContext, mut resp: PipelineResponse) -> PipelineResponse {
    if !resp.status().is_success() {
        return resp;
    }
    let Body::Full(body) = resp.body() else {
        return resp;
    };
    let Some(failure) = ctx
        .conn
        .connector
        .failure_in_body(resp.status(), resp.headers(), body)
    else {
        return resp;
    };
    let wire = resp.status();
    *resp.status_mut() = failure.status;
    resp.extensions_mut().insert(RestatedFailure {
        wire,
        code: failure.code,
    });
    resp
}

fn is_failure(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// Combines the connector's answer with the default rule and the side-effect gate.
fn decide(
    ctx: &CallContext,
    keyed: bool,
    answer: RetryDecision,
    default: impl FnOnce() -> Next,
) -> Next {
    match answer {
        RetryDecision::Never => Next::Stop,
        RetryDecision::Retry { after } => Next::RetryAfter(after, "classifier"),
        _ => match default() {
            // A refused connection sent nothing, so even an unkeyed POST may go again.
            Next::RetryAfter(a, "connect") => Next::RetryAfter(a, "connect"),
            Next::RetryAfter(a, r) if !ctx.side_effects || keyed => Next::RetryAfter(a, r),
            _ => Next::Stop,
        },
    }
}

/// Turns the last attempt into the call's error.
fn finish(
    ctx: &CallContext,
    last: Last,
    attempts: u32,
    key: Option<String>,
    retry_after: Option<Duration>,
) -> Error {
    let mut p = match last {
        Last::Response(resp, body) => {
            let status = resp.status();
            let after =
                retry_after.or_else(|| parse_retry_after(resp.headers(), SystemTime::now()));
            let mut p =
                Error::from_response(status, after, body, resp.headers().clone()).into_parts();
            if let Some(r) = resp.extensions().get::<RestatedFailure>() {
                p.message = format!(
                    "provider answered {} with {} in the body (handled as {})",
                    r.wire.as_u16(),
                    r.code,
                    status.as_u16()
                );
            }
            // A 5xx whose `Retry-After` was too long to sleep asks to come back later, as a
            // 429 does.
            if retry_after.is_some() && status.is_server_error() {
                p.kind = ErrorKind::RateLimited;
            }
            p
        }
        Last::Failure(err) => {
            let mut p = err.into_parts();
            if retry_after.is_some() {
                p.retry_after = retry_after;
            }
            let unknown = ctx.side_effects
                && p.may_have_been_sent
                && matches!(p.kind, ErrorKind::Transport | ErrorKind::Timeout);
            if unknown {
                p.kind = ErrorKind::OutcomeUnknown;
                p.message = format!(
                    "{}; the provider may have acted on the request (retry only with the same idempotency key)",
                    p.message
                );
            }
            p
        }
    };
    p.attempts = attempts;
    p.idempotency_key = key;
    p.idempotent = !ctx.side_effects;
    p.build()
}
