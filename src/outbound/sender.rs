//! [`WebhookSender`]: enqueue, deliver, retry, disable, dead-letter, redrive.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{broadcast, Notify};
use tokio::task::{JoinHandle, JoinSet};

use super::queue::{AttemptRecord, Completion, LeasedMessage, NewMessage, OutboundQueue};
use super::ssrf::{find_ssrf, SsrfGuard};
use super::{url_without_secrets, DeadLetter, Endpoint, EndpointId, MessageId, MessageState};
use crate::backoff::{parse_retry_after, scale, Backoff, Jitter, Wait};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::webhook::StandardWebhooks;

const HOUR: Duration = Duration::from_secs(3600);

/// The most of a receiver's answer body an attempt reads. The outcome depends only on the
/// status (and `Retry-After`), so the body is read only to let a short answer's connection be
/// reused; a huge or endless answer is cut off here instead of growing memory or holding the
/// attempt until its timeout.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Delivery settings. Build with [`OutboundConfig::default`] and the setters on
/// [`WebhookSenderBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboundConfig {
    /// Delays before each retry; a message gets `schedule.len() + 1` attempts.
    pub schedule: Vec<Duration>,
    /// Multiplies every schedule step (and caps `Retry-After` at the scaled largest step);
    /// `1.0` in production, tiny in tests.
    pub schedule_scale: f64,
    /// Each delay is multiplied by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// The time limit of one attempt (connect, send, and read the answer).
    pub attempt_timeout: Duration,
    /// How long a leased message is reserved for its worker; it must exceed the attempt
    /// timeout, or a slow attempt's message is delivered twice.
    pub lease: Duration,
    /// An endpoint failing without one success for longer than this is disabled.
    pub disable_after: Duration,
    /// Deliveries one worker runs at once.
    pub max_in_flight: usize,
    /// How often an idle worker looks for due messages (a `send` in this process wakes it).
    pub poll_interval: Duration,
    /// Below this success rate over the last hour an endpoint is unhealthy.
    pub healthy_at_least: f64,
    /// How long a delivered message and its attempt log are kept after delivery (30 days by
    /// default); `None` keeps them forever. Dead letters are never purged: they wait for a
    /// person to redrive or inspect them.
    pub retention: Option<Duration>,
    /// How often the purge of delivered messages runs (at most once per interval per
    /// process, from a worker; the first run is when the first worker starts).
    pub retention_interval: Duration,
    /// Messages deleted per purge transaction, so a big backlog never holds the tables'
    /// write lock for long.
    pub retention_batch: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        OutboundConfig {
            schedule: vec![
                Duration::from_secs(5),
                m(5),
                m(30),
                m(120),
                m(300),
                m(600),
                m(600),
            ],
            schedule_scale: 1.0,
            jitter: 0.2,
            attempt_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            max_in_flight: 64,
            poll_interval: Duration::from_millis(500),
            healthy_at_least: 0.9,
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
            retention_interval: HOUR,
            retention_batch: 500,
        }
    }
}

impl OutboundConfig {
    /// The crate's one backoff over the scaled schedule: each step jittered by `1 ± jitter`,
    /// a `Retry-After` lengthening the step up to the largest scaled step (never dropping the
    /// message: the queue comes back anyway).
    fn backoff(&self) -> Backoff {
        let steps = self.schedule.iter();
        Backoff::schedule(steps.map(|d| scale(*d, self.schedule_scale)).collect())
            .jitter(Jitter::around(self.jitter))
    }

    /// The delay after failed attempt `attempt` (from 1), jittered, at least `retry_after`
    /// (capped at the largest step).
    #[cfg(test)]
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        // The attempt limit is the caller's (it dead-letters); here only the delay is asked.
        match self
            .backoff()
            .max_attempts(u32::MAX)
            .next(attempt, retry_after)
        {
            Wait::Retry(d) => d,
            Wait::GiveUp { .. } => Duration::ZERO,
        }
    }
}

/// Something that happened to an endpoint, announced on [`WebhookSender::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundEvent {
    /// The endpoint was disabled (announced once per disabling).
    EndpointDisabled {
        /// Which.
        endpoint: EndpointId,
        /// Why.
        reason: String,
    },
}

/// An endpoint's last hour.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EndpointHealth {
    /// Attempts in the window.
    pub attempts: usize,
    /// Successful attempts in the window.
    pub successes: usize,
    /// `successes / attempts`, `1.0` without attempts.
    pub success_rate: f64,
    /// Median attempt latency.
    pub p50: Option<Duration>,
    /// 95th percentile attempt latency.
    pub p95: Option<Duration>,
    /// False when the success rate is below the configured threshold (90 %).
    pub healthy: bool,
}

/// Builds a [`WebhookSender`].
#[must_use]
pub struct WebhookSenderBuilder {
    queue: Arc<dyn OutboundQueue>,
    config: OutboundConfig,
    guard: SsrfGuard,
}

impl fmt::Debug for WebhookSenderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSenderBuilder")
            .field("queue", &self.queue)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookSenderBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: OutboundConfig) -> Self {
        self.config = config;
        self
    }

    /// The retry delays (a message gets one more attempt than steps).
    pub fn schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.config.schedule = schedule;
        self
    }

    /// Multiplies every schedule step, to compress the schedule in tests.
    pub fn schedule_scale(mut self, scale: f64) -> Self {
        self.config.schedule_scale = scale;
        self
    }

    /// The time limit of one attempt.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.attempt_timeout = timeout;
        self
    }

    /// How long a leased message stays reserved for its worker.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Disables an endpoint failing without a success for longer than this.
    pub fn disable_after(mut self, after: Duration) -> Self {
        self.config.disable_after = after;
        self
    }

    /// Deliveries one worker runs at once.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// How often an idle worker polls the queue.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.config.poll_interval = every;
        self
    }

    /// How long delivered messages and their attempts are kept (`None`: forever; default 30
    /// days). Dead letters are always kept.
    pub fn retention(mut self, keep: Option<Duration>) -> Self {
        self.config.retention = keep;
        self
    }

    /// How often workers purge delivered messages older than the retention (default 1 h).
    pub fn retention_interval(mut self, every: Duration) -> Self {
        self.config.retention_interval = every;
        self
    }

    /// Messages deleted per purge transaction (default 500).
    pub fn retention_batch(mut self, n: usize) -> Self {
        self.config.retention_batch = n;
        self
    }

    /// The SSRF guard (default: refuse every non-public address).
    pub fn ssrf_guard(mut self, guard: SsrfGuard) -> Self {
        self.guard = guard;
        self
    }

    /// Validates the settings and builds the sender.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an invalid setting or when the HTTP client cannot be built.
    pub fn build(self) -> Result<WebhookSender, Error> {
        let c = &self.config;
        if !(c.schedule_scale.is_finite() && c.schedule_scale >= 0.0) {
            return Err(Error::config("schedule_scale", "must be finite and >= 0"));
        }
        if !(0.0..1.0).contains(&c.jitter) {
            return Err(Error::config("jitter", "must be in [0, 1)"));
        }
        if c.attempt_timeout.is_zero() || c.lease <= c.attempt_timeout {
            return Err(Error::config(
                "lease",
                "the attempt timeout must be > 0 and the lease longer than it",
            ));
        }
        if c.max_in_flight == 0 {
            return Err(Error::config("max_in_flight", "must be at least 1"));
        }
        if c.retention_batch == 0 || c.retention_interval.is_zero() {
            return Err(Error::config(
                "retention",
                "the purge batch and interval must be greater than zero",
            ));
        }
        let client = reqwest::Client::builder()
            // Every name is resolved, checked and pinned by the guard; IP literals are checked
            // before the request is built.
            .dns_resolver(Arc::new(self.guard.clone()))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, out of the guard's sight.
            .no_proxy()
            .timeout(c.attempt_timeout)
            .connect_timeout(c.attempt_timeout)
            .pool_max_idle_per_host(c.max_in_flight)
            .user_agent(concat!("switchboard-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Config, "cannot build the HTTP client").with_source(e)
            })?;
        let (events, _) = broadcast::channel(1024);
        Ok(WebhookSender {
            inner: Arc::new(Inner {
                queue: self.queue,
                config: self.config,
                guard: self.guard,
                client,
                events,
                wake: Notify::new(),
                purge: std::sync::Mutex::new(PurgeClock::default()),
            }),
        })
    }
}

/// Sends signed webhooks durably. Cheap to clone: clones share the queue, client and workers'
/// wake-up signal.
///
/// ```no_run
/// # async fn demo(queue: impl switchboard::outbound::OutboundQueue + 'static) -> Result<(), switchboard::Error> {
/// use switchboard::outbound::{Endpoint, EndpointId, WebhookSender};
///
/// let sender = WebhookSender::builder(queue).build()?;
/// sender.add_endpoint(Endpoint::new("ep1", "https://example.com/hooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).await?;
/// let _workers = sender.spawn_workers(2);
/// let id = sender.send(&EndpointId::new("ep1"), "invoice.paid", br#"{"id":1}"#.to_vec().into()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebhookSender {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn OutboundQueue>,
    config: OutboundConfig,
    guard: SsrfGuard,
    client: reqwest::Client,
    events: broadcast::Sender<OutboundEvent>,
    wake: Notify,
    purge: std::sync::Mutex<PurgeClock>,
}

/// When this process last started a purge, and whether one is running; shared by every
/// worker so the purge runs once per interval per process, not once per worker.
#[derive(Default)]
struct PurgeClock {
    last: Option<Instant>,
    running: bool,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("queue", &self.inner.queue)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Workers started by [`WebhookSender::spawn_workers`]; aborted when dropped.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops every worker now. Deliveries in flight are abandoned; their leases expire and
    /// the messages are delivered again.
    pub fn abort(&self) {
        for h in &self.handles {
            h.abort();
        }
    }

    /// Stops every worker, as [`Workers::abort`], and returns once none of them runs any
    /// more. An abort takes effect at a worker's next await, and a worker on another thread
    /// may be in the middle of leasing a message when it is asked; after `stop` none will
    /// lease another.
    pub async fn stop(mut self) {
        self.abort();
        for h in std::mem::take(&mut self.handles) {
            // An aborted task ends with a cancellation error, which is what was asked for.
            let _ = h.await;
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.abort();
    }
}

enum Outcome {
    Delivered(u16),
    Gone,
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    Refused(String),
}

impl WebhookSender {
    /// Starts a sender over `queue`.
    pub fn builder(queue: impl OutboundQueue + 'static) -> WebhookSenderBuilder {
        Self::builder_dyn(Arc::new(queue))
    }

    /// Starts a sender over a shared queue.
    pub fn builder_dyn(queue: Arc<dyn OutboundQueue>) -> WebhookSenderBuilder {
        WebhookSenderBuilder {
            queue,
            config: OutboundConfig::default(),
            guard: SsrfGuard::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &OutboundConfig {
        &self.inner.config
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<dyn OutboundQueue> {
        &self.inner.queue
    }

    /// Events (endpoint disabled) from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OutboundEvent> {
        self.inner.events.subscribe()
    }

    /// Creates or replaces an endpoint.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a URL that is not `http(s)` or a secret that is not
    /// `whsec_<base64>`; [`ErrorKind::Store`] when the queue fails.
    pub async fn add_endpoint(&self, endpoint: Endpoint) -> Result<(), Error> {
        let url = url::Url::parse(&endpoint.url)
            .map_err(|_| ConfigError::new("url", "the endpoint URL does not parse"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::config(
                "url",
                "the endpoint URL must be http(s) with a host",
            ));
        }
        if endpoint.secrets.is_empty() {
            return Err(Error::config(
                "secret",
                "an endpoint needs a signing secret",
            ));
        }
        signer(&endpoint.secrets)?;
        self.inner.queue.put_endpoint(&endpoint).await
    }

    /// An endpoint as stored.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the queue fails.
    pub async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, Error> {
        self.inner.queue.endpoint(id).await
    }

    /// Enqueues `payload` for `endpoint` durably and returns its id (the `webhook-id`).
    ///
    /// # Errors
    /// [`ErrorKind::State`] when the endpoint is unknown or disabled; [`ErrorKind::Store`]
    /// when the queue fails.
    pub async fn send(
        &self,
        endpoint: &EndpointId,
        event_type: &str,
        payload: Bytes,
    ) -> Result<MessageId, Error> {
        match self.inner.queue.endpoint(endpoint).await? {
            None => {
                return Err(Error::state(format!(
                    "unknown webhook endpoint `{endpoint}`"
                )))
            }
            Some(ep) if !ep.enabled => {
                return Err(Error::state(format!(
                    "webhook endpoint `{endpoint}` is disabled"
                )))
            }
            Some(_) => {}
        }
        let id = MessageId::generate();
        self.inner
            .queue
            .enqueue(&NewMessage {
                id: id.clone(),
                endpoint: endpoint.clone(),
                event_type: event_type.to_string(),
                payload,
                created_at: SystemTime::now(),
            })
            .await?;
        self.inner.wake.notify_one();
        Ok(id)
    }

    /// A message's state.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the queue fails.
    pub async fn message(&self, id: &MessageId) -> Result<Option<MessageState>, Error> {
        self.inner.queue.message(id).await
    }

    /// Up to `limit` dead-lettered messages.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the queue fails.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, Error> {
        self.inner.queue.dead_letters(limit).await
    }

    /// Re-enqueues a dead-lettered message with a fresh set of attempts.
    ///
    /// # Errors
    /// [`ErrorKind::State`] when the message is not dead-lettered; [`ErrorKind::Store`] when
    /// the queue fails.
    pub async fn redrive(&self, id: &MessageId) -> Result<(), Error> {
        if !self.inner.queue.redrive(id, SystemTime::now()).await? {
            return Err(Error::state(format!("message `{id}` is not dead-lettered")));
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Success rate and latency of an endpoint's attempts over the last hour.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the queue fails.
    pub async fn endpoint_health(&self, id: &EndpointId) -> Result<EndpointHealth, Error> {
        let since = SystemTime::now().checked_sub(HOUR).unwrap_or(UNIX_EPOCH);
        let attempts = self.inner.queue.attempts_since(id, since).await?;
        let successes = attempts.iter().filter(|a| a.success).count();
        let mut lat: Vec<Duration> = attempts.iter().map(|a| a.latency).collect();
        lat.sort_unstable();
        let pct = |p: f64| {
            (!lat.is_empty()).then(|| {
                let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
                lat[i]
            })
        };
        let success_rate = if attempts.is_empty() {
            1.0
        } else {
            successes as f64 / attempts.len() as f64
        };
        Ok(EndpointHealth {
            attempts: attempts.len(),
            successes,
            success_rate,
            p50: pct(0.5),
            p95: pct(0.95),
            healthy: success_rate >= self.inner.config.healthy_at_least,
        })
    }

    /// Deletes delivered messages (and their attempts) whose delivery was recorded before
    /// `before`, in batches of `retention_batch`, until none is left. Workers call this on
    /// their own every `retention_interval` with `now - retention`; call it to purge at
    /// another time. Pending, in-flight and dead-lettered messages stay.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the queue fails; batches deleted before the failure stay
    /// deleted.
    pub async fn purge_delivered_before(
        &self,
        before: SystemTime,
    ) -> Result<super::PurgeReport, Error> {
        let batch = self.inner.config.retention_batch;
        let mut report = super::PurgeReport::default();
        loop {
            let done = self.inner.queue.purge_delivered(before, batch).await?;
            report.add(done);
            if done.messages < batch as u64 {
                return Ok(report);
            }
            // Let deliveries (and other queue users) in between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Claims this interval's purge for the calling worker: true at most once per
    /// `retention_interval` per process, and never while a purge is running.
    fn claim_purge(&self) -> bool {
        let cfg = &self.inner.config;
        if cfg.retention.is_none() {
            return false;
        }
        let Ok(mut clock) = self.inner.purge.lock() else {
            return false;
        };
        let due = match clock.last {
            None => true,
            Some(t) => t.elapsed() >= cfg.retention_interval,
        };
        if clock.running || !due {
            return false;
        }
        clock.running = true;
        clock.last = Some(Instant::now());
        true
    }

    /// One retention run (claimed with [`Self::claim_purge`]).
    async fn purge_now(self) {
        // Clears `running` however this ends, also when the worker is aborted mid-purge.
        struct Done(Arc<Inner>);
        impl Drop for Done {
            fn drop(&mut self) {
                if let Ok(mut clock) = self.0.purge.lock() {
                    clock.running = false;
                }
            }
        }
        let _done = Done(self.inner.clone());
        if let Some(keep) = self.inner.config.retention {
            let before = SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
            match self.purge_delivered_before(before).await {
                Ok(r) if r.messages > 0 => tracing::debug!(
                    messages = r.messages,
                    attempts = r.attempts,
                    "outbound: purged delivered messages past their retention"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbound: cannot purge delivered messages"),
            }
        }
    }

    /// Starts `n` workers on the current tokio runtime.
    pub fn spawn_workers(&self, n: usize) -> Workers {
        Workers {
            handles: (0..n).map(|_| tokio::spawn(self.clone().run())).collect(),
        }
    }

    /// Runs one worker until the future is dropped or its task aborted: lease due messages,
    /// deliver up to `max_in_flight` at once, record each outcome. Deliveries in flight are
    /// owned by this future and stop with it.
    pub async fn run(self) {
        let owner = format!("w-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let cfg = &self.inner.config;
        let mut set: JoinSet<()> = JoinSet::new();
        loop {
            while set.try_join_next().is_some() {}
            if self.claim_purge() {
                // In the worker's set, so it stops with the worker, and off the leasing path
                // so deliveries go on while a large backlog is purged batch by batch.
                set.spawn(self.clone().purge_now());
            }
            let free = cfg.max_in_flight.saturating_sub(set.len());
            if free == 0 {
                set.join_next().await;
                continue;
            }
            let leased = self
                .inner
                .queue
                .lease(&owner, free, cfg.lease, SystemTime::now())
                .await;
            match leased {
                Ok(batch) if !batch.is_empty() => {
                    let endpoints = self.load_endpoints(&batch).await;
                    for m in batch {
                        let ep = endpoints
                            .get(&m.endpoint)
                            .cloned()
                            .unwrap_or_else(|| Err("endpoint not loaded".to_string()));
                        let this = self.clone();
                        let owner = owner.clone();
                        set.spawn(async move { this.deliver(&owner, m, ep).await });
                    }
                }
                Ok(_) => {
                    tokio::select! {
                        _ = set.join_next(), if !set.is_empty() => {}
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(cfg.poll_interval) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbound: cannot lease messages");
                    tokio::time::sleep(cfg.poll_interval).await;
                }
            }
        }
    }

    async fn load_endpoints(
        &self,
        batch: &[LeasedMessage],
    ) -> HashMap<EndpointId, Result<Option<Endpoint>, String>> {
        let mut map = HashMap::new();
        for m in batch {
            if !map.contains_key(&m.endpoint) {
                // A read error (the store, or secrets that do not open under this key ring)
                // fails this attempt, to be retried: the fix is outside the message.
                let ep = self.inner.queue.endpoint(&m.endpoint).await;
                map.insert(m.endpoint.clone(), ep.map_err(|e| e.to_string()));
            }
        }
        map
    }

    async fn attempt(&self, ep: &Endpoint, m: &LeasedMessage) -> Outcome {
        let url = match url::Url::parse(&ep.url) {
            Ok(u) => u,
            Err(_) => return Outcome::Refused("the endpoint URL does not parse".to_string()),
        };
        if let Err(e) = self.inner.guard.check_literal(&url) {
            return Outcome::Failed {
                status: None,
                error: e.to_string(),
                retry_after: None,
            };
        }
        let signer = match signer(&ep.secrets) {
            Ok(s) => s,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A fresh timestamp and signature per attempt; the id stays the message's.
        let signature = match signer.sign_all(m.id.as_str(), ts, &m.payload) {
            Ok(s) => s,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let Ok(mut sig) = reqwest::header::HeaderValue::from_str(&signature) else {
            return Outcome::Refused("signature is not a valid header value".to_string());
        };
        sig.set_sensitive(true);
        let sent = self
            .inner
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", m.id.as_str())
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(m.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = parse_retry_after(resp.headers(), SystemTime::now());
                drain_bounded(resp, MAX_ANSWER_BYTES).await;
                if (200..300).contains(&status) {
                    Outcome::Delivered(status)
                } else if status == 410 {
                    Outcome::Gone
                } else {
                    Outcome::Failed {
                        status: Some(status),
                        error: format!("endpoint answered {status}"),
                        retry_after,
                    }
                }
            }
            Err(e) => {
                let error = if let Some(s) = find_ssrf(&e) {
                    s.to_string()
                } else if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "cannot connect".to_string()
                } else {
                    "connection failed while in flight".to_string()
                };
                Outcome::Failed {
                    status: None,
                    error,
                    retry_after: None,
                }
            }
        }
    }

    async fn deliver(
        &self,
        owner: &str,
        m: LeasedMessage,
        loaded: Result<Option<Endpoint>, String>,
    ) {
        let cfg = &self.inner.config;
        let at = SystemTime::now();
        let t0 = Instant::now();
        let (ep, load_error) = match loaded {
            Ok(ep) => (ep, None),
            Err(e) => (None, Some(e)),
        };
        let outcome = match (&ep, load_error) {
            (_, Some(error)) => Outcome::Failed {
                status: None,
                error,
                retry_after: None,
            },
            (ep, None) => match ep {
                None => Outcome::Refused(format!("endpoint `{}` not found", m.endpoint)),
                Some(ep) if !ep.enabled => Outcome::Refused(format!(
                    "endpoint disabled: {}",
                    ep.disabled_reason.as_deref().unwrap_or("no reason given")
                )),
                Some(ep) => self.attempt(ep, &m).await,
            },
        };
        let latency = t0.elapsed();
        let (status, success, error, completion) = match outcome {
            Outcome::Delivered(s) => (Some(s), true, None, Completion::Delivered),
            Outcome::Gone => {
                let reason = "endpoint answered 410 Gone".to_string();
                self.disable(&m.endpoint, &reason).await;
                (
                    Some(410),
                    false,
                    Some(reason.clone()),
                    Completion::Dead { reason },
                )
            }
            Outcome::Refused(reason) => (
                None,
                false,
                Some(reason.clone()),
                Completion::Dead { reason },
            ),
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => {
                let completion = match cfg.backoff().next(m.attempt, retry_after) {
                    Wait::Retry(delay) => Completion::Retry {
                        at: crate::clock::later_wall(SystemTime::now(), delay),
                    },
                    Wait::GiveUp { .. } => Completion::Dead {
                        reason: format!("gave up after {} attempts; last: {error}", m.attempt),
                    },
                };
                (status, false, Some(error), completion)
            }
        };
        crate::observe::outbound_attempt(success, latency);
        let record = AttemptRecord {
            message: m.id.clone(),
            endpoint: m.endpoint.clone(),
            attempt: m.attempt,
            at,
            status,
            latency,
            success,
            error,
        };
        let done = match self.inner.queue.finish(owner, &record, &completion).await {
            Ok(done) => done,
            Err(e) => {
                // The lease expires and the message is tried again.
                tracing::warn!(error = %e, message = %m.id, "outbound: cannot record an attempt");
                return;
            }
        };
        if !done.acked {
            tracing::debug!(message = %m.id, "outbound: lease lost before the outcome was recorded");
        }
        if let (Some(since), true) = (done.failing_since, ep.as_ref().is_some_and(|e| e.enabled)) {
            let failing_for = SystemTime::now().duration_since(since).unwrap_or_default();
            if failing_for > cfg.disable_after {
                let reason = format!("failing without a success for {}s", failing_for.as_secs());
                self.disable(&m.endpoint, &reason).await;
            }
        }
        tracing::debug!(
            message = %m.id,
            url = %ep.as_ref().map(|e| url_without_secrets(&e.url)).unwrap_or_default(),
            attempt = m.attempt,
            ?status,
            "outbound: attempt done"
        );
    }

    async fn disable(&self, id: &EndpointId, reason: &str) {
        match self.inner.queue.disable_endpoint(id, reason).await {
            Ok(true) => {
                tracing::warn!(endpoint = %id, reason, "outbound: endpoint disabled");
                let _ = self.inner.events.send(OutboundEvent::EndpointDisabled {
                    endpoint: id.clone(),
                    reason: reason.to_string(),
                });
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, endpoint = %id, "outbound: cannot disable"),
        }
    }
}

/// Reads and drops at most `limit` bytes of an answer's body, then stops. A body that ends
/// within the limit leaves the connection reusable; a longer one is dropped mid-stream, which
/// closes that connection (cheaper than reading megabytes nobody looks at). Read errors are
/// ignored: the status already decided the outcome.
async fn drain_bounded(mut resp: reqwest::Response, limit: usize) {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return;
    }
    let mut read = 0usize;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read = read.saturating_add(chunk.len());
        if read > limit {
            return;
        }
    }
}

/// The Standard Webhooks signer for an endpoint's secrets (all of them sign, for rotation).
fn signer(secrets: &[String]) -> Result<StandardWebhooks, Error> {
    let mut b = StandardWebhooks::builder();
    for s in secrets {
        b = b.secret(s.clone());
    }
    let signer = b.build()?;
    // The builder skips blank secrets (so a blank setting cannot turn verification off);
    // a sender with nothing left to sign with is a configuration error.
    if signer.sign_all("probe", 0, b"").is_err() {
        return Err(Error::config(
            "secret",
            "an endpoint needs a non-empty signing secret",
        ));
    }
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_with_jitter_and_honour_a_clamped_retry_after() {
        let c = OutboundConfig::default();
        // Seven steps: eight attempts, the eighth failure dead-letters.
        assert!(matches!(c.backoff().next(7, None), Wait::Retry(_)));
        assert_eq!(
            c.backoff().next(8, Some(Duration::from_secs(1))),
            Wait::GiveUp { retry_after: None }
        );
        for _ in 0..100 {
            let d = c.delay(1, None);
            assert!(
                d >= Duration::from_secs(4) && d <= Duration::from_secs(6),
                "{d:?}"
            );
            let d = c.delay(7, None);
            assert!(d >= Duration::from_secs(480 * 60) && d <= Duration::from_secs(720 * 60));
        }
        // Retry-After wins when longer than the step...
        assert!(c.delay(1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
        // ...up to the largest step (10 h).
        assert!(c.delay(1, Some(Duration::from_secs(86_400 * 30))) <= Duration::from_secs(36_000));
        let scaled = OutboundConfig {
            schedule_scale: 0.001,
            ..OutboundConfig::default()
        };
        assert!(scaled.delay(1, None) <= Duration::from_millis(6));
        assert!(scaled.delay(1, Some(Duration::from_secs(3600))) <= Duration::from_secs(36));
    }
}
