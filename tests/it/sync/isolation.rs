//! Tenants never touch: two tenants share a connection id, a job name and the record keys,
//! run on one engine over one store, and tenant A's failing source, its records, its webhook
//! and its purge never reach tenant B's sink, cursor or run log.

use std::sync::Arc;

use serde_json::json;
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    JobKey, Mark, RunStatus, SyncEventKind, SyncJob, SyncRecord, SyncStore, Trigger,
};

use super::support::{
    at, engine, fields, CheckedStore, Fault, Faults, FlakySource, LoopSource, Paging, TestClock,
    WatchedSink,
};

const KEYS: u64 = 100;

fn source_of(owner: &str, base: u64) -> Arc<LoopSource> {
    let source = Arc::new(LoopSource::new(Paging::Keyset));
    for i in 0..KEYS {
        source.put(
            SyncRecord::new(format!("shared-{i:03}"), fields(json!({"owner": owner})))
                .updated_at(at(base + i)),
        );
    }
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_failures_and_records_never_reach_another_tenant() {
    let faults_a = Faults::new();
    let faults_b = Faults::new();
    let store = Arc::new(CheckedStore::new(Faults::new()));
    let clock = TestClock::new(at(10_000));
    let engine = engine(store.clone(), &clock);
    let mut events = engine.subscribe();

    let key_a = JobKey::new("tenant-a", "crm", "contacts");
    let key_b = JobKey::new("tenant-b", "crm", "contacts");
    let sink_a = Arc::new(MemorySink::new());
    let sink_b = Arc::new(MemorySink::new());
    let source_a = source_of("a", 1_000);
    let source_b = source_of("b", 2_000);
    let job_a = SyncJob::new(
        key_a.clone(),
        Arc::new(FlakySource::new(source_a.clone(), faults_a.clone())),
        Arc::new(WatchedSink::new(sink_a.clone(), faults_a.clone())),
    )
    .page_size(10);
    let job_b = SyncJob::new(
        key_b.clone(),
        Arc::new(FlakySource::new(source_b.clone(), faults_b.clone())),
        Arc::new(WatchedSink::new(sink_b.clone(), faults_b.clone())),
    )
    .page_size(10);

    // A's source fails on its third page while B runs alongside.
    faults_a.at_call("source.changes", 3, Fault::Fail);
    let (a, b) = tokio::join!(
        engine.run(&job_a, Trigger::Schedule),
        engine.run(&job_b, Trigger::Schedule)
    );
    assert!(a.is_err());
    assert_eq!(b.unwrap().counts.created, KEYS);

    let owners = |sink: &MemorySink| -> Vec<String> {
        sink.live()
            .values()
            .map(|f| f["owner"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(sink_a.live().len(), 20);
    assert!(owners(&sink_a).iter().all(|o| o == "a"));
    assert_eq!(sink_b.live().len(), KEYS as usize);
    assert!(owners(&sink_b).iter().all(|o| o == "b"));
    assert_eq!(
        store.cursor(&key_a).await.unwrap().unwrap().source,
        Some(Mark::new(at(1_019), "shared-019"))
    );
    assert_eq!(
        store.cursor(&key_b).await.unwrap().unwrap().source,
        Some(Mark::new(at(2_099), "shared-099"))
    );
    let status = |runs: Vec<switchboard::sync::RunLog>| -> Vec<RunStatus> {
        runs.iter().map(|r| r.status).collect()
    };
    assert_eq!(
        status(store.runs(&key_a, 10).await.unwrap()),
        [RunStatus::Failed]
    );
    assert_eq!(
        status(store.runs(&key_b, 10).await.unwrap()),
        [RunStatus::Succeeded]
    );

    // A's webhook record, with a version newer than anything B holds, goes to A only.
    let hook = SyncRecord::new("shared-050", fields(json!({"owner": "a", "hook": true})))
        .updated_at(at(9_000));
    assert!(engine.apply_record(&job_a, hook).await.unwrap().is_some());
    assert_eq!(
        sink_b.get("shared-050").unwrap().fields,
        Some(fields(json!({"owner": "b"})))
    );

    // A's source loses every key; A's purge is held (all of them) and B's keys stay.
    for i in 0..KEYS {
        source_a.purge(&format!("shared-{i:03}"));
    }
    let log = engine.purge(&job_a, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.purge_held, 21);
    assert_eq!(sink_b.live().len(), KEYS as usize);

    // Every change event names the job whose sink it changed.
    let mut per_job = std::collections::HashMap::new();
    while let Ok(e) = events.try_recv() {
        if let SyncEventKind::Changed { .. } = e.kind {
            *per_job.entry(e.job.tenant.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(per_job.get("tenant-a"), Some(&21));
    assert_eq!(per_job.get("tenant-b"), Some(&(KEYS as i32)));

    // B, run again, has nothing to do; its cursor did not move.
    let log = engine.run(&job_b, Trigger::Schedule).await.unwrap();
    assert_eq!(log.counts.created + log.counts.updated, 0);
    assert_eq!(
        store.cursor(&key_b).await.unwrap().unwrap().source,
        Some(Mark::new(at(2_099), "shared-099"))
    );
}
