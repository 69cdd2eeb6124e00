//! What the pipeline costs, as ratios against baselines measured in the same run (the bench
//! machine is small and noisy, so absolute figures mean little on their own).
//!
//! Criterion groups (wall time):
//! - `http_c32/*`: each iteration is a batch of 32 concurrent GETs (`join_all`) against a
//!   loopback axum server (its own thread) that answers `GET /item` with a fixed 1 KiB JSON
//!   body; per-request time is the batch time / 32 (criterion also prints `elem/s`).
//!   `raw_reqwest` is the baseline, `switchboard_full_pipeline` the whole pipeline (auth, cache
//!   miss path with an insert per call, rate limiter, breaker, retry, timeout, transport),
//!   `switchboard_no_cache` the same call without `cache_for` (the cache layer passes it
//!   through), `reqwest_middleware_retry` the peer, and `raw_hyper` the same GET on
//!   hyper-util's pooled client alone (the client switchboard's transport is built on): the
//!   floor under every variant.
//! - `http_c1/*`: the same calls one at a time, with the server on the client's own thread
//!   (no cross-thread wake-ups): the latency one call adds.
//! - `cache_hit/*`: a cached GET through the whole `send()` path. (Copies of the cache's
//!   private key and store used to split this cost; they went stale with every change of the
//!   cache, so the split is now read from instruction counts: `scripts/callgrind-pipeline.sh`.)
//! - `cache_write/*`: a POST (which invalidates the cached entries under its path) beside an
//!   empty cache, and beside 20,000 entries of another tenant.
//! - `rate_limit/*`: `InMemoryRateLimiter::check`, the async `RateLimiter::acquire` polled once,
//!   and two baselines.
//!
//! Client CPU per request (not measured by criterion): set `SWITCHBOARD_BENCH_CPU=1` (report,
//! then the criterion groups) or `SWITCHBOARD_BENCH_CPU=only`. This binary then re-executes
//! itself (`SWITCHBOARD_BENCH_ROLE`) as a server process and, for every measurement, as a fresh
//! client process whose CPU time (read from `/proc`, Linux only) is client work only.
//! `SWITCHBOARD_BENCH_CPU_PIN=1` pins the server to CPU 1 and every client to CPU 0 (with
//! `taskset`): the kernel's share of a request (loopback TCP and the wake-ups between the two
//! processes, about 40 % of the client's CPU) then varies much less from run to run.
//!
//! Tracing is compiled in with no subscriber installed and no `metrics` recorder is installed,
//! as in a production host that has both turned off. See `docs/performance.md`.

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroU32;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use futures_util::future::join_all;
use futures_util::FutureExt;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use switchboard::auth::BearerToken;
use switchboard::rate_limit::{InMemoryRateLimiter, RateDecision, RateKey, RateLimiter};
use switchboard::test_util::LoopbackServer;
use switchboard::{Connection, ConnectionId, Connector, Quota, Switchboard, TenantId};
use tokio::runtime::Runtime;

/// Set by the CPU report in its child processes: `server` (serves `/item`) or `client`
/// (measures one variant once and prints a `SAMPLE` line).
const ROLE_ENV: &str = "SWITCHBOARD_BENCH_ROLE";
/// For a `client` child: the server's base URL, its pid, the variant, the request count.
const CHILD_BASE_ENV: &str = "SWITCHBOARD_BENCH_CHILD_BASE";
const CHILD_SERVER_PID_ENV: &str = "SWITCHBOARD_BENCH_CHILD_SERVER_PID";
const CHILD_VARIANT_ENV: &str = "SWITCHBOARD_BENCH_CHILD_VARIANT";
/// `1`: print the client-CPU report, then run criterion; `only`: the report alone.
const CPU_ENV: &str = "SWITCHBOARD_BENCH_CPU";
/// Requests per variant and round in the CPU report (default 20,000).
const CPU_REQUESTS_ENV: &str = "SWITCHBOARD_BENCH_CPU_REQUESTS";
/// Rounds in the CPU report (default 9); medians over rounds are reported.
const CPU_ROUNDS_ENV: &str = "SWITCHBOARD_BENCH_CPU_ROUNDS";
/// Comma-separated variant names for the CPU report (default: all). Ratios need
/// `raw_reqwest` among them; a single variant is handy under a profiler.
const CPU_VARIANTS_ENV: &str = "SWITCHBOARD_BENCH_CPU_VARIANTS";
/// Unique-key calls made before measuring `switchboard_full_pipeline`, so its cache is at its
/// 64 MiB bound and evicting, as in a long-running host (default 60,000; 0 to skip).
const PREFILL_ENV: &str = "SWITCHBOARD_BENCH_PREFILL";
/// `1`: the CPU report pins the server to CPU 1 and the clients to CPU 0 (`taskset`).
const PIN_ENV: &str = "SWITCHBOARD_BENCH_CPU_PIN";
const PREFILL_DEFAULT: usize = 60_000;

const BODY_LEN: usize = 1024;
const TOKEN: &str = "bench-token-0123456789abcdef";
const CONCURRENCY: usize = 32;
/// TTL of the per-call unique entries the miss benchmark inserts.
const MISS_TTL: Duration = Duration::from_secs(60);
const HIT_TTL: Duration = Duration::from_secs(3600);

// ------------------------------------------------------------------ server

/// `{"id":"item-1",...,"pad":"xxx…"}`, exactly 1 KiB.
fn item_body() -> Bytes {
    let head = r#"{"id":"item-1","name":"bench item","price":1999,"currency":"usd","pad":""#;
    let tail = r#""}"#;
    let mut s = String::with_capacity(BODY_LEN);
    s.push_str(head);
    s.push_str(&"x".repeat(BODY_LEN - head.len() - tail.len()));
    s.push_str(tail);
    assert_eq!(s.len(), BODY_LEN);
    Bytes::from(s)
}

fn app() -> axum::Router {
    let body = item_body();
    axum::Router::new().route(
        "/item",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
        })
        .post(|| async { ([(http::header::CONTENT_TYPE, "application/json")], "{}") }),
    )
}

/// The loopback server on its own runtime (one worker thread), in this process.
struct InProcessServer {
    server: LoopbackServer,
    _rt: Runtime,
}

impl InProcessServer {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-server")
            .enable_all()
            .build()
            .expect("server runtime");
        // `start` spawns the accept loop onto `rt`'s worker, which keeps serving afterwards.
        let server = rt.block_on(LoopbackServer::start(app()));
        InProcessServer { server, _rt: rt }
    }
}

/// The child-process role: serve until the parent closes our stdin.
fn run_server_role() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let server = rt.block_on(LoopbackServer::start(app()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "PORT {}", server.addr().port()).expect("write port");
    out.flush().expect("flush port");
    drop(out);
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The server as a child process (this binary in the server role), stopped when dropped.
struct ServerChild {
    child: Child,
    base_url: String,
}

impl ServerChild {
    fn spawn() -> std::io::Result<Self> {
        let mut child = pinned_command(1)?
            .env(ROLE_ENV, "server")
            .env_remove(CPU_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad server banner: {line:?}")))?;
        Ok(ServerChild {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // EOF on its stdin makes the child exit; kill it (this one child, by handle) if not.
        drop(self.child.stdin.take());
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ clients

#[derive(Debug)]
struct BenchConnector;

impl Connector for BenchConnector {
    fn name(&self) -> &str {
        "bench"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Raw,
    RawHyper,
    Switchboard,
    SwitchboardNoCache,
    Peer,
}

impl Variant {
    /// The variant that fills the heap (one cache entry per call) comes last, so the others
    /// are measured before its entries exist.
    const ALL: [Variant; 5] = [
        Variant::Raw,
        Variant::RawHyper,
        Variant::Peer,
        Variant::SwitchboardNoCache,
        Variant::Switchboard,
    ];

    fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw_reqwest",
            Variant::RawHyper => "raw_hyper",
            Variant::Switchboard => "switchboard_full_pipeline",
            Variant::SwitchboardNoCache => "switchboard_no_cache",
            Variant::Peer => "reqwest_middleware_retry",
        }
    }
}

/// Every request carries a unique `?n=`, for all variants alike: switchboard's cache then
/// misses on every call (lookup, coalesced fetch, insert), and the server and the URL
/// handling do the same work for the baseline and the peer.
static SEQ: AtomicU64 = AtomicU64::new(0);

struct Clients {
    base: String,
    raw: reqwest::Client,
    hyper: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Empty<Bytes>,
    >,
    peer: ClientWithMiddleware,
    sb: Connection,
}

impl Clients {
    fn new(base: &str) -> Self {
        let peer = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(RetryTransientMiddleware::new_with_policy(
                ExponentialBackoff::builder().build_with_max_retries(3),
            ))
            .build();
        Clients {
            base: base.to_string(),
            raw: reqwest::Client::new(),
            hyper:
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http(),
            peer,
            sb: switchboard_connection(base),
        }
    }

    /// One GET of `/item`, body read in full; returns the body length.
    async fn one(&self, v: Variant) -> usize {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        match v {
            Variant::Raw => {
                let resp = self
                    .raw
                    .get(format!("{}/item?n={n}", self.base))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .expect("raw GET");
                resp.bytes().await.expect("raw body").len()
            }
            Variant::RawHyper => {
                use http_body_util::BodyExt;
                let uri: http::Uri = format!("{}/item?n={n}", self.base).parse().expect("uri");
                let req = http::Request::get(uri)
                    .header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .body(http_body_util::Empty::new())
                    .expect("request");
                let resp = self.hyper.request(req).await.expect("hyper GET");
                assert!(resp.status().is_success());
                let body = resp.into_body().collect().await.expect("hyper body");
                body.to_bytes().len()
            }
            Variant::Peer => {
                let resp = self
                    .peer
                    .get(format!("{}/item?n={n}", self.base))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("peer GET")
                    .error_for_status()
                    .expect("peer status");
                resp.bytes().await.expect("peer body").len()
            }
            Variant::Switchboard | Variant::SwitchboardNoCache => {
                let mut req = self.sb.get("/item").query(&[("n", n.to_string())]);
                if v == Variant::Switchboard {
                    req = req.cache_for(MISS_TTL);
                }
                let resp = req.send().await.expect("switchboard GET");
                debug_assert!(!resp.is_cache_hit());
                resp.bytes().await.expect("switchboard body").len()
            }
        }
    }

    /// `k` concurrent requests.
    async fn batch(&self, v: Variant, k: usize) {
        black_box(join_all((0..k).map(|_| self.one(v))).await);
    }

    /// `n` requests by `callers` concurrent callers, each sending its next as soon as its
    /// last one finished.
    async fn closed_loop(&self, v: Variant, n: usize, callers: usize) {
        let started = AtomicUsize::new(0);
        let started = &started;
        join_all((0..callers).map(|_| async move {
            while started.fetch_add(1, Ordering::Relaxed) < n {
                black_box(self.one(v).await);
            }
        }))
        .await;
    }

    /// Checks that `v` answers 200 with the 1 KiB body, and fills its connection pool.
    async fn sanity_and_warm_up(&self, v: Variant) {
        assert_eq!(self.one(v).await, BODY_LEN, "{}", v.name());
        self.batch(v, CONCURRENCY).await;
    }
}

/// The switchboard under test, built once: default retry, breaker, timeouts and cache; a rate
/// limiter with a quota that never blocks at these rates; bearer auth.
fn switchboard_connection(base: &str) -> Connection {
    let limiter = InMemoryRateLimiter::new().with_quota(
        "bench",
        "default",
        Quota::per_second(NonZeroU32::new(1_000_000).expect("non-zero")),
    );
    let sb = Switchboard::builder()
        .rate_limiter(Arc::new(limiter))
        .build()
        .expect("switchboard");
    sb.connection(Arc::new(BenchConnector))
        .tenant("t1")
        .id("c1")
        .base_url(base)
        .auth(Arc::new(BearerToken::new(TOKEN)))
        .build()
        .expect("connection")
}

fn client_runtime() -> Runtime {
    // One thread drives the callers and reqwest's connection tasks, so the client uses one
    // core and the server the other.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

// ------------------------------------------------------------------ criterion: HTTP

/// How many unique-key calls fill switchboard's cache to its bound before measuring.
fn prefill_count() -> usize {
    std::env::var(PREFILL_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PREFILL_DEFAULT)
}

/// Whether criterion runs in smoke mode (`-- --test`): skip the long prefill then.
fn smoke_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// One HTTP group: each variant in `Variant::ALL` order, the cache-filling one prefilled.
fn bench_http_group(c: &mut Criterion, rt: &Runtime, clients: &Clients, name: &str, k: usize) {
    for v in Variant::ALL {
        rt.block_on(clients.sanity_and_warm_up(v));
    }
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(k as u64));
    for v in Variant::ALL {
        let mut prefilled = v != Variant::Switchboard || smoke_mode();
        g.bench_function(v.name(), |b| {
            if !prefilled {
                rt.block_on(clients.closed_loop(v, prefill_count(), CONCURRENCY));
                prefilled = true;
            }
            b.to_async(rt).iter(|| clients.batch(v, k))
        });
    }
    g.finish();
}

// ------------------------------------------------------------------ criterion: cache hit

fn bench_cache_hit(c: &mut Criterion, rt: &Runtime, clients: &Clients) {
    let conn = &clients.sb;
    rt.block_on(async {
        // Warm-up: the first call misses and stores, the second must hit.
        let first = conn.get("/item").cache_for(HIT_TTL).send().await;
        assert!(!first.expect("cache warm-up").is_cache_hit());
        let second = conn.get("/item").cache_for(HIT_TTL).send().await;
        assert!(second.expect("cache hit").is_cache_hit());
    });

    let mut g = c.benchmark_group("cache_hit");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    // The whole caller-visible path: RequestBuilder, send() (context, span, deadline, metrics),
    // auth, cache key + lookup, response, and reading the (already buffered) body.
    g.bench_function("switchboard_send_hit", |b| {
        b.to_async(rt).iter(|| async {
            let resp = conn
                .get("/item")
                .cache_for(HIT_TTL)
                .send()
                .await
                .expect("cache hit");
            assert!(resp.is_cache_hit());
            resp.bytes().await.expect("body").len()
        })
    });

    g.finish();
}

// ------------------------------------------------------------------ criterion: cache writes

/// Entries another tenant holds in the cache when `cache_write/post_beside_other_entries` runs.
const OTHER_TENANT_ENTRIES: usize = 20_000;

/// A successful write invalidates the cached entries under its path, by one pass over the
/// whole cache: what a write costs one tenant when another tenant's entries fill the cache,
/// against the same write beside an empty cache.
fn bench_cache_write(c: &mut Criterion, rt: &Runtime, base: &str) {
    let connect = |sb: &Switchboard, tenant: &str| {
        sb.connection(Arc::new(BenchConnector))
            .tenant(tenant)
            .id("c1")
            .base_url(base)
            .auth(Arc::new(BearerToken::new(TOKEN)))
            .build()
            .expect("connection")
    };
    let empty_sb = Switchboard::builder().build().expect("switchboard");
    let full_sb = Switchboard::builder().build().expect("switchboard");
    let empty = connect(&empty_sb, "t1");
    let full = connect(&full_sb, "t1");
    let other = connect(&full_sb, "t2");
    let entries = if smoke_mode() {
        100
    } else {
        OTHER_TENANT_ENTRIES
    };
    rt.block_on(async {
        for n in 0..entries {
            let resp = other
                .get("/item")
                .query(&[("n", n.to_string())])
                .cache_for(HIT_TTL)
                .send()
                .await
                .expect("fill the cache");
            black_box(resp.bytes().await.expect("body"));
        }
    });
    let mut g = c.benchmark_group("cache_write");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, conn) in [
        ("post_beside_empty_cache", &empty),
        ("post_beside_other_entries", &full),
    ] {
        g.bench_function(name, |b| {
            b.to_async(rt).iter(|| async {
                let resp = conn.post("/item").send().await.expect("POST");
                resp.bytes().await.expect("body").len()
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------ criterion: rate limiter

fn bench_rate_limit(c: &mut Criterion) {
    // 10^9 per second with a burst of 10^9: GCRA's emission interval is 1 ns, faster than any
    // loop here can call, so every check is granted.
    let quota = Quota::per_second(NonZeroU32::new(1_000_000_000).expect("non-zero"));
    let limiter = InMemoryRateLimiter::new().with_quota("bench", "default", quota);
    let as_dyn: Arc<dyn RateLimiter> = Arc::new(limiter.clone());
    let key = RateKey::new(
        TenantId::new("t1"),
        ConnectionId::new("c1"),
        "bench",
        "default",
    );
    let unconfigured = RateKey::new(
        TenantId::new("t1"),
        ConnectionId::new("c1"),
        "bench",
        "other",
    );
    let one = NonZeroU32::MIN;
    let map: HashMap<Arc<str>, u64> = [("bench", 1), ("other", 2), ("third", 3)]
        .into_iter()
        .map(|(k, v)| (Arc::from(k), v))
        .collect();

    let mut g = c.benchmark_group("rate_limit");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("baseline_empty", |b| b.iter(|| black_box(())));
    g.bench_function("baseline_hashmap_get", |b| {
        b.iter(|| map.get(black_box("bench")).copied())
    });
    g.bench_function("check_granted", |b| {
        b.iter(|| limiter.check(black_box(&key), one))
    });
    g.bench_function("check_unconfigured_bucket", |b| {
        b.iter(|| limiter.check(black_box(&unconfigured), one))
    });
    g.bench_function("acquire_now_or_never", |b| {
        b.iter(|| limiter.acquire(black_box(&key), one).now_or_never())
    });
    // As the pipeline calls it: through `Arc<dyn RateLimiter>`.
    g.bench_function("acquire_dyn_now_or_never", |b| {
        b.iter(|| as_dyn.acquire(black_box(&key), one).now_or_never())
    });
    g.finish();

    // The figures above are only the granted path if nothing was ever refused.
    for _ in 0..100_000 {
        assert_eq!(limiter.check(&key, one), RateDecision::Granted);
    }
}

// ------------------------------------------------------------------ client CPU report

/// This binary as a child process, on CPU `cpu` alone when the report is pinned.
fn pinned_command(cpu: usize) -> std::io::Result<Command> {
    let exe = std::env::current_exe()?;
    if std::env::var(PIN_ENV).as_deref() != Ok("1") {
        return Ok(Command::new(exe));
    }
    let mut c = Command::new("taskset");
    c.arg("-c").arg(cpu.to_string()).arg(exe);
    Ok(c)
}

/// CPU time of every live thread of `pid` (`self` or a number), in ns: the first field of
/// `/proc/<pid>/task/<tid>/schedstat` is the time spent on a CPU.
fn cpu_ns(pid: &str) -> Option<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between the listing and the read.
        let Ok(s) = std::fs::read_to_string(path) else {
            continue;
        };
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// utime and stime of the whole process (exited threads included) from `/proc/<pid>/stat`
/// fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux): a coarse cross-check, and the
/// split between the client's own code (user) and the kernel's loopback TCP (system).
fn cpu_ticks(pid: &str) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`; field 3 (state) comes first, so 14 and 15 are at 11 and 12.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.get(11)?.parse::<u64>().ok()?,
        f.get(12)?.parse::<u64>().ok()?,
    ))
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    wall_ns: f64,
    client_cpu_ns: f64,
    client_tick_ns: f64,
    client_user_tick_ns: f64,
    server_cpu_ns: f64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The `client` child role: measures one variant once, in a fresh process (so no other
/// variant's heap, cache or connections are around), and prints one `SAMPLE` line.
fn run_client_role() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    let base = var(CHILD_BASE_ENV);
    let server_pid = var(CHILD_SERVER_PID_ENV);
    let v = Variant::from_name(&var(CHILD_VARIANT_ENV)).expect("known variant");
    let n = env_usize(CPU_REQUESTS_ENV, 20_000);
    let rt = client_runtime();
    let clients = Clients::new(&base);
    let sample = rt.block_on(async {
        clients.sanity_and_warm_up(v).await;
        clients.closed_loop(v, n.min(2_000), CONCURRENCY).await;
        if v == Variant::Switchboard {
            clients.closed_loop(v, prefill_count(), CONCURRENCY).await;
        }
        let (c0, t0, s0) = (cpu_ns("self"), cpu_ticks("self"), cpu_ns(&server_pid));
        let w0 = Instant::now();
        clients.closed_loop(v, n, CONCURRENCY).await;
        let wall = w0.elapsed();
        let (c1, t1, s1) = (cpu_ns("self"), cpu_ticks("self"), cpu_ns(&server_pid));
        let per = |a: Option<u64>, b: Option<u64>, scale: f64| {
            let d = b.expect("cpu after").saturating_sub(a.expect("cpu before"));
            d as f64 * scale / n as f64
        };
        let ticks = |t: Option<(u64, u64)>| t.map(|(u, s)| u + s);
        let user = |t: Option<(u64, u64)>| t.map(|(u, _)| u);
        // USER_HZ is 100 on Linux: one tick is 10 ms.
        const TICK_NS: f64 = 10_000_000.0;
        Sample {
            wall_ns: wall.as_nanos() as f64 / n as f64,
            client_cpu_ns: per(c0, c1, 1.0),
            client_tick_ns: per(ticks(t0), ticks(t1), TICK_NS),
            client_user_tick_ns: per(user(t0), user(t1), TICK_NS),
            server_cpu_ns: per(s0, s1, 1.0),
        }
    });
    println!(
        "SAMPLE {} {} {} {} {}",
        sample.wall_ns,
        sample.client_cpu_ns,
        sample.client_tick_ns,
        sample.client_user_tick_ns,
        sample.server_cpu_ns
    );
}

/// Runs one `client` child for `v` and reads its sample.
fn measure_in_child(server: &ServerChild, v: Variant) -> Sample {
    let out = pinned_command(0)
        .expect("current exe")
        .env(ROLE_ENV, "client")
        .env(CHILD_BASE_ENV, &server.base_url)
        .env(CHILD_SERVER_PID_ENV, server.pid())
        .env(CHILD_VARIANT_ENV, v.name())
        .env_remove(CPU_ENV)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run a client child process");
    assert!(out.status.success(), "client child for {} failed", v.name());
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("SAMPLE "))
        .expect("a SAMPLE line")
        .split_whitespace()
        .map(|x| x.parse().expect("a number"))
        .collect();
    Sample {
        wall_ns: f[0],
        client_cpu_ns: f[1],
        client_tick_ns: f[2],
        client_user_tick_ns: f[3],
        server_cpu_ns: f[4],
    }
}

/// Client CPU and wall time per request, each measurement in a fresh client process, against
/// a server in another process; rounds interleave the variants, medians are printed.
fn cpu_report() {
    if cpu_ns("self").is_none() || cpu_ticks("self").is_none() {
        eprintln!("cpu report: /proc/self/task/*/schedstat or /proc/self/stat unreadable; skipped");
        return;
    }
    let n = env_usize(CPU_REQUESTS_ENV, 20_000);
    let rounds = env_usize(CPU_ROUNDS_ENV, 9);
    let server = ServerChild::spawn().expect("spawn the server child process");
    let wanted = std::env::var(CPU_VARIANTS_ENV).unwrap_or_default();
    let mut samples: Vec<(Variant, Vec<Sample>)> = Variant::ALL
        .iter()
        .filter(|v| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == v.name()))
        .map(|&v| (v, Vec::new()))
        .collect();
    for _ in 0..rounds {
        for (v, out) in samples.iter_mut() {
            out.push(measure_in_child(&server, *v));
        }
    }
    drop(server);

    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    // Ratios are paired: each round's figure over the raw baseline's figure of the same round
    // (measured seconds apart), then the median over rounds, so slow drift in machine load
    // cancels out. Without the baseline they are NaN.
    let raw: Vec<Sample> = samples
        .iter()
        .find(|(v, _)| *v == Variant::Raw)
        .map(|(_, s)| s.clone())
        .unwrap_or_default();
    let paired = |s: &[Sample], f: fn(&Sample) -> f64| -> (f64, f64, f64) {
        if raw.len() != s.len() {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let r: Vec<f64> = s.iter().zip(&raw).map(|(a, b)| f(a) / f(b)).collect();
        let lo = r.iter().copied().fold(f64::MAX, f64::min);
        let hi = r.iter().copied().fold(0.0, f64::max);
        (median(r), lo, hi)
    };
    println!(
        "\nclient CPU per request: {n} requests x {rounds} rounds per variant, {CONCURRENCY} \
         concurrent callers, each measurement in a fresh client process, server in another \
         process (prefill before switchboard_full_pipeline: {}); medians over rounds; \
         ratios are per-round pairs with raw_reqwest (median, min..max); {}",
        prefill_count(),
        if std::env::var(PIN_ENV).as_deref() == Ok("1") {
            "server pinned to CPU 1, clients to CPU 0"
        } else {
            "not pinned"
        }
    );
    println!(
        "{:<27} {:>14} {:>22} {:>11} {:>22} {:>8} {:>12} {:>12} {:>14}",
        "variant",
        "client CPU/req",
        "CPU vs raw",
        "wall/req",
        "wall vs raw",
        "req/s",
        "ticks vs raw",
        "user vs raw",
        "server CPU/req"
    );
    for (v, s) in &samples {
        let (cr, crl, crh) = paired(s, |x| x.client_cpu_ns);
        let (wr, wrl, wrh) = paired(s, |x| x.wall_ns);
        let (tr, _, _) = paired(s, |x| x.client_tick_ns);
        let (ur, _, _) = paired(s, |x| x.client_user_tick_ns);
        let wall = med(s, |x| x.wall_ns);
        println!(
            "{:<27} {:>11.2} us {:>6.3}x ({:.2}..{:.2}) {:>8.2} us {:>6.3}x ({:.2}..{:.2}) {:>8.0} {:>11.3}x {:>11.3}x {:>11.2} us",
            v.name(),
            med(s, |x| x.client_cpu_ns) / 1e3,
            cr,
            crl,
            crh,
            wall / 1e3,
            wr,
            wrl,
            wrh,
            1e9 / wall,
            tr,
            ur,
            med(s, |x| x.server_cpu_ns) / 1e3,
        );
    }
    println!();
}

// ------------------------------------------------------------------ main

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("server") => return run_server_role(),
        Ok("client") => return run_client_role(),
        _ => {}
    }
    match std::env::var(CPU_ENV).as_deref() {
        Ok("only") => {
            cpu_report();
            return;
        }
        Ok(v) if !v.is_empty() && v != "0" => cpu_report(),
        _ => {}
    }

    let mut c = Criterion::default().configure_from_args();
    let rt = client_runtime();
    {
        // 32 callers against a server on its own thread (the other core).
        let server = InProcessServer::start();
        let clients = Clients::new(&server.server.base_url());
        bench_http_group(&mut c, &rt, &clients, "http_c32", CONCURRENCY);
        // Dropping the switchboard frees its full cache before the next group.
    }
    // One caller against a server on the client's own thread: no cross-thread wake-ups, whose
    // latency on this VM (tens of microseconds) would otherwise dominate.
    let local = rt.block_on(LoopbackServer::start(app()));
    let clients = Clients::new(&local.base_url());
    bench_http_group(&mut c, &rt, &clients, "http_c1", 1);
    // Its cache is now full (prefilled by `http_c1`), as a busy host's would be.
    bench_cache_hit(&mut c, &rt, &clients);
    bench_cache_write(&mut c, &rt, &local.base_url());
    bench_rate_limit(&mut c);
    drop(clients);
    drop(local);
    c.final_summary();
}
