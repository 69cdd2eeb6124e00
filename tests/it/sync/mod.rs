//! The sync engine, end to end over the in-memory sides: the basics every other sync test
//! stands on.

mod bidirectional;
mod history;
mod isolation;
mod kill;
mod late_writes;
mod progress;
mod purge;
mod schedule;
mod stale;
mod stores;
mod support;
mod ties;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use switchboard::sync::memory::{MemorySink, MemorySource};
use switchboard::sync::{
    ChangeKind, Fields, InMemorySyncStore, JobKey, RunStatus, SyncEngine, SyncJob, SyncRecord,
    Trigger,
};

fn fields(v: serde_json::Value) -> Fields {
    v.as_object().expect("an object").clone()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

#[tokio::test]
async fn a_run_creates_updates_and_deletes_and_a_replay_changes_nothing() {
    let source = Arc::new(MemorySource::new());
    let sink = Arc::new(MemorySink::new());
    for i in 0..250 {
        source.put(
            SyncRecord::new(
                format!("k{i:04}"),
                fields(json!({"status": "active", "n": i})),
            )
            .updated_at(at(i)),
        );
    }
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        source.clone(),
        sink.clone(),
    )
    .watch("status")
    .safety_lag(Duration::ZERO);
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    assert_eq!(log.counts.created, 250);
    assert_eq!(sink.live().len(), 250);

    source.put(
        SyncRecord::new("k0003", fields(json!({"status": "sold", "n": 3}))).updated_at(at(1000)),
    );
    source.put(SyncRecord::deleted("k0004").updated_at(at(1001)));
    sink.take_changes();
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(
        (log.counts.updated, log.counts.deleted, log.counts.created),
        (1, 1, 0)
    );
    let changes = sink.take_changes();
    let sold = changes.iter().find(|c| c.record.key == "k0003").unwrap();
    assert_eq!(
        sold.kind,
        ChangeKind::Updated {
            fields: vec!["status".into()]
        }
    );
    assert_eq!(sold.watched.as_ref().unwrap().to, Some(json!("sold")));
    assert!(sink.get("k0004").is_some_and(|h| !h.is_live()));

    // A run that reads everything again (a cursor reset) applies nothing.
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(
        log.counts.created + log.counts.updated + log.counts.deleted,
        0
    );
    assert_eq!(engine.runs(job.key(), 10).await.unwrap().len(), 3);
}
