//! Layer 6, timeout: bounds one attempt by the per-attempt timeout and by what is left of the
//! call's deadline, whichever ends first.

use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt};

use super::{context_of, BoxFuture, PipelineRequest, PipelineResponse};
use crate::error::{Error, ErrorKind, ErrorParts};

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
                    let mut p = ErrorParts::new(
                        if by_deadline {
                            ErrorKind::Deadline
                        } else {
                            ErrorKind::Timeout
                        },
                        if by_deadline {
                            "the call's deadline passed during an attempt".to_string()
                        } else {
                            format!("attempt timed out after {per_attempt:?}")
                        },
                    );
                    // The request may have been written before the timer fired.
                    p.may_have_been_sent = true;
                    Err(p.build())
                }
            }
        })
    }
}
