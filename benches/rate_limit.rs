//! What the shared (Redis) rate limiter costs, against the seed's fixed-window design on the
//! same Redis in the same run (the bench machine is small and noisy, so only the ratio means
//! much). Needs `--features redis` and a Redis at `SWITCHBOARD_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379/`, which `scripts/test.sh` starts). Keys use a random prefix and
//! expire on their own; nothing is flushed.
//!
//! One iteration is 10,000 acquires spread over 32 concurrent tokio tasks (one tenant each) on
//! a two-worker runtime, through one multiplexed connection per limiter:
//!
//! - `redis_limiter/gcra_granted`: `RedisRateLimiter::acquire` with a quota that grants every
//!   call, so each one runs the whole script (`TIME`, `GET`, `SET`): the write path.
//! - `redis_limiter/gcra_refused`: the same with an exhausted quota. Each tenant's first
//!   acquire goes to Redis (`TIME`, `GET`, no write); the limiter then remembers the refusal and
//!   answers the rest itself, with no round trip.
//! - `redis_limiter/gcra_refused_asking`: the same with that memory turned off
//!   (`refusal_memory(0)`), so every refused acquire runs the script.
//! - `redis_limiter/fixed_window`: the baseline, `MULTI; INCR key; EXPIRE key 1; EXEC` on a key
//!   per tenant and wall-clock second, one round trip, through the same kind of connection.
//!
//! Before criterion runs, a paired report alternates the variants for several rounds and prints
//! the median throughput of each, the median of the per-round ratios to the fixed window, and
//! the CPU each acquire costs in this process and in Redis (`/proc/self/task/*/schedstat` and
//! `INFO cpu`, so Linux only; Redis CPU includes whatever else uses that Redis meanwhile).
//! `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the rounds; `SWITCHBOARD_BENCH_REPORT=only`
//! skips criterion.

#[cfg(feature = "redis")]
#[path = "../tests/it/support/addresses.rs"]
mod addresses;

#[cfg(feature = "redis")]
mod imp {
    use std::hint::black_box;
    use std::num::NonZeroU32;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use criterion::{Criterion, Throughput};
    use redis::aio::ConnectionManager;
    use switchboard::rate_limit::{RateDecision, RateKey, RateLimiter, RedisRateLimiter};
    use switchboard::{ConnectionId, Quota, TenantId};
    use tokio::runtime::Runtime;
    use tokio::task::JoinSet;

    const ACQUIRES: usize = 10_000;
    const TASKS: usize = 32;
    const ONE: NonZeroU32 = NonZeroU32::MIN;

    use crate::addresses::redis_url;

    /// The seed's design: one counter per tenant and wall-clock second.
    #[derive(Clone)]
    struct FixedWindow {
        conn: ConnectionManager,
        prefix: Arc<str>,
        max: u64,
    }

    impl FixedWindow {
        async fn acquire(&self, tenant: &str) -> bool {
            let window = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_secs();
            let key = format!("{}:fw:{tenant}:{window}", self.prefix);
            let mut conn = self.conn.clone();
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, 1)
                .ignore()
                .query_async(&mut conn)
                .await
                .expect("fixed window round trip");
            count <= self.max
        }
    }

    #[derive(Clone)]
    enum Variant {
        /// The limiter, whether it grants, the variant's name.
        Gcra(RedisRateLimiter, bool, &'static str),
        Fixed(FixedWindow),
    }

    impl Variant {
        fn name(&self) -> &'static str {
            match self {
                Variant::Gcra(_, _, name) => name,
                Variant::Fixed(_) => "fixed_window",
            }
        }

        /// 10,000 acquires over 32 tasks.
        async fn run(&self) {
            let mut tasks = JoinSet::new();
            for t in 0..TASKS {
                let v = self.clone();
                let n = ACQUIRES / TASKS + usize::from(t < ACQUIRES % TASKS);
                tasks.spawn(async move {
                    let tenant = format!("tenant-{t}");
                    let key = RateKey::new(
                        TenantId::new(&tenant),
                        ConnectionId::new("c1"),
                        "bench",
                        "default",
                    );
                    for _ in 0..n {
                        match &v {
                            Variant::Gcra(l, granted, _) => {
                                let d = l.acquire(&key, ONE).await.expect("redis acquire");
                                debug_assert_eq!(d == RateDecision::Granted, *granted);
                                black_box(d);
                            }
                            Variant::Fixed(f) => {
                                black_box(f.acquire(&tenant).await);
                            }
                        }
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.expect("bench task");
            }
        }
    }

    fn variants(rt: &Runtime) -> Vec<Variant> {
        rt.block_on(async {
            let url = redis_url();
            let prefix = format!("switchboard-bench:{:016x}", fastrand::u64(..));
            let connect = |p: String| {
                let url = url.clone();
                async move {
                    RedisRateLimiter::connect(&url, &p)
                        .await
                        .expect("Redis for the bench (scripts/test.sh starts one)")
                }
            };
            // Granted: a million per second per tenant, far above what one Redis serves.
            let granted = connect(format!("{prefix}:g")).await.with_quota(
                "bench",
                "default",
                Quota::per_second(NonZeroU32::new(1_000_000).unwrap()),
            );
            // Refused: one per minute, spent before measuring.
            let refused = connect(format!("{prefix}:r")).await.with_quota(
                "bench",
                "default",
                Quota::per_minute(NonZeroU32::MIN),
            );
            for t in 0..TASKS {
                let key = RateKey::new(
                    TenantId::new(format!("tenant-{t}")),
                    ConnectionId::new("c1"),
                    "bench",
                    "default",
                );
                let _ = refused.acquire(&key, ONE).await;
            }
            let client = redis::Client::open(url.as_str()).expect("Redis URL");
            let conn = ConnectionManager::new(client)
                .await
                .expect("Redis connection");
            let fixed = FixedWindow {
                conn,
                prefix: Arc::from(format!("{prefix}:f")),
                max: u64::MAX,
            };
            let asking = refused.clone().refusal_memory(0);
            vec![
                Variant::Gcra(granted, true, "gcra_granted"),
                Variant::Gcra(refused, false, "gcra_refused"),
                Variant::Gcra(asking, false, "gcra_refused_asking"),
                Variant::Fixed(fixed),
            ]
        })
    }

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// CPU time of this process (all threads) in ns, from `/proc/self/task/*/schedstat`
    /// (Linux only; `None` elsewhere).
    fn client_cpu_ns() -> Option<u64> {
        let mut total = 0;
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(total)
    }

    /// CPU time of the Redis server in ns (`INFO cpu`: main thread and its helpers).
    async fn redis_cpu_ns(conn: &mut ConnectionManager) -> Option<u64> {
        let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.ok()?;
        let mut total = 0.0;
        for line in info.lines() {
            if let Some(v) = line
                .strip_prefix("used_cpu_sys:")
                .or_else(|| line.strip_prefix("used_cpu_user:"))
            {
                total += v.trim().parse::<f64>().ok()?;
            }
        }
        Some((total * 1e9) as u64)
    }

    /// Alternates the variants (rotating which goes first) and prints, per variant, acquires
    /// per second and CPU per acquire in this process (client) and in Redis (server). Ratios
    /// are taken per round against the fixed window of the same round; medians over rounds.
    pub(crate) fn paired_report() {
        let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        let rt = runtime();
        let vs = variants(&rt);
        let mut info = rt.block_on(async {
            ConnectionManager::new(redis::Client::open(redis_url().as_str()).expect("URL"))
                .await
                .expect("Redis connection")
        });
        // Warm up connections, script cache and allocator.
        for v in &vs {
            rt.block_on(v.run());
        }
        let n = vs.len();
        let fixed = n - 1;
        let (mut rate, mut ratio) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let (mut client, mut server) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        for round in 0..rounds {
            let mut this = vec![(0.0, 0.0, 0.0); n];
            for i in 0..n {
                let i = (i + round) % n;
                let r0 = rt.block_on(redis_cpu_ns(&mut info)).unwrap_or(0);
                let c0 = client_cpu_ns().unwrap_or(0);
                let t = Instant::now();
                rt.block_on(vs[i].run());
                let wall = t.elapsed().as_secs_f64();
                let c1 = client_cpu_ns().unwrap_or(0);
                let r1 = rt.block_on(redis_cpu_ns(&mut info)).unwrap_or(0);
                let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / ACQUIRES as f64 / 1e3;
                this[i] = (ACQUIRES as f64 / wall, per(c0, c1), per(r0, r1));
            }
            for i in 0..n {
                rate[i].push(this[i].0);
                ratio[i].push(this[i].0 / this[fixed].0);
                client[i].push(this[i].1);
                server[i].push(this[i].2);
            }
        }
        println!(
            "PAIRED REPORT: {rounds} rounds of {ACQUIRES} acquires over {TASKS} tasks \
             (medians; throughput ratio to fixed_window per round, min..max)"
        );
        println!(
            "  {:<19} {:>10} {:>22} {:>14} {:>14}",
            "variant", "acquires/s", "vs fixed_window", "client us/acq", "redis us/acq"
        );
        for (i, v) in vs.iter().enumerate() {
            let lo = ratio[i].iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratio[i].iter().copied().fold(0.0, f64::max);
            println!(
                "  {:<19} {:>10.0} {:>7.3}x ({lo:.3}..{hi:.3}) {:>14.2} {:>14.2}",
                v.name(),
                median(&mut rate[i]),
                median(&mut ratio[i]),
                median(&mut client[i]),
                median(&mut server[i]),
            );
        }
    }

    pub(crate) fn redis_limiter(c: &mut Criterion) {
        let rt = runtime();
        let vs = variants(&rt);
        let mut g = c.benchmark_group("redis_limiter");
        g.throughput(Throughput::Elements(ACQUIRES as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8));
        for v in &vs {
            g.bench_function(v.name(), |b| b.to_async(&rt).iter(|| v.run()));
        }
        g.finish();
    }
}

#[cfg(feature = "redis")]
fn main() {
    imp::paired_report();
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = criterion::Criterion::default().configure_from_args();
    imp::redis_limiter(&mut c);
    c.final_summary();
}

#[cfg(not(feature = "redis"))]
fn main() {
    eprintln!(
        "benches/rate_limit.rs needs the `redis` feature: \
         cargo bench --bench rate_limit --features redis"
    );
}
