//! Progress events: the estimated total a run reports stays the run's total whether the source
//! pages by keyset (each page a new query counting what remains) or by its own token (one
//! query counting everything).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use switchboard::sync::memory::{MemorySink, MemorySource};
use switchboard::sync::{
    ChangePage, ChangeRequest, Fields, InMemorySyncStore, JobKey, NextPage, SyncEngine,
    SyncEventKind, SyncJob, SyncRecord, SyncSource, Trigger,
};
use switchboard::Error;

/// A `MemorySource` that counts its query's records, paging either by keyset or by token.
struct Counting {
    inner: MemorySource,
    keyset: bool,
}

#[async_trait]
impl SyncSource for Counting {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let all = ChangeRequest {
            page: None,
            limit: usize::MAX,
            ..request.clone()
        };
        let total = self.inner.changes(&all).await?.records.len() as u64;
        let mut page = if self.keyset {
            // Each request a new query from `after`: its count is what remains.
            let fresh = ChangeRequest {
                page: None,
                ..request.clone()
            };
            let mut page = self.inner.changes(&fresh).await?;
            if matches!(page.next, NextPage::Token(_)) {
                page.next = NextPage::AfterLast;
            }
            page
        } else {
            self.inner.changes(request).await?
        };
        page.estimated_total = Some(total);
        Ok(page)
    }
}

async fn progress_totals(keyset: bool) -> Vec<(u64, Option<u64>)> {
    let inner = MemorySource::new();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in 0..250u64 {
        // Three records share each timestamp, so pages break inside ties.
        let at: SystemTime = t0 + Duration::from_secs(i / 3);
        inner.put(SyncRecord::new(format!("k{i:04}"), Fields::new()).updated_at(at));
    }
    let source = Arc::new(Counting { inner, keyset });
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let job = SyncJob::new(
        JobKey::new("t1", "c1", "progress"),
        source,
        Arc::new(MemorySink::new()),
    )
    .page_size(40)
    .safety_lag(Duration::ZERO);
    let mut events = engine.subscribe();
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.created, 250);
    let mut totals = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let SyncEventKind::Progress {
            records,
            estimated_total,
            ..
        } = e.kind
        {
            totals.push((records, estimated_total));
        }
    }
    totals
}

#[tokio::test]
async fn the_estimated_total_is_the_runs_total_with_keyset_and_token_paging() {
    for keyset in [true, false] {
        let totals = progress_totals(keyset).await;
        assert_eq!(
            totals.len(),
            7,
            "keyset {keyset}: one progress event a page"
        );
        assert_eq!(totals.last().map(|t| t.0), Some(250));
        assert!(
            totals.iter().all(|(_, total)| *total == Some(250)),
            "keyset {keyset}: {totals:?}"
        );
    }
}
