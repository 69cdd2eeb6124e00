//! [`SyncScheduler`]: runs registered jobs on an interval with jitter, on demand
//! ([`SyncScheduler::trigger`]) and when a webhook asks ([`SyncScheduler::request_run`]), with at
//! most one run of a job at a time across replicas.
//!
//! # One run per job across replicas
//!
//! Every replica registers the same jobs with its own scheduler, over engines that share one
//! [`SyncStore`](super::SyncStore) and one lock. The engine takes the job's lock for each run
//! ([`SyncEngine::run`]); build the engine with a distributed lock that gives up quickly, so a
//! replica whose tick finds the job taken skips that tick (a debug log) rather than queueing
//! behind the holder and running again right after it:
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn demo(store: std::sync::Arc<dyn switchboard::sync::SyncStore>) -> Result<(), switchboard::Error> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use switchboard::sync::{SyncEngine, SyncScheduler};
//! use switchboard::tokens::RedisRefreshLock;
//!
//! let lock = RedisRefreshLock::connect("redis://127.0.0.1:6379/")
//!     .await?
//!     .wait_timeout(Duration::from_millis(100)); // taken: skip, don't wait
//! let engine = SyncEngine::builder(store).lock(Arc::new(lock)).build();
//! let scheduler = SyncScheduler::new(engine);
//! # Ok(()) }
//! ```
//!
//! (`PostgresAdvisoryLock::wait_timeout` likewise; the engine's default in-process lock already
//! gives up after 10 ms, but only keeps runs of one process apart.) A holder paused past its
//! lock's lifetime (a stalled VM, a long GC pause) cannot save its cursor once another replica
//! has begun the job: the store's fence refuses the write and the paused run ends
//! [`Interrupted`](super::RunStatus::Interrupted).
//!
//! # Ticks
//!
//! The ticks of an interval schedule sit on a grid from when the job was added: the `k`-th at
//! `added + k * interval`, each moved later by a random share of the interval of up to the
//! schedule's jitter, so replicas and jobs do not hit a provider in step, and the average
//! period stays the interval. The first tick is at `added` (plus jitter): a job runs when its
//! scheduler starts. A run that overruns its interval absorbs the ticks that passed while it
//! ran: the next run is at the first tick after it ended, never a burst of catch-up runs. A
//! [custom schedule](Schedule::custom) names each next run itself.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::engine::SyncEngine;
use super::job::SyncJob;
use super::record::{Change, SyncRecord};
use super::store::{JobKey, RunLog, Trigger};
use crate::backoff::scale;
use crate::clock::later;
use crate::error::{Error, ErrorKind};

/// When a [custom schedule](Schedule::custom) runs next, given the engine's clock's "now".
type NextRun = Arc<dyn Fn(SystemTime) -> SystemTime + Send + Sync>;

/// The shortest wait a custom schedule gets, so a hook that answers "now" (or the past) cannot
/// make a job run back to back.
const MIN_CUSTOM_GAP: Duration = Duration::from_secs(1);

/// When a job runs: an interval (or a custom next-run hook) with jitter, and how often the
/// purge pass follows.
#[derive(Clone)]
pub struct Schedule {
    when: When,
    jitter: f64,
    purge_every: Option<u32>,
}

#[derive(Clone)]
enum When {
    Every(Duration),
    Custom(NextRun),
}

impl Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Schedule");
        match &self.when {
            When::Every(i) => d.field("every", i),
            When::Custom(_) => d.field("custom", &".."),
        };
        d.field("jitter", &self.jitter)
            .field("purge_every", &self.purge_every)
            .finish()
    }
}

impl Schedule {
    /// Every `interval` (15 minutes for an MLS feed), without jitter until
    /// [`jitter`](Self::jitter) sets some. A zero interval is refused by
    /// [`SyncScheduler::add`].
    pub fn every(interval: Duration) -> Self {
        Schedule {
            when: When::Every(interval),
            jitter: 0.0,
            purge_every: None,
        }
    }

    /// Every hour.
    pub fn hourly() -> Self {
        Self::every(Duration::from_secs(60 * 60))
    }

    /// Every 24 hours.
    pub fn daily() -> Self {
        Self::every(Duration::from_secs(24 * 60 * 60))
    }

    /// At the times `next` gives: called with the engine's clock's "now" when the job is added
    /// and after each run, it returns when the next run is due ("every day at 02:00 UTC"). A
    /// time less than a second ahead counts as a second ahead. Jitter moves each run later by
    /// up to its share of the wait.
    pub fn custom(next: impl Fn(SystemTime) -> SystemTime + Send + Sync + 'static) -> Self {
        Schedule {
            when: When::Custom(Arc::new(next)),
            jitter: 0.0,
            purge_every: None,
        }
    }

    /// Moves each tick later by a random share of the interval, up to `share` (0.0 to 1.0;
    /// clamped), drawn anew for every tick.
    #[must_use]
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Runs the job's purge pass ([`SyncEngine::purge`]) after every `runs`-th successful run
    /// this scheduler makes of it (0: never, the default). Each replica counts its own runs; a
    /// purge that finds the job running elsewhere is tried again after the next success.
    #[must_use]
    pub fn purge_every(mut self, runs: u32) -> Self {
        self.purge_every = (runs > 0).then_some(runs);
        self
    }
}

/// Runs sync jobs on their schedules, on demand and on webhooks. Cheap to clone; clones share
/// the jobs. Dropping the last clone stops the ticking once runs under way end;
/// [`shutdown`](Self::shutdown) also waits for them.
#[derive(Clone)]
pub struct SyncScheduler {
    inner: Arc<Inner>,
}

struct Inner {
    engine: SyncEngine,
    jobs: Mutex<HashMap<JobKey, Arc<Entry>>>,
    closed: AtomicBool,
}

/// One registered job. Its ticking task holds clones of `job`, `busy` and `wake` but not
/// `stop`, so the task ends when the entry is dropped.
struct Entry {
    job: SyncJob,
    schedule: Schedule,
    // Held for the whole of each run this scheduler makes of the job (ticks, requests and
    // manual triggers), so this replica answers "already running" without asking the lock.
    busy: Arc<tokio::sync::Mutex<()>>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Debug for SyncScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jobs = lock(&self.inner.jobs);
        f.debug_struct("SyncScheduler")
            .field("engine", &self.inner.engine)
            .field(
                "jobs",
                &jobs
                    .iter()
                    .map(|(k, e)| (k, &e.schedule))
                    .collect::<Vec<_>>(),
            )
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No critical section awaits or panics between writes, so a poisoned map is whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn already_running(job: &JobKey) -> Error {
    Error::conflict(format!("sync job {job} is already running"))
}

impl SyncScheduler {
    /// A scheduler with no jobs, running them on `engine`.
    pub fn new(engine: SyncEngine) -> Self {
        SyncScheduler {
            inner: Arc::new(Inner {
                engine,
                jobs: Mutex::default(),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The engine (to [`subscribe`](SyncEngine::subscribe) to its events, read run logs and
    /// cursors).
    pub fn engine(&self) -> &SyncEngine {
        &self.inner.engine
    }

    /// The keys of the registered jobs.
    pub fn jobs(&self) -> Vec<JobKey> {
        lock(&self.inner.jobs).keys().cloned().collect()
    }

    /// Registers `job` and starts ticking it on `schedule` (its first tick is now, plus
    /// jitter).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a zero interval, a job key already registered, or no tokio
    /// runtime to tick on; [`ErrorKind::State`] after [`shutdown`](Self::shutdown).
    pub fn add(&self, job: SyncJob, schedule: Schedule) -> Result<(), Error> {
        if matches!(schedule.when, When::Every(i) if i.is_zero()) {
            return Err(Error::config(
                "sync.schedule.interval",
                format!("sync job {} has a zero interval", job.key),
            ));
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Error::config(
                "sync.scheduler",
                "a sync scheduler adds jobs from inside a tokio runtime",
            ));
        };
        let mut jobs = lock(&self.inner.jobs);
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(shut_down());
        }
        if jobs.contains_key(&job.key) {
            return Err(Error::config(
                "sync.scheduler.job",
                format!("sync job {} is already scheduled", job.key),
            ));
        }
        let (stop, stopped) = watch::channel(false);
        let entry = Arc::new(Entry {
            job,
            schedule,
            busy: Arc::default(),
            wake: Arc::default(),
            stop,
            task: Mutex::new(None),
        });
        let ticking = Ticking {
            engine: self.inner.engine.clone(),
            job: entry.job.clone(),
            schedule: entry.schedule.clone(),
            busy: entry.busy.clone(),
            wake: entry.wake.clone(),
            stop: stopped,
        };
        *lock(&entry.task) = Some(runtime.spawn(ticking.run()));
        jobs.insert(entry.job.key.clone(), entry);
        Ok(())
    }

    /// Stops ticking `job` and waits for its run under way, if any. Returns whether it was
    /// registered.
    pub async fn remove(&self, job: &JobKey) -> bool {
        let Some(entry) = lock(&self.inner.jobs).remove(job) else {
            return false;
        };
        stop(&entry).await;
        true
    }

    /// Runs `job` now (a [`Trigger::Manual`] run) and returns its log.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when the job is running here or on another replica;
    /// [`ErrorKind::NotFound`] for a job not registered; [`ErrorKind::State`] after
    /// [`shutdown`](Self::shutdown); otherwise as for [`SyncEngine::run`].
    pub async fn trigger(&self, job: &JobKey) -> Result<RunLog, Error> {
        let entry = self.entry(job)?;
        let Ok(_turn) = entry.busy.clone().try_lock_owned() else {
            return Err(already_running(job));
        };
        self.inner.engine.run(&entry.job, Trigger::Manual).await
    }

    /// Asks for a run of `job` as soon as possible (a [`Trigger::Webhook`] run) and returns at
    /// once. Requests made while the job runs here come together into one run after it; a
    /// request that finds the job running on another replica is dropped like a tick (the
    /// change it announced is read by that run or the next).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a job not registered; [`ErrorKind::State`] after
    /// [`shutdown`](Self::shutdown).
    pub fn request_run(&self, job: &JobKey) -> Result<(), Error> {
        self.entry(job)?.wake.notify_one();
        Ok(())
    }

    /// Hands one record (from a verified webhook) straight to `job`'s sink; see
    /// [`SyncEngine::apply_record`].
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a job not registered; [`ErrorKind::State`] after
    /// [`shutdown`](Self::shutdown); the sink's errors.
    pub async fn apply_record(
        &self,
        job: &JobKey,
        record: SyncRecord,
    ) -> Result<Option<Change>, Error> {
        let entry = self.entry(job)?;
        self.inner.engine.apply_record(&entry.job, record).await
    }

    /// Stops every job's ticking and waits for the runs under way (manual ones included).
    /// Afterwards every call but this one is refused.
    pub async fn shutdown(&self) {
        let entries: Vec<Arc<Entry>> = {
            let mut jobs = lock(&self.inner.jobs);
            self.inner.closed.store(true, Ordering::SeqCst);
            jobs.drain().map(|(_, e)| e).collect()
        };
        for e in &entries {
            e.stop.send_replace(true);
        }
        for e in &entries {
            stop(e).await;
        }
    }

    fn entry(&self, job: &JobKey) -> Result<Arc<Entry>, Error> {
        let jobs = lock(&self.inner.jobs);
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(shut_down());
        }
        jobs.get(job)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no sync job {job} is scheduled")))
    }
}

fn shut_down() -> Error {
    Error::state("the sync scheduler was shut down")
}

/// Stops one entry's ticking and waits for its task and for a manual run under way.
async fn stop(entry: &Entry) {
    entry.stop.send_replace(true);
    let task = lock(&entry.task).take();
    if let Some(task) = task {
        if let Err(e) = task.await {
            tracing::error!(job = %entry.job.key, error = %e, "a sync job's ticking task failed");
        }
    }
    drop(entry.busy.lock().await);
}

/// What one job's ticking task owns.
struct Ticking {
    engine: SyncEngine,
    job: SyncJob,
    schedule: Schedule,
    busy: Arc<tokio::sync::Mutex<()>>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl Ticking {
    async fn run(mut self) {
        let key = self.job.key.clone();
        let mut ticks = Ticks::new(&self.schedule, Instant::now(), self.engine.now());
        let mut successes: u32 = 0;
        loop {
            if *self.stop.borrow_and_update() {
                return;
            }
            let trigger = tokio::select! {
                biased;
                changed = self.stop.changed() => {
                    // The scheduler stopped the job, or was dropped.
                    if changed.is_err() || *self.stop.borrow() {
                        return;
                    }
                    continue;
                }
                () = self.wake.notified() => Trigger::Webhook,
                () = tokio::time::sleep_until(ticks.next) => Trigger::Schedule,
            };
            let turn = match trigger {
                // A manual run holds the job: this tick is absorbed by it.
                Trigger::Schedule => match self.busy.clone().try_lock_owned() {
                    Ok(t) => t,
                    Err(_) => {
                        tracing::debug!(job = %key, "sync tick skipped: a manual run of the job is under way");
                        ticks.passed(Instant::now(), self.engine.now());
                        continue;
                    }
                },
                // A request comes after the run under way, which may have read past its change.
                _ => self.busy.clone().lock_owned().await,
            };
            if self.run_once(trigger, false).await {
                successes = successes.saturating_add(1);
                if self
                    .schedule
                    .purge_every
                    .is_some_and(|every| successes >= every)
                    && self.run_once(Trigger::Schedule, true).await
                {
                    successes = 0;
                }
            }
            drop(turn);
            ticks.passed(Instant::now(), self.engine.now());
        }
    }

    /// One run (or purge pass), in its own task so a panicking side cannot stop the ticking.
    /// Returns whether it ran to the end; a purge that failed otherwise than on a taken lock
    /// counts as run, so it is not retried after every sync.
    async fn run_once(&self, trigger: Trigger, purge: bool) -> bool {
        let (engine, job) = (self.engine.clone(), self.job.clone());
        let handle = tokio::spawn(async move {
            if purge {
                engine.purge(&job, trigger).await
            } else {
                engine.run(&job, trigger).await
            }
        });
        let key = &self.job.key;
        let pass = if purge { "purge" } else { "sync" };
        match handle.await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) if e.kind() == ErrorKind::Conflict => {
                // Another replica holds the job, or took it over from this run.
                tracing::debug!(job = %key, pass, error = %e, "sync run skipped or stopped: the job is another runner's");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(job = %key, pass, error = %e, "scheduled sync run failed");
                purge
            }
            Err(e) => {
                tracing::error!(job = %key, pass, error = %e, "scheduled sync run panicked");
                purge
            }
        }
    }
}

/// When a job's next tick is.
struct Ticks {
    when: When,
    jitter: f64,
    anchor: Instant,
    // The grid index of `next` (interval schedules).
    k: u64,
    next: Instant,
}

impl Ticks {
    fn new(schedule: &Schedule, now: Instant, wall: SystemTime) -> Self {
        let mut ticks = Ticks {
            when: schedule.when.clone(),
            jitter: schedule.jitter,
            anchor: now,
            k: 0,
            next: now,
        };
        ticks.next = match &ticks.when {
            When::Every(interval) => later(now, ticks.late_by(*interval)),
            When::Custom(next) => ticks.custom_after(next.clone(), now, wall),
        };
        ticks
    }

    /// Moves to the first tick after `now` if the next one has passed (it fired, or a run
    /// overran it): missed ticks are absorbed, not caught up.
    fn passed(&mut self, now: Instant, wall: SystemTime) {
        if self.next > now {
            return;
        }
        match &self.when {
            When::Every(interval) => {
                let interval = *interval;
                let since = now.saturating_duration_since(self.anchor).as_nanos();
                let first_after =
                    u64::try_from(since / interval.as_nanos().max(1)).unwrap_or(u64::MAX - 1) + 1;
                self.k = first_after.max(self.k.saturating_add(1));
                self.next = later(grid(self.anchor, interval, self.k), self.late_by(interval));
            }
            When::Custom(next) => self.next = self.custom_after(next.clone(), now, wall),
        }
    }

    fn custom_after(&self, next: NextRun, now: Instant, wall: SystemTime) -> Instant {
        let due = next(wall);
        let gap = due.duration_since(wall).unwrap_or(Duration::ZERO);
        if gap < MIN_CUSTOM_GAP {
            tracing::warn!(
                wait_ms = gap.as_millis() as u64,
                "a custom sync schedule named a time less than a second ahead; waiting a second"
            );
        }
        let gap = gap.max(MIN_CUSTOM_GAP);
        later(now, gap.saturating_add(self.late_by(gap)))
    }

    /// A random delay of up to the jitter's share of `span`.
    fn late_by(&self, span: Duration) -> Duration {
        if self.jitter == 0.0 {
            return Duration::ZERO;
        }
        scale(span, self.jitter * fastrand::f64())
    }
}

/// `anchor + k * interval`, or a time too far ahead to matter when that overflows.
fn grid(anchor: Instant, interval: Duration, k: u64) -> Instant {
    let nanos = interval.as_nanos().saturating_mul(u128::from(k));
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    later(anchor, Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(every: u64, jitter: f64, start: Instant) -> Ticks {
        Ticks::new(
            &Schedule::every(Duration::from_secs(every)).jitter(jitter),
            start,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn a_tick_that_passed_moves_to_the_first_grid_tick_after_now() {
        let start = Instant::now();
        let s = Duration::from_secs;
        let mut t = ticks(10, 0.0, start);
        assert_eq!(t.next, start);
        t.passed(start, SystemTime::UNIX_EPOCH);
        assert_eq!(t.next, start + s(10));
        // Not passed yet: unchanged (a webhook's run between ticks keeps the grid).
        t.passed(start + s(5), SystemTime::UNIX_EPOCH);
        assert_eq!(t.next, start + s(10));
        // A run that ended at 35 s absorbs the ticks at 10, 20 and 30.
        t.passed(start + s(35), SystemTime::UNIX_EPOCH);
        assert_eq!(t.next, start + s(40));
        // Ending exactly on a tick moves to the one after it.
        t.passed(start + s(40), SystemTime::UNIX_EPOCH);
        assert_eq!(t.next, start + s(50));
    }

    #[test]
    fn jitter_only_delays_a_tick_by_up_to_its_share() {
        let start = Instant::now();
        for _ in 0..1000 {
            let mut t = ticks(100, 0.25, start);
            assert!(t.next >= start && t.next <= start + Duration::from_secs(25));
            t.passed(t.next, SystemTime::UNIX_EPOCH);
            assert!(t.next >= start + Duration::from_secs(100));
            assert!(t.next <= start + Duration::from_secs(125));
        }
    }

    #[test]
    fn a_custom_schedule_waits_for_its_time_and_at_least_a_second() {
        let start = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let hourly_on_the_hour = Schedule::custom(|now| {
            let secs = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            SystemTime::UNIX_EPOCH + Duration::from_secs((secs / 3600 + 1) * 3600)
        });
        let t = Ticks::new(&hourly_on_the_hour, start, wall);
        assert_eq!(t.next, start + Duration::from_secs(2_600));
        let t = Ticks::new(&Schedule::custom(|now| now), start, wall);
        assert_eq!(t.next, start + MIN_CUSTOM_GAP);
    }

    #[test]
    fn huge_intervals_are_far_away_not_a_panic() {
        let start = Instant::now();
        assert!(grid(start, Duration::MAX, u64::MAX) > start + Duration::from_secs(1 << 28));
        let mut t = ticks(u64::MAX, 1.0, start);
        t.passed(t.next, SystemTime::UNIX_EPOCH);
        assert!(t.next > start + Duration::from_secs(1 << 28));
        assert_eq!(
            grid(start, Duration::from_secs(3), 4),
            start + Duration::from_secs(12)
        );
    }
}
