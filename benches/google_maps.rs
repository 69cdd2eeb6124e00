//! What parsing a Google Maps answer into its typed model costs, against parsing the same
//! bytes into a `serde_json::Value` in the same run (the bench machine is small and noisy, so
//! only the ratio means much):
//!
//! - `google_maps/matrix_25x25_typed`: `serde_json::from_slice::<DistanceMatrixResponse>` of a
//!   25 x 25 Distance Matrix answer built in memory (addresses and elements shaped like
//!   Google's samples, pretty-printed, with `duration_in_traffic`, a few elements `NOT_FOUND`
//!   or `ZERO_RESULTS`).
//! - `google_maps/matrix_25x25_value`: `serde_json::from_slice::<Value>` of the same bytes.
//!   Target: typed at most 1.5x this (aim: under 1.0x).
//!
//! Before criterion runs, a paired report alternates the two for several rounds and prints the
//! median of each and of the per-round ratios, and the same for Google's geocode sample
//! (`fixtures/google-maps/responses/maps_http_geocode_response.json` in
//! `$SWITCHBOARD_SHARED_DIR`, or `../shared`; for information) and for a derived
//! `#[serde(flatten)]` model of the matrix (for information: what the hand-written matrix
//! impls save, which on this answer is nothing measurable), and the matrix through `switchboard::decode_json` (what a typed call uses: it
//! tracks the JSON path for errors) against a `Value` through it, and the typed against the
//! derived model through `serde_json::from_reader` (which lends no strings). `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the rounds;
//! `SWITCHBOARD_BENCH_REPORT=only` skips criterion.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard::google_maps::{DistanceMatrixResponse, GeocodeResponse, MapsStatus};

const SIDE: usize = 25;

/// A 25 x 25 answer, pretty-printed as Google sends it.
fn matrix() -> Vec<u8> {
    let place = |i: usize| format!("{} Main Street, Springfield, MA 011{:02}, USA", 100 + i, i);
    let rows: Vec<Value> = (0..SIDE)
        .map(|o| {
            let elements: Vec<Value> = (0..SIDE)
                .map(|d| match (o * SIDE + d) % 97 {
                    13 => json!({"status": "NOT_FOUND"}),
                    61 => json!({"status": "ZERO_RESULTS"}),
                    _ => {
                        let metres = 1_000 + 137 * o + 911 * d;
                        let secs = 120 + 11 * o + 53 * d;
                        json!({
                            "distance": {"text": format!("{:.1} km", metres as f64 / 1000.0), "value": metres},
                            "duration": {"text": format!("{} mins", secs / 60), "value": secs},
                            "duration_in_traffic": {"text": format!("{} mins", secs * 6 / 5 / 60), "value": secs * 6 / 5},
                            "status": "OK"
                        })
                    }
                })
                .collect();
            json!({ "elements": elements })
        })
        .collect();
    let answer = json!({
        "destination_addresses": (0..SIDE).map(|i| place(SIDE + i)).collect::<Vec<_>>(),
        "origin_addresses": (0..SIDE).map(place).collect::<Vec<_>>(),
        "rows": rows,
        "status": "OK"
    });
    serde_json::to_vec_pretty(&answer).expect("a Value serializes")
}

/// Google's geocode sample, if the shared folder is there.
fn geocode_sample() -> Option<Vec<u8>> {
    let dir = std::env::var_os("SWITCHBOARD_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    std::fs::read(dir.join("fixtures/google-maps/responses/maps_http_geocode_response.json")).ok()
}

// What a derived model with `#[serde(flatten)]` on every level costs (for the report only).
#[derive(Deserialize)]
#[allow(dead_code)]
struct DerivedMatrix {
    #[serde(default)]
    origin_addresses: Vec<String>,
    #[serde(default)]
    destination_addresses: Vec<String>,
    #[serde(default)]
    rows: Vec<DerivedRow>,
    status: MapsStatus,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct DerivedRow {
    elements: Vec<DerivedElement>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct DerivedElement {
    status: MapsStatus,
    #[serde(default)]
    distance: Option<DerivedTextValue>,
    #[serde(default)]
    duration: Option<DerivedTextValue>,
    #[serde(default)]
    duration_in_traffic: Option<DerivedTextValue>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct DerivedTextValue {
    text: String,
    value: i64,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn typed_matrix(b: &[u8]) {
    let m: DistanceMatrixResponse = serde_json::from_slice(black_box(b)).expect("parses");
    black_box(m);
}

fn value(b: &[u8]) {
    let v: Value = serde_json::from_slice(black_box(b)).expect("parses");
    black_box(v);
}

fn derived_matrix(b: &[u8]) {
    let m: DerivedMatrix = serde_json::from_slice(black_box(b)).expect("parses");
    black_box(m);
}

// `from_reader` cannot lend strings to serde's buffered `Content`, so flatten copies them.
fn reader_typed(b: &[u8]) {
    let m: DistanceMatrixResponse = serde_json::from_reader(black_box(b)).expect("parses");
    black_box(m);
}

fn reader_derived(b: &[u8]) {
    let m: DerivedMatrix = serde_json::from_reader(black_box(b)).expect("parses");
    black_box(m);
}

fn decode_typed(b: &[u8]) {
    let m: DistanceMatrixResponse = switchboard::decode_json(black_box(b)).expect("parses");
    black_box(m);
}

fn decode_derived(b: &[u8]) {
    let m: DerivedMatrix = switchboard::decode_json(black_box(b)).expect("parses");
    black_box(m);
}

fn decode_value(b: &[u8]) {
    let v: Value = switchboard::decode_json(black_box(b)).expect("parses");
    black_box(v);
}

fn typed_geocode(b: &[u8]) {
    let g: GeocodeResponse = serde_json::from_slice(black_box(b)).expect("parses");
    black_box(g);
}

fn time(iters: u32, b: &[u8], g: fn(&[u8])) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        g(b);
    }
    start.elapsed() / iters
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternates `ours` and `base` for `rounds` rounds; the medians of each (ns) and of the
/// per-round ratios.
fn paired(
    rounds: usize,
    iters: u32,
    b: &[u8],
    ours: fn(&[u8]),
    base: fn(&[u8]),
) -> (f64, f64, f64) {
    let (mut a, mut v, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let o = time(iters, b, ours).as_nanos() as f64;
        let r = time(iters, b, base).as_nanos() as f64;
        a.push(o);
        v.push(r);
        ratio.push(o / r);
    }
    (median(a), median(v), median(ratio))
}

fn paired_report(m: &[u8], geocode: Option<&[u8]>) {
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let (t, v, r) = paired(rounds, 100, m, typed_matrix, value);
    println!(
        "google maps 25x25 distance matrix ({} bytes): typed {:.0} ns; Value {:.0} ns; ratio (median of {rounds} paired rounds) {:.2}x (target <= 1.5x, aim < 1.0x)",
        m.len(),
        t,
        v,
        r
    );
    let (t, v, r) = paired(rounds, 100, m, derived_matrix, value);
    println!(
        "  for information: a derived #[serde(flatten)] matrix model {t:.0} ns; Value {v:.0} ns; ratio {r:.2}x"
    );
    let (t, v, r) = paired(rounds, 100, m, decode_typed, decode_value);
    println!(
        "  for information: through switchboard::decode_json (JSON pointer on error): typed {t:.0} ns; Value {v:.0} ns; ratio {r:.2}x"
    );
    let (t, v, r) = paired(rounds, 100, m, decode_derived, decode_value);
    println!(
        "  for information: the derived model through switchboard::decode_json {t:.0} ns; Value {v:.0} ns; ratio {r:.2}x"
    );
    let (t, d, r) = paired(rounds, 100, m, reader_typed, reader_derived);
    println!(
        "  for information: through serde_json::from_reader: typed {t:.0} ns; derived flatten model {d:.0} ns; typed / derived {r:.2}x"
    );
    match geocode {
        Some(g) => {
            let (t, v, r) = paired(rounds, 5_000, g, typed_geocode, value);
            println!(
                "  for information: geocode sample ({} bytes, derived models with flatten): typed {t:.0} ns; Value {v:.0} ns; ratio {r:.2}x",
                g.len()
            );
        }
        None => println!("  geocode sample not found (set SWITCHBOARD_SHARED_DIR): skipped"),
    }
}

fn main() {
    let m = matrix();
    // The answer is what the bench claims: 25 x 25, with some elements not OK.
    let parsed: DistanceMatrixResponse = serde_json::from_slice(&m).expect("parses");
    assert_eq!(parsed.rows.len(), SIDE);
    assert!(parsed.rows.iter().all(|r| r.elements.len() == SIDE));
    let not_ok = parsed
        .rows
        .iter()
        .flat_map(|r| &r.elements)
        .filter(|e| e.status != MapsStatus::Ok)
        .count();
    assert!(not_ok > 0 && not_ok < 20, "{not_ok} elements not OK");
    let geocode = geocode_sample();

    paired_report(&m, geocode.as_deref());
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("google_maps");
    g.throughput(Throughput::Bytes(m.len() as u64));
    g.bench_function("matrix_25x25_typed", |bch| bch.iter(|| typed_matrix(&m)));
    g.bench_function("matrix_25x25_value", |bch| bch.iter(|| value(&m)));
    g.finish();
    if let Some(geo) = &geocode {
        let mut g = c.benchmark_group("google_maps");
        g.throughput(Throughput::Bytes(geo.len() as u64));
        g.bench_function("geocode_typed", |bch| bch.iter(|| typed_geocode(geo)));
        g.bench_function("geocode_value", |bch| bch.iter(|| value(geo)));
        g.finish();
    }
    c.final_summary();
}
