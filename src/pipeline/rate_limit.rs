//! Layer 3, rate limit: asks the [`crate::RateLimiter`] for leave to call, waits when the wait
//! is short (up to `max_wait` and within the deadline), and otherwise fails with a typed
//! rate-limited error that carries the delay. Nothing was sent then.
//!
//! It also sees the call's answer, so it is where the provider's rate-limit headers reach the
//! limiter: the connector reads them ([`crate::Connector::rate_hint`]) from the response, or
//! from the error of a failed one (a 429 keeps its status and headers), and the limiter is told
//! ([`crate::RateLimiter::observe`]). Outside the retry layer it sees a call's last answer, the
//! freshest account of the quota; a connector without hints answers `None` and nothing more is
//! done (no allocation).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt};

use super::{context_of, BoxFuture, PipelineRequest, PipelineResponse};
use crate::error::Error;
use crate::observe;
use crate::rate_limit::{RateDecision, RateKey, RateLimiter};

#[derive(Debug, Clone)]
pub(crate) struct RateLimitLayer {
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) max_wait: Duration,
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            max_wait: self.max_wait,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RateLimitService<S> {
    inner: S,
    limiter: Arc<dyn RateLimiter>,
    max_wait: Duration,
}

impl<S> Service<PipelineRequest> for RateLimitService<S>
where
    S: Service<PipelineRequest, Response = PipelineResponse, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = PipelineResponse;
    type Error = Error;
    type Future = BoxFuture<PipelineResponse>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: PipelineRequest) -> Self::Future {
        let inner = self.inner.clone();
        let limiter = self.limiter.clone();
        let max_wait = self.max_wait;
        Box::pin(async move {
            let ctx = context_of(&req)?;
            let key = RateKey::new(
                ctx.tenant.clone(),
                ctx.connection.clone(),
                ctx.connector_name.clone(),
                ctx.bucket.clone(),
            );
            let mut waited = Duration::ZERO;
            loop {
                let decision = match limiter.try_acquire_now(&key, NonZeroU32::MIN) {
                    Some(d) => d,
                    None => limiter.acquire(&key, NonZeroU32::MIN).await?,
                };
                match decision {
                    RateDecision::Granted => break,
                    RateDecision::RetryAfter(d) => {
                        let too_long = waited + d > max_wait
                            || tokio::time::Instant::now() + d >= ctx.deadline;
                        if too_long {
                            observe::rate_limited(&ctx.connector_name);
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
            let result = inner.oneshot(req).await;
            let answer = match &result {
                Ok(resp) => Some((resp.status(), resp.headers())),
                Err(e) => e.status().zip(e.headers()),
            };
            let hint =
                answer.and_then(|(status, headers)| ctx.connector.rate_hint(status, headers));
            if let Some(hint) = hint {
                limiter.observe(&key, &hint).await;
            }
            result
        })
    }
}
