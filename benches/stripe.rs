//! What verifying a `Stripe-Signature` webhook costs, on a 2 KiB event body, against the floor
//! in the same run (the bench machine is small and noisy, so only the ratio means much):
//!
//! - `stripe/verify_2k`: `StripeVerifier::verify_at` (header parsed, timestamp checked against
//!   a fixed clock, hex signature decoded, HMAC-SHA256 of `"<t>." + body`, constant-time
//!   compare, event id read from the body).
//! - `stripe/raw_hmac_2k`: key an HMAC-SHA256 with the secret, feed `"<t>."` and the same
//!   2 KiB (exactly the signed bytes), finalize. Target: ours at most 1.1x this.
//!
//! Before criterion runs, a paired report alternates the two for several rounds and prints the
//! median of each and of the per-round ratios. `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the
//! rounds; `SWITCHBOARD_BENCH_REPORT=only` skips criterion.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use switchboard::stripe::{test_header, StripeVerifier};
use switchboard::webhook::WebhookRequest;

const SECRET: &str = "whsec_test_secret_for_the_bench";
const T: u64 = 1_700_000_000;
const BODY_LEN: usize = 2048;

struct Fixture {
    body: Vec<u8>,
    headers: HeaderMap,
    now: SystemTime,
    ours: StripeVerifier,
}

fn fixture() -> Fixture {
    // A Stripe-shaped event padded to 2 KiB.
    let head = "{\n  \"id\": \"evt_1NnmXEGPxmnHQRkJO3bak93X\",\n  \"object\": \"event\",\n  \"type\": \"payment_intent.succeeded\",\n  \"data\": {\n    \"object\": {\"id\": \"pi_1\", \"object\": \"payment_intent\", \"description\": \"";
    let tail = "\"}\n  }\n}";
    let mut body = head.as_bytes().to_vec();
    body.resize(BODY_LEN - tail.len(), b'x');
    body.extend_from_slice(tail.as_bytes());
    assert_eq!(body.len(), BODY_LEN);
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(&test_header(&body, SECRET, T)).unwrap(),
    );
    Fixture {
        body,
        headers,
        now: UNIX_EPOCH + Duration::from_secs(T + 1),
        ours: StripeVerifier::new(SECRET),
    }
}

fn ours(f: &Fixture) {
    let v = f
        .ours
        .verify_at(&WebhookRequest::new(black_box(&f.body), &f.headers), f.now)
        .expect("valid");
    black_box(v);
}

fn raw(f: &Fixture) {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"1700000000.");
    mac.update(black_box(&f.body));
    black_box(mac.finalize().into_bytes());
}

fn time(iters: u32, f: &Fixture, g: fn(&Fixture)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        g(f);
    }
    start.elapsed() / iters
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn paired_report(f: &Fixture) {
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let o = time(20_000, f, ours).as_nanos() as f64;
        let r = time(20_000, f, raw).as_nanos() as f64;
        a.push(o);
        b.push(r);
        ratio.push(o / r);
    }
    println!(
        "stripe verify 2 KiB: {:.0} ns; raw HMAC-SHA256: {:.0} ns; ratio (median of {rounds} paired rounds) {:.2}x (target <= 1.1x)",
        median(a),
        median(b),
        median(ratio)
    );
}

fn main() {
    let f = fixture();
    paired_report(&f);
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut g = c.benchmark_group("stripe");
    g.throughput(Throughput::Bytes(BODY_LEN as u64));
    g.bench_function("verify_2k", |bch| bch.iter(|| ours(&f)));
    g.bench_function("raw_hmac_2k", |bch| bch.iter(|| raw(&f)));
    g.finish();
    c.final_summary();
}
