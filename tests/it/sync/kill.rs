//! Kill anywhere: a run is stopped at every call it makes (the source's fetch, the sink's
//! read and apply, each store write), either by an error or by the process dying there (its
//! task aborted mid-call; a dying sink lands half its batch, a dying store write may have
//! landed). Fresh engines over the same store carry on. The sink must end equal to the source,
//! no save may get ahead of what the sink holds, and no kill may cost more than one batch sent
//! again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{JobKey, RunStatus, SyncJob, SyncRecord, SyncStore};

use super::support::{
    assert_sink_matches, at, engine, fields, run_killable, CheckedStore, Fault, Faults,
    FlakySource, LoopSource, Outcome, Paging, TestClock, WatchedSink,
};

const RECORDS: u64 = 200;
const PAGE: usize = 20;

struct World {
    source: Arc<LoopSource>,
    faults: Arc<Faults>,
    sink: Arc<WatchedSink>,
    store: Arc<CheckedStore>,
    clock: TestClock,
    job: SyncJob,
}

/// Two hundred keys over forty seconds (five sharing each second), one in ten a deletion.
fn world(paging: Paging) -> World {
    let source = Arc::new(LoopSource::new(paging).shuffled(RECORDS));
    for i in 0..RECORDS {
        let key = format!("k{i:03}");
        let record = if i % 10 == 9 {
            SyncRecord::deleted(key)
        } else {
            SyncRecord::new(key, fields(json!({"n": i, "status": "active"})))
        };
        source.put(record.updated_at(at(1_000 + (i * 7) % 40)));
    }
    let faults = Faults::new();
    let sink = Arc::new(WatchedSink::new(
        Arc::new(MemorySink::new()),
        faults.clone(),
    ));
    let store = Arc::new(CheckedStore::new(faults.clone()).checking(source.clone(), sink.clone()));
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        Arc::new(FlakySource::new(source.clone(), faults.clone())),
        sink.clone(),
    )
    .page_size(PAGE)
    .overlap(Duration::from_secs(5));
    World {
        source,
        faults,
        sink,
        store,
        clock: TestClock::new(at(5_000)),
        job,
    }
}

impl World {
    async fn run(&self) -> Outcome {
        // A fresh engine each time: the process that ran the last one is gone.
        run_killable(
            &engine(self.store.clone(), &self.clock),
            &self.job,
            &self.faults,
        )
        .await
    }
}

/// How many calls a clean run makes.
async fn calls_of_a_clean_run() -> u64 {
    let w = world(Paging::Keyset);
    assert!(matches!(w.run().await, Outcome::Done(_)));
    w.faults.calls()
}

/// Stops the first run at call `n` and the second at another call, then lets a third finish.
async fn kill_twice_then_finish(n: u64, fault: Fault, calls: u64) {
    let paging = if n.is_multiple_of(2) {
        Paging::Keyset
    } else {
        Paging::Token
    };
    let w = world(paging);
    let mut outcomes = Vec::new();
    w.faults.at(n, fault);
    outcomes.push(w.run().await);
    let other = match fault {
        Fault::Fail => Fault::Hang,
        Fault::Hang => Fault::Fail,
    };
    w.faults.at((n * 7) % calls + 1, other);
    outcomes.push(w.run().await);
    w.faults.clear();
    let last = w.run().await;
    let Outcome::Done(log) = &last else {
        panic!("kill at {n} ({fault:?}): the last run did not finish: {last:?}")
    };
    assert_eq!(log.status, RunStatus::Succeeded);
    outcomes.push(last);

    assert_sink_matches(&w.source, &w.sink.inner);
    let cursor = w.store.cursor(w.job.key()).await.unwrap().unwrap();
    let newest = w.source.latest().iter().filter_map(SyncRecord::mark).max();
    assert_eq!(cursor.source, newest);

    for o in &outcomes {
        if let Outcome::Failed(e) = o {
            assert!(e.to_string().contains("injected"), "{e}");
        }
    }
    let fired = w.faults.fired();
    let stats = w.sink.stats();
    assert!(
        stats.resent <= (PAGE * fired.len()) as u64,
        "kill at {n} ({fault:?}): {} records sent again after {} kills",
        stats.resent,
        fired.len()
    );

    // No entry claims a run finished unless it did: a run reports success only when it ran
    // to the end (a fault in `finish` strikes after the pass, and its write may have landed).
    let runs = w.store.runs(w.job.key(), 10).await.unwrap();
    assert!(runs.iter().all(|r| r.status != RunStatus::Running));
    let succeeded = runs
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Done(_)))
        .count();
    let faults_in_finish = fired.iter().filter(|c| **c == "store.finish").count();
    assert!(
        (done..=done + faults_in_finish).contains(&succeeded),
        "kill at {n} ({fault:?}): {succeeded} runs logged as succeeded, {done} finished; fired at {fired:?}; {runs:#?}"
    );
}

#[tokio::test]
async fn a_run_killed_at_any_call_loses_nothing_and_resends_at_most_a_batch() {
    let calls = calls_of_a_clean_run().await;
    // begin, then per page: fetch, held, apply, save; then finish.
    assert_eq!(calls, 2 + 4 * (RECORDS / PAGE as u64));
    for n in 1..=calls {
        for fault in [Fault::Hang, Fault::Fail] {
            kill_twice_then_finish(n, fault, calls).await;
        }
    }
}

#[tokio::test]
async fn a_killed_run_is_logged_interrupted_never_succeeded() {
    let w = world(Paging::Keyset);
    // Killed while applying its third batch.
    w.faults.at_call("sink.apply", 3, Fault::Hang);
    assert!(matches!(w.run().await, Outcome::Killed));
    let runs = w.store.runs(w.job.key(), 10).await.unwrap();
    // The dead process could not say how it ended.
    assert_eq!(runs[0].status, RunStatus::Running);
    let killed = runs[0].id.clone();

    // Killed after its last page, before it could log its end: still not done.
    w.faults.at_call("store.finish", 1, Fault::Hang);
    // (The first `finish` fault strikes before the write.)
    assert!(matches!(w.run().await, Outcome::Killed));
    assert_eq!(w.sink.inner.live().len(), (RECORDS - RECORDS / 10) as usize);
    let runs = w.store.runs(w.job.key(), 10).await.unwrap();
    assert_eq!(runs[1].id, killed);
    assert_eq!(runs[1].status, RunStatus::Interrupted);
    assert_eq!(runs[0].status, RunStatus::Running);
    let finished_unlogged = runs[0].id.clone();

    // A run that fails is logged failed.
    w.faults.at_call("source.changes", 2, Fault::Fail);
    assert!(matches!(w.run().await, Outcome::Failed(_)));
    let Outcome::Done(log) = w.run().await else {
        panic!("the last run did not finish")
    };
    let runs = w.store.runs(w.job.key(), 10).await.unwrap();
    let got: Vec<(&str, RunStatus)> = runs.iter().map(|r| (r.id.as_str(), r.status)).collect();
    assert_eq!(
        got[..],
        [
            (log.id.as_str(), RunStatus::Succeeded),
            (got[1].0, RunStatus::Failed),
            (finished_unlogged.as_str(), RunStatus::Interrupted),
            (killed.as_str(), RunStatus::Interrupted),
        ]
    );
    assert!(runs[1]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("injected")));
    assert_eq!(
        w.store.cursor(w.job.key()).await.unwrap().unwrap().source,
        w.source.latest().iter().filter_map(SyncRecord::mark).max()
    );
}
