//! Test doubles for the loss tests: a loopback source paged by keyset or by token, wrappers
//! that fail or hang at a chosen call (a hang is a kill: the test aborts the run's task, so the
//! run's future is dropped where it stood), a sink that counts what it is sent twice, and a
//! store that checks the cursor at every save.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    Begun, Change, ChangePage, ChangeRequest, Conflict, Fence, Fields, Held, InMemorySyncStore,
    JobKey, KeyPage, Link, Mark, NextPage, RunLog, SyncCursor, SyncEngine, SyncEvent,
    SyncEventKind, SyncJob, SyncRecord, SyncSink, SyncSource, SyncStore, Trigger, Version,
};
use switchboard::{Error, ErrorKind};
use tokio::sync::{broadcast, Notify};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn fields(v: Value) -> Fields {
    v.as_object().expect("an object").clone()
}

/// Fields of one number (cheaper to build than `json!` a hundred thousand times over).
pub(crate) fn numbered(n: u64) -> Fields {
    let mut f = Fields::new();
    f.insert("n".into(), n.into());
    f
}

/// How many live records a memory sink holds (without cloning them all).
pub(crate) async fn live_count(sink: &MemorySink) -> usize {
    sink.live_keys(None)
        .await
        .unwrap()
        .map_or(0, |page| page.keys.len())
}

/// A second of the test's calendar.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub(crate) struct TestClock(Arc<AtomicU64>);

impl TestClock {
    pub(crate) fn new(now: SystemTime) -> Self {
        let clock = TestClock(Arc::new(AtomicU64::new(0)));
        clock.set(now);
        clock
    }

    pub(crate) fn set(&self, now: SystemTime) {
        self.0.store(Version::from_time(now).0, Ordering::SeqCst);
    }

    pub(crate) fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.0.load(Ordering::SeqCst))
    }

    pub(crate) fn clock(&self) -> switchboard::sync::Clock {
        let c = self.clone();
        Arc::new(move || c.now())
    }
}

/// An engine over `store` reading the test's clock.
pub(crate) fn engine(store: Arc<dyn SyncStore>, clock: &TestClock) -> SyncEngine {
    engine_with_room(store, clock, 1 << 10)
}

/// An engine whose subscribers may fall `events` behind (the channel allocates them all up
/// front, so only tests that count many events ask for many).
pub(crate) fn engine_with_room(
    store: Arc<dyn SyncStore>,
    clock: &TestClock,
    events: usize,
) -> SyncEngine {
    SyncEngine::builder(store)
        .clock(clock.clock())
        .event_capacity(events)
        .build()
}

/// The change events waiting in `rx` (panics if the channel dropped any: a count would lie).
pub(crate) fn changed(rx: &mut broadcast::Receiver<SyncEvent>) -> Vec<SyncEvent> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(e) if matches!(e.kind, SyncEventKind::Changed { .. }) => out.push(e),
            Ok(_) => {}
            Err(broadcast::error::TryRecvError::Empty) => return out,
            Err(e) => panic!("the event channel lost events: {e}"),
        }
    }
}

/// How a [`LoopSource`] pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    /// `NextPage::AfterLast`: the next request's `after` is the largest mark seen.
    Keyset,
    /// `NextPage::Token` holding the last position, with `after` unchanged.
    Token,
}

#[derive(Default)]
struct LoopState {
    by_mark: BTreeMap<Mark, SyncRecord>,
    // Each key's latest record.
    latest: BTreeMap<String, Mark>,
}

/// A loopback source over an ordered map of `(updated_at, key)`: every record must carry an
/// updated-at. It keeps each key's latest state, or, built [`with_history`], every version.
///
/// [`with_history`]: LoopSource::with_history
pub(crate) struct LoopSource {
    state: Mutex<LoopState>,
    paging: Paging,
    shuffle: Option<Mutex<fastrand::Rng>>,
    honour_until: bool,
    history: bool,
    key_page: usize,
}

impl LoopSource {
    pub(crate) fn new(paging: Paging) -> Self {
        LoopSource {
            state: Mutex::default(),
            paging,
            shuffle: None,
            honour_until: true,
            history: false,
            key_page: usize::MAX,
        }
    }

    /// Shuffles each page's records (a side owes no order within a page).
    pub(crate) fn shuffled(mut self, seed: u64) -> Self {
        self.shuffle = Some(Mutex::new(fastrand::Rng::with_seed(seed)));
        self
    }

    /// Returns records stamped at or after the request's `until` too (an API with no upper
    /// bound filter).
    pub(crate) fn ignoring_until(mut self) -> Self {
        self.honour_until = false;
        self
    }

    /// A source holding every version in `records`, so a read from the start replays the
    /// whole history (built in one go: a hundred thousand inserts are slow in a debug build).
    pub(crate) fn with_history(paging: Paging, records: Vec<SyncRecord>) -> Self {
        let mut source = LoopSource::new(paging);
        source.history = true;
        let mut marked: Vec<(Mark, SyncRecord)> = records
            .into_iter()
            .map(|r| (r.mark().expect("loopback records carry an updated-at"), r))
            .collect();
        marked.sort_by(|a, b| a.0.cmp(&b.0));
        // Each key's largest mark: sorted by key then mark, reversed, the first of each key.
        let mut latest: Vec<(String, Mark)> = marked
            .iter()
            .map(|(m, r)| (r.key.clone(), m.clone()))
            .collect();
        latest.sort();
        latest.reverse();
        latest.dedup_by(|a, b| a.0 == b.0);
        let state = source.state.get_mut().unwrap_or_else(|p| p.into_inner());
        state.latest = latest.into_iter().collect();
        state.by_mark = marked.into_iter().collect();
        source
    }

    /// Lists live keys `n` a page.
    pub(crate) fn key_page(mut self, n: usize) -> Self {
        self.key_page = n.max(1);
        self
    }

    /// Writes a key's new state (keeping the old one too in a history source).
    pub(crate) fn put(&self, record: SyncRecord) {
        let mark = record.mark().expect("loopback records carry an updated-at");
        let mut s = lock(&self.state);
        if let Some(old) = s.latest.insert(record.key.clone(), mark.clone()) {
            if !self.history {
                s.by_mark.remove(&old);
            }
        }
        s.by_mark.insert(mark, record);
    }

    /// Removes a key without a trace (an MLS purge).
    pub(crate) fn purge(&self, key: &str) {
        let mut s = lock(&self.state);
        if let Some(m) = s.latest.remove(key) {
            s.by_mark.remove(&m);
        }
    }

    /// Each key's latest record.
    pub(crate) fn latest(&self) -> Vec<SyncRecord> {
        let s = lock(&self.state);
        s.latest.values().map(|m| s.by_mark[m].clone()).collect()
    }

    /// Each key's latest record if it sorts after `from` and at or before `upto`.
    pub(crate) fn latest_between(&self, from: Option<&Mark>, upto: &Mark) -> Vec<SyncRecord> {
        let s = lock(&self.state);
        let lower = from.map_or(Bound::Unbounded, |m| Bound::Excluded(m.clone()));
        s.by_mark
            .range((lower, Bound::Included(upto.clone())))
            .filter(|(m, r)| s.latest.get(&r.key) == Some(*m))
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// How many versions it holds.
    pub(crate) fn versions(&self) -> usize {
        lock(&self.state).by_mark.len()
    }
}

fn encode(m: &Mark) -> String {
    format!("{}|{}", Version::from_time(m.at).0, m.key)
}

fn decode(t: &str) -> Result<Mark, Error> {
    let bad = || Error::decode("/page", format!("not a loopback token: {t:?}"));
    let (micros, key) = t.split_once('|').ok_or_else(bad)?;
    let micros: u64 = micros.parse().map_err(|_| bad())?;
    Ok(Mark::new(UNIX_EPOCH + Duration::from_micros(micros), key))
}

#[async_trait]
impl SyncSource for LoopSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let from = match (self.paging, &request.page) {
            (Paging::Keyset, Some(_)) => {
                return Err(Error::decode(
                    "/page",
                    "a keyset source hands out no tokens",
                ))
            }
            (Paging::Token, Some(t)) => Some(decode(t)?),
            (_, None) => request.after.clone(),
        };
        let lower = from.map_or(Bound::Unbounded, Bound::Excluded);
        let mut records: Vec<SyncRecord> = {
            let s = lock(&self.state);
            s.by_mark
                .range((lower, Bound::Unbounded))
                .take_while(|(m, _)| !self.honour_until || m.at < request.until)
                .take(request.limit + 1)
                .map(|(_, r)| r.clone())
                .collect()
        };
        let more = records.len() > request.limit;
        records.truncate(request.limit);
        let next = match (more, self.paging) {
            (false, _) => NextPage::Done,
            (true, Paging::Keyset) => NextPage::AfterLast,
            (true, Paging::Token) => NextPage::Token(encode(
                &records
                    .last()
                    .and_then(SyncRecord::mark)
                    .expect("a page with more after it is not empty"),
            )),
        };
        if let Some(rng) = &self.shuffle {
            lock(rng).shuffle(&mut records);
        }
        Ok(ChangePage {
            records,
            next,
            estimated_total: None,
        })
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let s = lock(&self.state);
        let lower = page.map_or(Bound::Unbounded, |k| Bound::Excluded(k.to_string()));
        let mut keys: Vec<String> = s
            .latest
            .range((lower, Bound::Unbounded))
            .filter(|(_, m)| !s.by_mark[*m].deleted)
            .map(|(k, _)| k.clone())
            .take(self.key_page.saturating_add(1))
            .collect();
        let more = keys.len() > self.key_page;
        keys.truncate(self.key_page);
        let next = more.then(|| keys.last().cloned()).flatten();
        Ok(Some(KeyPage { keys, next }))
    }
}

/// What a wrapped call does when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Returns an error.
    Fail,
    /// Never returns: the test kills the run (aborts its task) there.
    Hang,
}

enum Plan {
    None,
    /// The `left`-th matching call faults (`what`: any call when `None`).
    At {
        what: Option<&'static str>,
        left: u64,
        fault: Fault,
    },
    /// Every call fails with probability `p`.
    Random {
        rng: fastrand::Rng,
        p: f64,
    },
}

/// Where the wrapped sides and store fault. One plan at a time; an `at` plan fires once.
pub(crate) struct Faults {
    plan: Mutex<Plan>,
    calls: AtomicU64,
    fired: Mutex<Vec<&'static str>>,
    killed: Notify,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("fired", &self.fired())
            .finish()
    }
}

impl Faults {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Faults {
            plan: Mutex::new(Plan::None),
            calls: AtomicU64::new(0),
            fired: Mutex::default(),
            killed: Notify::new(),
        })
    }

    /// The `n`-th call from now (of any wrapped side or the store) faults.
    pub(crate) fn at(&self, n: u64, fault: Fault) {
        *lock(&self.plan) = Plan::At {
            what: None,
            left: n.max(1),
            fault,
        };
    }

    /// The `n`-th call named `what` from now faults.
    pub(crate) fn at_call(&self, what: &'static str, n: u64, fault: Fault) {
        *lock(&self.plan) = Plan::At {
            what: Some(what),
            left: n.max(1),
            fault,
        };
    }

    /// Every call fails with probability `p`, drawn from a seeded generator.
    pub(crate) fn random(&self, seed: u64, p: f64) {
        *lock(&self.plan) = Plan::Random {
            rng: fastrand::Rng::with_seed(seed),
            p,
        };
    }

    pub(crate) fn clear(&self) {
        *lock(&self.plan) = Plan::None;
    }

    /// Calls counted so far.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The calls that faulted so far, in order.
    pub(crate) fn fired(&self) -> Vec<&'static str> {
        lock(&self.fired).clone()
    }

    /// Counts a call; the fault to inject, if this is its turn.
    fn check(&self, what: &'static str) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut plan = lock(&self.plan);
        let fault = match &mut *plan {
            Plan::None => None,
            Plan::Random { rng, p } => (rng.f64() < *p).then_some(Fault::Fail),
            Plan::At {
                what: w,
                left,
                fault,
            } => {
                if w.is_some_and(|w| w != what) {
                    None
                } else if *left > 1 {
                    *left -= 1;
                    None
                } else {
                    let f = *fault;
                    *plan = Plan::None;
                    Some(f)
                }
            }
        };
        if fault.is_some() {
            lock(&self.fired).push(what);
        }
        fault
    }

    /// Injects `fault` into the call named `what`.
    async fn inject(&self, fault: Fault, what: &'static str) -> Error {
        match fault {
            Fault::Fail => Error::new(ErrorKind::Transport, format!("injected failure in {what}")),
            Fault::Hang => {
                self.killed.notify_one();
                std::future::pending::<Error>().await
            }
        }
    }

    /// Before a call: its fault, if this is its turn.
    async fn gate(&self, what: &'static str) -> Result<(), Error> {
        match self.check(what) {
            None => Ok(()),
            Some(f) => Err(self.inject(f, what).await),
        }
    }
}

/// How a run under [`run_killable`] ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(RunLog),
    Failed(Error),
    /// A wrapped call hung and the run's task was aborted there.
    Killed,
}

/// Runs `job` in a task, aborting it when a wrapped call hangs (the process dying there).
pub(crate) async fn run_killable(engine: &SyncEngine, job: &SyncJob, faults: &Faults) -> Outcome {
    let (e, j) = (engine.clone(), job.clone());
    let mut task = tokio::spawn(async move { e.run(&j, Trigger::Schedule).await });
    tokio::select! {
        r = &mut task => match r {
            Ok(Ok(log)) => Outcome::Done(log),
            Ok(Err(e)) => Outcome::Failed(e),
            Err(j) => std::panic::resume_unwind(j.into_panic()),
        },
        () = faults.killed.notified() => {
            task.abort();
            match task.await {
                Err(j) if j.is_panic() => std::panic::resume_unwind(j.into_panic()),
                _ => Outcome::Killed,
            }
        }
    }
}

/// A source whose calls fault as [`Faults`] says.
pub(crate) struct FlakySource {
    inner: Arc<dyn SyncSource>,
    faults: Arc<Faults>,
}

impl FlakySource {
    pub(crate) fn new(inner: Arc<dyn SyncSource>, faults: Arc<Faults>) -> Self {
        FlakySource { inner, faults }
    }
}

#[async_trait]
impl SyncSource for FlakySource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.faults.gate("source.changes").await?;
        self.inner.changes(request).await
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        self.faults.gate("source.live_keys").await?;
        self.inner.live_keys(page).await
    }
}

/// What a [`WatchedSink`] was sent.
#[derive(Debug, Default, Clone)]
pub(crate) struct SinkStats {
    /// Records handed to `apply`.
    pub(crate) received: u64,
    /// Records handed to `apply` that the sink already held at that version.
    pub(crate) resent: u64,
    /// Times each key was handed to `apply`.
    pub(crate) per_key: HashMap<String, u64>,
    /// The largest mark among records that landed in the sink.
    pub(crate) applied: Option<Mark>,
}

/// A [`MemorySink`] whose calls fault as [`Faults`] says, counting what it is sent. A fault in
/// `apply` lands the first half of the batch (a kill mid-apply), or, every second time, all of
/// it (a kill after the write, before the engine heard), unless the sink is
/// [`atomic`](WatchedSink::atomic) (transactional, and it failed before writing).
pub(crate) struct WatchedSink {
    pub(crate) inner: Arc<MemorySink>,
    faults: Arc<Faults>,
    atomic: bool,
    whole: AtomicBool,
    stats: Mutex<SinkStats>,
}

impl WatchedSink {
    pub(crate) fn new(inner: Arc<MemorySink>, faults: Arc<Faults>) -> Self {
        WatchedSink {
            inner,
            faults,
            atomic: false,
            whole: AtomicBool::new(false),
            stats: Mutex::default(),
        }
    }

    pub(crate) fn atomic(mut self) -> Self {
        self.atomic = true;
        self
    }

    pub(crate) fn stats(&self) -> SinkStats {
        lock(&self.stats).clone()
    }

    /// Counts a batch before it is applied.
    fn count(&self, batch: &[Change]) {
        let mut s = lock(&self.stats);
        for c in batch {
            s.received += 1;
            *s.per_key.entry(c.record.key.clone()).or_default() += 1;
            let already = self
                .inner
                .get(&c.record.key)
                .is_some_and(|h| h.version == c.record.version && h.is_live() != c.record.deleted);
            if already {
                s.resent += 1;
            }
        }
    }
}

impl WatchedSink {
    /// Notes a batch that landed.
    fn landed(&self, batch: &[Change]) {
        let top = batch.iter().filter_map(|c| c.record.mark()).max();
        let mut s = lock(&self.stats);
        if top > s.applied {
            s.applied = top;
        }
    }
}

#[async_trait]
impl SyncSink for WatchedSink {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        self.faults.gate("sink.held").await?;
        self.inner.held(keys).await
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        if let Some(f) = self.faults.check("sink.apply") {
            if !self.atomic {
                let whole = self.whole.fetch_xor(true, Ordering::SeqCst);
                let part = if whole {
                    batch
                } else {
                    &batch[..batch.len() / 2]
                };
                self.count(part);
                self.inner.apply(part).await?;
                self.landed(part);
            }
            return Err(self.faults.inject(f, "sink.apply").await);
        }
        self.count(batch);
        self.inner.apply(batch).await?;
        self.landed(batch);
        Ok(())
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        self.faults.gate("sink.live_keys").await?;
        self.inner.live_keys(page).await
    }
}

/// The gap check a [`CheckedStore`] runs at every save.
struct GapCheck {
    source: Arc<LoopSource>,
    sink: Arc<WatchedSink>,
}

/// An [`InMemorySyncStore`] whose writes fault as [`Faults`] says and which checks, at every
/// save, that the cursor never moves backwards and (given the two sides) never gets ahead of
/// what the sink confirmed. A fault in a write strikes before it (a kill before the write) and
/// after it (a kill mid-write: the write landed, its caller never heard) in turn.
#[derive(Debug)]
pub(crate) struct CheckedStore {
    inner: InMemorySyncStore,
    faults: Arc<Faults>,
    gap: Mutex<Option<GapCheckHandle>>,
    write_first: AtomicBool,
    saves: AtomicU64,
}

struct GapCheckHandle(GapCheck);

impl std::fmt::Debug for GapCheckHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GapCheck")
    }
}

impl CheckedStore {
    pub(crate) fn new(faults: Arc<Faults>) -> Self {
        CheckedStore {
            inner: InMemorySyncStore::new(),
            faults,
            gap: Mutex::new(None),
            write_first: AtomicBool::new(false),
            saves: AtomicU64::new(0),
        }
    }

    /// Checks at every save that each source record at or before the cursor is held by the
    /// sink (at its version or newer) and that a batch reaching the cursor landed there.
    pub(crate) fn checking(self, source: Arc<LoopSource>, sink: Arc<WatchedSink>) -> Self {
        *lock(&self.gap) = Some(GapCheckHandle(GapCheck { source, sink }));
        self
    }

    /// Saves that reached the inner store.
    pub(crate) fn saves(&self) -> u64 {
        self.saves.load(Ordering::SeqCst)
    }

    /// Whether a fault strikes after the write: the first strikes before, the next after,
    /// and so on.
    fn strikes_after(&self) -> bool {
        self.write_first.fetch_xor(true, Ordering::SeqCst)
    }

    fn check_save(&self, job: &JobKey, before: Option<&SyncCursor>, cursor: &SyncCursor) {
        let prev = before.and_then(|c| c.source.clone());
        assert!(
            cursor.source >= prev,
            "{job}: the cursor moved backwards from {prev:?} to {:?}",
            cursor.source
        );
        let gap = lock(&self.gap);
        let (Some(GapCheckHandle(g)), Some(m)) = (&*gap, &cursor.source) else {
            return;
        };
        let applied = g.sink.stats().applied;
        assert!(
            applied.as_ref().is_some_and(|a| a >= m),
            "{job}: cursor {m:?} saved ahead of the largest mark the sink applied, {applied:?}"
        );
        // And nothing the cursor passed is missing from the sink. Records before the previous
        // save were checked then, and a sink never loses what it holds.
        for r in g.source.latest_between(prev.as_ref(), m) {
            let held = g.sink.inner.get(&r.key);
            assert!(
                held.as_ref().is_some_and(|h| h.version >= r.version),
                "{job}: cursor {m:?} saved past {} v{:?}, which the sink holds as {held:?}",
                r.key,
                r.version
            );
        }
    }
}

#[async_trait]
impl SyncStore for CheckedStore {
    async fn begin(&self, job: &JobKey, run: &RunLog) -> Result<Begun, Error> {
        match self.faults.check("store.begin") {
            None => self.inner.begin(job, run).await,
            Some(f) => {
                if self.strikes_after() {
                    self.inner.begin(job, run).await?;
                }
                Err(self.faults.inject(f, "store.begin").await)
            }
        }
    }

    async fn save(
        &self,
        job: &JobKey,
        fence: Fence,
        cursor: &SyncCursor,
        links: &[(String, Link)],
    ) -> Result<(), Error> {
        let before = self.inner.cursor(job).await?;
        self.check_save(job, before.as_ref(), cursor);
        let fault = self.faults.check("store.save");
        let write = match fault {
            None => true,
            Some(_) => self.strikes_after(),
        };
        if write {
            self.inner.save(job, fence, cursor, links).await?;
            self.saves.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            None => Ok(()),
            Some(f) => Err(self.faults.inject(f, "store.save").await),
        }
    }

    async fn finish(&self, job: &JobKey, run: &RunLog) -> Result<(), Error> {
        match self.faults.check("store.finish") {
            None => self.inner.finish(job, run).await,
            Some(f) => {
                if self.strikes_after() {
                    self.inner.finish(job, run).await?;
                }
                Err(self.faults.inject(f, "store.finish").await)
            }
        }
    }

    async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        self.inner.cursor(job).await
    }

    async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error> {
        self.inner.runs(job, limit).await
    }

    async fn links(&self, job: &JobKey, keys: &[String]) -> Result<HashMap<String, Link>, Error> {
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

/// Asserts the sink holds exactly each source key's latest state: its version, its fields or
/// a tombstone, and no other live key.
pub(crate) fn assert_sink_matches(source: &LoopSource, sink: &MemorySink) {
    let latest = source.latest();
    let mut live = 0;
    for r in &latest {
        let held = sink.get(&r.key);
        let want = if r.deleted {
            Held::tombstone(r.version)
        } else {
            live += 1;
            Held::live(r.version, r.fields.clone())
        };
        assert_eq!(held.as_ref(), Some(&want), "key {}", r.key);
    }
    assert_eq!(
        sink.live().len(),
        live,
        "the sink holds live keys the source lacks"
    );
}
