//! The scheduler: one run per job across replicas (in-process, Redis and PostgreSQL locks),
//! fencing of a holder paused past its lock's lifetime, overrunning runs absorbing ticks,
//! manual triggers, webhook triggers over real HTTP, the connection's lifecycle and progress
//! events.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::sync::memory::{MemorySink, MemorySource};
use switchboard::sync::{
    ChangePage, ChangeRequest, Fields, InMemorySyncStore, JobKey, RunLog, RunStatus, Schedule,
    SyncEngine, SyncEvent, SyncEventKind, SyncJob, SyncRecord, SyncScheduler, SyncSource,
    SyncStore, Trigger, Version,
};
use switchboard::tokens::{InProcessLock, RefreshLock};
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

fn fields(v: serde_json::Value) -> Fields {
    v.as_object().expect("an object").clone()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A schedule that never ticks within a test: runs come from triggers and webhooks only.
fn on_demand() -> Schedule {
    Schedule::custom(|now| now + Duration::from_secs(365 * 24 * 60 * 60))
}

/// A source holding `n` records stamped in the past.
fn source_of(n: u64) -> Arc<MemorySource> {
    let source = Arc::new(MemorySource::new());
    for i in 0..n {
        source.put(SyncRecord::new(format!("k{i:03}"), fields(json!({"n": i}))).updated_at(at(i)));
    }
    source
}

/// Waits for the next `Finished` event of `job` started by `trigger`.
async fn finished(
    rx: &mut broadcast::Receiver<SyncEvent>,
    job: &JobKey,
    trigger: Trigger,
) -> RunLog {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rx.recv().await {
                Ok(SyncEvent {
                    job: j,
                    kind: SyncEventKind::Finished { run },
                }) if &j == job && run.trigger == trigger => return run,
                Ok(_) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("the run finished")
}

/// A source that counts its runs and how many run at once, holding each for `hold`.
struct Gauge {
    inner: Arc<MemorySource>,
    hold: Duration,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    runs: AtomicUsize,
}

impl Gauge {
    fn new(inner: Arc<MemorySource>, hold: Duration) -> Arc<Self> {
        Arc::new(Gauge {
            inner,
            hold,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            runs: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl SyncSource for Gauge {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.hold).await;
        let page = self.inner.changes(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        page
    }
}

/// Three replicas (an engine and a scheduler each, over one store and the given locks) tick
/// one job every `interval` with jitter 0.5, each run holding the source for `hold`, until
/// `runs` runs happened. At most one ran at a time, and the job's runs were shared out.
async fn three_replicas_tick_one_job(
    store: Arc<dyn SyncStore>,
    locks: [Arc<dyn RefreshLock>; 3],
    interval: Duration,
    hold: Duration,
    runs: usize,
) {
    let key = JobKey::new("t1", "mls", "listings");
    let gauge = Gauge::new(source_of(5), hold);
    let sink = Arc::new(MemorySink::new());
    let mut schedulers = Vec::new();
    let mut events = Vec::new();
    for lock in locks {
        let engine = SyncEngine::builder(store.clone()).lock(lock).build();
        events.push(engine.subscribe());
        let scheduler = SyncScheduler::new(engine);
        let job = SyncJob::new(key.clone(), gauge.clone(), sink.clone()).safety_lag(Duration::ZERO);
        scheduler
            .add(job, Schedule::every(interval).jitter(0.5))
            .unwrap();
        schedulers.push(scheduler);
    }
    // Bounded: enough intervals for `runs` runs many times over.
    for _ in 0..(runs * 50) {
        if gauge.runs.load(Ordering::SeqCst) >= runs {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    for s in &schedulers {
        s.shutdown().await;
    }
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        1,
        "two runs of one job overlapped"
    );
    let started = gauge.runs.load(Ordering::SeqCst);
    assert!(
        started >= runs,
        "only {started} runs in the time of {} ticks",
        runs * 50
    );
    let logs = schedulers[0].engine().runs(&key, 100).await.unwrap();
    let succeeded = logs
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    assert_eq!(
        succeeded, started,
        "every run that started ran to the end: {logs:?}"
    );
    assert_eq!(sink.live().len(), 5);
    let mut ran_on = Vec::new();
    for (replica, rx) in events.iter_mut().enumerate() {
        while let Ok(e) = rx.try_recv() {
            if matches!(e.kind, SyncEventKind::Finished { run } if run.status == RunStatus::Succeeded)
            {
                ran_on.push(replica);
            }
        }
    }
    assert_eq!(ran_on.len(), started);
    ran_on.sort_unstable();
    ran_on.dedup();
    assert!(ran_on.len() >= 2, "one replica ran every run");
}

#[tokio::test(start_paused = true)]
async fn three_replicas_ticking_with_jitter_never_run_a_job_twice_at_once() {
    let lock: Arc<dyn RefreshLock> =
        Arc::new(InProcessLock::new().wait_timeout(Duration::from_millis(10)));
    three_replicas_tick_one_job(
        Arc::new(InMemorySyncStore::new()),
        [lock.clone(), lock.clone(), lock],
        Duration::from_secs(10),
        Duration::from_secs(6),
        15,
    )
    .await;
}

#[cfg(feature = "redis")]
fn unique_prefix(what: &str) -> String {
    format!("switchboard-test:{what}:{:016x}:", fastrand::u64(..))
}

#[cfg(feature = "redis")]
async fn redis_lock(prefix: &str, wait: Duration) -> switchboard::tokens::RedisRefreshLock {
    switchboard::tokens::RedisRefreshLock::connect(&crate::support::redis_url())
        .await
        .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)")
        .key_prefix(prefix)
        .wait_timeout(wait)
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_sharing_a_redis_lock_never_run_a_job_twice_at_once() {
    let prefix = unique_prefix("sync-replicas");
    let wait = Duration::from_millis(20);
    three_replicas_tick_one_job(
        Arc::new(InMemorySyncStore::new()),
        [
            Arc::new(redis_lock(&prefix, wait).await),
            Arc::new(redis_lock(&prefix, wait).await),
            Arc::new(redis_lock(&prefix, wait).await),
        ],
        Duration::from_millis(60),
        Duration::from_millis(40),
        8,
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_sharing_a_postgres_advisory_lock_never_run_a_job_twice_at_once() {
    use switchboard::tokens::PostgresAdvisoryLock;
    let prefix = format!("switchboard-test:sync-replicas:{:016x}:", fastrand::u64(..));
    let mut locks = Vec::new();
    for _ in 0..3 {
        let lock = PostgresAdvisoryLock::connect(&crate::support::postgres_url())
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (scripts/test.sh starts it)")
            .key_prefix(prefix.clone())
            .wait_timeout(Duration::from_millis(20));
        locks.push(Arc::new(lock) as Arc<dyn RefreshLock>);
    }
    let locks: [Arc<dyn RefreshLock>; 3] = locks.try_into().unwrap();
    three_replicas_tick_one_job(
        Arc::new(InMemorySyncStore::new()),
        locks,
        Duration::from_millis(60),
        Duration::from_millis(40),
        8,
    )
    .await;
}

/// A source whose first call reads its page, says so, and returns it only when told: a
/// runner paused (a stalled VM) between reading and applying.
#[cfg(feature = "redis")]
struct Paused {
    inner: Arc<MemorySource>,
    gate: Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::sync::oneshot::Receiver<()>,
        )>,
    >,
}

#[cfg(feature = "redis")]
#[async_trait]
impl SyncSource for Paused {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let page = self.inner.changes(request).await?;
        let gate = self.gate.lock().unwrap().take();
        if let Some((entered, resume)) = gate {
            let _ = entered.send(());
            let _ = resume.await;
        }
        Ok(page)
    }
}

/// Replica A takes the job (its lock lives `ttl`), reads a page and stalls; the source moves
/// on; replica B takes the job once A's lock lapsed and syncs it. When A wakes, the sink
/// refuses its stale copy and its cursor save is refused: A's run ends `Interrupted` and the
/// cursor is B's.
#[cfg(feature = "redis")]
async fn a_paused_holder_cannot_save_its_cursor(
    lock_a: Arc<dyn RefreshLock>,
    prefix: &str,
    refused_by: &str,
) {
    let store: Arc<dyn SyncStore> = Arc::new(InMemorySyncStore::new());
    let key = JobKey::new("t1", "mls", "listings");
    let source = Arc::new(MemorySource::new());
    source.put(SyncRecord::new("j", fields(json!({"v": 1}))).updated_at(at(2)));
    source.put(SyncRecord::new("k", fields(json!({"v": 1}))).updated_at(at(1)));
    let sink = Arc::new(MemorySink::new());
    let (entered_tx, entered) = tokio::sync::oneshot::channel();
    let (resume, resume_rx) = tokio::sync::oneshot::channel();
    let paused = Arc::new(Paused {
        inner: source.clone(),
        gate: Mutex::new(Some((entered_tx, resume_rx))),
    });

    let engine_a = SyncEngine::builder(store.clone())
        .lock(lock_a)
        .lock_ttl(Duration::from_millis(300))
        .build();
    let mut events_a = engine_a.subscribe();
    let replica_a = SyncScheduler::new(engine_a);
    // The first tick is now: A's scheduled run takes the job and stalls in the source.
    replica_a
        .add(
            SyncJob::new(key.clone(), paused, sink.clone()).safety_lag(Duration::ZERO),
            Schedule::daily(),
        )
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .expect("A reached the source")
        .unwrap();

    // Meanwhile the provider updates `k`, and B (which waits out A's lock) syncs it.
    source.put(SyncRecord::new("k", fields(json!({"v": 2}))).updated_at(at(10)));
    let engine_b = SyncEngine::builder(store.clone())
        .lock(Arc::new(redis_lock(prefix, Duration::from_secs(5)).await))
        .build();
    let job_b = SyncJob::new(key.clone(), source.clone(), sink.clone()).safety_lag(Duration::ZERO);
    let b = engine_b.run(&job_b, Trigger::Manual).await.unwrap();
    assert_eq!(b.status, RunStatus::Succeeded);
    assert_eq!(b.counts.created, 2);
    let b_cursor = store.cursor(&key).await.unwrap().unwrap();
    assert_eq!(
        b_cursor.source,
        Some(switchboard::sync::Mark::new(at(10), "k"))
    );
    let batches = sink.applied_batches();

    // A wakes with its stale page.
    resume.send(()).unwrap();
    let a = finished(&mut events_a, &key, Trigger::Schedule).await;
    assert_eq!(a.status, RunStatus::Interrupted, "{a:?}");
    let why = a.error.as_deref().unwrap_or_default();
    assert!(why.contains(refused_by), "{why}");
    assert_eq!(
        a.counts.stale, 1,
        "A's copy of k is older than the sink's: {a:?}"
    );
    assert_eq!(store.cursor(&key).await.unwrap().unwrap(), b_cursor);
    assert_eq!(sink.applied_batches(), batches, "A wrote to the sink");
    assert_eq!(
        sink.get("k").unwrap().version,
        Some(Version::from_time(at(10)))
    );
    let logged = store.runs(&key, 10).await.unwrap();
    let statuses: Vec<RunStatus> = logged.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RunStatus::Succeeded, RunStatus::Interrupted]);
    replica_a.shutdown().await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_paused_past_its_redis_lock_cannot_save_its_cursor() {
    let prefix = unique_prefix("sync-fence");
    let lock_a = redis_lock(&prefix, Duration::from_millis(20)).await;
    a_paused_holder_cannot_save_its_cursor(Arc::new(lock_a), &prefix, "lock was lost").await;
}

/// A lock whose holder always believes it still holds it: only the store's fence stands
/// between a paused holder and the cursor.
#[cfg(feature = "redis")]
#[derive(Debug)]
struct Oblivious(Arc<dyn RefreshLock>);

#[cfg(feature = "redis")]
#[derive(Debug)]
struct ObliviousHeld(Option<switchboard::tokens::LockGuard>);

#[cfg(feature = "redis")]
#[async_trait]
impl RefreshLock for Oblivious {
    async fn acquire(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<switchboard::tokens::LockGuard, Error> {
        let guard = self.0.acquire(key, ttl).await?;
        Ok(switchboard::tokens::LockGuard::new(ObliviousHeld(Some(
            guard,
        ))))
    }
}

#[cfg(feature = "redis")]
#[async_trait]
impl switchboard::tokens::HeldLock for ObliviousHeld {
    async fn extend(&mut self, _ttl: Duration) -> Result<(), Error> {
        Ok(())
    }

    async fn release(mut self: Box<Self>) -> Result<(), Error> {
        match self.0.take() {
            Some(g) => g.release().await,
            None => Ok(()),
        }
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_refuses_a_paused_holder_even_when_its_lock_says_it_still_holds() {
    let prefix = unique_prefix("sync-fence-only");
    let lock_a = redis_lock(&prefix, Duration::from_millis(20)).await;
    a_paused_holder_cannot_save_its_cursor(
        Arc::new(Oblivious(Arc::new(lock_a))),
        &prefix,
        "taken over by a newer run",
    )
    .await;
}

/// A source whose first run takes `first` and records when each run started.
struct Timed {
    inner: Arc<MemorySource>,
    origin: Instant,
    first: Duration,
    starts: Mutex<Vec<Duration>>,
}

#[async_trait]
impl SyncSource for Timed {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let first = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(self.origin.elapsed());
            starts.len() == 1
        };
        if first {
            tokio::time::sleep(self.first).await;
        }
        self.inner.changes(request).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_that_overruns_its_interval_absorbs_the_ticks_it_missed() {
    let origin = Instant::now();
    let source = Arc::new(Timed {
        inner: source_of(3),
        origin,
        first: Duration::from_secs(25),
        starts: Mutex::default(),
    });
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let scheduler = SyncScheduler::new(engine);
    let key = JobKey::new("t1", "mls", "listings");
    scheduler
        .add(
            SyncJob::new(key.clone(), source.clone(), Arc::new(MemorySink::new()))
                .safety_lag(Duration::ZERO),
            Schedule::every(Duration::from_secs(10)),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_secs(65)).await;
    scheduler.shutdown().await;
    // The run from 0 s to 25 s absorbed the ticks at 10 s and 20 s: no catch-up burst at 25 s.
    let starts: Vec<u64> = source
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(starts, [0, 30, 40, 50, 60]);
    let runs = scheduler.engine().runs(&key, 100).await.unwrap();
    assert_eq!(runs.len(), 5);
    assert!(runs
        .iter()
        .all(|r| r.status == RunStatus::Succeeded && r.trigger == Trigger::Schedule));
}

#[tokio::test(start_paused = true)]
async fn the_purge_pass_follows_every_nth_successful_run() {
    let source = source_of(20);
    let sink = Arc::new(MemorySink::new());
    let scheduler =
        SyncScheduler::new(SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build());
    let key = JobKey::new("t1", "mls", "listings");
    scheduler
        .add(
            SyncJob::new(key.clone(), source.clone(), sink.clone()).safety_lag(Duration::ZERO),
            Schedule::every(Duration::from_secs(10)).purge_every(2),
        )
        .unwrap();
    // The feed drops a listing without announcing it (an MLS purge).
    tokio::time::sleep(Duration::from_secs(5)).await;
    source.purge("k000");
    assert_eq!(scheduler.engine().runs(&key, 100).await.unwrap().len(), 1);
    assert!(
        sink.get("k000").unwrap().is_live(),
        "purged after the first run"
    );
    // The second run (at 10 s) is followed by the purge pass.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let runs = scheduler.engine().runs(&key, 100).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].counts.deleted, 1, "{:?}", runs[0]);
    assert!(!sink.get("k000").unwrap().is_live());
    // And again after two more, not after each.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(scheduler.engine().runs(&key, 100).await.unwrap().len(), 4);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(scheduler.engine().runs(&key, 100).await.unwrap().len(), 6);
    scheduler.shutdown().await;
}

/// A source that holds every call until released.
struct Held {
    inner: Arc<MemorySource>,
    entered: Notify,
    release: Notify,
    holding: AtomicBool,
}

#[async_trait]
impl SyncSource for Held {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        if self.holding.load(Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.changes(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_trigger_while_the_job_runs_is_a_conflict_here_and_on_other_replicas() {
    let store: Arc<dyn SyncStore> = Arc::new(InMemorySyncStore::new());
    let lock: Arc<dyn RefreshLock> =
        Arc::new(InProcessLock::new().wait_timeout(Duration::from_millis(10)));
    let key = JobKey::new("t1", "crm", "contacts");
    let source = Arc::new(Held {
        inner: source_of(3),
        entered: Notify::new(),
        release: Notify::new(),
        holding: AtomicBool::new(true),
    });
    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(key.clone(), source.clone(), sink.clone()).safety_lag(Duration::ZERO);

    let here = SyncScheduler::new(
        SyncEngine::builder(store.clone())
            .lock(lock.clone())
            .build(),
    );
    let mut events = here.engine().subscribe();
    let there = SyncScheduler::new(SyncEngine::builder(store.clone()).lock(lock).build());
    there.add(job.clone(), on_demand()).unwrap();
    // The first tick is now: a scheduled run holds the job.
    here.add(job, Schedule::hourly()).unwrap();
    source.entered.notified().await;

    let err = here.trigger(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("already running"), "{err}");
    let err = there.trigger(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    // Webhooks asking meanwhile get one run after this one, not one each.
    for _ in 0..3 {
        here.request_run(&key).unwrap();
    }
    source.holding.store(false, Ordering::SeqCst);
    source.release.notify_one();
    let first = finished(&mut events, &key, Trigger::Schedule).await;
    assert_eq!(first.status, RunStatus::Succeeded);
    assert_eq!(first.counts.created, 3);
    let requested = finished(&mut events, &key, Trigger::Webhook).await;
    assert_eq!(requested.status, RunStatus::Succeeded);
    // (The other replica: this one's turn ends only after its run's events went out.)
    let manual = there.trigger(&key).await.unwrap();
    assert_eq!(
        (manual.trigger, manual.status),
        (Trigger::Manual, RunStatus::Succeeded)
    );
    let triggers: Vec<Trigger> = store
        .runs(&key, 10)
        .await
        .unwrap()
        .iter()
        .rev()
        .map(|r| r.trigger)
        .collect();
    assert_eq!(
        triggers,
        [Trigger::Schedule, Trigger::Webhook, Trigger::Manual]
    );

    // Unknown jobs and a shut-down scheduler are told apart.
    let other = JobKey::new("t2", "crm", "contacts");
    assert_eq!(
        here.trigger(&other).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        here.request_run(&other).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    here.shutdown().await;
    there.shutdown().await;
    assert_eq!(
        here.trigger(&key).await.unwrap_err().kind(),
        ErrorKind::State
    );
    assert_eq!(here.request_run(&key).unwrap_err().kind(), ErrorKind::State);
}

#[tokio::test]
async fn a_scheduler_refuses_a_zero_interval_and_a_job_twice() {
    let scheduler =
        SyncScheduler::new(SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build());
    let job = SyncJob::new(
        JobKey::new("t1", "crm", "contacts"),
        source_of(1),
        Arc::new(MemorySink::new()),
    );
    let err = scheduler
        .add(job.clone(), Schedule::every(Duration::ZERO))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    scheduler.add(job.clone(), on_demand()).unwrap();
    let err = scheduler.add(job.clone(), on_demand()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(scheduler.remove(job.key()).await);
    assert!(!scheduler.remove(job.key()).await);
    assert!(scheduler.jobs().is_empty());
}

/// A source that fails while `failing` is set.
struct Flaky {
    inner: Arc<MemorySource>,
    failing: AtomicBool,
}

#[async_trait]
impl SyncSource for Flaky {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Transport, "the provider is down"));
        }
        self.inner.changes(request).await
    }
}

#[tokio::test]
async fn runs_keep_each_tenants_connection_lifecycle_and_only_theirs() {
    let connections = crate::webhook_router::connections();
    let crm = ConnectionId::new("crm");
    let (t1, t2) = (TenantId::new("t1"), TenantId::new("t2"));
    for t in [&t1, &t2] {
        crate::webhook_router::connect(&connections, t.as_str(), "crm", "secret").await;
        connections
            .transition(t, &crm, ConnectionStatus::Active, None)
            .await
            .unwrap();
    }
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new()))
        .connections(connections.clone())
        .failures_before_error(3)
        .build();
    let scheduler = SyncScheduler::new(engine);
    let mut sources = Vec::new();
    for t in ["t1", "t2"] {
        let source = Arc::new(Flaky {
            inner: source_of(2),
            failing: AtomicBool::new(false),
        });
        let job = SyncJob::new(
            JobKey::new(t, "crm", "contacts"),
            source.clone(),
            Arc::new(MemorySink::new()),
        )
        .safety_lag(Duration::ZERO);
        scheduler.add(job, on_demand()).unwrap();
        sources.push(source);
    }
    let (a, b) = (
        JobKey::new("t1", "crm", "contacts"),
        JobKey::new("t2", "crm", "contacts"),
    );
    let status = |t: TenantId| {
        let connections: Connections = connections.clone();
        let crm = crm.clone();
        async move { connections.get(&t, &crm).await.unwrap() }
    };

    // A success sets last_sync on its own connection only.
    scheduler.trigger(&a).await.unwrap();
    assert!(status(t1.clone()).await.last_sync.is_some());
    assert!(status(t2.clone()).await.last_sync.is_none());

    // Tenant 1 fails three times in a row, tenant 2 twice, interleaved.
    sources[0].failing.store(true, Ordering::SeqCst);
    sources[1].failing.store(true, Ordering::SeqCst);
    for round in 0..3 {
        let err = scheduler.trigger(&a).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport);
        if round < 2 {
            assert_eq!(status(t1.clone()).await.status, ConnectionStatus::Active);
            scheduler.trigger(&b).await.unwrap_err();
        }
    }
    let one = status(t1.clone()).await;
    assert_eq!(one.status, ConnectionStatus::Error);
    let message = one.last_error.unwrap();
    assert!(
        message.contains("sync job contacts failed 3 times"),
        "{message}"
    );
    assert!(message.contains("the provider is down"), "{message}");
    let two = status(t2.clone()).await;
    assert_eq!(
        two.status,
        ConnectionStatus::Active,
        "tenant 1's failures reached tenant 2"
    );
    assert_eq!(two.last_error, None);

    // Tenant 2's own third failure is what moves it.
    scheduler.trigger(&b).await.unwrap_err();
    assert_eq!(status(t2).await.status, ConnectionStatus::Error);
    scheduler.shutdown().await;
}

/// A source that knows how many records the run holds.
struct Counted(Arc<MemorySource>);

#[async_trait]
impl SyncSource for Counted {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let mut page = self.0.changes(request).await?;
        page.estimated_total = Some(self.0.len() as u64);
        Ok(page)
    }
}

#[tokio::test]
async fn a_run_reports_progress_for_a_progress_bar() {
    let key = JobKey::new("t1", "mls", "listings");
    let scheduler =
        SyncScheduler::new(SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build());
    let mut events = scheduler.engine().subscribe();
    scheduler
        .add(
            SyncJob::new(
                key.clone(),
                Arc::new(Counted(source_of(35))),
                Arc::new(MemorySink::new()),
            )
            .page_size(10)
            .safety_lag(Duration::ZERO),
            on_demand(),
        )
        .unwrap();
    let log = scheduler.trigger(&key).await.unwrap();
    let mut bar = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let SyncEventKind::Progress {
            run,
            records,
            pages,
            estimated_total,
        } = e.kind
        {
            assert_eq!(run, log.id);
            bar.push((records, pages, estimated_total));
        }
    }
    assert_eq!(
        bar,
        [
            (10, 1, Some(35)),
            (20, 2, Some(35)),
            (30, 3, Some(35)),
            (35, 4, Some(35))
        ]
    );
    scheduler.shutdown().await;
}

#[test]
fn lock_names_are_one_per_job_whatever_the_parts_hold() {
    assert_eq!(
        JobKey::new("t", "c", "job").lock_name(),
        "switchboard:sync:1:t:1:c:3:job:"
    );
    let names = [
        JobKey::new("a:1", "b", "c"),
        JobKey::new("a", "1:b", "c"),
        JobKey::new("a", "b", "1:c"),
        JobKey::new("a", "b:1", "c"),
        JobKey::new("a", "b", "c:1"),
    ]
    .map(|k| k.lock_name());
    for (i, x) in names.iter().enumerate() {
        for y in &names[i + 1..] {
            assert_ne!(x, y);
        }
    }
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_webhooks_apply_records_or_request_runs_for_their_own_tenant_only() {
    use crate::webhook_router::{connect, now_secs, sign, TEMPLATE};
    use switchboard::sync::{SyncWebhookHandler, WebhookSync};
    use switchboard::test_util::LoopbackServer;
    use switchboard::webhook::router::{WebhookEvent, WebhookRoute, WebhookRouter};

    let connections = crate::webhook_router::connections();
    let path1 = connect(&connections, "t1", "crm", "secret-1").await;
    let path2 = connect(&connections, "t2", "crm", "secret-2").await;
    let store: Arc<dyn SyncStore> = Arc::new(InMemorySyncStore::new());
    let scheduler = SyncScheduler::new(SyncEngine::builder(store.clone()).build());
    let mut events = scheduler.engine().subscribe();
    let (a, b) = (
        JobKey::new("t1", "crm", "contacts"),
        JobKey::new("t2", "crm", "contacts"),
    );
    let (source1, sink1, sink2) = (
        source_of(2),
        Arc::new(MemorySink::new()),
        Arc::new(MemorySink::new()),
    );
    scheduler
        .add(
            SyncJob::new(a.clone(), source1, sink1.clone()).safety_lag(Duration::ZERO),
            on_demand(),
        )
        .unwrap();
    scheduler
        .add(
            SyncJob::new(b.clone(), source_of(2), sink2.clone()).safety_lag(Duration::ZERO),
            on_demand(),
        )
        .unwrap();

    // The host's reading of its provider's events: a contact, or "something changed".
    let read = |e: &WebhookEvent| -> Result<WebhookSync, Error> {
        let body: serde_json::Value = serde_json::from_slice(&e.body)
            .map_err(|err| Error::decode("", format!("not JSON: {err}")))?;
        let job = body["job"].as_str().unwrap_or_default().to_string();
        match body.get("contact") {
            None => Ok(WebhookSync::Run { job }),
            Some(c) => Ok(WebhookSync::Apply {
                job,
                record: SyncRecord::new(
                    c["id"].as_str().unwrap_or_default(),
                    fields(c["fields"].clone()),
                )
                .version(Version::new(c["version"].as_u64().unwrap_or_default())),
            }),
        }
    };
    let router = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new(
            TEMPLATE,
            Arc::new(SyncWebhookHandler::new(scheduler.clone(), read)),
        ))
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router)).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr());
    let ts = now_secs();
    let post = |path: &str, secret: &str, id: &str, body: String| {
        client
            .post(format!("{base}{path}"))
            .headers(sign(secret, id, ts, body.as_bytes()))
            .body(body)
            .send()
    };
    let contact = |version: u64, name: &str| {
        json!({"job": "contacts", "contact": {"id": "c1", "version": version, "fields": {"name": name}}})
            .to_string()
    };

    // Tenant 1's record goes to tenant 1's sink.
    let r = post(&path1, "secret-1", "e1", contact(2, "Ada"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sink1.live()["c1"]["name"], "Ada");
    assert!(sink2.live().is_empty());
    // Tenant 1's signature on tenant 2's URL is refused before anything is read.
    let r = post(&path2, "secret-1", "e2", contact(3, "Mallory"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(sink2.live().is_empty());
    // An older version (a webhook racing a poll) does not overwrite the newer one.
    let r = post(&path1, "secret-1", "e3", contact(1, "stale"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sink1.live()["c1"]["name"], "Ada");
    // A job the connection does not have is answered as processed and touches nothing.
    let r = post(&path1, "secret-1", "e4", json!({"job": "nope"}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // "Something changed": a run of tenant 1's job, and of nobody else's.
    let r = post(
        &path1,
        "secret-1",
        "e5",
        json!({"job": "contacts"}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let run = finished(&mut events, &a, Trigger::Webhook).await;
    assert_eq!((run.status, run.counts.created), (RunStatus::Succeeded, 2));
    assert_eq!(sink1.live().len(), 3);
    assert!(store.runs(&b, 10).await.unwrap().is_empty());
    assert!(sink2.live().is_empty());
    // A body the host cannot read fails the delivery, so the sender retries.
    let r = post(&path1, "secret-1", "e6", "{not json".to_string())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    scheduler.shutdown().await;
}
