//! The two sides of a sync job: a [`SyncSource`] (usually a provider, through a connector's
//! typed client) and a [`SyncSink`] (the host's own records).

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;

use super::record::{Change, Held, Mark, SyncRecord, Version};
use crate::error::Error;

/// What the runner asks a side for: the records that changed after `after` and before
/// `until`, one page at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRequest {
    /// Return records whose `(updated_at, key)` sorts after this mark (`None`: from the
    /// beginning). Records at or before it may be returned too; the runner drops what the sink
    /// already holds.
    pub after: Option<Mark>,
    /// Return no record stamped at or after this instant. The inbound pass asks up to "now"
    /// minus the job's safety lag, so a write still being committed at the source is read on
    /// the next run, not skipped; the outbound and bidirectional passes ask up to "now" (a
    /// change inside the lag must still count, or a write-back would overwrite it) and keep
    /// their cursors below the lag.
    pub until: SystemTime,
    /// The continuation the previous page returned with [`NextPage::Token`], if any.
    pub page: Option<String>,
    /// The page size the job asks for (a side may return fewer, or more).
    pub limit: usize,
}

/// How to get the page after this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// This was the last page.
    Done,
    /// Ask again with `after` set to the largest mark seen so far (keyset paging; the way to
    /// page through ten thousand records sharing one timestamp).
    AfterLast,
    /// Ask again with this continuation and the same `after` (the side pages its own query).
    Token(String),
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// The records, in any order within the page; across pages a side returns them in
    /// ascending `(updated_at, key)` order, so everything up to a page's largest mark has been
    /// delivered once that page is (records without an updated-at may come on any page).
    pub records: Vec<SyncRecord>,
    /// How to continue.
    pub next: NextPage,
    /// How many records the query (`after` to `until`) holds, this page and the pages before
    /// it under the same page token included, when the side knows (for progress bars). With
    /// [`NextPage::AfterLast`] each page is a new query, so this counts what remains from
    /// this page on; the engine adds what it read before.
    pub estimated_total: Option<u64>,
}

impl ChangePage {
    /// A last page.
    pub fn last(records: Vec<SyncRecord>) -> Self {
        ChangePage {
            records,
            next: NextPage::Done,
            estimated_total: None,
        }
    }
}

/// One page of the keys a side holds live, for the purge pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys.
    pub keys: Vec<String>,
    /// The continuation for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Where records come from: a provider's changes since a cursor.
#[async_trait]
pub trait SyncSource: Send + Sync {
    /// One page of records changed after `request.after` and before `request.until`.
    ///
    /// # Errors
    /// Any: the run stops, keeps the cursor of the last batch the sink confirmed, and reports
    /// the error.
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error>;

    /// One page of every key that is live at the source, so deletions it never announces (an
    /// MLS purge) are found. `Ok(None)` (the default) means the source cannot list them.
    ///
    /// # Errors
    /// Any: the purge pass then deletes nothing.
    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let _ = page;
        Ok(None)
    }

    /// Writes records to the source (the outbound half of a bidirectional job) and returns
    /// the version each now has there, in order, so the next inbound run recognises the
    /// engine's own write and raises no echo. The default refuses.
    ///
    /// # Errors
    /// Any: the records stay pending and are sent on the next run.
    async fn write(&self, records: &[SyncRecord]) -> Result<Vec<Option<Version>>, Error> {
        let _ = records;
        Err(Error::config(
            "sync.direction",
            "this source cannot be written to, so the job cannot be outbound or bidirectional",
        ))
    }
}

/// Where records go: the host's own store.
#[async_trait]
pub trait SyncSink: Send + Sync {
    /// What the sink holds for these keys; keys it never saw are absent from the map.
    ///
    /// # Errors
    /// Any: the batch is not applied and the run stops.
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error>;

    /// Applies a batch, idempotently (the same batch may come again after a crash), and
    /// returns once it is durable. Write the change events a host must not lose (a "new
    /// listing matches your saved search" e-mail) in the same transaction; the runner's
    /// broadcast events are for live views.
    ///
    /// Make each write conditional on the version (`UPDATE ... WHERE version < $new`, and
    /// keep a deleted key's version as a tombstone): the engine serialises a webhook's record
    /// and a run's page for one job only inside one process, so on several replicas only the
    /// sink's own condition keeps an older copy from replacing a newer one.
    ///
    /// # Errors
    /// Any: the cursor stays where it was and the batch comes again on the next run.
    async fn apply(&self, batch: &[Change]) -> Result<(), Error>;

    /// The sink's own changes (for outbound and bidirectional jobs), paged like
    /// [`SyncSource::changes`]. Versions here are the sink's own. The default refuses.
    ///
    /// # Errors
    /// Any: the run stops.
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let _ = request;
        Err(Error::config(
            "sync.direction",
            "this sink does not report its own changes, so the job cannot be outbound or bidirectional",
        ))
    }

    /// One page of the keys the sink holds live, for the purge pass. `Ok(None)` (the
    /// default): the sink cannot list them and the purge pass does nothing.
    ///
    /// # Errors
    /// Any: the purge pass then deletes nothing.
    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let _ = page;
        Ok(None)
    }
}
