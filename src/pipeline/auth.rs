//! Layer 1, auth: asks the call's [`crate::auth::Authenticator`] to add credentials.

use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use super::{context_of, BoxFuture, PipelineRequest, PipelineResponse};
use crate::error::Error;

/// Adds credentials before anything else runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthLayer;

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AuthService<S> {
    inner: S,
}

impl<S> Service<PipelineRequest> for AuthService<S>
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

    fn call(&mut self, mut req: PipelineRequest) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let ctx = context_of(&req)?;
            if let Some(auth) = &ctx.auth {
                auth.authenticate(&mut req).await?;
            }
            inner.oneshot(req).await
        })
    }
}
