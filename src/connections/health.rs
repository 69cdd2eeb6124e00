//! Health monitoring: a [`HealthMonitor`] test-connects the connections of the tenants it
//! watches on a schedule, retries `error` connections with exponential backoff (capped, with
//! jitter) until a check succeeds (which moves them back to `active`), sends a [`HealthAlert`]
//! once per error episode (after a configurable time in `error`, or at once for critical
//! connections), and gives a [`HealthSummary`] per tenant for a host's status page.
//!
//! The checks are [`Connections::test_connection`], so the monitor moves connections exactly as
//! a host's own "test" button would. `disconnected` connections are never checked.
//!
//! Several replicas may run a monitor over one shared store: each check is taken under a lease
//! from a [`RefreshLock`] (the token refresh lock: in-process, Redis or PostgreSQL), and under
//! the lease the monitor re-reads the record and skips the check when another monitor checked
//! it since this one last looked, so a connection is checked once per interval whatever the
//! number of replicas.
//!
//! The monitor watches the tenants a host names ([`HealthMonitorBuilder::tenant`],
//! [`HealthMonitor::watch`]): the stores list connections per tenant, and a host knows its
//! tenants. Each tick lists every watched tenant's connections (one store `list` per tenant), so
//! a host with very many tenants sets a longer [`HealthMonitorBuilder::tick`]. All waiting is on
//! `tokio::time`, so tests can pause and advance the clock.
//!
//! ```no_run
//! # async fn run(connections: switchboard::connections::Connections) -> Result<(), switchboard::Error> {
//! use std::time::Duration;
//! use switchboard::connections::health::{HealthMonitor, HealthPolicy};
//!
//! let monitor = HealthMonitor::builder(connections)
//!     .template_policy(
//!         "stripe",
//!         HealthPolicy::new(Duration::from_secs(300), Duration::from_secs(10)).critical(true),
//!     )
//!     .backoff(Duration::from_secs(30), Duration::from_secs(30 * 60))
//!     .alert_after(Duration::from_secs(15 * 60))
//!     .tenant("tenant-1".into())
//!     .build();
//! let mut alerts = monitor.subscribe();
//! let _task = monitor.start();
//! while let Ok(alert) = alerts.recv().await {
//!     eprintln!("{} / {} failing: {:?}", alert.tenant, alert.connection, alert.last_error);
//! }
//! let summary = monitor.summary(&"tenant-1".into()).await?;
//! println!("{} of {} connections in error", summary.error, summary.active + summary.error);
//! # Ok(()) }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ConnectionRecord, ConnectionStatus, Connections};
use crate::backoff::{Backoff, Jitter};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};
use crate::tokens::{InProcessLock, RefreshLock};

type Key = (TenantId, ConnectionId);

/// How long a lease outlives the check's timeout, so a slow store write after the check is
/// still covered.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How often and how patiently one connection is checked, and whether its failure is urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthPolicy {
    /// Time between checks of a healthy (`pending` or `active`) connection.
    pub interval: Duration,
    /// How long one check may take before it counts as a failure.
    pub timeout: Duration,
    /// Alert as soon as the connection is in `error`, without waiting for the monitor's
    /// alert delay.
    pub critical: bool,
}

impl Default for HealthPolicy {
    /// Every 5 minutes, 30 s timeout, not critical.
    fn default() -> Self {
        HealthPolicy {
            interval: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            critical: false,
        }
    }
}

impl HealthPolicy {
    /// A policy with this interval and timeout, not critical.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        HealthPolicy {
            interval,
            timeout,
            critical: false,
        }
    }

    /// Marks the policy critical (alert at once on `error`).
    #[must_use]
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }
}

/// Sent once per error episode of a connection: when it has been in `error` for the monitor's
/// alert delay ([`HealthMonitorBuilder::alert_after`]), or as soon as it is seen in `error` when
/// its policy is critical. A success ends the episode.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthAlert {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// Its template.
    pub template: String,
    /// Whether its policy is critical.
    pub critical: bool,
    /// How long this monitor has seen it in `error` (from its first sight of the episode).
    pub in_error_for: Duration,
    /// Failures since its last success, as stored.
    pub consecutive_failures: u32,
    /// The stored (redacted) last error.
    pub last_error: Option<String>,
    /// When the alert was raised.
    pub at: SystemTime,
}

/// The connection of a tenant that has been failing longest.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OldestError {
    /// The connection.
    pub connection: ConnectionId,
    /// Its template.
    pub template: String,
    /// The stored (redacted) last error.
    pub last_error: Option<String>,
    /// Its last success (`None`: never succeeded).
    pub last_success: Option<SystemTime>,
    /// Failures since its last success.
    pub consecutive_failures: u32,
}

/// One tenant's connections at a glance, for a status page.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthSummary {
    /// The tenant.
    pub tenant: TenantId,
    /// Connections `pending`.
    pub pending: usize,
    /// Connections `active`.
    pub active: usize,
    /// Connections in `error`.
    pub error: usize,
    /// Connections `disconnected`.
    pub disconnected: usize,
    /// The `error` connection whose last success is oldest (never succeeded counts as oldest;
    /// ties go to the most consecutive failures).
    pub oldest_error: Option<OldestError>,
    /// The latest `last_sync` among the tenant's connections.
    pub last_sync: Option<SystemTime>,
}

impl HealthSummary {
    /// The summary of `records`, all of `tenant`.
    pub fn of(tenant: TenantId, records: &[ConnectionRecord]) -> Self {
        let mut s = HealthSummary {
            tenant,
            pending: 0,
            active: 0,
            error: 0,
            disconnected: 0,
            oldest_error: None,
            last_sync: None,
        };
        let mut oldest: Option<&ConnectionRecord> = None;
        for r in records.iter().filter(|r| r.tenant == s.tenant) {
            match r.status {
                ConnectionStatus::Pending => s.pending += 1,
                ConnectionStatus::Active => s.active += 1,
                ConnectionStatus::Error => {
                    s.error += 1;
                    // `None` (never succeeded) sorts before any time: the oldest failure.
                    let older = oldest.is_none_or(|o| {
                        (r.last_success, std::cmp::Reverse(r.consecutive_failures))
                            < (o.last_success, std::cmp::Reverse(o.consecutive_failures))
                    });
                    if older {
                        oldest = Some(r);
                    }
                }
                ConnectionStatus::Disconnected => s.disconnected += 1,
            }
            s.last_sync = s.last_sync.max(r.last_sync);
        }
        s.oldest_error = oldest.map(|r| OldestError {
            connection: r.id.clone(),
            template: r.template.clone(),
            last_error: r.last_error.clone(),
            last_success: r.last_success,
            consecutive_failures: r.consecutive_failures,
        });
        s
    }
}

/// Builds a [`HealthMonitor`].
#[derive(Debug)]
pub struct HealthMonitorBuilder {
    connections: Connections,
    lock: Arc<dyn RefreshLock>,
    default_policy: HealthPolicy,
    templates: HashMap<String, HealthPolicy>,
    overrides: HashMap<Key, HealthPolicy>,
    backoff_initial: Duration,
    backoff_max: Duration,
    jitter: f64,
    alert_after: Duration,
    tick: Duration,
    max_concurrent: usize,
    tenants: Vec<TenantId>,
}

impl HealthMonitorBuilder {
    /// The policy of connections with no template or connection policy
    /// ([`HealthPolicy::default`] unless set).
    #[must_use]
    pub fn default_policy(mut self, policy: HealthPolicy) -> Self {
        self.default_policy = policy;
        self
    }

    /// The policy of every connection made from `template`.
    #[must_use]
    pub fn template_policy(mut self, template: impl Into<String>, policy: HealthPolicy) -> Self {
        self.templates.insert(template.into(), policy);
        self
    }

    /// The policy of one connection, over its template's.
    #[must_use]
    pub fn connection_policy(
        mut self,
        tenant: TenantId,
        id: ConnectionId,
        policy: HealthPolicy,
    ) -> Self {
        self.overrides.insert((tenant, id), policy);
        self
    }

    /// The retry delays of an `error` connection: `initial` after the first failure, doubling
    /// with each further failure, never more than `max` (defaults: 30 s and 30 min).
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// The share (0 to 1) by which each backoff delay is shortened at random, so replicas and
    /// connections that failed together do not retry in step (default 0.2; 0 for exact delays).
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// How long a non-critical connection stays in `error` before its alert (default 15 min).
    #[must_use]
    pub fn alert_after(mut self, after: Duration) -> Self {
        self.alert_after = after;
        self
    }

    /// How often the monitor looks for due checks (default 1 s): the precision of the schedule.
    #[must_use]
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick.max(Duration::from_millis(1));
        self
    }

    /// At most this many checks at once (default 16).
    #[must_use]
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// The lease taken around each check, shared by every monitor over the same store (default:
    /// an [`InProcessLock`], enough for one process; use a
    /// [`RedisRefreshLock`](crate::tokens::RedisRefreshLock) or
    /// [`PostgresAdvisoryLock`](crate::tokens::PostgresAdvisoryLock) across replicas).
    #[must_use]
    pub fn lock(mut self, lock: Arc<dyn RefreshLock>) -> Self {
        self.lock = lock;
        self
    }

    /// Watches `tenant`'s connections from the start.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenants.push(tenant);
        self
    }

    /// The monitor. It checks nothing until [`HealthMonitor::start`] or
    /// [`HealthMonitor::run_once`].
    pub fn build(self) -> HealthMonitor {
        let (alerts, _) = broadcast::channel(256);
        HealthMonitor {
            inner: Arc::new(Inner {
                store_of: self.connections,
                lock: self.lock,
                default_policy: self.default_policy,
                templates: self.templates,
                overrides: self.overrides,
                backoff_initial: self.backoff_initial,
                backoff_max: self.backoff_max,
                jitter: self.jitter,
                alert_after: self.alert_after,
                tick: self.tick,
                permits: Arc::new(Semaphore::new(self.max_concurrent)),
                tenants: Mutex::new(self.tenants.into_iter().collect()),
                state: Mutex::new(HashMap::new()),
                alerts,
            }),
        }
    }
}

/// Periodic health checks over a [`Connections`] service. Cheap to clone.
#[derive(Clone)]
pub struct HealthMonitor {
    inner: Arc<Inner>,
}

impl Debug for HealthMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("default_policy", &self.inner.default_policy)
            .field("alert_after", &self.inner.alert_after)
            .field("tick", &self.inner.tick)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store_of: Connections,
    lock: Arc<dyn RefreshLock>,
    default_policy: HealthPolicy,
    templates: HashMap<String, HealthPolicy>,
    overrides: HashMap<Key, HealthPolicy>,
    backoff_initial: Duration,
    backoff_max: Duration,
    jitter: f64,
    alert_after: Duration,
    tick: Duration,
    permits: Arc<Semaphore>,
    tenants: Mutex<BTreeSet<TenantId>>,
    state: Mutex<HashMap<Key, Entry>>,
    alerts: broadcast::Sender<HealthAlert>,
}

/// What this monitor knows of one connection.
#[derive(Debug)]
struct Entry {
    /// The record's `last_check` when this monitor last looked: a different value means a
    /// check happened since (by anyone), which restarts the schedule.
    seen_last_check: Option<SystemTime>,
    next_check: Instant,
    in_flight: bool,
    /// Checks that timed out or failed without recording an outcome since the last recorded
    /// one (they write no failure count, so the backoff counts them here).
    timeouts: u32,
    error_since: Option<Instant>,
    alerted: bool,
}

/// Whether two stored check times differ (stores keep microseconds at best).
fn changed(a: Option<SystemTime>, b: Option<SystemTime>) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
            d > Duration::from_millis(1)
        }
        _ => true,
    }
}

impl HealthMonitor {
    /// A builder over `connections`.
    pub fn builder(connections: Connections) -> HealthMonitorBuilder {
        HealthMonitorBuilder {
            connections,
            lock: Arc::new(InProcessLock::new()),
            default_policy: HealthPolicy::default(),
            templates: HashMap::new(),
            overrides: HashMap::new(),
            backoff_initial: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30 * 60),
            jitter: 0.2,
            alert_after: Duration::from_secs(15 * 60),
            tick: Duration::from_secs(1),
            max_concurrent: 16,
            tenants: Vec::new(),
        }
    }

    /// Starts watching `tenant`'s connections.
    pub fn watch(&self, tenant: TenantId) {
        lock(&self.inner.tenants).insert(tenant);
    }

    /// Stops watching `tenant` (checks under way finish).
    pub fn unwatch(&self, tenant: &TenantId) {
        lock(&self.inner.tenants).remove(tenant);
        lock(&self.inner.state).retain(|(t, _), _| t != tenant);
    }

    /// Every alert from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HealthAlert> {
        self.inner.alerts.subscribe()
    }

    /// The health of `tenant`'s connections, from the store.
    ///
    /// # Errors
    /// Store failures.
    pub async fn summary(&self, tenant: &TenantId) -> Result<HealthSummary, Error> {
        let records = self.inner.store_of.record_store().list(tenant).await?;
        Ok(HealthSummary::of(tenant.clone(), &records))
    }

    /// One pass: looks at every watched tenant's connections, sends due alerts, and runs the
    /// checks that are due, returning once they are done. Returns how many checks it started
    /// (some may have found another monitor had just checked, and skipped).
    pub async fn run_once(&self) -> usize {
        let handles = self.inner.pass().await;
        let n = handles.len();
        for h in handles {
            let _ = h.await;
        }
        n
    }

    /// Runs passes every tick in a background task, without waiting for checks (a slow
    /// connection never holds up the others). The task ends when every clone of the monitor
    /// is dropped, or when the handle is aborted.
    pub fn start(&self) -> JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let tick = self.inner.tick;
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { break };
                // Dropping the handles detaches the checks; they finish on their own.
                drop(inner.pass().await);
                drop(inner);
                tokio::time::sleep(tick).await;
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the maps whole (no await, no panic between writes).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn policy(&self, r: &ConnectionRecord) -> HealthPolicy {
        self.overrides
            .get(&(r.tenant.clone(), r.id.clone()))
            .or_else(|| self.templates.get(&r.template))
            .copied()
            .unwrap_or(self.default_policy)
    }

    /// The wait before the next check of `r`: the interval when healthy, the backoff for its
    /// failure count when in `error`.
    fn delay(&self, r: &ConnectionRecord, policy: HealthPolicy, timeouts: u32) -> Duration {
        if r.status != ConnectionStatus::Error {
            return policy.interval;
        }
        self.backoff(r.consecutive_failures.saturating_add(timeouts))
    }

    /// The backoff after `failures` failures: `initial * 2^(failures - 1)`, capped, shortened by
    /// up to the jitter share.
    fn backoff(&self, failures: u32) -> Duration {
        Backoff::exponential(self.backoff_initial, self.backoff_max)
            .jitter(Jitter::below(self.jitter))
            .delay(failures.max(1))
    }

    /// Starts or ends an error episode from `r`'s status, and sends its alert when due.
    fn observe(&self, e: &mut Entry, r: &ConnectionRecord, policy: HealthPolicy, now: Instant) {
        if r.status != ConnectionStatus::Error {
            e.error_since = None;
            e.alerted = false;
            return;
        }
        let since = *e.error_since.get_or_insert(now);
        let in_error_for = now.saturating_duration_since(since);
        if !e.alerted && (policy.critical || in_error_for >= self.alert_after) {
            e.alerted = true;
            tracing::warn!(
                tenant = %r.tenant,
                connection = %r.id,
                template = %r.template,
                critical = policy.critical,
                in_error_ms = in_error_for.as_millis() as u64,
                "connection health alert"
            );
            let _ = self.alerts.send(HealthAlert {
                tenant: r.tenant.clone(),
                connection: r.id.clone(),
                template: r.template.clone(),
                critical: policy.critical,
                in_error_for,
                consecutive_failures: r.consecutive_failures,
                last_error: r.last_error.clone(),
                at: SystemTime::now(),
            });
        }
    }

    async fn pass(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let tenants: Vec<TenantId> = lock(&self.tenants).iter().cloned().collect();
        let mut handles = Vec::new();
        for tenant in tenants {
            let records = match self.store_of.record_store().list(&tenant).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "health monitor could not list connections");
                    continue;
                }
            };
            let now = Instant::now();
            let mut due = Vec::new();
            {
                let mut state = lock(&self.state);
                let ids: BTreeSet<&ConnectionId> = records.iter().map(|r| &r.id).collect();
                state.retain(|(t, id), _| t != &tenant || ids.contains(id));
                for r in records.iter().filter(|r| r.tenant == tenant) {
                    let policy = self.policy(r);
                    let e = state
                        .entry((r.tenant.clone(), r.id.clone()))
                        .or_insert_with(|| self.first_sight(r, policy, now));
                    self.observe(e, r, policy, now);
                    if r.status == ConnectionStatus::Disconnected || e.in_flight {
                        continue;
                    }
                    if changed(e.seen_last_check, r.last_check) {
                        e.seen_last_check = r.last_check;
                        e.timeouts = 0;
                        e.next_check = crate::clock::later(now, self.delay(r, policy, 0));
                    }
                    if now >= e.next_check {
                        e.in_flight = true;
                        due.push((r.id.clone(), e.seen_last_check, policy));
                    }
                }
            }
            for (id, seen, policy) in due {
                let inner = self.clone();
                let tenant = tenant.clone();
                handles.push(tokio::spawn(async move {
                    inner.check(tenant, id, seen, policy).await;
                }));
            }
        }
        handles
    }

    /// A connection this monitor has not seen: due now if never checked, else when its
    /// interval (or backoff) since that check runs out.
    fn first_sight(&self, r: &ConnectionRecord, policy: HealthPolicy, now: Instant) -> Entry {
        let wait = match r.last_check {
            None => Duration::ZERO,
            Some(at) => {
                let delay = self.delay(r, policy, 0);
                let ago = SystemTime::now().duration_since(at).unwrap_or_default();
                delay.saturating_sub(ago)
            }
        };
        Entry {
            seen_last_check: r.last_check,
            next_check: crate::clock::later(now, wait),
            in_flight: false,
            timeouts: 0,
            error_since: None,
            alerted: false,
        }
    }

    /// Checks one connection under its lease, unless another monitor checked it since `seen`.
    async fn check(
        self: Arc<Self>,
        tenant: TenantId,
        id: ConnectionId,
        seen: Option<SystemTime>,
        policy: HealthPolicy,
    ) {
        let outcome = self.check_leased(&tenant, &id, seen, policy).await;
        let now = Instant::now();
        let mut state = lock(&self.state);
        let Some(e) = state.get_mut(&(tenant.clone(), id.clone())) else {
            return;
        };
        e.in_flight = false;
        match outcome {
            Outcome::Record(r, timed_out) => {
                if timed_out {
                    e.timeouts = e.timeouts.saturating_add(1);
                } else {
                    e.timeouts = 0;
                }
                e.seen_last_check = r.last_check;
                e.next_check = crate::clock::later(now, self.delay(&r, policy, e.timeouts));
                self.observe(e, &r, policy, now);
            }
            Outcome::Gone => {
                state.remove(&(tenant, id));
            }
            // Nothing was recorded (lease, store, or a failure `test_connection` returned, such
            // as a key ring that cannot open the config): back off on this monitor's own count,
            // so a broken replica does not retry every tick.
            Outcome::Failed => {
                e.timeouts = e.timeouts.saturating_add(1);
                e.next_check = crate::clock::later(now, self.backoff(e.timeouts));
            }
        }
    }

    async fn check_leased(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        seen: Option<SystemTime>,
        policy: HealthPolicy,
    ) -> Outcome {
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return Outcome::Failed;
        };
        let lease_key = format!("health-check:{}:{}:{}", tenant.as_str().len(), tenant, id);
        let guard = match self
            .lock
            .acquire(&lease_key, policy.timeout.saturating_add(LEASE_MARGIN))
            .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(tenant = %tenant, connection = %id, error = %e, "health check lease not taken");
                return Outcome::Failed;
            }
        };
        let outcome = self.check_locked(tenant, id, seen, policy).await;
        if let Err(e) = guard.release().await {
            tracing::debug!(tenant = %tenant, connection = %id, error = %e, "health check lease release failed; it ends with its ttl");
        }
        outcome
    }

    async fn check_locked(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        seen: Option<SystemTime>,
        policy: HealthPolicy,
    ) -> Outcome {
        let store = self.store_of.record_store();
        let current = match store.load(tenant, id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Outcome::Gone,
            Err(e) => {
                tracing::warn!(tenant = %tenant, connection = %id, error = %e, "health monitor could not load a connection");
                return Outcome::Failed;
            }
        };
        // Another monitor checked it while this one waited for the lease, or it was turned off.
        if changed(seen, current.last_check) || current.status == ConnectionStatus::Disconnected {
            return Outcome::Record(Box::new(current), false);
        }
        match tokio::time::timeout(policy.timeout, self.store_of.test_connection(tenant, id)).await
        {
            Ok(Ok(r)) => Outcome::Record(Box::new(r), false),
            Ok(Err(e)) => {
                tracing::warn!(tenant = %tenant, connection = %id, error = %e, "health check could not record its outcome");
                Outcome::Failed
            }
            Err(_) => {
                let msg = format!(
                    "health check timed out after {} ms",
                    policy.timeout.as_millis()
                );
                let r = if current.status.can_become(ConnectionStatus::Error) {
                    self.store_of
                        .transition(tenant, id, ConnectionStatus::Error, Some(&msg))
                        .await
                } else {
                    store.load(tenant, id).await.and_then(|r| {
                        r.ok_or_else(|| {
                            Error::new(
                                crate::error::ErrorKind::NotFound,
                                format!("connection `{id}` of tenant `{tenant}` was deleted during its health check"),
                            )
                        })
                    })
                };
                match r {
                    Ok(r) => Outcome::Record(Box::new(r), true),
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, connection = %id, error = %e, "health check timed out and its outcome was not recorded");
                        Outcome::Failed
                    }
                }
            }
        }
    }
}

/// How one leased check ended.
enum Outcome {
    /// The record after the check (or as another monitor left it); whether the check timed out.
    Record(Box<ConnectionRecord>, bool),
    /// The connection was deleted.
    Gone,
    /// Nothing recorded (lease, store or `test_connection` failure): back off and retry.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tenant: &str, id: &str, status: ConnectionStatus) -> ConnectionRecord {
        let mut r = ConnectionRecord::new(tenant.into(), id.into(), "t", "n");
        r.status = status;
        r
    }

    #[test]
    fn summary_counts_by_status_and_finds_the_oldest_error() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut a = rec("t", "a", ConnectionStatus::Error);
        a.last_success = Some(t0);
        let mut b = rec("t", "b", ConnectionStatus::Error);
        b.last_success = Some(t0 + Duration::from_secs(5));
        let mut c = rec("t", "c", ConnectionStatus::Active);
        c.last_sync = Some(t0 + Duration::from_secs(9));
        let d = rec("t", "d", ConnectionStatus::Disconnected);
        let p = rec("t", "p", ConnectionStatus::Pending);
        let other = rec("u", "z", ConnectionStatus::Error);
        let s = HealthSummary::of("t".into(), &[b, a, c, d, p, other]);
        assert_eq!((s.pending, s.active, s.error, s.disconnected), (1, 1, 2, 1));
        assert_eq!(s.oldest_error.unwrap().connection, ConnectionId::new("a"));
        assert_eq!(s.last_sync, Some(t0 + Duration::from_secs(9)));
    }
}
