//! The sync engine: incremental, resumable synchronisation between a provider and the host's
//! own records, with change events, conflict policies and a purge pass.
//!
//! A [`SyncSource`] yields pages of records changed since a cursor; a [`SyncSink`] (the
//! host's) applies classified batches idempotently. A [`SyncEngine`] runs a [`SyncJob`]:
//!
//! - it reads from the saved cursor moved back by the job's overlap, in pages ordered by
//!   `(updated_at, key)` ([`Mark`]), so rows sharing a timestamp across a page break and rows
//!   committed late inside the lookback are all read; the cursor it saves never passes "now"
//!   minus a safety lag (an inbound run reads no further; the outbound and bidirectional
//!   passes read each side to now, so a fresh edit on either side takes part in conflict
//!   detection, and save only the lagged mark);
//! - it asks the sink what it holds for each page's keys and drops what the sink already has
//!   (the same version) or has newer (a stale copy: a webhook racing a poll), then classifies
//!   the rest as created, updated (with the changed field names) or deleted, with the job's
//!   watched field's change;
//! - it saves the cursor only after the sink confirms the batch, with a fence taken when the
//!   run began, so a crash anywhere resumes with no gap, and a runner that lost its lock can
//!   never move the cursor of the one that took over;
//! - it logs each run (counts per class, error) and, given the host's
//!   [`Connections`](crate::connections::Connections), sets `last_sync` or moves the
//!   connection to `error` after repeated failures.
//!
//! [`SyncScheduler`] runs jobs on an interval with jitter, on demand and on webhooks.
//! `docs/sync.md` is the guide.

mod bidirectional;
mod engine;
mod events;
mod inbound;
mod job;
pub mod memory;
mod purge;
mod record;
mod scheduler;
mod side;
pub mod store;
mod webhook;

pub use bidirectional::Resolution;
pub use engine::{Clock, SyncEngine, SyncEngineBuilder};
pub use events::{SyncEvent, SyncEventKind};
pub use job::{ConflictPolicy, Direction, PurgePolicy, SyncJob};
pub use record::{Change, ChangeKind, FieldChange, Fields, Held, Mark, SyncRecord, Version};
pub use scheduler::{Schedule, SyncScheduler};
pub use side::{ChangePage, ChangeRequest, KeyPage, NextPage, SyncSink, SyncSource};
pub use store::{
    Begun, Conflict, Fence, InMemorySyncStore, JobKey, Link, RunCounts, RunLog, RunStatus,
    SyncCursor, SyncStore, Trigger,
};
pub use webhook::{SyncWebhookHandler, WebhookSync};
