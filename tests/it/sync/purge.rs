//! The purge pass: deletions the source never announces, found by comparing its live keys
//! with the sink's. Exactly the removed keys go; a listing that fails part-way deletes
//! nothing; a drop too large to be believed is held for review; a key that arrives while the
//! listings are read is not taken for a deletion.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    Change, ChangeKind, ChangePage, ChangeRequest, InMemorySyncStore, JobKey, KeyPage, PurgePolicy,
    RunStatus, SyncEventKind, SyncJob, SyncRecord, SyncSink, SyncSource, Trigger,
};
use switchboard::Error;

use super::support::{
    at, changed, engine, fields, live_count, numbered, Fault, Faults, FlakySource, LoopSource,
    Paging, TestClock, WatchedSink,
};

const LIVE: u64 = 50_000;

fn key(i: u64) -> String {
    format!("k{i:05}")
}

fn record(i: u64) -> SyncRecord {
    SyncRecord::new(key(i), numbered(i)).updated_at(at(i))
}

/// A source of `LIVE` keys listed 5,000 a page, and a sink holding the same keys.
async fn synced() -> (Arc<LoopSource>, Arc<MemorySink>) {
    let source = Arc::new(LoopSource::new(Paging::Keyset).key_page(5_000));
    let sink = Arc::new(MemorySink::new());
    let mut batch = Vec::new();
    for i in 0..LIVE {
        source.put(record(i));
        batch.push(Change {
            record: record(i),
            kind: ChangeKind::Created,
            watched: None,
        });
    }
    sink.apply(&batch).await.unwrap();
    (source, sink)
}

#[tokio::test]
async fn purges_exactly_the_removed_keys_and_nothing_when_a_listing_fails_part_way() {
    let (source, memory) = synced().await;
    let faults = Faults::new();
    let sink = Arc::new(WatchedSink::new(memory.clone(), faults.clone()));
    let clock = TestClock::new(at(100_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let mut events = engine.subscribe();
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        Arc::new(FlakySource::new(source.clone(), faults.clone())),
        sink.clone(),
    );

    let mut rng = fastrand::Rng::with_seed(137);
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < 137 {
        chosen.insert(rng.u64(..LIVE));
    }
    let removed: Vec<String> = chosen.into_iter().map(key).collect();
    for k in &removed {
        source.purge(k);
    }
    let log = engine.purge(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    assert_eq!(log.counts.deleted, 137);
    let events = changed(&mut events);
    assert_eq!(events.len(), 137);
    assert!(events.iter().all(|e| matches!(
        &e.kind,
        SyncEventKind::Changed { change: ChangeKind::Deleted, key, .. } if removed.contains(key)
    )));
    assert_eq!(live_count(&memory).await, (LIVE - 137) as usize);
    assert!(removed
        .iter()
        .all(|k| memory.get(k).is_some_and(|h| !h.is_live())));
    // Nothing more to find.
    assert_eq!(
        engine
            .purge(&job, Trigger::Schedule)
            .await
            .unwrap()
            .counts
            .deleted,
        0
    );

    // Forty more go; the source's listing then fails on its third page: nothing is deleted.
    let more: Vec<String> = (0..LIVE)
        .rev()
        .map(key)
        .filter(|k| !removed.contains(k))
        .take(40)
        .collect();
    for k in &more {
        source.purge(k);
    }
    let mut events = engine.subscribe();
    faults.at_call("source.live_keys", 3, Fault::Fail);
    assert!(engine.purge(&job, Trigger::Schedule).await.is_err());
    // So does the sink's.
    faults.at_call("sink.live_keys", 1, Fault::Fail);
    assert!(engine.purge(&job, Trigger::Schedule).await.is_err());
    assert!(changed(&mut events).is_empty());
    assert_eq!(live_count(&memory).await, (LIVE - 137) as usize);
    let runs = engine.runs(job.key(), 2).await.unwrap();
    assert!(runs
        .iter()
        .all(|r| r.status == RunStatus::Failed && r.counts.deleted == 0));

    let log = engine.purge(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.deleted, 40);
    assert_eq!(live_count(&memory).await, (LIVE - 177) as usize);
}

#[tokio::test]
async fn a_drop_larger_than_the_allowed_share_is_held_for_review() {
    let (source, sink) = synced().await;
    let clock = TestClock::new(at(100_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let mut events = engine.subscribe();
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        source.clone(),
        sink.clone(),
    )
    .purge_policy(PurgePolicy { max_share: 0.05 })
    .unwrap();
    // 2,501 of 50,000 is just over 5%.
    for i in 0..2_501 {
        source.purge(&key(i * 19));
    }
    let log = engine.purge(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    assert_eq!((log.counts.purge_held, log.counts.deleted), (2_501, 0));
    let mut held = 0;
    while let Ok(e) = events.try_recv() {
        match e.kind {
            SyncEventKind::PurgeHeld { missing, held: of } => {
                assert_eq!((missing, of), (2_501, LIVE));
                held += 1;
            }
            SyncEventKind::Changed { .. } => panic!("a held purge deleted {e:?}"),
            _ => {}
        }
    }
    assert_eq!(held, 1);
    assert_eq!(live_count(&sink).await, LIVE as usize);

    // 2,500 is exactly 5%: allowed.
    source.put(record(0));
    let log = engine.purge(&job, Trigger::Schedule).await.unwrap();
    assert_eq!((log.counts.purge_held, log.counts.deleted), (0, 2_500));
    assert_eq!(live_count(&sink).await, (LIVE - 2_500) as usize);
}

/// A source whose listing is read while the provider creates a key (and a verified webhook
/// hands it to the sink): the listing's pages were read before the key existed.
struct CreatedWhileListing {
    inner: Arc<LoopSource>,
    sink: Arc<MemorySink>,
}

#[async_trait]
impl SyncSource for CreatedWhileListing {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.inner.changes(request).await
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let listed = self.inner.live_keys(page).await?;
        if listed.as_ref().is_some_and(|p| p.next.is_none()) {
            let new = SyncRecord::new("new", fields(json!({"n": -1}))).updated_at(at(1));
            self.inner.put(new.clone());
            self.sink
                .apply(&[Change {
                    record: new,
                    kind: ChangeKind::Created,
                    watched: None,
                }])
                .await?;
        }
        Ok(listed)
    }
}

#[tokio::test]
async fn a_key_created_while_the_listings_are_read_is_not_purged() {
    let (source, sink) = synced().await;
    let clock = TestClock::new(at(100_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        Arc::new(CreatedWhileListing {
            inner: source.clone(),
            sink: sink.clone(),
        }),
        sink.clone(),
    );
    let log = engine.purge(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.deleted, 0);
    assert!(sink.get("new").is_some_and(|h| h.is_live()));
    assert_eq!(live_count(&sink).await, LIVE as usize + 1);
}
