//! Stage 6, timeout: bounds one attempt by the per-attempt timeout and by what is left of the
//! call's deadline, whichever ends first, with one timer.
//!
//! [`bounded`] is what the orchestrator awaits when the host added no attempt layers;
//! [`TimeoutLayer`] is the same bound as a tower layer, under the host's layers.

use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::{context_of, BoxFuture, PipelineRequest, PipelineResponse};
use crate::error::Error;

/// Runs `attempt` until it ends, its timeout passes or the call's `deadline` does. (A plain
/// function returning the combined future: an `async fn` would hold `attempt` twice.)
pub(crate) fn bounded<F>(
    per_attempt: Duration,
    deadline: Instant,
    attempt: F,
) -> impl Future<Output = Result<PipelineResponse, Error>>
where
    F: Future<Output = Result<PipelineResponse, Error>>,
{
    let until = (Instant::now() + per_attempt).min(deadline);
    tokio::time::timeout_at(until, attempt).map(move |r| match r {
        Ok(r) => r,
        // The request may have been written before the timer fired.
        Err(_) if until == deadline => Err(Error::deadline(
            "the call's deadline passed during an attempt",
            true,
        )),
        Err(_) => Err(Error::timeout(format!(
            "attempt timed out after {per_attempt:?}"
        ))),
    })
}

#[derive(Debug, Clone)]
pub(crate) struct TimeoutLayer {
    pub(crate) per_attempt: Duration,
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            per_attempt: self.per_attempt,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TimeoutService<S> {
    inner: S,
    per_attempt: Duration,
}

impl<S> Service<PipelineRequest> for TimeoutService<S>
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
        let per_attempt = self.per_attempt;
        Box::pin(async move {
            let ctx = context_of(&req)?;
            bounded(per_attempt, ctx.deadline, inner.oneshot(req)).await
        })
    }
}
