//! The fixed stages of one call run as one future: auth, cache, rate limit, breaker, retry,
//! then each attempt (see the order in [`crate::pipeline`]).
//!
//! The stages used to be tower layers, each boxing its own future and cloning the stack below
//! it on every call. Nothing about their order is configurable, so here they are plain async
//! code (as smithy-rs's orchestrator runs its phases), with state shared by reference; tower is
//! kept where a host plugs in, around each attempt ([`Attempt::Layered`]).
//!
//! # Deadlines without a timer per stage
//!
//! The call's deadline is not one timer around everything. Each await that can wait bounds
//! itself: an authenticator or a limiter that cannot answer at once (a token to renew, a
//! shared limiter over the network) and a coalesced cache wait run under
//! `timeout_at(deadline)` (one that answers at once makes no timer at all), the rate-limit
//! and retry sleeps are checked against the deadline before they start, and an attempt runs
//! under one timer that ends at its per-attempt timeout or at the deadline, whichever comes
//! first. A plain call with no cache therefore arms one timer, not two.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt;
use tower::ServiceExt;

use super::cache::ResponseCache;
use super::retry::RetryPolicy;
use super::transport::Transport;
use super::{auth, breaker, cache, clone_request, rate_limit, retry, timeout};
use super::{CacheStatus, CallContext, HttpService, PipelineRequest, PipelineResponse};
use crate::error::Error;
use crate::rate_limit::RateLimiter;

/// What one attempt goes through after the retry stage.
pub(crate) enum Attempt {
    /// No host layers: the transport, bounded by the attempt's timer, called with the request
    /// by reference (nothing is copied to replay it).
    Direct {
        transport: Transport,
        per_attempt: Duration,
    },
    /// The host's attempt layers around the timeout and the transport, as tower services.
    Layered(HttpService),
}

impl Attempt {
    /// Whether the host added attempt layers, which read the call's context from the
    /// request's extensions.
    pub(crate) fn is_layered(&self) -> bool {
        matches!(self, Attempt::Layered(_))
    }

    /// One attempt's future. A plain function returning one of two futures, not an
    /// `async fn`: that would be one more state machine around the attempt, as big as it.
    ///
    /// Boxed: the attempt (the transport's answer being read, its timer) is most of a call's
    /// state. In its own allocation, the stages above it hold a pointer instead of ~600 bytes
    /// each, and both the call's box and this one stay small enough for the allocator's
    /// per-thread cache (glibc's tcache: up to 1 KiB), where one 1.5 KiB box went through its
    /// locked path and merged its free lists on every call.
    pub(crate) fn send<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a PipelineRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PipelineResponse, Error>> + Send + 'a>> {
        Box::pin(self.attempt(ctx, req))
    }

    fn attempt<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a PipelineRequest,
    ) -> impl Future<Output = Result<PipelineResponse, Error>> + Send + 'a {
        match self {
            Attempt::Direct {
                transport,
                per_attempt,
            } => Either::Left(timeout::bounded(
                *per_attempt,
                ctx.deadline,
                transport.send(ctx, req),
            )),
            // A host layer may wait before it calls on (a clock, a queue), so the deadline
            // bounds the whole attempt; the timeout service inside bounds the transport.
            Attempt::Layered(service) => {
                let call = service.clone().oneshot(clone_request(req));
                Either::Right(within_deadline(ctx, call, true))
            }
        }
    }
}

/// The stages and the state they share, built once per switchboard.
pub(crate) struct Pipeline {
    pub(crate) cache: ResponseCache,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) max_wait: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) attempt: Attempt,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("cache", &self.cache)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Runs one call through every stage.
    ///
    /// The request is borrowed (the caller keeps it): a request taken by value would sit in
    /// this future twice, as an `async fn`'s argument and as its local.
    pub(crate) async fn call(
        &self,
        ctx: &CallContext,
        req: &mut PipelineRequest,
    ) -> Result<(PipelineResponse, CacheStatus), Error> {
        // Auth first: a connection without credentials is refused before anything, cached data
        // included, is served.
        auth::authenticate(ctx, req).await?;
        let req = &*req;
        match cache::plan(ctx, req) {
            cache::Plan::Lookup { key, ttl } => {
                if let Some(hit) = self.cache.hit(ctx, key) {
                    return Ok((hit, CacheStatus::Hit));
                }
                // Awaiting another caller's fetch can outlast this call's deadline. Boxed:
                // moka's entry future is large (tens of kilobytes in a debug build), and
                // inline it would be copied with this future on every call, cached or not.
                let fetch = Box::pin(
                    self.cache
                        .get_or_fetch(ctx, key, ttl, || self.upstream(ctx, req)),
                );
                within_deadline(ctx, fetch, true).await
            }
            cache::Plan::Bypass { write } => {
                let resp = self.upstream(ctx, req).await?;
                if write {
                    ResponseCache::after_write(ctx, req.uri().path(), &resp);
                }
                Ok((resp, CacheStatus::Miss))
            }
        }
    }

    /// The call's answer when it needs no waiting at all: a fresh cached answer, served once
    /// the authenticator has added its credentials at once
    /// ([`crate::auth::Authenticator::authenticate_now`]). `None` leaves the request as it
    /// was, and the call goes through [`Self::call`].
    ///
    /// As in [`Self::call`], nothing cached is served before the credentials are added; the
    /// entry is looked up first only so that a miss asks the authenticator nothing here. The
    /// most frequent answer of a cached read then needs no future: no allocation for it, no
    /// state machine to step through.
    pub(crate) fn answer_now(
        &self,
        ctx: &CallContext,
        req: &mut PipelineRequest,
    ) -> Option<Result<(PipelineResponse, CacheStatus), Error>> {
        let cache::Plan::Lookup { key, .. } = cache::plan(ctx, req) else {
            return None;
        };
        // Looked up first, counted only when served: a miss here is a lookup the stages
        // below make again, and it must not count twice.
        let entry = self.cache.fresh(ctx, key)?;
        if let Some(auth) = &ctx.conn.auth {
            if let Err(e) = auth.authenticate_now(req)? {
                return Some(Err(e));
            }
        }
        Some(Ok((ResponseCache::serve(ctx, &entry), CacheStatus::Hit)))
    }

    /// Everything after the cache: the stages that run only when the provider is asked, then
    /// the provider's rate-limit hint, if its answer carried one, handed to the limiter.
    ///
    /// The blocks are scoped on purpose: a local that was borrowed keeps its room in the
    /// future until its scope ends, so the key and the attempts' answer as first received
    /// would otherwise sit beside the attempts in every call's future.
    async fn upstream(
        &self,
        ctx: &CallContext,
        req: &PipelineRequest,
    ) -> Result<PipelineResponse, Error> {
        {
            // `observe` makes the key again (lent, for the default bucket).
            let key = rate_limit::key(ctx);
            rate_limit::admit(&*self.limiter, self.max_wait, ctx, &key).await?;
        }
        let (answer, hint) = {
            let permit = breaker::admit(ctx)?;
            let result = retry::run(&self.retry, ctx, req, &self.attempt).await;
            breaker::record(ctx, permit, &result);
            let hint = rate_limit::hint(ctx, &result);
            (result, hint)
        };
        match hint {
            None => answer,
            // Boxed, as the limiter's wait is, and holding the answer while it waits: only a
            // connector that reads rate-limit headers gets here.
            Some(hint) => Box::pin(rate_limit::observe(&*self.limiter, ctx, hint, answer)).await,
        }
    }
}

/// Runs `stage` under the call's deadline. `sent` says whether the request may have reached
/// the provider when the deadline passes inside it.
///
/// A plain function returning the combined future, not an `async fn`: an `async fn` would keep
/// `stage` both as its argument and as the future it awaits, doubling its size.
pub(crate) fn within_deadline<T, F>(
    ctx: &CallContext,
    stage: F,
    sent: bool,
) -> impl Future<Output = Result<T, Error>>
where
    F: Future<Output = Result<T, Error>>,
{
    tokio::time::timeout_at(ctx.deadline, stage).map(move |r| match r {
        Ok(r) => r,
        Err(_) => Err(Error::deadline("the call's deadline passed", sent)),
    })
}
