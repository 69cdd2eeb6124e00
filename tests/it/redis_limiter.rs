//! `RedisRateLimiter` against the real Redis at 127.0.0.1:6379 (started by `scripts/test.sh`):
//! one quota shared by several replicas, no fixed-window edge, and explicit fail modes when
//! Redis goes away. Each test uses its own random key prefix; nothing here stops or flushes
//! the shared Redis, and every key expires on its own.

#![cfg(feature = "redis")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use redis::aio::MultiplexedConnection;
use switchboard::rate_limit::{
    FailMode, InMemoryRateLimiter, RateDecision, RateHint, RateKey, RateLimiter, RateWindow,
    RedisRateLimiter,
};
use switchboard::test_util::{canary, LogCapture, LoopbackServer};
use switchboard::{ConnectionId, ErrorKind, Quota, Switchboard, TenantId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::support::{builder, connect, TestConnector};

const ONE: NonZeroU32 = NonZeroU32::MIN;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// A fresh key prefix, so tests never share (or clean up) each other's keys.
fn prefix() -> String {
    format!("switchboard-test:{:016x}", fastrand::u64(..))
}

fn key(tenant: &str) -> RateKey {
    RateKey::new(
        TenantId::new(tenant),
        ConnectionId::new("c1"),
        "test",
        "default",
    )
}

async fn raw_connection() -> MultiplexedConnection {
    redis::Client::open(crate::support::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)")
}

/// The Redis server's clock (`TIME`), as time since the epoch.
async fn redis_now(conn: &mut MultiplexedConnection) -> Duration {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

// ------------------------------------------------------------------ 1. replicas

/// A provider that allows `limit` requests in any sliding `window` and answers 429 beyond it,
/// recording the server-side arrival instant of every request.
struct SlidingWindowProvider {
    limit: usize,
    window: Duration,
    arrivals: Mutex<Vec<Instant>>,
    rejected: AtomicUsize,
}

impl SlidingWindowProvider {
    fn new(limit: usize, window: Duration) -> Arc<Self> {
        Arc::new(SlidingWindowProvider {
            limit,
            window,
            arrivals: Mutex::new(Vec::new()),
            rejected: AtomicUsize::new(0),
        })
    }

    async fn serve(self: &Arc<Self>) -> LoopbackServer {
        async fn send(State(p): State<Arc<SlidingWindowProvider>>) -> (StatusCode, &'static str) {
            let mut arrivals = p.arrivals.lock().unwrap();
            let now = Instant::now();
            arrivals.push(now);
            let in_window = arrivals
                .iter()
                .rev()
                .take_while(|a| now.duration_since(**a) < p.window)
                .count();
            if in_window > p.limit {
                p.rejected.fetch_add(1, Ordering::SeqCst);
                (StatusCode::TOO_MANY_REQUESTS, "{}")
            } else {
                (StatusCode::OK, "{}")
            }
        }
        LoopbackServer::start(
            Router::new()
                .route("/send", get(send))
                .with_state(self.clone()),
        )
        .await
    }

    /// The most arrivals seen in any window of `self.window` (recomputed after the run).
    fn max_in_any_window(&self) -> usize {
        let arrivals = self.arrivals.lock().unwrap();
        let mut max = 0;
        let mut start = 0;
        for (end, a) in arrivals.iter().enumerate() {
            while a.duration_since(arrivals[start]) >= self.window {
                start += 1;
            }
            max = max.max(end + 1 - start);
        }
        max
    }

    fn arrivals(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }
}

/// What [`drive`] saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Calls the limiter let through and the provider answered.
    granted: usize,
    /// Calls refused by the local rate limiter (nothing sent).
    limited: usize,
    /// Anything else (a provider 429 after retries, an open breaker), as text.
    other: Vec<String>,
}

/// Sends `calls` GETs through `replicas` (round robin), at most `per_replica` in flight on each,
/// with `rate_limit_max_wait(0)` so a refused acquire fails at once. Call `i` of a worker is not
/// started before `start + i * pace`.
async fn drive(
    replicas: &[Switchboard],
    base_url: &str,
    calls: usize,
    per_replica: usize,
    pace: Duration,
) -> Outcome {
    let workers = replicas.len() * per_replica;
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..workers {
        let conn = connect(
            &replicas[w % replicas.len()],
            TestConnector::default(),
            base_url,
        );
        let mine = calls / workers + usize::from(w < calls % workers);
        tasks.spawn(async move {
            let mut out = Outcome::default();
            for i in 0..mine {
                tokio::time::sleep_until(start + pace * i as u32).await;
                match conn.get("/send").send().await {
                    Ok(_) => out.granted += 1,
                    Err(e) if e.is_rate_limited() && e.status().is_none() => out.limited += 1,
                    Err(e) => out.other.push(e.to_string()),
                }
            }
            out
        });
    }
    let mut total = Outcome::default();
    while let Some(out) = tasks.join_next().await {
        let out = out.unwrap();
        total.granted += out.granted;
        total.limited += out.limited;
        total.other.extend(out.other);
    }
    total
}

fn replicas(limiters: Vec<Arc<dyn RateLimiter>>) -> Vec<Switchboard> {
    limiters
        .into_iter()
        .map(|l| {
            builder()
                .rate_limiter(l)
                .rate_limit_max_wait(Duration::ZERO)
                .build()
                .unwrap()
        })
        .collect()
}

// Why these numbers. The provider allows 100 requests in any sliding 1 s window. GCRA with
// `max` per `period` and `burst` grants `burst` at once and then one per `period / max`, so
// any window of length W sees at most `burst + floor(W / interval)` grants: `Quota::new(100,
// 10 s)` with its default burst of 100 would admit up to 199 in a sliding 10 s window (the
// full burst, then the refill), exactly like the in-memory limiter. Against a sliding-window
// provider the quota must satisfy `burst + max <= limit`. We use 40 per second with a burst of
// 40 (at most 80 in any second, 25 ms interval) and keep 20 requests of margin for the jitter
// between a grant in Redis and the request's arrival at the provider (500 ms worth at this
// rate).
//
// A 1 s window lets the run cover three windows in about 3 s, where a 10 s window would need
// more than 10 s. The control run (three per-process limiters with the same quota) makes the
// provider answer 429, which shows that its check is not vacuous and that per-process limits
// multiply with replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_quota_and_never_trip_a_sliding_window_provider() {
    const WINDOW: Duration = Duration::from_secs(1);
    const PROVIDER_LIMIT: usize = 100;
    let quota = Quota::new(nz(40), WINDOW).unwrap().allow_burst(nz(40));
    let interval = quota.interval();

    // Control: three replicas, each with its own in-process limiter.
    let control = SlidingWindowProvider::new(PROVIDER_LIMIT, WINDOW);
    let control_server = control.serve().await;
    let per_process = replicas(
        (0..3)
            .map(|_| {
                Arc::new(InMemoryRateLimiter::new().with_quota("test", "default", quota))
                    as Arc<dyn RateLimiter>
            })
            .collect(),
    );
    let out = drive(
        &per_process,
        &control_server.base_url(),
        600,
        16,
        Duration::ZERO,
    )
    .await;
    assert!(
        out.granted + out.other.len() >= 120,
        "3 x burst 40 granted locally: {out:?}"
    );
    assert!(
        control.rejected.load(Ordering::SeqCst) > 0,
        "the provider must refuse 3 x 40 in one second (max seen {})",
        control.max_in_any_window()
    );

    // Three limiters, three connections, one prefix: one quota.
    let prefix = prefix();
    let mut limiters: Vec<Arc<dyn RateLimiter>> = Vec::new();
    for _ in 0..3 {
        let l = RedisRateLimiter::connect(&crate::support::redis_url(), &prefix)
            .await
            .unwrap()
            .with_quota("test", "default", quota);
        limiters.push(Arc::new(l));
    }
    let shared = replicas(limiters);
    let provider = SlidingWindowProvider::new(PROVIDER_LIMIT, WINDOW);
    let server = provider.serve().await;
    let mut clock = raw_connection().await;

    // Phase A: a burst of 3,000 calls at once, 32 in flight per replica.
    let t0 = redis_now(&mut clock).await;
    let burst = drive(&shared, &server.base_url(), 3_000, 32, Duration::ZERO).await;
    assert!(burst.other.is_empty(), "{:?}", burst.other);
    let burst_granted = burst.granted;
    let t1 = redis_now(&mut clock).await;
    let ceiling = |elapsed: Duration| 40 + (elapsed.as_micros() / interval.as_micros()) as usize;
    assert!(
        (40..=ceiling(t1 - t0)).contains(&burst_granted),
        "burst: granted {burst_granted} in {:?}; GCRA grants the whole burst of 40 at once and \
         at most one more per {interval:?}",
        t1 - t0
    );

    // Phase B: 7,000 more, paced over about 2.5 s (10 workers per replica, one call each
    // 2.5 s / 233), so the limiter is under pressure for two more windows.
    let paced = drive(
        &shared,
        &server.base_url(),
        7_000,
        10,
        Duration::from_micros(2_500_000 / 233),
    )
    .await;
    assert!(paced.other.is_empty(), "{:?}", paced.other);
    assert_eq!(
        burst.granted + burst.limited + paced.granted + paced.limited,
        10_000
    );
    let granted = paced.granted;
    let t2 = redis_now(&mut clock).await;
    let total = burst_granted + granted;
    let elapsed = t2 - t0;
    let rejected = provider.rejected.load(Ordering::SeqCst);
    let max_seen = provider.max_in_any_window();
    eprintln!(
        "redis limiter, 3 replicas: {total} of 10000 granted in {elapsed:?} (burst phase \
         {burst_granted} in {:?}); provider saw at most {max_seen} in any {WINDOW:?}, \
         answered 429 {rejected} times",
        t1 - t0
    );
    assert_eq!(
        rejected, 0,
        "the provider answered 429 (max {max_seen} in a window)"
    );
    assert_eq!(provider.arrivals(), total, "one arrival per granted call");
    // Safety: never more than GCRA's envelope, across all three replicas.
    assert!(
        total <= ceiling(elapsed),
        "{total} granted in {elapsed:?}, more than 40 + elapsed / {interval:?}"
    );
    // Liveness: under constant pressure the shared quota is used, not starved (90% of the
    // envelope, for the gaps when no call was waiting).
    assert!(
        total * 10 >= ceiling(elapsed) * 9,
        "{total} granted in {elapsed:?}, far below the quota"
    );
    assert!(max_seen <= PROVIDER_LIMIT);
}

// ------------------------------------------------------------------ 2. window edge

/// The seed's design, as a baseline: a fixed window per wall-clock second, counted with
/// `MULTI; INCR key; EXPIRE key window; EXEC` (one round trip).
struct FixedWindow {
    conn: MultiplexedConnection,
    prefix: String,
    max: u64,
}

impl FixedWindow {
    async fn acquire(&mut self, tenant: &str) -> bool {
        let window = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let key = format!("{}:fw:{tenant}:{window}", self.prefix);
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, 1)
            .ignore()
            .query_async(&mut self.conn)
            .await
            .unwrap();
        count <= self.max
    }
}

/// Quota 10 per second. Fifteen calls 100 ms before a second boundary and fifteen 40 ms after:
/// the fixed window admits 10 + 10 within about 150 ms; GCRA admits the burst of 10 plus one
/// per 100 ms elapsed. Time is the real clock: we wait for the Redis server's `TIME` to reach
/// the edge.
#[tokio::test]
async fn fixed_window_admits_twice_the_quota_across_an_edge_and_gcra_does_not() {
    const TRIES: usize = 15;
    let prefix = prefix();
    let quota = Quota::per_second(nz(10));
    let interval = quota.interval();
    let gcra = RedisRateLimiter::connect(&crate::support::redis_url(), &prefix)
        .await
        .unwrap()
        .with_quota("test", "default", quota);
    let mut clock = raw_connection().await;
    let mut fixed = FixedWindow {
        conn: raw_connection().await,
        prefix: prefix.clone(),
        max: 10,
    };

    // The baseline windows on this process's clock and we align on the server's: on one host
    // they are the same clock.
    let local = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let skew = redis_now(&mut clock).await.abs_diff(local);
    assert!(
        skew < Duration::from_millis(25),
        "this test needs Redis on this host (clock skew {skew:?})"
    );

    for attempt in 0..3 {
        let tenant = format!("edge-{attempt}");
        // Sleep to 100 ms before the next second boundary of the server's clock.
        let now = redis_now(&mut clock).await;
        let to_edge = Duration::from_secs(1) - Duration::from_nanos(now.subsec_nanos().into());
        let lead = Duration::from_millis(100);
        let wait = if to_edge > lead + Duration::from_millis(20) {
            to_edge - lead
        } else {
            to_edge + Duration::from_secs(1) - lead
        };
        tokio::time::sleep(wait).await;

        let start = redis_now(&mut clock).await;
        let (mut fw, mut ours) = (0, 0);
        for _ in 0..TRIES {
            fw += usize::from(fixed.acquire(&tenant).await);
            ours += usize::from(
                gcra.acquire(&key(&tenant), ONE).await.unwrap() == RateDecision::Granted,
            );
        }
        let before_edge = redis_now(&mut clock).await;
        if before_edge.as_secs() != start.as_secs() {
            continue; // The machine was too slow to finish before the edge; try the next one.
        }
        let to_edge =
            Duration::from_secs(1) - Duration::from_nanos(before_edge.subsec_nanos().into());
        tokio::time::sleep(to_edge + Duration::from_millis(40)).await;
        for _ in 0..TRIES {
            fw += usize::from(fixed.acquire(&tenant).await);
            ours += usize::from(
                gcra.acquire(&key(&tenant), ONE).await.unwrap() == RateDecision::Granted,
            );
        }
        let end = redis_now(&mut clock).await;
        let elapsed = end - start;
        let envelope = 10 + (elapsed.as_micros() / interval.as_micros()) as usize;
        eprintln!(
            "window edge, quota 10/s: fixed window granted {fw}, GCRA {ours} (envelope \
             {envelope}) within {elapsed:?}"
        );
        assert_eq!(fw, 20, "the fixed window admits 2 x 10 across the edge");
        assert!(
            (10..=envelope).contains(&ours),
            "GCRA granted {ours} within {elapsed:?}; at most 10 + elapsed / {interval:?}"
        );
        assert!(ours < 15, "GCRA stays near the quota across the edge");
        return;
    }
    panic!("could not place 15 calls inside 100 ms before a second boundary in 3 tries");
}

// ------------------------------------------------------------------ 3. Redis goes away

/// A TCP proxy to Redis that the test can cut (stops listening and closes every connection),
/// and that counts the bytes sent to Redis: a count that does not move proves that no command
/// was sent, without `MONITOR` or the shared server's global statistics.
struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<JoinSet<()>>>,
    sent: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let upstream: std::sync::Arc<str> = upstream.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let sent = Arc::new(AtomicUsize::new(0));
        let (tracked, counter) = (conns.clone(), sent.clone());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (upstream, counter) = (upstream.clone(), counter.clone());
                tracked.lock().unwrap().spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&*upstream).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_redis, mut to_redis) = outbound.into_split();
                    let up = async {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = from_client.read(&mut buf).await?;
                            if n == 0 {
                                return to_redis.shutdown().await;
                            }
                            counter.fetch_add(n, Ordering::SeqCst);
                            to_redis.write_all(&buf[..n]).await?;
                        }
                    };
                    let down = tokio::io::copy(&mut from_redis, &mut to_client);
                    let _: (std::io::Result<()>, std::io::Result<u64>) = tokio::join!(up, down);
                });
            }
        });
        Proxy {
            addr,
            accept,
            conns,
            sent,
        }
    }

    /// Bytes sent to Redis through this proxy so far.
    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops accepting (the port then refuses) and closes every proxied connection.
    async fn cut(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let mut conns = std::mem::take(&mut *self.conns.lock().unwrap());
        conns.shutdown().await;
    }
}

fn counters(snapshot: metrics_util::debugging::Snapshot) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (key, _, _, value) in snapshot.into_vec() {
        let (kind, key) = key.into_parts();
        if let (MetricKind::Counter, DebugValue::Counter(v)) = (kind, value) {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            out.insert(format!("{}{{{}}}", key.name(), labels.join(",")), v);
        }
    }
    out
}

#[test]
fn unreachable_redis_fails_open_or_closed_within_the_timeout_and_says_so() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (logs, _guard) = LogCapture::start();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let proxy = Proxy::start(crate::support::redis_addr()).await;
            let open = RedisRateLimiter::connect(&format!("redis://{}/", proxy.addr), &prefix())
                .await
                .unwrap()
                .with_quota("test", "default", Quota::per_second(nz(100)))
                .timeout(TIMEOUT)
                .fail_mode(FailMode::Open);
            // Same connection, other mode.
            let closed = open.clone().fail_mode(FailMode::Closed);
            let k = key("t1");

            // Through the proxy, both work.
            assert_eq!(open.acquire(&k, ONE).await.unwrap(), RateDecision::Granted);
            assert_eq!(
                closed.acquire(&k, ONE).await.unwrap(),
                RateDecision::Granted
            );

            proxy.cut().await;

            // Twice each: the first sees the dropped connection, later ones the refused
            // reconnects (or our timeout while the crate backs off).
            for round in 0..2 {
                let t = Instant::now();
                let d = open.acquire(&k, ONE).await.unwrap();
                let took = t.elapsed();
                assert_eq!(d, RateDecision::Granted, "fail open, round {round}");
                assert!(took < Duration::from_secs(1), "fail open took {took:?}");

                let t = Instant::now();
                let e = closed.acquire(&k, ONE).await.unwrap_err();
                let took = t.elapsed();
                assert!(took < Duration::from_secs(1), "fail closed took {took:?}");
                assert_eq!(e.kind(), ErrorKind::Store, "{e:?}");
                assert!(!e.may_have_been_sent());
                assert!(
                    e.to_string()
                        .contains("rate limiter backend unreachable; failing closed"),
                    "{e}"
                );
                eprintln!("round {round}: fail closed after {took:?}: {e:?}");
            }
        });
    });
    let c = counters(snapshotter.snapshot());
    assert_eq!(
        c.get("switchboard_rate_limiter_fail_open_total{connector=test}"),
        Some(&2),
        "{c:#?}"
    );
    assert_eq!(
        c.get("switchboard_rate_limiter_fail_closed_total{connector=test}"),
        Some(&2),
        "{c:#?}"
    );
    let text = logs.contents();
    assert!(
        text.contains("WARN") && text.contains("failing open") && text.contains("connector=test"),
        "no warning for failing open in:\n{text}"
    );
}

#[tokio::test]
async fn connect_errors_never_repeat_the_url_password() {
    let secret = canary("redis-password");
    // The shared Redis has no password, so AUTH fails; the URL must not reach the error.
    let e = RedisRateLimiter::connect(
        &format!("redis://:{secret}@{}/", crate::support::redis_addr()),
        &prefix(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store);
    assert!(!format!("{e} {e:?}").contains(&secret), "{e:?}");

    let e = RedisRateLimiter::connect(&format!("nope://:{secret}@host"), &prefix())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!format!("{e} {e:?}").contains(&secret), "{e:?}");
}

// ------------------------------------------------------------------ 4. decisions

async fn limiter(quota: Quota) -> RedisRateLimiter {
    RedisRateLimiter::connect(&crate::support::redis_url(), &prefix())
        .await
        .unwrap()
        .with_quota("test", "default", quota)
}

#[tokio::test]
async fn cost_above_the_burst_waits_a_whole_period() {
    let quota = Quota::per_second(nz(5));
    let l = limiter(quota).await;
    assert_eq!(
        l.acquire(&key("a"), nz(6)).await.unwrap(),
        RateDecision::RetryAfter(quota.period())
    );
    // It spent nothing.
    assert_eq!(
        l.acquire(&key("a"), nz(5)).await.unwrap(),
        RateDecision::Granted
    );
}

#[tokio::test]
async fn tenants_are_independent_and_retry_after_is_at_most_one_interval() {
    let quota = Quota::new(nz(3), Duration::from_secs(30)).unwrap();
    let interval = quota.interval();
    let l = limiter(quota).await;
    for _ in 0..3 {
        assert_eq!(
            l.acquire(&key("a"), ONE).await.unwrap(),
            RateDecision::Granted
        );
    }
    match l.acquire(&key("a"), ONE).await.unwrap() {
        RateDecision::RetryAfter(d) => assert!(
            d > interval - Duration::from_secs(1) && d <= interval,
            "{d:?} not in (0, {interval:?}]"
        ),
        other => panic!("expected a wait, got {other:?}"),
    }
    assert_eq!(
        l.acquire(&key("b"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    // A bucket without a quota is not limited (it only reads its provider block key).
    let other = RateKey::new(TenantId::new("a"), ConnectionId::new("c1"), "test", "other");
    assert_eq!(l.acquire(&other, ONE).await.unwrap(), RateDecision::Granted);
}

#[tokio::test]
async fn cost_n_spends_n_cells_and_the_key_outlives_its_tat_by_at_most_two_refills() {
    let quota = Quota::new(nz(10), Duration::from_secs(10)).unwrap();
    let interval = quota.interval();
    let prefix = prefix();
    let l = RedisRateLimiter::connect(&crate::support::redis_url(), &prefix)
        .await
        .unwrap()
        .with_quota("test", "default", quota);
    assert_eq!(
        l.acquire(&key("a"), nz(4)).await.unwrap(),
        RateDecision::Granted
    );
    assert_eq!(
        l.acquire(&key("a"), nz(4)).await.unwrap(),
        RateDecision::Granted
    );
    // 8 of 10 spent: 4 more need 2 intervals to refill.
    match l.acquire(&key("a"), nz(4)).await.unwrap() {
        RateDecision::RetryAfter(d) => {
            assert!(d > interval && d <= interval * 2, "{d:?}")
        }
        other => panic!("expected a wait, got {other:?}"),
    }
    assert_eq!(
        l.acquire(&key("a"), nz(2)).await.unwrap(),
        RateDecision::Granted
    );

    let mut raw = raw_connection().await;
    let redis_key = format!("{prefix}:test:default:c1:a");
    let (tat, ttl): (String, i64) = redis::pipe()
        .get(&redis_key)
        .pttl(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let tat: u64 = tat.parse().expect("TAT in whole microseconds");
    let now = redis_now(&mut raw).await.as_micros() as u64;
    // Full again after 10 cells, i.e. about 10 s from now.
    assert!(tat > now && tat - now <= 10_000_000, "tat {tat}, now {now}");
    // The key outlives its TAT (so no debt is forgotten), by at most twice the tolerance of
    // 10 cells (the TTL is rewritten only when the TAT enters another multiple of it).
    assert!(
        ttl * 1_000 >= (tat - now) as i64 && ttl <= 20_001,
        "PTTL {ttl} ms, TAT {} us ahead",
        tat - now
    );
}

// ------------------------------------------------------------------ 5. provider hints

fn spent_for(secs: u64) -> RateHint {
    RateHint::single(RateWindow::new(0, Duration::from_secs(secs)).with_limit(1000))
}

#[tokio::test]
async fn a_provider_block_recorded_by_one_limiter_refuses_that_key_on_another() {
    async fn replica(prefix: &str) -> RedisRateLimiter {
        RedisRateLimiter::connect(&crate::support::redis_url(), prefix)
            .await
            .unwrap()
            .with_quota("test", "default", Quota::per_second(nz(100)))
    }
    let prefix = prefix();
    let (one, two) = (replica(&prefix).await, replica(&prefix).await);
    let other_bucket =
        |t: &str| RateKey::new(TenantId::new(t), ConnectionId::new("c1"), "test", "other");

    // Calls left: no block.
    one.observe(
        &key("a"),
        &RateHint::single(RateWindow::new(3, Duration::from_secs(60))),
    )
    .await;
    assert_eq!(
        two.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );

    one.observe(&key("a"), &spent_for(60)).await;
    one.observe(&other_bucket("a"), &spent_for(60)).await;
    // A later, shorter hint does not shorten the block.
    one.observe(&key("a"), &spent_for(1)).await;
    for k in [key("a"), other_bucket("a")] {
        match two.acquire(&k, ONE).await.unwrap() {
            RateDecision::RetryAfter(d) => assert!(
                d > Duration::from_secs(50) && d <= Duration::from_secs(60),
                "{k:?}: {d:?}"
            ),
            other => panic!("{k:?}: expected the provider's wait, got {other:?}"),
        }
    }
    // Tenant B, on a connection of the same id, is not blocked, with or without a quota.
    assert_eq!(
        two.acquire(&key("b"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert_eq!(
        two.acquire(&other_bucket("b"), ONE).await.unwrap(),
        RateDecision::Granted
    );

    // The block lives in the rate key itself, after its TAT, and the key lasts as long.
    let mut raw = raw_connection().await;
    let redis_key = format!("{prefix}:test:default:c1:a");
    let (value, ttl): (String, i64) = redis::pipe()
        .get(&redis_key)
        .pttl(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(value.contains(';'), "{value}");
    assert!(ttl > 50_000 && ttl <= 60_001, "PTTL {ttl} ms");
}

#[tokio::test]
async fn a_blocked_acquire_spends_none_of_our_quota() {
    let prefix = prefix();
    let replica = || async {
        RedisRateLimiter::connect(&crate::support::redis_url(), &prefix)
            .await
            .unwrap()
            .with_quota(
                "test",
                "default",
                Quota::new(nz(1), Duration::from_secs(30)).unwrap(),
            )
    };
    let (one, two) = (replica().await, replica().await);
    // A short provider window, seen by replica one; replica two learns of it from Redis.
    let block = Duration::from_millis(300);
    one.observe(
        &key("a"),
        &RateHint::single(RateWindow::new(0, block).with_limit(1000)),
    )
    .await;
    match two.acquire(&key("a"), ONE).await.unwrap() {
        RateDecision::RetryAfter(d) => assert!(d <= block, "{d:?}"),
        other => panic!("expected the provider's wait, got {other:?}"),
    }
    // The provider's window resets: the one call of our quota is still there, and then spent.
    tokio::time::sleep(block + Duration::from_millis(50)).await;
    assert_eq!(
        two.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert!(matches!(
        one.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(_)
    ));
}

#[tokio::test]
async fn provider_hints_never_fail_a_call_when_redis_is_away() {
    let proxy = Proxy::start(crate::support::redis_addr()).await;
    let l = RedisRateLimiter::connect(&format!("redis://{}/", proxy.addr), &prefix())
        .await
        .unwrap()
        .with_quota("test", "default", Quota::per_second(nz(100)))
        .timeout(Duration::from_millis(200))
        .fail_mode(FailMode::Closed);
    let unconfigured = RateKey::new(TenantId::new("a"), ConnectionId::new("c1"), "test", "other");
    proxy.cut().await;

    // Recording a hint cannot fail (it logs), and a bucket without a quota has nothing to
    // protect, so it is granted; a bucket with one still fails closed, as configured.
    l.observe(&key("a"), &spent_for(60)).await;
    assert_eq!(
        l.acquire(&unconfigured, ONE).await.unwrap(),
        RateDecision::Granted
    );
    let e = l.acquire(&key("b"), ONE).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e:?}");
    // The hint this replica observed is honoured here without Redis.
    assert!(matches!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(d) if d > Duration::from_secs(50)
    ));
}

// ------------------------------------------------------ 5b. refusals remembered locally

/// After Redis refuses a key, this replica answers that key itself until the wait Redis gave
/// has passed: not one byte goes to Redis (counted at a proxy in front of it). Then the key is
/// asked again and granted.
#[tokio::test]
async fn a_refused_key_makes_no_round_trip_until_its_retry_after() {
    let proxy = Proxy::start(crate::support::redis_addr()).await;
    let l = RedisRateLimiter::connect(&format!("redis://{}/", proxy.addr), &prefix())
        .await
        .unwrap()
        .with_quota(
            "test",
            "default",
            Quota::new(nz(1), Duration::from_millis(500)).unwrap(),
        );
    assert_eq!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    let RateDecision::RetryAfter(first) = l.acquire(&key("a"), ONE).await.unwrap() else {
        panic!("the second call within the interval must be refused");
    };
    let before = proxy.sent();
    for _ in 0..100 {
        match l.acquire(&key("a"), ONE).await.unwrap() {
            RateDecision::RetryAfter(d) => assert!(d <= first, "{d:?} > {first:?}"),
            other => panic!("expected a remembered refusal, got {other:?}"),
        }
        assert!(matches!(
            l.try_acquire_now(&key("a"), ONE),
            Some(RateDecision::RetryAfter(_))
        ));
    }
    assert_eq!(
        proxy.sent(),
        before,
        "a remembered refusal sent a command to Redis"
    );

    tokio::time::sleep(first + Duration::from_millis(50)).await;
    assert_eq!(l.try_acquire_now(&key("a"), ONE), None, "the wait is over");
    assert_eq!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert!(proxy.sent() > before, "the key was asked again");

    // A limiter without the memory asks Redis every time.
    let l = l.refusal_memory(0);
    assert!(matches!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(_)
    ));
    let before = proxy.sent();
    assert!(matches!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(_)
    ));
    assert!(proxy.sent() > before);
}

/// The memory is keyed by the whole rate key: tenant A's refusal (or A's provider block seen on
/// this replica) never refuses tenant B on a connection with the same id.
#[tokio::test]
async fn one_tenants_remembered_refusal_never_refuses_another_on_the_same_connection_id() {
    let l = limiter(Quota::per_minute(nz(1))).await;
    assert_eq!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert!(matches!(
        l.acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(_)
    ));
    assert!(l.try_acquire_now(&key("a"), ONE).is_some());
    assert_eq!(l.try_acquire_now(&key("b"), ONE), None);
    assert_eq!(
        l.acquire(&key("b"), ONE).await.unwrap(),
        RateDecision::Granted
    );

    // A provider hint observed here, on a bucket without a quota: remembered for A only.
    let other = |t: &str| RateKey::new(TenantId::new(t), ConnectionId::new("c1"), "test", "other");
    l.observe(&other("a"), &spent_for(60)).await;
    assert!(matches!(
        l.try_acquire_now(&other("a"), ONE),
        Some(RateDecision::RetryAfter(_))
    ));
    assert_eq!(l.try_acquire_now(&other("b"), ONE), None);
    assert_eq!(
        l.acquire(&other("b"), ONE).await.unwrap(),
        RateDecision::Granted
    );
}

// ---------------------------------------------------------------- 6. connectors' defaults

/// A connector's published default quota (`Connector::default_quotas`, adopted when a
/// connection is built) is one shared count across replicas, per tenant; a host's own quota
/// for the bucket wins over it.
#[tokio::test]
async fn an_adopted_default_quota_is_shared_across_replicas_and_yields_to_the_hosts() {
    let shared = prefix();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let l = RedisRateLimiter::connect(&crate::support::redis_url(), &shared)
            .await
            .unwrap();
        l.adopt_default("test", "default", Quota::per_minute(nz(2)));
        replicas.push(l);
    }
    assert_eq!(
        replicas[0].acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert_eq!(
        replicas[1].acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
    assert!(matches!(
        replicas[0].acquire(&key("a"), ONE).await.unwrap(),
        RateDecision::RetryAfter(_)
    ));
    assert_eq!(
        replicas[1].acquire(&key("b"), ONE).await.unwrap(),
        RateDecision::Granted,
        "per tenant"
    );
    let host = RedisRateLimiter::connect(&crate::support::redis_url(), &prefix())
        .await
        .unwrap()
        .with_quota("test", "default", Quota::per_minute(nz(5)));
    host.adopt_default("test", "default", Quota::per_minute(nz(2)));
    for _ in 0..5 {
        assert_eq!(
            host.acquire(&key("a"), ONE).await.unwrap(),
            RateDecision::Granted
        );
    }
}

/// Runs `write` (a command another program might send) on `key`, then lets the key expire in a
/// minute so the shared Redis is left clean.
async fn write_with_expiry(raw: &mut MultiplexedConnection, key: &str, write: redis::Cmd) {
    let _: () = write.query_async(raw).await.unwrap();
    let _: () = redis::cmd("PEXPIRE")
        .arg(key)
        .arg(60_000)
        .query_async(raw)
        .await
        .unwrap();
}

/// Another program wrote tenant A's rate key with another type (a hash). A's acquire takes the
/// fail mode, naming the key; tenant B's acquires on the same connection id, decided by the same
/// script run (one batch: the batching task runs only once the test task yields), are granted.
#[tokio::test]
async fn a_key_of_another_type_fails_only_its_own_acquire_not_the_batch_it_is_in() {
    let p = prefix();
    let l = RedisRateLimiter::connect(&crate::support::redis_url(), &p)
        .await
        .unwrap()
        .with_quota("test", "default", Quota::per_second(nz(1_000)))
        .fail_mode(FailMode::Closed);
    let mut raw = raw_connection().await;
    let a_key = format!("{p}:test:default:c1:a");
    let mut hset = redis::cmd("HSET");
    hset.arg(&a_key).arg("f").arg("v");
    write_with_expiry(&mut raw, &a_key, hset).await;

    let (key_a, key_b) = (key("a"), key("b"));
    let a = l.acquire(&key_a, ONE);
    let bs = futures_util::future::join_all((0..40).map(|_| l.acquire(&key_b, ONE)));
    let (a, bs) = tokio::join!(a, bs);
    let err = a.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    // Says what happened: Redis answered, so "unreachable" would send an operator the wrong way.
    assert_eq!(
        err.to_string(),
        "test: rate key in Redis holds another type; failing closed"
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some(format!("the rate key `{a_key}` in Redis is not a string").as_str())
    );
    for b in bs {
        assert_eq!(b.unwrap(), RateDecision::Granted);
    }

    // A bucket without a quota only reads the key's provider block: not a block of 146,000
    // years, but granted (as when Redis cannot be read).
    let unlimited =
        |t: &str| RateKey::new(TenantId::new(t), ConnectionId::new("c1"), "test", "other");
    let other_key = format!("{p}:test:other:c1:a");
    let mut rpush = redis::cmd("RPUSH");
    rpush.arg(&other_key).arg("x");
    write_with_expiry(&mut raw, &other_key, rpush).await;
    assert_eq!(
        l.acquire(&unlimited("a"), ONE).await.unwrap(),
        RateDecision::Granted
    );
}
