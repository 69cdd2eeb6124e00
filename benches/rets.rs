//! What reading a RETS COMPACT-DECODED search reply costs, against a floor measured in the same
//! run (the bench machine is small and shared, so only the ratio means much):
//!
//! - `rets/compact_parse`: `CompactReader` over the whole reply in memory (a `&[u8]`, the
//!   blocking API): header, every row, every field through `RowRef::get` (unescaped, decoded).
//! - `rets/memchr_scan`: `memchr` counting the tab delimiters of the same bytes: the speed of
//!   touching every byte once, which no parser can beat.
//!
//! The reply is `rets_gen.py 100000 40` (about 54 MB: 100,000 rows of 40 columns, a
//! 250-character remarks field with `&amp;` `&lt;` `&gt;` in most rows, 15% empty fields),
//! written once into the target folder (`$CARGO_TARGET_DIR/rets-bench/`), or the file named by
//! `RETS_BENCH_FILE`.
//!
//! Before criterion runs, a paired report alternates the two for several rounds and prints the
//! median MB/s of each, of the async API over the same bytes, and the median per-round ratio.
//! `SWITCHBOARD_BENCH_ROUNDS` (default 5) sets the rounds; `SWITCHBOARD_BENCH_REPORT=only`
//! skips criterion. `scripts/bench-rets.sh` runs this report next to Python `rets`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use switchboard::rets::CompactReader;

const ROWS: usize = 100_000;
const COLS: usize = 40;

/// The reply to parse: `$RETS_BENCH_FILE`, or `rets_gen.py` output cached in the target folder.
fn reply_file() -> PathBuf {
    if let Some(file) = std::env::var_os("RETS_BENCH_FILE") {
        return PathBuf::from(file);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    let dir = target.join("rets-bench");
    let file = dir.join(format!("reply-{ROWS}x{COLS}.xml"));
    if !file.exists() {
        let shared = std::env::var_os("SWITCHBOARD_SHARED_DIR")
            .map_or_else(|| manifest.join("../shared"), PathBuf::from);
        let tool = shared.join("tools/rets_gen.py");
        std::fs::create_dir_all(&dir).expect("create the bench folder");
        let tmp = dir.join("reply.tmp");
        let status = Command::new("python3")
            .arg(&tool)
            .arg(ROWS.to_string())
            .arg(COLS.to_string())
            .arg(&tmp)
            .status()
            .unwrap_or_else(|e| panic!("run {}: {e}", tool.display()));
        assert!(status.success(), "{} failed: {status}", tool.display());
        std::fs::rename(&tmp, &file).expect("move the generated reply");
    }
    file
}

/// Every row and field of the reply; returns (rows, bytes of decoded text) so nothing is
/// optimised away.
fn parse(bytes: &[u8]) -> (u64, usize) {
    let mut reader = CompactReader::new(bytes);
    let mut text = 0;
    while let Some(row) = reader.next_row_sync().expect("a valid reply") {
        for i in 0..row.len() {
            text += black_box(row.get(i)).map_or(0, |f| f.len());
        }
    }
    (reader.rows_read(), text)
}

/// The same through the async API (`&[u8]` is a `tokio::io::AsyncBufRead`).
async fn parse_async(bytes: &[u8]) -> (u64, usize) {
    let mut reader = CompactReader::new(bytes);
    let mut text = 0;
    while let Some(row) = reader.next_row().await.expect("a valid reply") {
        for i in 0..row.len() {
            text += black_box(row.get(i)).map_or(0, |f| f.len());
        }
    }
    (reader.rows_read(), text)
}

/// The floor: one memchr pass counting the delimiters.
fn scan(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\t', black_box(bytes)).count()
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mbps(len: usize, d: Duration) -> f64 {
    len as f64 / d.as_secs_f64() / 1e6
}

fn paired_report(bytes: &[u8], rt: &tokio::runtime::Runtime) {
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (rows, _) = parse(bytes); // warm up, and the row count to print
    let (mut ours, mut asy, mut floor, mut ratio) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (p, _) = timed(|| parse(bytes));
        let (a, _) = timed(|| rt.block_on(parse_async(bytes)));
        let (s, _) = timed(|| scan(bytes));
        ours.push(mbps(bytes.len(), p));
        asy.push(mbps(bytes.len(), a));
        floor.push(mbps(bytes.len(), s));
        ratio.push(s.as_secs_f64() / p.as_secs_f64());
    }
    println!(
        "rets compact parse: {:.0} MB/s (sync), {:.0} MB/s (async); memchr scan: {:.0} MB/s; \
         parse/scan speed ratio {:.3} (median of {rounds} paired rounds; {} bytes, {rows} rows)",
        median(ours),
        median(asy),
        median(floor),
        median(ratio),
        bytes.len()
    );
}

fn main() {
    let file = reply_file();
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    paired_report(&bytes, &rt);
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("rets");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("compact_parse", |b| b.iter(|| parse(&bytes)));
    g.bench_function("memchr_scan", |b| b.iter(|| scan(&bytes)));
    g.finish();
    c.final_summary();
}
