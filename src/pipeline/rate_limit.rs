//! Stage 3, rate limit: asks the [`crate::RateLimiter`] for leave to call, waits when the wait
//! is short (up to `max_wait` and within the deadline), and otherwise fails with a typed
//! rate-limited error that carries the delay. Nothing was sent then.
//!
//! It also sees the call's answer, so it is where the provider's rate-limit headers reach the
//! limiter: the connector reads them ([`crate::Connector::rate_hint`]) from the response, or
//! from the error of a failed one (a 429 keeps its status and headers), and the limiter is told
//! ([`crate::RateLimiter::observe`]). Outside the retry layer it sees a call's last answer, the
//! freshest account of the quota; a connector without hints answers `None` and nothing more is
//! done (no allocation).

use std::borrow::Cow;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use futures_util::future::Either;

use super::orchestrator::within_deadline;
use super::{CallContext, PipelineResponse};
use crate::error::Error;
use crate::observe;
use crate::rate_limit::{RateDecision, RateHint, RateKey, RateLimiter};

/// The key the call spends: the connection's own for its default bucket, lent rather than
/// built (four `Arc` clones), and the one [`observe`] reports the answer under.
pub(crate) fn key(ctx: &CallContext) -> Cow<'_, RateKey> {
    if ctx.bucket == ctx.conn.default_rate_key.bucket {
        Cow::Borrowed(&ctx.conn.default_rate_key)
    } else {
        Cow::Owned(RateKey::new(
            ctx.conn.tenant.clone(),
            ctx.conn.connection.clone(),
            ctx.conn.connector_name.clone(),
            ctx.bucket.clone(),
        ))
    }
}

/// Asks the limiter for leave to call, waiting while the wait is short.
///
/// A plain function, not an `async fn`: an in-process limiter that grants at once (nearly
/// every call) answers before any future is made, and the waiting, which needs a timer and a
/// loop, is boxed. Inline, that loop's state was the largest part of the call's future, which
/// every call writes and copies whether it waits or not.
pub(crate) fn admit<'a>(
    limiter: &'a dyn RateLimiter,
    max_wait: Duration,
    ctx: &'a CallContext,
    key: &'a RateKey,
) -> impl Future<Output = Result<(), Error>> + Send + 'a {
    match limiter.try_acquire_now(key, NonZeroU32::MIN) {
        Some(RateDecision::Granted) => Either::Left(std::future::ready(Ok(()))),
        first => Either::Right(Box::pin(wait(limiter, max_wait, ctx, key, first))),
    }
}

/// The rest of [`admit`]: `first` is the limiter's answer already given, if it gave one.
async fn wait(
    limiter: &dyn RateLimiter,
    max_wait: Duration,
    ctx: &CallContext,
    key: &RateKey,
    mut first: Option<RateDecision>,
) -> Result<(), Error> {
    let mut waited = Duration::ZERO;
    loop {
        let decision = match first
            .take()
            .or_else(|| limiter.try_acquire_now(key, NonZeroU32::MIN))
        {
            Some(d) => d,
            // A shared limiter (Redis) answers over the network.
            None => within_deadline(ctx, limiter.acquire(key, NonZeroU32::MIN), false).await?,
        };
        match decision {
            RateDecision::Granted => return Ok(()),
            RateDecision::RetryAfter(d) => {
                // A limiter (a host's own, say) may answer with any delay.
                let too_long = waited.saturating_add(d) > max_wait
                    || crate::clock::later(tokio::time::Instant::now(), d) >= ctx.deadline;
                if too_long {
                    observe::rate_limited(&ctx.conn.connector_name);
                    return Err(Error::rate_limited(
                        format!(
                            "rate limit for bucket `{}` reached (local quota or the provider's rate-limit headers); try again in {:?}",
                            ctx.bucket, d
                        ),
                        Some(d),
                    ));
                }
                tokio::time::sleep(d).await;
                waited += d;
            }
        }
    }
}

/// The provider's account of the quota in the call's last answer (its rate-limit headers, read
/// by the connector), if it gave one.
pub(crate) fn hint(
    ctx: &CallContext,
    result: &Result<PipelineResponse, Error>,
) -> Option<RateHint> {
    let (status, headers) = match result {
        Ok(resp) => (resp.status(), resp.headers()),
        Err(e) => e.status().zip(e.headers())?,
    };
    ctx.conn.connector.rate_hint(status, headers)
}

/// Hands a provider's [`hint`] to the limiter, under the key the call spent, and gives the
/// call's answer back.
///
/// It holds the answer while it waits, so the stage above, which boxes this future (only
/// connectors with hints get here), does not keep the answer in its own state across the
/// await: inline it sat beside the attempts in every call's future.
pub(crate) async fn observe(
    limiter: &dyn RateLimiter,
    ctx: &CallContext,
    hint: RateHint,
    answer: Result<PipelineResponse, Error>,
) -> Result<PipelineResponse, Error> {
    let key = key(ctx);
    // Bounded like every other wait: a slow shared limiter must not hold the answer.
    let _ = tokio::time::timeout_at(ctx.deadline, limiter.observe(&key, &hint)).await;
    answer
}
