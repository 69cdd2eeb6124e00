//! Outbound and bidirectional sync over the in-memory sides: each conflict policy with both
//! sides editing one field, the engine's write-backs raising no echo, failures and crashes
//! mid-write, parked conflicts and their resolution, edits made while a run is in progress,
//! tenants kept apart, and sides that cannot go the way a job asks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard::sync::memory::{MemorySink, MemorySource};
use switchboard::sync::{
    Begun, Change, ChangeKind, ChangePage, ChangeRequest, Clock, Conflict, ConflictPolicy,
    Direction, Fence, Fields, Held, InMemorySyncStore, JobKey, KeyPage, Link, Mark, Resolution,
    RunLog, RunStatus, SyncCursor, SyncEngine, SyncEventKind, SyncJob, SyncRecord, SyncSink,
    SyncSource, SyncStore, Trigger, Version,
};
use switchboard::{ConfigError, Error, ErrorKind};
use tokio::sync::broadcast;

fn fields(v: Value) -> Fields {
    v.as_object().expect("an object").clone()
}

/// One timeline for the engine and both sides: each reading is a millisecond after the last,
/// so every stamp is distinct and ordered by when it was taken.
#[derive(Clone)]
struct Timeline(Arc<AtomicU64>);

impl Timeline {
    fn new() -> Self {
        Timeline(Arc::new(AtomicU64::new(0)))
    }

    fn now(&self) -> SystemTime {
        UNIX_EPOCH
            + Duration::from_secs(1_700_000_000)
            + Duration::from_millis(self.0.fetch_add(1, Ordering::SeqCst))
    }

    fn clock(&self) -> Clock {
        let t = self.clone();
        Arc::new(move || t.now())
    }
}

type Hook = Mutex<Option<Box<dyn FnOnce() + Send>>>;

fn fire(hook: &Hook) {
    let f = hook.lock().unwrap().take();
    if let Some(f) = f {
        f();
    }
}

/// A memory source that can run a hook when its changes are first read, fail a chosen write
/// call, and logs the keys of each write.
#[derive(Default)]
struct Source {
    inner: Arc<MemorySource>,
    on_changes: Hook,
    fail_write_call: AtomicUsize,
    write_calls: AtomicUsize,
    writes: Mutex<Vec<Vec<String>>>,
}

impl Source {
    fn new(inner: Arc<MemorySource>) -> Self {
        Source {
            inner,
            ..Source::default()
        }
    }

    fn writes(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut self.writes.lock().unwrap())
    }
}

#[async_trait]
impl SyncSource for Source {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        fire(&self.on_changes);
        self.inner.changes(request).await
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        self.inner.live_keys(page).await
    }

    async fn write(&self, records: &[SyncRecord]) -> Result<Vec<Option<Version>>, Error> {
        let call = self.write_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_write_call.load(Ordering::SeqCst) == call {
            return Err(Error::new(ErrorKind::Transport, "the provider went away"));
        }
        self.writes
            .lock()
            .unwrap()
            .push(records.iter().map(|r| r.key.clone()).collect());
        self.inner.write(records).await
    }
}

/// A memory sink that can run a hook right after it applies a batch.
struct Sink {
    inner: Arc<MemorySink>,
    after_apply: Hook,
}

#[async_trait]
impl SyncSink for Sink {
    async fn held(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, Held>, Error> {
        self.inner.held(keys).await
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        self.inner.apply(batch).await?;
        fire(&self.after_apply);
        Ok(())
    }

    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.inner.changes(request).await
    }
}

/// A memory store whose save fails once, when it carries the link of a chosen key: a crash
/// after a side's write and before the engine recorded it.
#[derive(Debug, Default)]
struct CrashingStore {
    inner: InMemorySyncStore,
    fail_save_linking: Mutex<Option<String>>,
}

#[async_trait]
impl SyncStore for CrashingStore {
    async fn begin(&self, job: &JobKey, run: &RunLog) -> Result<Begun, Error> {
        self.inner.begin(job, run).await
    }

    async fn save(
        &self,
        job: &JobKey,
        fence: Fence,
        cursor: &SyncCursor,
        links: &[(String, Link)],
    ) -> Result<(), Error> {
        let crash = {
            let mut armed = self.fail_save_linking.lock().unwrap();
            let hit = armed
                .as_ref()
                .is_some_and(|k| links.iter().any(|(l, _)| l == k));
            if hit {
                *armed = None;
            }
            hit
        };
        if crash {
            return Err(Error::store("the process died before the save"));
        }
        self.inner.save(job, fence, cursor, links).await
    }

    async fn finish(&self, job: &JobKey, run: &RunLog) -> Result<(), Error> {
        self.inner.finish(job, run).await
    }

    async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        self.inner.cursor(job).await
    }

    async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error> {
        self.inner.runs(job, limit).await
    }

    async fn links(
        &self,
        job: &JobKey,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, Link>, Error> {
        self.inner.links(job, keys).await
    }

    async fn park(&self, job: &JobKey, fence: Fence, conflict: &Conflict) -> Result<(), Error> {
        self.inner.park(job, fence, conflict).await
    }

    async fn conflicts(&self, job: &JobKey) -> Result<Vec<Conflict>, Error> {
        self.inner.conflicts(job).await
    }

    async fn take_conflict(&self, job: &JobKey, key: &str) -> Result<Option<Conflict>, Error> {
        self.inner.take_conflict(job, key).await
    }
}

/// A bidirectional job between a memory source and an own-versions memory sink, on one
/// timeline, with its events.
struct World {
    time: Timeline,
    memory_source: Arc<MemorySource>,
    source: Arc<Source>,
    memory_sink: Arc<MemorySink>,
    sink: Arc<Sink>,
    store: Arc<CrashingStore>,
    engine: SyncEngine,
    job: SyncJob,
    events: broadcast::Receiver<switchboard::sync::SyncEvent>,
}

impl World {
    fn new(tenant: &str, policy: ConflictPolicy) -> Self {
        Self::sharing(
            tenant,
            policy,
            Arc::new(CrashingStore::default()),
            Timeline::new(),
        )
    }

    /// A world over an existing store and timeline (another tenant of the same service).
    fn sharing(
        tenant: &str,
        policy: ConflictPolicy,
        store: Arc<CrashingStore>,
        time: Timeline,
    ) -> Self {
        let memory_source = Arc::new(MemorySource::new().with_clock(time.clock()));
        let source = Arc::new(Source::new(memory_source.clone()));
        let memory_sink = Arc::new(MemorySink::own_versions().with_clock(time.clock()));
        let sink = Arc::new(Sink {
            inner: memory_sink.clone(),
            after_apply: Mutex::default(),
        });
        let engine = SyncEngine::builder(store.clone())
            .clock(time.clock())
            .build();
        let events = engine.subscribe();
        let job = SyncJob::new(
            JobKey::new(tenant, "crm", "contacts"),
            source.clone(),
            sink.clone(),
        )
        .direction(Direction::Bidirectional)
        .conflict_policy(policy)
        .safety_lag(Duration::ZERO);
        World {
            time,
            memory_source,
            source,
            memory_sink,
            sink,
            store,
            engine,
            job,
            events,
        }
    }

    /// The provider sets a key (`None`: deletes it) now.
    fn provider_sets(&self, key: &str, value: Option<Value>) -> SystemTime {
        let at = self.time.now();
        self.provider_sets_at(key, value, at);
        at
    }

    fn provider_sets_at(&self, key: &str, value: Option<Value>, at: SystemTime) {
        let record = match value {
            Some(v) => SyncRecord::new(key, fields(v)),
            None => SyncRecord::deleted(key),
        };
        self.memory_source.put(record.updated_at(at));
    }

    /// The host sets a key (`None`: deletes it) now.
    fn host_sets(&self, key: &str, value: Option<Value>) -> SystemTime {
        let at = self.time.now();
        self.memory_sink.edit(key, value.map(fields), at);
        at
    }

    async fn run(&self) -> RunLog {
        let log = self.engine.run(&self.job, Trigger::Manual).await.unwrap();
        assert_eq!(log.status, RunStatus::Succeeded);
        log
    }

    /// The events raised since the last call, without starts, finishes and progress.
    fn events(&mut self) -> Vec<SyncEventKind> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => match e.kind {
                    SyncEventKind::Started { .. }
                    | SyncEventKind::Finished { .. }
                    | SyncEventKind::Progress { .. } => {}
                    kind => out.push(kind),
                },
                Err(broadcast::error::TryRecvError::Empty) => return out,
                Err(e) => panic!("events lost: {e}"),
            }
        }
    }

    fn source_live(&self) -> BTreeMap<String, Fields> {
        self.memory_source.live()
    }

    fn sink_live(&self) -> BTreeMap<String, Fields> {
        self.memory_sink.live()
    }

    async fn conflicts(&self) -> Vec<Conflict> {
        self.engine.conflicts(self.job.key()).await.unwrap()
    }

    /// Asserts a run changed nothing on either side and raised no change or conflict.
    async fn assert_quiet_run(&mut self) {
        let parked = self.conflicts().await;
        let (source, sink) = (self.source_live(), self.sink_live());
        self.source.writes();
        self.events();
        let log = self.run().await;
        let c = log.counts;
        assert_eq!(
            (c.written, c.created, c.updated, c.deleted, c.conflicts),
            (0, 0, 0, 0, 0),
            "a quiet run wrote nothing: {c:?}"
        );
        assert_eq!(self.events(), Vec::new(), "a quiet run raises no event");
        assert_eq!(self.source_live(), source);
        assert_eq!(self.sink_live(), sink);
        assert_eq!(self.conflicts().await, parked);
        assert!(self.source.writes().is_empty());
    }
}

fn one(key: &str, v: Value) -> BTreeMap<String, Fields> {
    BTreeMap::from([(key.to_string(), fields(v))])
}

fn conflict(key: &str, parked: bool) -> SyncEventKind {
    SyncEventKind::Conflict {
        key: key.into(),
        parked,
    }
}

fn changed(key: &str, change: ChangeKind) -> SyncEventKind {
    SyncEventKind::Changed {
        key: key.into(),
        change,
        watched: None,
    }
}

fn updated(names: &[&str]) -> ChangeKind {
    ChangeKind::Updated {
        fields: names.iter().map(|n| (*n).to_string()).collect(),
    }
}

/// Key `k` synced once, then the provider and the host edit its `name` (the host later when
/// `host_later`), and a run.
async fn both_edit_one_field(policy: ConflictPolicy, host_later: bool) -> (World, RunLog) {
    let mut w = World::new("t1", policy);
    w.provider_sets("k", Some(json!({"name": "Ada", "phone": "1"})));
    let first = w.run().await;
    assert_eq!(first.counts.created, 1);
    w.events();
    let (early, late) = (w.time.now(), w.time.now());
    let (provider_at, host_at) = if host_later {
        (early, late)
    } else {
        (late, early)
    };
    w.provider_sets_at(
        "k",
        Some(json!({"name": "Provider", "phone": "1"})),
        provider_at,
    );
    w.memory_sink.edit(
        "k",
        Some(fields(json!({"name": "Host", "phone": "1"}))),
        host_at,
    );
    let log = w.run().await;
    assert_eq!(log.counts.conflicts, 1);
    (w, log)
}

async fn assert_source_won(mut w: World, log: RunLog) {
    let kept = one("k", json!({"name": "Provider", "phone": "1"}));
    assert_eq!(w.source_live(), kept);
    assert_eq!(w.sink_live(), kept);
    assert_eq!((log.counts.updated, log.counts.written), (1, 0));
    assert_eq!(
        w.events(),
        vec![conflict("k", false), changed("k", updated(&["name"]))]
    );
    assert!(w.source.writes().is_empty());
    assert!(w.conflicts().await.is_empty());
    w.assert_quiet_run().await;
    w.assert_quiet_run().await;
}

async fn assert_sink_won(mut w: World, log: RunLog) {
    let kept = one("k", json!({"name": "Host", "phone": "1"}));
    assert_eq!(w.source_live(), kept);
    assert_eq!(w.sink_live(), kept);
    assert_eq!((log.counts.updated, log.counts.written), (0, 1));
    assert_eq!(
        w.events(),
        vec![conflict("k", false), changed("k", updated(&[]))]
    );
    assert_eq!(w.source.writes(), vec![vec!["k".to_string()]]);
    assert!(w.conflicts().await.is_empty());
    w.assert_quiet_run().await;
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn source_wins_keeps_the_providers_edit_on_both_sides_in_either_order() {
    for host_later in [false, true] {
        let (w, log) = both_edit_one_field(ConflictPolicy::SourceWins, host_later).await;
        assert_source_won(w, log).await;
    }
}

#[tokio::test]
async fn sink_wins_keeps_the_hosts_edit_on_both_sides_in_either_order() {
    for host_later in [false, true] {
        let (w, log) = both_edit_one_field(ConflictPolicy::SinkWins, host_later).await;
        assert_sink_won(w, log).await;
    }
}

#[tokio::test]
async fn newer_wins_keeps_the_later_edit_whichever_side_made_it() {
    let (w, log) = both_edit_one_field(ConflictPolicy::NewerWins, true).await;
    assert_sink_won(w, log).await;
    let (w, log) = both_edit_one_field(ConflictPolicy::NewerWins, false).await;
    assert_source_won(w, log).await;
}

#[tokio::test]
async fn newer_wins_gives_a_tie_or_a_missing_timestamp_to_the_source() {
    // A tie.
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    w.provider_sets("k", Some(json!({"name": "Ada"})));
    w.run().await;
    let at = w.time.now();
    w.provider_sets_at("k", Some(json!({"name": "Provider"})), at);
    w.memory_sink
        .edit("k", Some(fields(json!({"name": "Host"}))), at);
    w.events();
    w.run().await;
    assert_eq!(w.sink_live(), one("k", json!({"name": "Provider"})));
    assert_eq!(w.source_live(), one("k", json!({"name": "Provider"})));
    assert_eq!(w.events()[0], conflict("k", false));
    w.assert_quiet_run().await;

    // The provider stamps no updated-at (only a revision): its record cannot be placed in
    // time, so the source keeps it even against a later host edit.
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    w.memory_source
        .put(SyncRecord::new("k", fields(json!({"name": "Ada"}))).version(Version::new(1)));
    w.run().await;
    w.memory_source
        .put(SyncRecord::new("k", fields(json!({"name": "Provider"}))).version(Version::new(2)));
    w.host_sets("k", Some(json!({"name": "Host"})));
    w.events();
    let log = w.run().await;
    assert_eq!(log.counts.conflicts, 1);
    assert_eq!(w.sink_live(), one("k", json!({"name": "Provider"})));
    assert_eq!(w.source_live(), one("k", json!({"name": "Provider"})));
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn park_writes_neither_side_and_parks_both_records_once() {
    for host_later in [false, true] {
        let (mut w, log) = both_edit_one_field(ConflictPolicy::Park, host_later).await;
        assert_eq!(
            w.source_live(),
            one("k", json!({"name": "Provider", "phone": "1"}))
        );
        assert_eq!(
            w.sink_live(),
            one("k", json!({"name": "Host", "phone": "1"}))
        );
        assert_eq!((log.counts.updated, log.counts.written), (0, 0));
        assert_eq!(w.events(), vec![conflict("k", true)]);
        let parked = w.conflicts().await;
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].key, "k");
        assert_eq!(
            parked[0].source.fields,
            fields(json!({"name": "Provider", "phone": "1"}))
        );
        assert_eq!(
            parked[0].sink.fields,
            fields(json!({"name": "Host", "phone": "1"}))
        );
        w.assert_quiet_run().await;
        w.assert_quiet_run().await;
    }
}

#[tokio::test]
async fn edits_and_deletions_of_different_keys_flow_both_ways_in_one_run() {
    let mut w = World::new("t1", ConflictPolicy::Park);
    for k in ["a", "b", "c", "e"] {
        w.provider_sets(k, Some(json!({"v": k})));
    }
    w.run().await;
    w.events();
    w.provider_sets("a", Some(json!({"v": "a2"})));
    w.provider_sets("b", None);
    w.provider_sets("d", Some(json!({"v": "d"})));
    w.host_sets("c", Some(json!({"v": "c2"})));
    w.host_sets("e", None);
    w.host_sets("f", Some(json!({"v": "f"})));
    let log = w.run().await;
    let c = log.counts;
    assert_eq!(
        (c.created, c.updated, c.deleted, c.written, c.conflicts),
        (1, 1, 1, 3, 0)
    );
    let expected: BTreeMap<String, Fields> = [("a", "a2"), ("c", "c2"), ("d", "d"), ("f", "f")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), fields(json!({ "v": v }))))
        .collect();
    assert_eq!(w.sink_live(), expected);
    assert_eq!(w.source_live(), expected);
    assert!(w.memory_source.get("e").is_some_and(|r| r.deleted));
    assert!(w.memory_sink.get("b").is_some_and(|h| !h.is_live()));
    assert_eq!(
        w.events(),
        vec![
            changed("a", updated(&["v"])),
            changed("b", ChangeKind::Deleted),
            changed("d", ChangeKind::Created),
            changed("c", updated(&[])),
            changed("e", ChangeKind::Deleted),
            changed("f", ChangeKind::Created),
        ]
    );
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn the_engines_own_write_backs_raise_no_echo_on_the_next_runs() {
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    w.provider_sets("a", Some(json!({"from": "provider"})));
    w.host_sets("b", Some(json!({"from": "host"})));
    let log = w.run().await;
    assert_eq!((log.counts.created, log.counts.written), (1, 1));
    w.events();
    // The next run reads both write-backs (the sink's own write of `a`, the source's of `b`)
    // and knows them for its own.
    let log = w.run().await;
    let c = log.counts;
    assert_eq!(
        (c.written, c.created, c.updated, c.deleted, c.conflicts),
        (0, 0, 0, 0, 0)
    );
    assert!(c.unchanged >= 2, "both write-backs were read back: {c:?}");
    assert_eq!(w.events(), Vec::new());
    w.assert_quiet_run().await;
    let both: BTreeMap<String, Fields> = BTreeMap::from([
        ("a".to_string(), fields(json!({"from": "provider"}))),
        ("b".to_string(), fields(json!({"from": "host"}))),
    ]);
    assert_eq!(w.sink_live(), both);
    assert_eq!(w.source_live(), both);
    let cursor = w.engine.cursor(w.job.key()).await.unwrap().unwrap();
    assert!(cursor.source.is_some() && cursor.sink.is_some());
}

/// An outbound job over a world's sides, two records a page.
fn outbound_job(w: &World) -> SyncJob {
    SyncJob::new(
        JobKey::new("t1", "calendar", "bookings"),
        w.source.clone(),
        w.sink.clone(),
    )
    .direction(Direction::Outbound)
    .page_size(2)
    .safety_lag(Duration::ZERO)
}

#[tokio::test]
async fn outbound_sends_host_edits_and_a_failed_write_resends_only_what_was_not_sent() {
    let w = World::new("t1", ConflictPolicy::NewerWins);
    let job = outbound_job(&w);
    let stamps: Vec<SystemTime> = (0..5)
        .map(|i| w.host_sets(&format!("k{i}"), Some(json!({ "n": i }))))
        .collect();
    w.source.fail_write_call.store(2, Ordering::SeqCst);
    let err = w.engine.run(&job, Trigger::Manual).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        w.engine.runs(job.key(), 1).await.unwrap()[0].status,
        RunStatus::Failed
    );
    assert_eq!(w.source.writes(), vec![vec!["k0".to_string(), "k1".into()]]);
    assert_eq!(w.memory_source.len(), 2);
    let cursor = w.engine.cursor(job.key()).await.unwrap().unwrap();
    assert_eq!(cursor.sink, Some(Mark::new(stamps[1], "k1")));
    assert_eq!(cursor.source, None);

    let log = w.engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 3);
    assert_eq!(
        w.source.writes(),
        vec![vec!["k2".to_string(), "k3".into()], vec!["k4".to_string()]]
    );
    let cursor = w.engine.cursor(job.key()).await.unwrap().unwrap();
    assert_eq!(cursor.sink, Some(Mark::new(stamps[4], "k4")));
    assert_eq!(w.source_live(), w.sink_live());
    assert_eq!(w.source_live().len(), 5);

    w.host_sets("k0", Some(json!({"n": 100})));
    let log = w.engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 1);
    assert_eq!(w.source.writes(), vec![vec!["k0".to_string()]]);
    let log = w.engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 0);
    assert!(w.source.writes().is_empty());
    assert_eq!(w.source_live(), w.sink_live());
}

#[tokio::test]
async fn a_crash_between_a_source_write_and_its_links_resends_at_most_that_page() {
    // Outbound: the source's own changes are never read, so the page whose links were lost
    // goes again (once), and nothing before it does.
    let w = World::new("t1", ConflictPolicy::NewerWins);
    let job = outbound_job(&w);
    for i in 0..4 {
        w.host_sets(&format!("k{i}"), Some(json!({ "n": i })));
    }
    *w.store.fail_save_linking.lock().unwrap() = Some("k2".into());
    let err = w.engine.run(&job, Trigger::Manual).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert_eq!(w.source.writes().len(), 2);
    let log = w.engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 2);
    assert_eq!(w.source.writes(), vec![vec!["k2".to_string(), "k3".into()]]);
    let log = w.engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 0);
    assert_eq!(w.source_live(), w.sink_live());

    // Bidirectional: the next run reads the unlinked write-backs from the source, finds them
    // equal to the sink's changes and links them: nothing is sent again, no conflict.
    let mut w = World::new("t1", ConflictPolicy::Park);
    w.job = w.job.clone().page_size(2);
    for i in 0..4 {
        w.host_sets(&format!("k{i}"), Some(json!({ "n": i })));
    }
    *w.store.fail_save_linking.lock().unwrap() = Some("k2".into());
    let err = w.engine.run(&w.job, Trigger::Manual).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert_eq!(w.source.writes().len(), 2);
    w.events();
    let log = w.run().await;
    assert_eq!((log.counts.written, log.counts.conflicts), (0, 0));
    assert!(w.source.writes().is_empty());
    assert!(w.conflicts().await.is_empty());
    assert_eq!(w.events(), Vec::new());
    assert_eq!(w.source_live(), w.sink_live());
    assert_eq!(w.sink_live().len(), 4);
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn parked_conflicts_are_resolved_either_way_and_a_failed_resolve_keeps_them() {
    let mut w = World::new("t1", ConflictPolicy::Park);
    for k in ["a", "b"] {
        w.provider_sets(k, Some(json!({"v": "0"})));
    }
    w.run().await;
    for k in ["a", "b"] {
        w.provider_sets(k, Some(json!({"v": "provider"})));
        w.host_sets(k, Some(json!({"v": "host"})));
    }
    w.run().await;
    assert_eq!(w.conflicts().await.len(), 2);
    w.events();

    // A parked key edited again stays apart; the parked pair takes the newer record.
    w.host_sets("a", Some(json!({"v": "host again"})));
    let log = w.run().await;
    assert_eq!((log.counts.written, log.counts.updated), (0, 0));
    assert_eq!(w.events(), vec![conflict("a", true)]);
    let parked = w.conflicts().await;
    let a = parked.iter().find(|c| c.key == "a").unwrap();
    assert_eq!(a.sink.fields, fields(json!({"v": "host again"})));
    assert_eq!(
        w.memory_source.get("a").unwrap().fields,
        fields(json!({"v": "provider"}))
    );

    // Keeping the source: the sink takes the provider's record.
    let runs = w.engine.runs(w.job.key(), 100).await.unwrap().len();
    w.engine
        .resolve(&w.job, "a", Resolution::KeepSource)
        .await
        .unwrap();
    assert_eq!(
        w.memory_sink.get("a").unwrap().fields,
        Some(fields(json!({"v": "provider"})))
    );
    assert_eq!(
        w.memory_source.get("a").unwrap().fields,
        fields(json!({"v": "provider"}))
    );
    assert_eq!(w.conflicts().await.len(), 1);
    assert_eq!(w.events(), vec![changed("a", updated(&["v"]))]);

    // Nothing parked for `a` any more: NotFound, and no run is logged for the mistake.
    let err = w
        .engine
        .resolve(&w.job, "a", Resolution::KeepSource)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        w.engine.runs(w.job.key(), 100).await.unwrap().len(),
        runs + 1
    );

    // Keeping the sink, with the provider failing: the conflict stays parked, nothing moved.
    w.source.fail_write_call.store(
        w.source.write_calls.load(Ordering::SeqCst) + 1,
        Ordering::SeqCst,
    );
    let err = w
        .engine
        .resolve(&w.job, "b", Resolution::KeepSink)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    let parked = w.conflicts().await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].key, "b");
    assert_eq!(
        w.memory_source.get("b").unwrap().fields,
        fields(json!({"v": "provider"}))
    );
    w.engine
        .resolve(&w.job, "b", Resolution::KeepSink)
        .await
        .unwrap();
    assert_eq!(
        w.memory_source.get("b").unwrap().fields,
        fields(json!({"v": "host"}))
    );
    assert!(w.conflicts().await.is_empty());
    assert_eq!(w.source_live(), w.sink_live());
    w.events();
    w.assert_quiet_run().await;
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn keeping_the_source_of_a_key_the_host_edited_since_it_was_parked_is_refused() {
    let mut w = World::new("t1", ConflictPolicy::Park);
    w.provider_sets("k", Some(json!({"v": "0"})));
    w.run().await;
    w.provider_sets("k", Some(json!({"v": "provider"})));
    w.host_sets("k", Some(json!({"v": "host"})));
    w.run().await;
    w.host_sets("k", Some(json!({"v": "host, later"})));
    let err = w
        .engine
        .resolve(&w.job, "k", Resolution::KeepSource)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        w.memory_sink.get("k").unwrap().fields,
        Some(fields(json!({"v": "host, later"})))
    );
    // The next run parks the newer record; resolving then works.
    w.run().await;
    assert_eq!(
        w.conflicts().await[0].sink.fields,
        fields(json!({"v": "host, later"}))
    );
    w.engine
        .resolve(&w.job, "k", Resolution::KeepSource)
        .await
        .unwrap();
    assert_eq!(w.sink_live(), one("k", json!({"v": "provider"})));
    w.events();
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn edits_made_on_both_sides_while_a_run_is_in_progress_are_not_lost() {
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    for k in ["a", "b", "c", "d"] {
        w.provider_sets(k, Some(json!({"v": "0"})));
    }
    w.run().await;
    w.provider_sets("a", Some(json!({"v": "provider"})));
    w.provider_sets("c", Some(json!({"v": "provider"})));
    // Once the run has read the sink's changes and turns to the source, the host edits `a`
    // (which the provider changed too, earlier) and `d`.
    let sink = w.memory_sink.clone();
    let time = w.time.clone();
    *w.source.on_changes.lock().unwrap() = Some(Box::new(move || {
        sink.edit("a", Some(fields(json!({"v": "host"}))), time.now());
        sink.edit("d", Some(fields(json!({"v": "host"}))), time.now());
    }));
    // Right after the engine writes `c` to the sink, the host edits it again, and the
    // provider edits `b`.
    let sink = w.memory_sink.clone();
    let source = w.memory_source.clone();
    let time = w.time.clone();
    *w.sink.after_apply.lock().unwrap() = Some(Box::new(move || {
        sink.edit("c", Some(fields(json!({"v": "host"}))), time.now());
        source.put(SyncRecord::new("b", fields(json!({"v": "provider"}))).updated_at(time.now()));
    }));
    w.run().await;
    // The host's edit of `a` was not overwritten by the provider's older one.
    assert_eq!(
        w.memory_sink.get("a").unwrap().fields,
        Some(fields(json!({"v": "host"})))
    );
    assert_eq!(
        w.memory_sink.get("c").unwrap().fields,
        Some(fields(json!({"v": "host"})))
    );
    w.events();

    // The next run settles everything: each key holds the later edit on both sides.
    w.run().await;
    let expected: BTreeMap<String, Fields> = [
        ("a", "host"),
        ("b", "provider"),
        ("c", "host"),
        ("d", "host"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), fields(json!({ "v": v }))))
    .collect();
    assert_eq!(w.sink_live(), expected);
    assert_eq!(w.source_live(), expected);
    assert!(w.events().contains(&conflict("a", false)));
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn an_edit_inside_the_safety_lag_still_counts_and_is_not_overwritten() {
    // The host's edit is inside the lag, the provider's older one outside it.
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    w.job = w.job.clone().safety_lag(Duration::from_secs(3600));
    let long_ago = w.time.now() - Duration::from_secs(3 * 3600);
    w.provider_sets_at("k", Some(json!({"v": "0"})), long_ago);
    w.run().await;
    w.provider_sets_at(
        "k",
        Some(json!({"v": "provider"})),
        long_ago + Duration::from_secs(3600),
    );
    w.host_sets("k", Some(json!({"v": "host"})));
    let log = w.run().await;
    assert_eq!(log.counts.conflicts, 1);
    assert_eq!(w.sink_live(), one("k", json!({"v": "host"})));
    assert_eq!(w.source_live(), one("k", json!({"v": "host"})));
    w.events();
    w.assert_quiet_run().await;

    // The provider's edit is inside the lag, the host's older one outside it.
    let mut w = World::new("t1", ConflictPolicy::NewerWins);
    w.job = w.job.clone().safety_lag(Duration::from_secs(3600));
    let long_ago = w.time.now() - Duration::from_secs(3 * 3600);
    w.provider_sets_at("k", Some(json!({"v": "0"})), long_ago);
    w.run().await;
    w.memory_sink.edit(
        "k",
        Some(fields(json!({"v": "host"}))),
        long_ago + Duration::from_secs(3600),
    );
    w.provider_sets("k", Some(json!({"v": "provider"})));
    let log = w.run().await;
    assert_eq!(log.counts.conflicts, 1);
    assert_eq!(w.sink_live(), one("k", json!({"v": "provider"})));
    assert_eq!(w.source_live(), one("k", json!({"v": "provider"})));
    w.events();
    w.assert_quiet_run().await;
}

#[tokio::test]
async fn two_tenants_sharing_a_connection_id_and_job_name_never_touch() {
    let store = Arc::new(CrashingStore::default());
    let time = Timeline::new();
    let mut a = World::sharing(
        "tenant-a",
        ConflictPolicy::Park,
        store.clone(),
        time.clone(),
    );
    let mut b = World::sharing(
        "tenant-b",
        ConflictPolicy::Park,
        store.clone(),
        time.clone(),
    );
    assert_eq!(a.job.key().connection, b.job.key().connection);
    assert_eq!(a.job.key().job, b.job.key().job);
    // Both providers hold `k` at the same version and time: were links shared, B's record
    // would look like the echo of A's sync and never reach B's sink.
    let at = time.now();
    a.provider_sets_at("k", Some(json!({"v": "a0"})), at);
    b.provider_sets_at("k", Some(json!({"v": "b0"})), at);
    a.run().await;
    b.run().await;
    assert_eq!(a.sink_live(), one("k", json!({"v": "a0"})));
    assert_eq!(b.sink_live(), one("k", json!({"v": "b0"})));

    // A conflict in A parks in A only; B's edits flow as usual.
    a.provider_sets("k", Some(json!({"v": "a-provider"})));
    a.host_sets("k", Some(json!({"v": "a-host"})));
    b.host_sets("k", Some(json!({"v": "b-host"})));
    a.run().await;
    assert_eq!(a.conflicts().await.len(), 1);
    assert!(b.conflicts().await.is_empty());
    b.run().await;
    assert!(b.conflicts().await.is_empty());
    assert_eq!(b.source_live(), one("k", json!({"v": "b-host"})));
    assert_eq!(a.source_live(), one("k", json!({"v": "a-provider"})));

    // B cannot resolve A's conflict; A's resolution writes to A's provider only.
    let err = b
        .engine
        .resolve(&b.job, "k", Resolution::KeepSink)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(a.conflicts().await.len(), 1);
    a.engine
        .resolve(&a.job, "k", Resolution::KeepSink)
        .await
        .unwrap();
    assert_eq!(a.source_live(), one("k", json!({"v": "a-host"})));
    assert_eq!(b.source_live(), one("k", json!({"v": "b-host"})));
    assert_eq!(b.sink_live(), one("k", json!({"v": "b-host"})));
    a.events();
    b.events();
    a.assert_quiet_run().await;
    b.assert_quiet_run().await;
}

/// A source that can only be read.
struct ReadOnlySource(Arc<MemorySource>);

#[async_trait]
impl SyncSource for ReadOnlySource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.0.changes(request).await
    }
}

/// A sink that applies but does not report its own changes.
struct ApplyOnlySink(Arc<MemorySink>);

#[async_trait]
impl SyncSink for ApplyOnlySink {
    async fn held(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, Held>, Error> {
        self.0.held(keys).await
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        self.0.apply(batch).await
    }
}

fn assert_direction_error(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::Config);
    let config = std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<ConfigError>())
        .expect("a ConfigError");
    assert_eq!(config.setting, "sync.direction");
}

#[tokio::test]
async fn sides_that_cannot_go_the_jobs_way_fail_the_run_with_a_direction_error() {
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let sink = Arc::new(MemorySink::own_versions());
    sink.edit("k", Some(fields(json!({"v": 1}))), SystemTime::now());
    let source = Arc::new(MemorySource::new());
    for direction in [Direction::Outbound, Direction::Bidirectional] {
        let job = SyncJob::new(
            JobKey::new("t1", "crm", format!("{direction:?}")),
            Arc::new(ReadOnlySource(source.clone())),
            sink.clone(),
        )
        .direction(direction)
        .safety_lag(Duration::ZERO);
        let err = engine.run(&job, Trigger::Manual).await.unwrap_err();
        assert_direction_error(&err);
        let log = &engine.runs(job.key(), 1).await.unwrap()[0];
        assert_eq!(log.status, RunStatus::Failed);
        assert!(log.error.as_deref().unwrap().contains("sync.direction"));
        assert!(source.is_empty());

        let job = SyncJob::new(
            JobKey::new("t1", "crm", format!("{direction:?} sink")),
            source.clone(),
            Arc::new(ApplyOnlySink(sink.clone())),
        )
        .direction(direction);
        let err = engine.run(&job, Trigger::Manual).await.unwrap_err();
        assert_direction_error(&err);
        assert_eq!(
            engine.runs(job.key(), 1).await.unwrap()[0].status,
            RunStatus::Failed
        );
        // A webhook's record cannot skip the link table of a job that is not inbound.
        let err = engine
            .apply_record(&job, SyncRecord::new("k", Fields::new()))
            .await
            .unwrap_err();
        assert_direction_error(&err);
    }
}

#[tokio::test]
async fn a_parked_key_whose_sides_come_to_agree_is_unparked_without_a_write() {
    let mut w = World::new("t1", ConflictPolicy::Park);
    w.provider_sets("k", Some(json!({"v": "0"})));
    w.run().await;
    w.provider_sets("k", Some(json!({"v": "provider"})));
    w.host_sets("k", Some(json!({"v": "host"})));
    w.run().await;
    assert_eq!(w.conflicts().await.len(), 1);
    w.events();
    // The host settles it by hand, taking the provider's value.
    w.host_sets("k", Some(json!({"v": "provider"})));
    let log = w.run().await;
    assert_eq!((log.counts.written, log.counts.updated), (0, 0));
    assert!(w.conflicts().await.is_empty());
    assert_eq!(w.events(), Vec::new());
    assert_eq!(w.sink_live(), one("k", json!({"v": "provider"})));
    assert_eq!(w.source_live(), one("k", json!({"v": "provider"})));
    w.assert_quiet_run().await;
    // The key syncs again as usual.
    w.provider_sets("k", Some(json!({"v": "provider 2"})));
    w.run().await;
    assert_eq!(w.sink_live(), one("k", json!({"v": "provider 2"})));
    w.assert_quiet_run().await;
}
