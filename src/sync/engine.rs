//! The sync engine: runs jobs one at a time per job (a lock, fenced by the store), reports
//! progress and changes, and keeps the connection's lifecycle in step with its syncs.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use super::events::{SyncEvent, SyncEventKind};
use super::job::SyncJob;
use super::record::{classify, Change, Classified, SyncRecord};
use super::store::{Begun, Conflict, JobKey, RunLog, RunStatus, SyncCursor, SyncStore, Trigger};
use crate::connections::{ConnectionStatus, Connections};
use crate::error::{Error, ErrorKind};
use crate::tokens::{InProcessLock, LockGuard, RefreshLock};

/// The clock a run reads "now" from (the upper bound of what it reads is now minus the job's
/// safety lag).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Runs sync jobs. Cheap to clone; clones share the store, the lock and the subscribers.
#[derive(Clone)]
pub struct SyncEngine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn SyncStore>,
    lock: Arc<dyn RefreshLock>,
    lock_ttl: Duration,
    pub(crate) events: broadcast::Sender<SyncEvent>,
    pub(crate) clock: Clock,
    connections: Option<Connections>,
    failures_before_error: usize,
    // Serialises read-classify-apply per job inside this process, so a webhook's record and a
    // run's page for the same key cannot interleave between `held` and `apply`.
    apply_turns: Mutex<HashMap<JobKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Debug for SyncEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEngine")
            .field("store", &self.inner.store)
            .field("lock", &self.inner.lock)
            .field("lock_ttl", &self.inner.lock_ttl)
            .field("failures_before_error", &self.inner.failures_before_error)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SyncEngine`].
pub struct SyncEngineBuilder {
    store: Arc<dyn SyncStore>,
    lock: Arc<dyn RefreshLock>,
    lock_ttl: Duration,
    clock: Clock,
    connections: Option<Connections>,
    failures_before_error: usize,
    capacity: usize,
}

impl Debug for SyncEngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncEngineBuilder").finish_non_exhaustive()
    }
}

impl SyncEngineBuilder {
    /// The lock that keeps two runs of one job apart: across replicas, a
    /// `RedisRefreshLock` or `PostgresAdvisoryLock` with a short wait timeout (a run that
    /// finds its job taken is skipped, not queued). In-process by default.
    #[must_use]
    pub fn lock(mut self, lock: Arc<dyn RefreshLock>) -> Self {
        self.lock = lock;
        self
    }

    /// How long a run's lock lives without being extended (60 s by default); the run extends
    /// it before every cursor save.
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// The clock runs read "now" from (the system clock by default).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps the connections' lifecycle in step: a successful run sets `last_sync_at`, and
    /// `failures_before_error` failed runs in a row move the connection to `error`.
    #[must_use]
    pub fn connections(mut self, connections: Connections) -> Self {
        self.connections = Some(connections);
        self
    }

    /// How many failed runs in a row move a connection to `error` (3 by default; at least 1).
    #[must_use]
    pub fn failures_before_error(mut self, runs: usize) -> Self {
        self.failures_before_error = runs.max(1);
        self
    }

    /// How many events a slow subscriber may fall behind before it loses the oldest (1,024
    /// by default). The channel allocates every slot up front, so keep it modest.
    #[must_use]
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.capacity = events.max(1);
        self
    }

    /// The engine.
    pub fn build(self) -> SyncEngine {
        let (events, _) = broadcast::channel(self.capacity);
        SyncEngine {
            inner: Arc::new(Inner {
                store: self.store,
                lock: self.lock,
                lock_ttl: self.lock_ttl,
                events,
                clock: self.clock,
                connections: self.connections,
                failures_before_error: self.failures_before_error,
                apply_turns: Mutex::default(),
            }),
        }
    }
}

impl SyncEngine {
    /// An engine over `store`, with an in-process lock.
    pub fn builder(store: Arc<dyn SyncStore>) -> SyncEngineBuilder {
        SyncEngineBuilder {
            store,
            lock: Arc::new(InProcessLock::new().wait_timeout(Duration::from_millis(10))),
            lock_ttl: Duration::from_secs(60),
            clock: Arc::new(SystemTime::now),
            connections: None,
            failures_before_error: 3,
            capacity: 1024,
        }
    }

    /// Events of every job this engine runs.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.inner.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.inner.store
    }

    /// Runs `job` once, in its direction.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when another run of the job holds its lock or took it over
    /// while this one ran; otherwise the error that stopped the run (the run log holds it
    /// too). Whatever the error, the cursor holds exactly what the sink confirmed.
    pub async fn run(&self, job: &SyncJob, trigger: Trigger) -> Result<RunLog, Error> {
        self.run_pass(job, trigger, Pass::Sync).await
    }

    /// Runs the purge pass of `job`: every key the sink holds live that the source no longer
    /// lists is deleted, unless the listing failed part-way (nothing is deleted) or the drop
    /// is larger than the job's [`PurgePolicy`](super::PurgePolicy) allows (held for review).
    ///
    /// # Errors
    /// As for [`run`](Self::run); [`ErrorKind::Config`] when either side cannot list its keys.
    pub async fn purge(&self, job: &SyncJob, trigger: Trigger) -> Result<RunLog, Error> {
        self.run_pass(job, trigger, Pass::Purge).await
    }

    /// Hands one record (from a verified webhook) straight to the sink, classified and
    /// checked against what the sink holds like a polled one: an older version than the
    /// sink's is dropped. The cursor does not move; the next run reads the record again and
    /// finds it held. Returns the change applied, if any.
    ///
    /// # Errors
    /// The sink's errors; [`ErrorKind::Config`] (`sync.direction`) for a job that is not
    /// inbound (its sink keeps versions of its own, and a record must pass the link table:
    /// request a run instead).
    pub async fn apply_record(
        &self,
        job: &SyncJob,
        record: SyncRecord,
    ) -> Result<Option<Change>, Error> {
        if job.direction != super::Direction::Inbound {
            return Err(Error::config(
                "sync.direction",
                "only an inbound job takes a record straight to its sink; request a run of an outbound or bidirectional job instead",
            ));
        }
        let mut counts = super::store::RunCounts::default();
        let mut applied = self.apply_batch(job, vec![record], &mut counts).await?;
        Ok(applied.pop())
    }

    /// Settles the conflict parked for `key`: writes the chosen side's record to the other
    /// side and links them, as one run of the job (it takes the job's lock and is logged).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when no conflict is parked for `key` (no run is logged);
    /// [`ErrorKind::Conflict`] when keeping the source's record and the sink changed the key
    /// since it was parked (the next run parks the newer record); as for [`run`](Self::run)
    /// otherwise. The conflict stays parked unless the chosen record was written.
    pub async fn resolve(
        &self,
        job: &SyncJob,
        key: &str,
        keep: super::Resolution,
    ) -> Result<RunLog, Error> {
        // A key with nothing parked is the caller's mistake, not a failed sync: logging it as
        // a failed run would count towards moving the connection to `error`.
        let parked = self.inner.store.conflicts(&job.key).await?;
        if !parked.iter().any(|c| c.key == key) {
            return Err(super::bidirectional::no_conflict(job, key));
        }
        self.run_pass(job, Trigger::Manual, Pass::Resolve(key, keep))
            .await
    }

    /// The conflicts parked for `job`, oldest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn conflicts(&self, job: &JobKey) -> Result<Vec<Conflict>, Error> {
        self.inner.store.conflicts(job).await
    }

    /// The newest `limit` entries of `job`'s run log.
    ///
    /// # Errors
    /// Store failures.
    pub async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error> {
        self.inner.store.runs(job, limit).await
    }

    /// The cursor `job` saved last.
    ///
    /// # Errors
    /// Store failures.
    pub async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        self.inner.store.cursor(job).await
    }

    pub(crate) fn emit(&self, job: &JobKey, kind: SyncEventKind) {
        // Nobody listening is fine.
        let _ = self.inner.events.send(SyncEvent {
            job: job.clone(),
            kind,
        });
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.inner.clock)()
    }

    /// Reads what the sink holds, classifies, applies and raises the change events of one
    /// batch; returns the changes applied.
    pub(crate) async fn apply_batch(
        &self,
        job: &SyncJob,
        records: Vec<SyncRecord>,
        counts: &mut super::store::RunCounts,
    ) -> Result<Vec<Change>, Error> {
        let records = newest_per_key(records, counts);
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let turn = self.apply_turn(&job.key);
        let _turn = turn.lock().await;
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        let held = job.sink.held(&keys).await?;
        let mut changes = Vec::with_capacity(records.len());
        for r in records {
            let h = held.get(&r.key);
            match classify(r, h, job.watch.as_deref()) {
                Classified::Apply(c) => changes.push(c),
                Classified::Unchanged => counts.unchanged += 1,
                Classified::Stale => counts.stale += 1,
            }
        }
        if changes.is_empty() {
            return Ok(changes);
        }
        job.sink.apply(&changes).await?;
        self.announce(&job.key, &changes, counts);
        Ok(changes)
    }

    /// Counts and raises the events of changes a side confirmed.
    pub(crate) fn announce(
        &self,
        job: &JobKey,
        changes: &[Change],
        counts: &mut super::store::RunCounts,
    ) {
        // With nobody subscribed, building an event per change only to drop it cost 5-9% of
        // an inbound run (benches/sync.rs).
        let listening = self.inner.events.receiver_count() > 0;
        for c in changes {
            match &c.kind {
                super::ChangeKind::Created => counts.created += 1,
                super::ChangeKind::Updated { .. } => counts.updated += 1,
                super::ChangeKind::Deleted => counts.deleted += 1,
                super::ChangeKind::Tombstone => {}
            }
            if c.watched.is_some() {
                counts.watched_changed += 1;
            }
            if listening && c.kind.is_event() {
                self.emit(
                    job,
                    SyncEventKind::Changed {
                        key: c.record.key.clone(),
                        change: c.kind.clone(),
                        watched: c.watched.clone(),
                    },
                );
            }
        }
    }

    fn apply_turn(&self, job: &JobKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .inner
            .apply_turns
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        turns.entry(job.clone()).or_default().clone()
    }

    async fn run_pass(
        &self,
        job: &SyncJob,
        trigger: Trigger,
        pass: Pass<'_>,
    ) -> Result<RunLog, Error> {
        let key = &job.key;
        let guard = self
            .inner
            .lock
            .acquire(&key.lock_name(), self.inner.lock_ttl)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Timeout => Error::conflict(format!("sync job {key} is already running")),
                _ => e,
            })?;
        let mut log = RunLog::start(trigger);
        log.started_at = self.now();
        let Begun { fence, cursor } = self.inner.store.begin(key, &log).await?;
        self.emit(
            key,
            SyncEventKind::Started {
                run: log.id.clone(),
                trigger,
            },
        );
        let mut run = Run {
            engine: self,
            job,
            log,
            fence,
            cursor,
            guard,
            estimated_total: None,
            taken_over: false,
        };
        let result = match pass {
            Pass::Sync => match job.direction {
                super::Direction::Inbound => run.inbound().await,
                super::Direction::Outbound => run.outbound().await,
                super::Direction::Bidirectional => run.bidirectional().await,
            },
            Pass::Purge => run.purge().await,
            Pass::Resolve(key, keep) => run.resolve(key, keep).await,
        };
        let Run {
            mut log,
            guard,
            taken_over,
            ..
        } = run;
        log.finished_at = Some(self.now());
        log.status = match &result {
            Ok(()) => RunStatus::Succeeded,
            // Fenced out or lock lost: another runner owns the job now.
            Err(_) if taken_over => RunStatus::Interrupted,
            Err(_) => RunStatus::Failed,
        };
        log.error = result.as_ref().err().map(ToString::to_string);
        let recorded = self.inner.store.finish(key, &log).await;
        if let Err(e) = guard.release().await {
            tracing::warn!(job = %key, error = %e, "could not release a sync job's lock; it ends with its ttl");
        }
        self.emit(key, SyncEventKind::Finished { run: log.clone() });
        // A host's resolve says nothing about the provider's health.
        if !matches!(pass, Pass::Resolve(..)) {
            self.follow_lifecycle(key, &log).await;
        }
        result?;
        recorded?;
        Ok(log)
    }

    async fn follow_lifecycle(&self, key: &JobKey, log: &RunLog) {
        let Some(connections) = &self.inner.connections else {
            return;
        };
        match log.status {
            RunStatus::Succeeded => {
                match connections.record_sync(&key.tenant, &key.connection).await {
                    // The provider answered a whole run: a connection in error works again,
                    // as after a successful call.
                    Ok(r) if r.status == ConnectionStatus::Error => {
                        if let Err(e) = connections
                            .transition(
                                &key.tenant,
                                &key.connection,
                                ConnectionStatus::Active,
                                None,
                            )
                            .await
                        {
                            tracing::warn!(job = %key, error = %e, "could not move a connection back to active after a sync");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(job = %key, error = %e, "could not record a sync on its connection");
                    }
                }
            }
            RunStatus::Failed => {
                let n = self.inner.failures_before_error;
                let recent = match self.inner.store.runs(key, n).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(job = %key, error = %e, "could not read a sync job's run log");
                        return;
                    }
                };
                let failing =
                    recent.len() == n && recent.iter().all(|r| r.status == RunStatus::Failed);
                // Only an active connection moves: a pending one has not been checked yet, a
                // disconnected one is off, and one in error already says so.
                let active = matches!(
                    connections.get(&key.tenant, &key.connection).await,
                    Ok(r) if r.status == ConnectionStatus::Active
                );
                if failing && active {
                    let message = format!(
                        "sync job {} failed {n} times in a row; last error: {}",
                        key.job,
                        log.error.as_deref().unwrap_or("unknown")
                    );
                    if let Err(e) = connections
                        .transition(
                            &key.tenant,
                            &key.connection,
                            ConnectionStatus::Error,
                            Some(&message),
                        )
                        .await
                    {
                        tracing::warn!(job = %key, error = %e, "could not move a connection to error after failed syncs");
                    }
                }
            }
            RunStatus::Running | RunStatus::Interrupted => {}
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Pass<'a> {
    Sync,
    Purge,
    Resolve(&'a str, super::Resolution),
}

/// One run in progress.
pub(crate) struct Run<'a> {
    pub(crate) engine: &'a SyncEngine,
    pub(crate) job: &'a SyncJob,
    pub(crate) log: RunLog,
    pub(crate) fence: super::store::Fence,
    pub(crate) cursor: SyncCursor,
    pub(crate) guard: LockGuard,
    pub(crate) estimated_total: Option<u64>,
    /// A fenced write or the lock's extension was refused: another runner owns the job, and
    /// this run ends interrupted rather than failed.
    pub(crate) taken_over: bool,
}

impl Run<'_> {
    /// Saves the cursor (and links) after extending the lock, so a runner that lost its lock
    /// stops here rather than writing; the store's fence refuses the write even if the lock's
    /// extension was wrong about it.
    pub(crate) async fn save(
        &mut self,
        links: &[(String, super::store::Link)],
    ) -> Result<(), Error> {
        let extended = self.guard.extend(self.engine.inner.lock_ttl).await;
        self.note_takeover(extended)?;
        let saved = self
            .engine
            .inner
            .store
            .save(&self.job.key, self.fence, &self.cursor, links)
            .await;
        self.note_takeover(saved)
    }

    /// Parks a conflict with this run's fence.
    pub(crate) async fn park(&mut self, conflict: &super::store::Conflict) -> Result<(), Error> {
        let parked = self
            .engine
            .inner
            .store
            .park(&self.job.key, self.fence, conflict)
            .await;
        self.note_takeover(parked)
    }

    /// Remembers that a fenced step was refused (a `Conflict` from the lock or the store).
    fn note_takeover<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Conflict) {
            self.taken_over = true;
        }
        result
    }

    pub(crate) fn progress(&self) {
        self.engine.emit(
            &self.job.key,
            SyncEventKind::Progress {
                run: self.log.id.clone(),
                records: self.log.counts.fetched,
                pages: self.log.counts.pages,
                estimated_total: self.estimated_total,
            },
        );
    }
}

/// Keeps the newest record of each key in a batch (a page may hold two versions of one key):
/// the older is stale before the sink is even asked.
fn newest_per_key(
    mut records: Vec<SyncRecord>,
    counts: &mut super::store::RunCounts,
) -> Vec<SyncRecord> {
    if records.len() < 2 {
        return records;
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut drop = vec![false; records.len()];
    for (i, r) in records.iter().enumerate() {
        // One hash per record (the entry), not two (a get, then an insert).
        match index.entry(r.key.as_str()) {
            Entry::Vacant(v) => {
                v.insert(i);
            }
            Entry::Occupied(mut o) => {
                let j = *o.get();
                // The later of two equal versions wins: it is the side's latest word.
                let older = if records[j].version > r.version { i } else { j };
                drop[older] = true;
                if older == j {
                    o.insert(i);
                }
            }
        }
    }
    let dropped = drop.iter().filter(|d| **d).count();
    if dropped == 0 {
        return records;
    }
    counts.stale += dropped as u64;
    let mut i = 0;
    records.retain(|_| {
        let keep = !drop[i];
        i += 1;
        keep
    });
    records
}
