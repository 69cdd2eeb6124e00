//! What the sync engine's runner costs per record over a loop that hands the same batches to
//! the same sink (issue 13, "Speed": at most 1.2x), with an in-memory source and sink, as
//! ratios against the loop measured in the same run (the bench machine is small and noisy).
//!
//! Both variants read the same 10,000 listings (8 fields each, ten records sharing each
//! timestamp so ties cross page breaks) from the same source, in pages of 100 or 1,000, and
//! write to the same kind of sink, fresh for each iteration (its setup is not timed):
//!
//! - `baseline`: the loop a host would write by hand to get the same result: fetch a page
//!   (keyset paging after the last `(updated_at, key)` seen), ask the sink what it holds for
//!   the page's keys, skip what it holds at the same or a newer version, build the same
//!   `Change` values the engine builds (created, or updated with the changed field names, and
//!   the watched field's change), hand them to `apply`, and keep the last mark in a local.
//! - `engine`: `SyncEngine::run` of an inbound job (fresh in-memory store, so it reads from
//!   the start): the same work plus what makes it a runner (the job's lock, a run log entry
//!   begun and finished, de-duplication of keys within a page, a fenced cursor save after each
//!   page, run counts, progress and change events on the broadcast channel, with no
//!   subscriber).
//!
//! Scenarios: `initial` (empty sink: every record is created), `update` (the sink holds an
//! older version of every record with another status: every record is updated, with the
//! changed fields and the watched `status`), `replay` (the sink holds every record at the
//! same version: nothing is applied).
//!
//! The sides are the bench's own lean ones, not `sync::memory::{MemorySource, MemorySink}`:
//! those are for tests (the source scans and sorts its whole map for each page, the sink keeps
//! a copy of every change for inspection), and their cost would hide the runner's.
//!
//! A paired report alternates the two variants for several rounds first and prints the
//! median of the per-round ratios. `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the rounds;
//! `SWITCHBOARD_BENCH_REPORT=only` skips criterion; `SWITCHBOARD_BENCH_SCENARIO=initial` (or
//! `update`, `replay`) runs one scenario (for an instruction count under callgrind). See
//! `docs/performance.md`, "Sync engine".

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use criterion::{BatchSize, BenchmarkId, Criterion};
use serde_json::{json, Value};
use switchboard::sync::{
    Change, ChangeKind, ChangePage, ChangeRequest, FieldChange, Fields, Held, InMemorySyncStore,
    JobKey, Mark, NextPage, RunStatus, SyncEngine, SyncJob, SyncRecord, SyncSink, SyncSource,
    Trigger, Version,
};
use switchboard::Error;
use tokio::runtime::Runtime;

const RECORDS: usize = 10_000;
const TIES: usize = 10;
const PAGE_SIZES: [usize; 2] = [100, 1_000];
const WATCH: &str = "status";

fn listing(i: usize, status: &str) -> Fields {
    let v = json!({
        "status": status,
        "price": 250_000 + i * 100,
        "beds": 1 + i % 5,
        "baths": 1 + i % 3,
        "city": "Springfield",
        "street": format!("{} Evergreen Terrace", i),
        "agent": format!("agent-{}", i % 50),
        "photos": i % 30,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn stamp(i: usize) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + (i / TIES) as u64)
}

/// The source's records (version 2, status `pending`), sorted by `(updated_at, key)`.
fn source_records() -> Vec<SyncRecord> {
    let mut records: Vec<SyncRecord> = (0..RECORDS)
        .map(|i| {
            SyncRecord::new(format!("L{i:06}"), listing(i, "pending"))
                .version(Version::new(2))
                .updated_at(stamp(i))
        })
        .collect();
    records.sort_by(|a, b| (a.updated_at, &a.key).cmp(&(b.updated_at, &b.key)));
    records
}

/// What the sink holds before an iteration of each scenario.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    Initial,
    Update,
    Replay,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Initial, Scenario::Update, Scenario::Replay];

    fn name(self) -> &'static str {
        match self {
            Scenario::Initial => "initial",
            Scenario::Update => "update",
            Scenario::Replay => "replay",
        }
    }

    fn held(self, source: &[SyncRecord]) -> HashMap<String, Held> {
        match self {
            Scenario::Initial => HashMap::new(),
            Scenario::Update => (0..RECORDS)
                .map(|i| {
                    (
                        format!("L{i:06}"),
                        Held::live(Some(Version::new(1)), listing(i, "active")),
                    )
                })
                .collect(),
            Scenario::Replay => source
                .iter()
                .map(|r| (r.key.clone(), Held::live(r.version, r.fields.clone())))
                .collect(),
        }
    }

    /// How many changes one pass applies.
    fn applied(self) -> usize {
        match self {
            Scenario::Initial | Scenario::Update => RECORDS,
            Scenario::Replay => 0,
        }
    }
}

/// A source over a sorted `Vec`: keyset paging by binary search, so a page costs what cloning
/// its records costs.
struct VecSource {
    records: Vec<SyncRecord>,
}

#[async_trait]
impl SyncSource for VecSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let rs = &self.records;
        let start = match &request.after {
            None => 0,
            Some(a) => rs.partition_point(|r| {
                (r.updated_at, r.key.as_str()) <= (Some(a.at), a.key.as_str())
            }),
        };
        let end = rs.partition_point(|r| r.updated_at.is_some_and(|t| t < request.until));
        let stop = end.min(start.saturating_add(request.limit)).max(start);
        Ok(ChangePage {
            records: rs[start..stop].to_vec(),
            next: if stop < end {
                NextPage::AfterLast
            } else {
                NextPage::Done
            },
            estimated_total: None,
        })
    }
}

/// A sink over a `HashMap`: `held` copies what it holds for the keys, `apply` writes each
/// change if it is not older than what it holds (as a host's conditional `UPDATE` does).
#[derive(Default)]
struct MapSink {
    held: Mutex<HashMap<String, Held>>,
}

impl MapSink {
    fn with(held: HashMap<String, Held>) -> Arc<Self> {
        Arc::new(MapSink {
            held: Mutex::new(held),
        })
    }

    fn snapshot(&self) -> HashMap<String, Held> {
        self.held.lock().expect("sink lock").clone()
    }
}

#[async_trait]
impl SyncSink for MapSink {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        let held = self.held.lock().expect("sink lock");
        Ok(keys
            .iter()
            .filter_map(|k| held.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        let mut held = self.held.lock().expect("sink lock");
        for c in batch {
            let r = &c.record;
            if let (Some(new), Some(Some(old))) = (r.version, held.get(&r.key).map(|h| h.version)) {
                if new < old {
                    continue;
                }
            }
            let h = if r.deleted {
                Held::tombstone(r.version)
            } else {
                Held::live(r.version, r.fields.clone())
            };
            held.insert(r.key.clone(), h);
        }
        Ok(())
    }
}

/// The hand-written classification: what the sink held against the new record.
fn hand_change(r: SyncRecord, held: Option<&Held>) -> Option<Change> {
    if let Some(h) = held {
        if h.version.is_some() && h.version >= r.version {
            return None;
        }
    }
    let before = held.and_then(|h| h.fields.as_ref());
    let kind = match (before, r.deleted) {
        (None, true) => ChangeKind::Tombstone,
        (Some(_), true) => ChangeKind::Deleted,
        (None, false) => ChangeKind::Created,
        (Some(b), false) => {
            let mut fields: Vec<String> = b
                .iter()
                .filter(|(k, v)| r.fields.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .chain(r.fields.keys().filter(|k| !b.contains_key(*k)).cloned())
                .collect();
            fields.sort();
            ChangeKind::Updated { fields }
        }
    };
    let from = before.and_then(|b| b.get(WATCH)).cloned();
    let to = if r.deleted {
        None
    } else {
        r.fields.get(WATCH).cloned()
    };
    let watched = (from != to && kind.is_event()).then(|| FieldChange {
        field: WATCH.to_string(),
        from,
        to,
    });
    Some(Change {
        record: r,
        kind,
        watched,
    })
}

/// The baseline: the loop a host writes by hand. Returns how many changes it applied.
async fn baseline(source: &VecSource, sink: &MapSink, limit: usize) -> Result<usize, Error> {
    let until = SystemTime::now();
    let mut after: Option<Mark> = None;
    let mut applied = 0;
    loop {
        let request = ChangeRequest {
            after: after.clone(),
            until,
            page: None,
            limit,
        };
        let page = source.changes(&request).await?;
        let last = page
            .records
            .iter()
            .filter_map(|r| Some((r.updated_at?, r.key.as_str())))
            .max()
            .map(|(at, key)| Mark::new(at, key));
        let keys: Vec<String> = page.records.iter().map(|r| r.key.clone()).collect();
        let held = sink.held(&keys).await?;
        let changes: Vec<Change> = page
            .records
            .into_iter()
            .filter_map(|r| {
                let h = held.get(&r.key);
                hand_change(r, h)
            })
            .collect();
        if !changes.is_empty() {
            sink.apply(&changes).await?;
            applied += changes.len();
        }
        match page.next {
            NextPage::AfterLast if last.is_some() => after = last,
            _ => return Ok(applied),
        }
    }
}

struct Fixture {
    source: Arc<VecSource>,
}

impl Fixture {
    fn job(&self, sink: Arc<MapSink>, limit: usize) -> SyncJob {
        SyncJob::new(
            JobKey::new("t1", "mls", "listings"),
            self.source.clone(),
            sink,
        )
        .page_size(limit)
        .watch(WATCH)
        .safety_lag(Duration::ZERO)
    }

    fn engine() -> SyncEngine {
        SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build()
    }
}

/// One engine run; returns how many changes it applied.
async fn engine_run(engine: &SyncEngine, job: &SyncJob) -> Result<usize, Error> {
    let log = engine.run(job, Trigger::Schedule).await?;
    assert_eq!(log.status, RunStatus::Succeeded);
    let c = log.counts;
    Ok((c.created + c.updated + c.deleted) as usize)
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Per-record nanoseconds of one baseline pass over a fresh sink.
fn time_baseline(rt: &Runtime, fx: &Fixture, held: &HashMap<String, Held>, limit: usize) -> f64 {
    let sink = MapSink::with(held.clone());
    let t = Instant::now();
    black_box(
        rt.block_on(baseline(&fx.source, &sink, limit))
            .expect("baseline"),
    );
    per_record(t.elapsed())
}

/// Per-record nanoseconds of one engine run over a fresh sink and store.
fn time_engine(rt: &Runtime, fx: &Fixture, held: &HashMap<String, Held>, limit: usize) -> f64 {
    let job = fx.job(MapSink::with(held.clone()), limit);
    let engine = Fixture::engine();
    let t = Instant::now();
    black_box(rt.block_on(engine_run(&engine, &job)).expect("engine"));
    per_record(t.elapsed())
}

fn per_record(d: Duration) -> f64 {
    d.as_nanos() as f64 / RECORDS as f64
}

/// One baseline pass and one engine run, in turns (odd rounds start with the engine), each
/// sink dropped before the other variant runs.
fn paired_round(
    rt: &Runtime,
    fx: &Fixture,
    held: &HashMap<String, Held>,
    limit: usize,
    round: usize,
) -> (f64, f64) {
    if round.is_multiple_of(2) {
        let b = time_baseline(rt, fx, held, limit);
        (b, time_engine(rt, fx, held, limit))
    } else {
        let e = time_engine(rt, fx, held, limit);
        (time_baseline(rt, fx, held, limit), e)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fx = Fixture {
        source: Arc::new(VecSource {
            records: source_records(),
        }),
    };
    let only = std::env::var("SWITCHBOARD_BENCH_SCENARIO").ok();
    let scenarios: Vec<(Scenario, HashMap<String, Held>)> = Scenario::ALL
        .iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name()))
        .map(|s| (*s, s.held(&fx.source.records)))
        .collect();

    // Both variants apply the same changes and leave the sink in the same state before
    // anything is timed.
    for (s, held) in &scenarios {
        for limit in PAGE_SIZES {
            let a = MapSink::with(held.clone());
            let n = rt
                .block_on(baseline(&fx.source, &a, limit))
                .expect("baseline");
            let b = MapSink::with(held.clone());
            let m = rt
                .block_on(engine_run(&Fixture::engine(), &fx.job(b.clone(), limit)))
                .expect("engine");
            assert_eq!((n, m), (s.applied(), s.applied()), "{s:?} pages of {limit}");
            assert!(a.snapshot() == b.snapshot(), "{s:?}: the sinks differ");
        }
    }

    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    println!("paired report ({rounds} rounds, {RECORDS} records a pass, ns per record):");
    for (s, held) in &scenarios {
        for limit in PAGE_SIZES {
            let (mut b, mut e, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                let (x, y) = paired_round(&rt, &fx, held, limit, round);
                b.push(x);
                e.push(y);
                ratio.push(y / x);
            }
            println!(
                "  {:<7} pages of {limit:>5}: baseline {:>7.0} ns, engine {:>7.0} ns; engine/baseline = {:.2}x",
                s.name(),
                median(&mut b),
                median(&mut e),
                median(&mut ratio),
            );
        }
    }
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }

    let mut crit = Criterion::default().configure_from_args();
    for (s, held) in &scenarios {
        let mut g = crit.benchmark_group(format!("sync_{}", s.name()));
        g.throughput(criterion::Throughput::Elements(RECORDS as u64));
        // A pass takes tens of milliseconds: 20 samples fit the measurement time.
        g.sample_size(20);
        for limit in PAGE_SIZES {
            g.bench_with_input(BenchmarkId::new("baseline", limit), &limit, |b, &limit| {
                b.to_async(&rt).iter_batched(
                    || MapSink::with(held.clone()),
                    |sink| {
                        let source = fx.source.clone();
                        async move {
                            black_box(baseline(&source, &sink, limit).await.expect("baseline"));
                            sink
                        }
                    },
                    BatchSize::PerIteration,
                );
            });
            g.bench_with_input(BenchmarkId::new("engine", limit), &limit, |b, &limit| {
                b.to_async(&rt).iter_batched(
                    || {
                        (
                            Fixture::engine(),
                            fx.job(MapSink::with(held.clone()), limit),
                        )
                    },
                    |(engine, job)| async move {
                        black_box(engine_run(&engine, &job).await.expect("engine"));
                        // Dropped after the timing, as the baseline's sink is.
                        (engine, job)
                    },
                    BatchSize::PerIteration,
                );
            });
        }
        g.finish();
    }
    crit.final_summary();
}
