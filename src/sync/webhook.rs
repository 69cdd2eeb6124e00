//! Sync on webhooks: a verified webhook (from the
//! [`WebhookRouter`](crate::webhook::router::WebhookRouter)) asks for a run of its
//! connection's job, or hands its record straight to the job's sink.
//!
//! The job is always the one of the tenant and connection whose secrets verified the event
//! ([`WebhookEvent::target`]): the body names at most the job's name within that connection,
//! so one tenant's webhook can never reach another tenant's job, even when both use the same
//! connection id.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::record::SyncRecord;
use super::scheduler::SyncScheduler;
use super::store::JobKey;
use crate::error::{Error, ErrorKind};
use crate::webhook::router::{WebhookEvent, WebhookHandler, WebhookTarget};

/// What a verified webhook asks of its connection's sync jobs.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookSync {
    /// Run the job named `job` soon ([`SyncScheduler::request_run`]): the event only says
    /// something changed.
    Run {
        /// The job's name within the connection.
        job: String,
    },
    /// Apply `record` to the job's sink now ([`SyncScheduler::apply_record`]): the event
    /// carries the record. An older version than the sink holds is dropped.
    Apply {
        /// The job's name within the connection.
        job: String,
        /// The record.
        record: SyncRecord,
    },
    /// Nothing for sync (an event type no job follows).
    Ignore,
}

impl SyncScheduler {
    /// Does what a verified webhook for `target` asks. A job the connection does not have
    /// here is logged and skipped (the webhook is answered as processed: the next scheduled run
    /// finds the change), so a provider is not made to retry an event nobody will take.
    ///
    /// # Errors
    /// [`ErrorKind::State`] after [`shutdown`](SyncScheduler::shutdown); the sink's errors for
    /// [`WebhookSync::Apply`]. Either way the router answers 500 and the sender retries.
    pub async fn handle_webhook(
        &self,
        target: &WebhookTarget,
        sync: WebhookSync,
    ) -> Result<(), Error> {
        let (job, record) = match sync {
            WebhookSync::Ignore => return Ok(()),
            WebhookSync::Run { job } => (job, None),
            WebhookSync::Apply { job, record } => (job, Some(record)),
        };
        let key = JobKey::new(target.tenant.clone(), target.connection.clone(), job);
        let done = match record {
            None => self.request_run(&key),
            Some(record) => self.apply_record(&key, record).await.map(|_| ()),
        };
        match done {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tracing::warn!(job = %key, "a webhook named a sync job this connection does not have here; skipped");
                Ok(())
            }
            other => other,
        }
    }
}

/// What a [`SyncWebhookHandler`] reads from each event.
type WebhookSyncFn = dyn Fn(&WebhookEvent) -> Result<WebhookSync, Error> + Send + Sync;

/// A [`WebhookHandler`] for routes whose webhooks only feed sync jobs: it reads each event
/// with the host's function and hands the answer to
/// [`SyncScheduler::handle_webhook`]. Hosts that also do other things with an event call
/// `handle_webhook` from their own handler instead.
///
/// ```
/// use std::sync::Arc;
/// use switchboard::sync::{SyncScheduler, SyncWebhookHandler, WebhookSync};
/// use switchboard::webhook::router::WebhookRoute;
///
/// fn route(scheduler: SyncScheduler) -> WebhookRoute {
///     WebhookRoute::new(
///         "ghl",
///         Arc::new(SyncWebhookHandler::new(scheduler, |_event| {
///             Ok(WebhookSync::Run { job: "contacts".into() })
///         })),
///     )
/// }
/// ```
#[derive(Clone)]
pub struct SyncWebhookHandler {
    scheduler: SyncScheduler,
    read: Arc<WebhookSyncFn>,
}

impl fmt::Debug for SyncWebhookHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncWebhookHandler")
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}

impl SyncWebhookHandler {
    /// A handler that reads each verified event with `read`. An error from `read` (a body that
    /// does not decode) fails the delivery so the sender retries; return
    /// [`WebhookSync::Run`] instead to have a run fetch the change.
    pub fn new(
        scheduler: SyncScheduler,
        read: impl Fn(&WebhookEvent) -> Result<WebhookSync, Error> + Send + Sync + 'static,
    ) -> Self {
        SyncWebhookHandler {
            scheduler,
            read: Arc::new(read),
        }
    }
}

#[async_trait]
impl WebhookHandler for SyncWebhookHandler {
    async fn handle(&self, event: WebhookEvent) -> Result<(), Error> {
        let sync = (self.read)(&event)?;
        self.scheduler.handle_webhook(&event.target, sync).await
    }
}
