//! Layer 6, timeout: bounds one attempt by the per-attempt timeout and by what is left of the
//! call's deadline, whichever ends first.

use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt};

use super::{context_of, BoxFuture, PipelineRequest, PipelineResponse};
use crate::error::Error;

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
            let until = (tokio::time::Instant::now() + per_attempt).min(ctx.deadline);
            match tokio::time::timeout_at(until, inner.oneshot(req)).await {
                Ok(r) => r,
                Err(_) => {
                    let by_deadline = until == ctx.deadline;
                    // The request may have been written before the timer fired.
                    Err(if by_deadline {
                        Error::deadline("the call's deadline passed during an attempt", true)
                    } else {
                        Error::timeout(format!("attempt timed out after {per_attempt:?}"))
                    })
                }
            }
        })
    }
}
