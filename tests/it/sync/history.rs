//! A hundred thousand versions through a loopback source, with failures injected at random in
//! the source, the sink and the store: nothing is lost, the cursor never moves back, each
//! version raises exactly one change event, and replaying the whole history from the start
//! three times changes nothing and raises nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchboard::sync::memory::MemorySink;
use switchboard::sync::{JobKey, RunStatus, SyncEngine, SyncJob, SyncRecord, SyncStore, Trigger};

use super::support::{
    assert_sink_matches, at, changed, engine_with_room, numbered, CheckedStore, Faults,
    FlakySource, LoopSource, Paging, TestClock, WatchedSink,
};

const EPOCHS: u64 = 20;
const PER_EPOCH: u64 = 5_000;
const PAGE: usize = 1_000;
const FAILURE_RATE: f64 = 0.03;

/// Writes one epoch of `PER_EPOCH` versions, each to a different key, a hundred sharing each
/// second: new keys, updates, deletions of live keys and keys brought back.
fn write_epoch(
    epoch: u64,
    rng: &mut fastrand::Rng,
    live: &mut Vec<String>,
    dead: &mut Vec<String>,
    next_key: &mut u64,
    source: &LoopSource,
    history: &mut Vec<SyncRecord>,
) {
    let mut used = HashSet::new();
    let mut written = 0;
    while written < PER_EPOCH {
        let roll = rng.u8(..100);
        let stamp = at(epoch * 1_000 + written / 100);
        let n = epoch * PER_EPOCH + written;
        let record = if roll < 45 || live.is_empty() {
            *next_key += 1;
            let key = format!("k{next_key:06}");
            live.push(key.clone());
            SyncRecord::new(key, numbered(n))
        } else if roll < 85 {
            let key = live[rng.usize(..live.len())].clone();
            if used.contains(&key) {
                continue;
            }
            SyncRecord::new(key, numbered(n))
        } else if roll < 95 {
            let i = rng.usize(..live.len());
            if used.contains(&live[i]) {
                continue;
            }
            let key = live.swap_remove(i);
            dead.push(key.clone());
            SyncRecord::deleted(key)
        } else {
            if dead.is_empty() {
                continue;
            }
            let i = rng.usize(..dead.len());
            if used.contains(&dead[i]) {
                continue;
            }
            let key = dead.swap_remove(i);
            live.push(key.clone());
            SyncRecord::new(key, numbered(n))
        };
        used.insert(record.key.clone());
        let record = record.updated_at(stamp);
        history.push(record.clone());
        source.put(record);
        written += 1;
    }
}

/// Runs `job` until a run succeeds; returns how many tries it took.
async fn run_until_done(engine: &SyncEngine, job: &SyncJob) -> u32 {
    for tries in 1..=500 {
        match engine.run(job, Trigger::Schedule).await {
            Ok(log) => {
                assert_eq!(log.status, RunStatus::Succeeded);
                return tries;
            }
            Err(e) => assert!(e.to_string().contains("injected"), "{e}"),
        }
    }
    panic!("no run of {} succeeded in 500 tries", job.key())
}

#[tokio::test]
async fn a_hundred_thousand_versions_with_failures_lose_nothing_and_replays_change_nothing() {
    let latest = Arc::new(LoopSource::new(Paging::Keyset).shuffled(1));
    let mut history = Vec::new();
    let faults = Faults::new();
    faults.random(13, FAILURE_RATE);
    // A transactional sink: a failed batch lands nothing, so each applied change is announced.
    let sink = Arc::new(WatchedSink::new(Arc::new(MemorySink::new()), faults.clone()).atomic());
    let store = Arc::new(CheckedStore::new(faults.clone()));
    let clock = TestClock::new(at(0));
    let engine = engine_with_room(store.clone(), &clock, 1 << 14);
    let mut events = engine.subscribe();
    let job = SyncJob::new(
        JobKey::new("t1", "mls", "listings"),
        Arc::new(FlakySource::new(latest.clone(), faults.clone())),
        sink.clone(),
    )
    .page_size(PAGE)
    .overlap(Duration::from_secs(10))
    .safety_lag(Duration::from_secs(30));

    let mut rng = fastrand::Rng::with_seed(42);
    let (mut live, mut dead, mut next_key) = (Vec::new(), Vec::new(), 0);
    let mut announced = 0;
    let mut tries = 0;
    for epoch in 0..EPOCHS {
        write_epoch(
            epoch,
            &mut rng,
            &mut live,
            &mut dead,
            &mut next_key,
            &latest,
            &mut history,
        );
        clock.set(at(epoch * 1_000 + 500));
        tries += run_until_done(&engine, &job).await;
        announced += changed(&mut events).len();
        // The memory sink keeps every change for inspection; none is needed here.
        sink.inner.take_changes();
    }
    let versions = (EPOCHS * PER_EPOCH) as usize;
    let history = Arc::new(LoopSource::with_history(Paging::Token, history));
    assert_eq!(history.versions(), versions);
    assert!(
        faults.fired().len() > 10,
        "too few failures to mean anything"
    );
    assert!(tries > EPOCHS as u32);
    assert_sink_matches(&latest, &sink.inner);
    assert_eq!(announced, versions);
    assert_eq!(sink.stats().received, versions as u64);

    // The whole history again, from the start, three times: older versions are stale, the
    // latest are held; nothing is sent to the sink and nothing is announced.
    for replay in 0..3 {
        let store = Arc::new(CheckedStore::new(faults.clone()));
        let engine = engine_with_room(store.clone(), &clock, 1 << 14);
        let mut events = engine.subscribe();
        let job = SyncJob::new(
            JobKey::new("t1", "mls", "listings"),
            Arc::new(FlakySource::new(history.clone(), faults.clone())),
            sink.clone(),
        )
        .page_size(PAGE)
        .overlap(Duration::from_secs(10));
        run_until_done(&engine, &job).await;
        assert!(
            changed(&mut events).is_empty(),
            "replay {replay} raised events"
        );
        let runs = store.runs(job.key(), 1_000).await.unwrap();
        let applied: u64 = runs
            .iter()
            .map(|r| r.counts.created + r.counts.updated + r.counts.deleted)
            .sum();
        assert_eq!(applied, 0, "replay {replay}");
        // Whatever a successful run read, it dropped.
        let done = runs
            .iter()
            .find(|r| r.status == RunStatus::Succeeded)
            .unwrap();
        assert_eq!(
            done.counts.stale + done.counts.unchanged,
            done.counts.fetched
        );
    }
    // Nothing reached `apply`, the sink's only way to change.
    assert_eq!(sink.stats().received, versions as u64);
}
