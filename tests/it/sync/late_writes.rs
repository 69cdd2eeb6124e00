//! Late writes and the cursor's edges: rows committed after a run with a timestamp below its
//! saved mark (the overlap re-reads them), rows stamped just before "now" (the safety lag keeps
//! the cursor short of them), and rows with no timestamp at all (synced every run, announced
//! once).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard::sync::memory::{MemorySink, MemorySource};
use switchboard::sync::{
    InMemorySyncStore, JobKey, Mark, RunStatus, SyncJob, SyncRecord, Trigger, Version,
};

use super::support::{at, changed, engine, fields, LoopSource, Paging, TestClock};

fn listing(key: impl Into<String>, n: u64, secs: u64) -> SyncRecord {
    SyncRecord::new(key, fields(json!({"n": n}))).updated_at(at(secs))
}

#[tokio::test]
async fn a_thousand_rows_committed_late_below_the_saved_cursor_arrive_on_the_next_run() {
    let source = Arc::new(LoopSource::new(Paging::Keyset));
    for i in 0..500 {
        source.put(listing(format!("k{i:04}"), i, 9_000 + i));
    }
    let clock = TestClock::new(at(10_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        source.clone(),
        sink.clone(),
    )
    .page_size(100)
    .overlap(Duration::from_secs(300))
    .safety_lag(Duration::from_secs(30));
    // The same feed without a lookback, to show where the late rows land.
    let blind_sink = Arc::new(MemorySink::new());
    let blind = SyncJob::new(
        JobKey::new("t1", "mls", "listings-no-overlap"),
        source.clone(),
        blind_sink.clone(),
    )
    .page_size(100)
    .overlap(Duration::ZERO)
    .safety_lag(Duration::from_secs(30));
    for j in [&job, &blind] {
        assert_eq!(
            engine
                .run(j, Trigger::Schedule)
                .await
                .unwrap()
                .counts
                .created,
            500
        );
    }
    let saved = engine
        .cursor(job.key())
        .await
        .unwrap()
        .unwrap()
        .source
        .unwrap();
    assert_eq!(saved, Mark::new(at(9_499), "k0499"));

    // Committed after the run, stamped inside the lookback: each one sorts before the saved
    // mark (keys "a…" sort before "k0499" at the mark's own second too).
    for j in 0..1_000u64 {
        let late = listing(format!("a{j:04}"), j, 9_200 + j % 300);
        assert!(late.mark().unwrap() < saved);
        source.put(late);
    }
    clock.set(at(10_060));
    let log = engine.run(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.created, 1_000);
    assert_eq!(sink.live().len(), 1_500);
    assert!((0..1_000).all(|j| sink.get(&format!("a{j:04}")).is_some()));

    // Without the overlap every late row is lost: the test above would fail.
    let log = engine.run(&blind, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.created, 0);
    assert_eq!(blind_sink.live().len(), 500);
}

/// A row stamped a second before "now" may be one of several still committing; the run must
/// not move the cursor past it, or a sibling committed a moment later with an earlier stamp
/// would be skipped.
async fn the_safety_lag_keeps_the_cursor_short_of_rows_still_committing(source: Arc<LoopSource>) {
    let now = at(10_000);
    source.put(listing("old", 0, 9_900));
    source.put(listing("fresh", 1, 9_999)); // now minus one second
    let clock = TestClock::new(now);
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let sink = Arc::new(MemorySink::new());
    // No overlap: only the lag protects the late row below.
    let job = SyncJob::new(
        JobKey::new("t1", "crm", "contacts"),
        source.clone(),
        sink.clone(),
    )
    .overlap(Duration::ZERO)
    .safety_lag(Duration::from_secs(30));
    let log = engine.run(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    let saved = engine
        .cursor(job.key())
        .await
        .unwrap()
        .unwrap()
        .source
        .unwrap();
    assert_eq!(saved, Mark::new(at(9_900), "old"));
    assert!(
        saved
            < source
                .latest()
                .iter()
                .find(|r| r.key == "fresh")
                .unwrap()
                .mark()
                .unwrap()
    );

    // Committed after the run, stamped two seconds before its "now".
    source.put(listing("late", 2, 9_998));
    clock.set(at(10_100));
    engine.run(&job, Trigger::Schedule).await.unwrap();
    for key in ["old", "fresh", "late"] {
        assert!(
            sink.get(key).is_some_and(|h| h.is_live()),
            "{key} is missing"
        );
    }
    let saved = engine
        .cursor(job.key())
        .await
        .unwrap()
        .unwrap()
        .source
        .unwrap();
    assert_eq!(saved, Mark::new(at(9_999), "fresh"));
}

#[tokio::test]
async fn the_safety_lag_protects_late_rows_from_a_source_that_honours_until() {
    the_safety_lag_keeps_the_cursor_short_of_rows_still_committing(Arc::new(LoopSource::new(
        Paging::Keyset,
    )))
    .await;
}

#[tokio::test]
async fn the_safety_lag_protects_late_rows_from_a_source_that_ignores_until() {
    // The API has no upper bound: "fresh" is applied on the first run, yet the cursor stays
    // below the lag.
    the_safety_lag_keeps_the_cursor_short_of_rows_still_committing(Arc::new(
        LoopSource::new(Paging::Token).ignoring_until(),
    ))
    .await;
}

#[tokio::test]
async fn rows_without_a_timestamp_are_synced_and_announced_once() {
    let source = Arc::new(MemorySource::new());
    for i in 0..10 {
        // No version, no updated-at: compared by content.
        source.put(SyncRecord::new(
            format!("plain{i}"),
            fields(json!({"n": i})),
        ));
    }
    for i in 0..5 {
        // A revision number but no updated-at.
        source.put(
            SyncRecord::new(format!("rev{i}"), fields(json!({"n": i}))).version(Version::new(3)),
        );
    }
    for i in 0..20 {
        source.put(listing(format!("dated{i:02}"), i, 100 + i));
    }
    let clock = TestClock::new(at(10_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let mut events = engine.subscribe();
    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(
        JobKey::new("t1", "crm", "contacts"),
        source.clone(),
        sink.clone(),
    )
    .page_size(4)
    .overlap(Duration::ZERO);
    let log = engine.run(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.created, 35);
    assert_eq!(changed(&mut events).len(), 35);
    assert_eq!(sink.live().len(), 35);
    // Undated rows never move the cursor.
    let saved = engine
        .cursor(job.key())
        .await
        .unwrap()
        .unwrap()
        .source
        .unwrap();
    assert_eq!(saved, Mark::new(at(119), "dated19"));

    // They come again on every run, and change nothing.
    clock.set(at(20_000));
    let log = engine.run(&job, Trigger::Schedule).await.unwrap();
    assert_eq!(
        (log.counts.created, log.counts.updated, log.counts.deleted),
        (0, 0, 0)
    );
    assert_eq!(log.counts.unchanged, 15);
    assert!(changed(&mut events).is_empty());

    // A content change of a versionless row and a new revision are each announced once.
    source.put(SyncRecord::new("plain3", fields(json!({"n": 33}))));
    source.put(SyncRecord::new("rev1", fields(json!({"n": 11}))).version(Version::new(4)));
    source.put(SyncRecord::deleted("plain4"));
    for _ in 0..2 {
        engine.run(&job, Trigger::Schedule).await.unwrap();
    }
    let events = changed(&mut events);
    assert_eq!(events.len(), 3);
    assert_eq!(
        sink.get("plain3").unwrap().fields,
        Some(fields(json!({"n": 33})))
    );
    assert_eq!(sink.get("rev1").unwrap().version, Some(Version::new(4)));
    assert!(sink.get("plain4").is_some_and(|h| !h.is_live()));
    assert_eq!(sink.live().len(), 34);
}
