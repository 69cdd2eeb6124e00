//! Tie storm: ten thousand records share one updated-at, a hundred a page, shuffled within
//! each page. A cursor of the timestamp alone would re-read the first page forever or skip
//! all but one page; the compound `(updated_at, key)` mark reads each record once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{JobKey, Mark, RunStatus, SyncJob, SyncRecord, SyncStore};

use super::support::{
    at, engine, fields, run_killable, CheckedStore, Fault, Faults, FlakySource, LoopSource,
    Outcome, Paging, TestClock, WatchedSink,
};

const RECORDS: usize = 10_000;
const PAGE: usize = 100;

fn key(i: usize) -> String {
    format!("k{i:05}")
}

/// The storm, and the world a job runs it in: the source behind a fault switch, a sink that
/// counts what it is sent, a store that checks every save.
struct Storm {
    faults: Arc<Faults>,
    sink: Arc<WatchedSink>,
    store: Arc<CheckedStore>,
    clock: TestClock,
    job: SyncJob,
}

fn storm(paging: Paging, seed: u64, overlap: Duration) -> Storm {
    let source = Arc::new(LoopSource::new(paging).shuffled(seed));
    for i in 0..RECORDS {
        source.put(SyncRecord::new(key(i), fields(json!({"n": i}))).updated_at(at(100)));
    }
    let faults = Faults::new();
    let sink = Arc::new(WatchedSink::new(
        Arc::new(MemorySink::new()),
        faults.clone(),
    ));
    let store = Arc::new(CheckedStore::new(faults.clone()).checking(source.clone(), sink.clone()));
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        Arc::new(FlakySource::new(source, faults.clone())),
        sink.clone(),
    )
    .page_size(PAGE)
    .overlap(overlap);
    Storm {
        faults,
        sink,
        store,
        clock: TestClock::new(at(1_000)),
        job,
    }
}

/// Every record reached the sink exactly once.
fn assert_each_applied_once(s: &Storm) {
    let stats = s.sink.stats();
    assert_eq!(s.sink.inner.live().len(), RECORDS);
    assert_eq!(stats.received, RECORDS as u64);
    assert_eq!(stats.per_key.len(), RECORDS);
    assert!(stats.per_key.values().all(|n| *n == 1));
    assert_eq!(stats.resent, 0);
}

async fn one_run_reads_every_tied_record_once(paging: Paging) {
    let s = storm(paging, 7, Duration::from_secs(300));
    let log = engine(s.store.clone(), &s.clock)
        .run(&s.job, switchboard::sync::Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    assert_eq!(log.counts.created, RECORDS as u64);
    assert_eq!(log.counts.fetched, RECORDS as u64);
    assert_eq!(log.counts.pages, (RECORDS / PAGE) as u64);
    assert_each_applied_once(&s);
    // One save a page: the cursor walked the tie key by key.
    assert_eq!(s.store.saves(), (RECORDS / PAGE) as u64);
    let cursor = s.store.cursor(s.job.key()).await.unwrap().unwrap();
    assert_eq!(cursor.source, Some(Mark::new(at(100), key(RECORDS - 1))));
}

#[tokio::test]
async fn a_tie_storm_is_read_once_with_keyset_paging() {
    one_run_reads_every_tied_record_once(Paging::Keyset).await;
}

#[tokio::test]
async fn a_tie_storm_is_read_once_with_token_paging() {
    one_run_reads_every_tied_record_once(Paging::Token).await;
}

/// The run stops after page 37 (the source failing on the 38th request, or the process
/// killed there); the next run goes on from the middle of the tie.
async fn a_run_stopped_after_page_37_resumes_inside_the_tie(
    paging: Paging,
    fault: Fault,
    overlap: Duration,
) -> switchboard::sync::RunLog {
    let s = storm(paging, 11, overlap);
    s.faults.at_call("source.changes", 38, fault);
    let outcome = run_killable(&engine(s.store.clone(), &s.clock), &s.job, &s.faults).await;
    match (fault, outcome) {
        (Fault::Fail, Outcome::Failed(_)) | (Fault::Hang, Outcome::Killed) => {}
        (_, other) => panic!("expected the run to stop, got {other:?}"),
    }
    assert_eq!(s.sink.inner.live().len(), 37 * PAGE);
    let cursor = s.store.cursor(s.job.key()).await.unwrap().unwrap();
    assert_eq!(cursor.source, Some(Mark::new(at(100), key(37 * PAGE - 1))));

    // A fresh engine (a restarted process) over the same store.
    let log = engine(s.store.clone(), &s.clock)
        .run(&s.job, switchboard::sync::Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(log.status, RunStatus::Succeeded);
    assert_eq!(log.counts.created, (RECORDS - 37 * PAGE) as u64);
    assert_each_applied_once(&s);
    let runs = s.store.runs(s.job.key(), 10).await.unwrap();
    let statuses: Vec<RunStatus> = runs.iter().map(|r| r.status).collect();
    let stopped = match fault {
        Fault::Fail => RunStatus::Failed,
        Fault::Hang => RunStatus::Interrupted,
    };
    assert_eq!(statuses, vec![RunStatus::Succeeded, stopped]);
    log
}

#[tokio::test]
async fn a_tie_storm_resumes_after_a_failed_page_with_keyset_paging() {
    // No overlap: the resumed run starts exactly at the saved key inside the tie.
    let log = a_run_stopped_after_page_37_resumes_inside_the_tie(
        Paging::Keyset,
        Fault::Fail,
        Duration::ZERO,
    )
    .await;
    assert_eq!(log.counts.fetched, (RECORDS - 37 * PAGE) as u64);
    assert_eq!(log.counts.unchanged, 0);
}

#[tokio::test]
async fn a_tie_storm_resumes_after_a_kill_with_token_paging() {
    // With the overlap the whole tie is read again; what the sink holds is dropped unsent.
    let log = a_run_stopped_after_page_37_resumes_inside_the_tie(
        Paging::Token,
        Fault::Hang,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(log.counts.fetched, RECORDS as u64);
    assert_eq!(log.counts.unchanged, (37 * PAGE) as u64);
}
