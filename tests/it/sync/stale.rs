//! No stale overwrite: version 2 of a key arrives by webhook while a poll brings version 1.
//! The sink here is a plain upsert with no version check of its own, so it is the engine that
//! must keep 2, in either order and when both race.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use switchboard::sync::{
    Change, Held, InMemorySyncStore, JobKey, SyncEngine, SyncJob, SyncRecord, SyncSink, Trigger,
    Version,
};
use switchboard::Error;

use super::support::{at, engine, fields, LoopSource, Paging, TestClock};

/// A host table written with a blind upsert, yielding between its steps so racing tasks
/// interleave.
#[derive(Default)]
struct PlainSink {
    rows: Mutex<HashMap<String, Held>>,
}

impl PlainSink {
    fn get(&self, key: &str) -> Option<Held> {
        self.rows.lock().unwrap().get(key).cloned()
    }
}

#[async_trait]
impl SyncSink for PlainSink {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        tokio::task::yield_now().await;
        let rows = self.rows.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| rows.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        tokio::task::yield_now().await;
        let mut rows = self.rows.lock().unwrap();
        for c in batch {
            let r = &c.record;
            let held = if r.deleted {
                Held::tombstone(r.version)
            } else {
                Held::live(r.version, r.fields.clone())
            };
            rows.insert(r.key.clone(), held);
        }
        Ok(())
    }
}

fn v1(key: &str) -> SyncRecord {
    SyncRecord::new(key, fields(json!({"price": 1}))).updated_at(at(100))
}

fn v2(key: &str) -> SyncRecord {
    SyncRecord::new(key, fields(json!({"price": 2}))).updated_at(at(200))
}

fn v2_deleted(key: &str) -> SyncRecord {
    SyncRecord::deleted(key).updated_at(at(200))
}

struct Race {
    source: Arc<LoopSource>,
    sink: Arc<PlainSink>,
    engine: SyncEngine,
    job: SyncJob,
}

fn race() -> Race {
    let source = Arc::new(LoopSource::new(Paging::Keyset));
    let sink = Arc::new(PlainSink::default());
    let clock = TestClock::new(at(1_000));
    let engine = engine(Arc::new(InMemorySyncStore::new()), &clock);
    let job = SyncJob::new(
        JobKey::new("t1", "crm", "contacts"),
        source.clone(),
        sink.clone(),
    )
    .page_size(10);
    Race {
        source,
        sink,
        engine,
        job,
    }
}

fn version_of(r: &SyncRecord) -> Option<Version> {
    r.version
}

#[tokio::test]
async fn a_webhook_version_2_then_a_polled_version_1_keeps_2() {
    for newer in [v2("k"), v2_deleted("k")] {
        let r = race();
        // The source's feed still lags at version 1 when the webhook delivers version 2.
        r.source.put(v1("k"));
        let applied = r.engine.apply_record(&r.job, newer.clone()).await.unwrap();
        assert!(applied.is_some());
        let log = r.engine.run(&r.job, Trigger::Schedule).await.unwrap();
        assert_eq!((log.counts.stale, log.counts.created), (1, 0));
        let held = r.sink.get("k").unwrap();
        assert_eq!(held.version, version_of(&newer));
        assert_eq!(held.is_live(), !newer.deleted);
    }
}

#[tokio::test]
async fn a_polled_version_1_then_a_webhook_version_2_keeps_2_and_a_late_1_is_dropped() {
    for newer in [v2("k"), v2_deleted("k")] {
        let r = race();
        r.source.put(v1("k"));
        r.engine.run(&r.job, Trigger::Schedule).await.unwrap();
        assert_eq!(r.sink.get("k").unwrap().version, v1("k").version);
        assert!(r
            .engine
            .apply_record(&r.job, newer.clone())
            .await
            .unwrap()
            .is_some());
        // The webhook's retry of version 1, and a re-read of the poll's page, come late.
        assert!(r
            .engine
            .apply_record(&r.job, v1("k"))
            .await
            .unwrap()
            .is_none());
        let log = r
            .engine
            .run(
                &r.job.clone().overlap(std::time::Duration::from_secs(3_600)),
                Trigger::Manual,
            )
            .await
            .unwrap();
        assert_eq!(log.counts.stale, 1);
        let held = r.sink.get("k").unwrap();
        assert_eq!(held.version, version_of(&newer));
        assert_eq!(held.is_live(), !newer.deleted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_racing_a_poll_never_let_version_1_overwrite_version_2() {
    const KEYS: usize = 200;
    for round in 0..30 {
        let r = race();
        let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i:03}")).collect();
        for k in &keys {
            r.source.put(v1(k));
        }
        let poll = {
            let (engine, job) = (r.engine.clone(), r.job.clone());
            tokio::spawn(async move { engine.run(&job, Trigger::Schedule).await })
        };
        let hooks: Vec<_> = keys
            .iter()
            .map(|k| {
                let (engine, job, k) = (r.engine.clone(), r.job.clone(), k.clone());
                tokio::spawn(async move { engine.apply_record(&job, v2(&k)).await })
            })
            .collect();
        poll.await.unwrap().unwrap();
        for h in hooks {
            h.await.unwrap().unwrap();
        }
        for k in &keys {
            let held = r.sink.get(k).unwrap();
            assert_eq!(
                held.version,
                v2(k).version,
                "round {round}: {k} went back to version 1"
            );
            assert_eq!(held.fields, Some(fields(json!({"price": 2}))));
        }
    }
}

#[tokio::test]
async fn a_versionless_copy_of_the_held_record_does_not_let_an_older_version_back_in() {
    for newer in [v2("k"), v2_deleted("k")] {
        let r = race();
        r.source.put(newer.clone());
        r.engine.run(&r.job, Trigger::Schedule).await.unwrap();
        // A webhook that carries no version repeats what the sink holds: nothing to apply,
        // and the sink keeps the version that makes the copy below stale.
        let mut echo = newer.clone();
        echo.version = None;
        echo.updated_at = None;
        assert_eq!(r.engine.apply_record(&r.job, echo).await.unwrap(), None);
        assert_eq!(r.engine.apply_record(&r.job, v1("k")).await.unwrap(), None);
        let held = r.sink.get("k").unwrap();
        assert_eq!(held.version, version_of(&newer));
        assert_eq!(held.is_live(), !newer.deleted);
    }
}
