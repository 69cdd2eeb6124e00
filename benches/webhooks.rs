//! What verifying a Standard Webhooks request costs, on a 2 KiB body, against two references in
//! the same run (the bench machine is small and noisy, so only the ratios mean much):
//!
//! - `webhooks/standard_verify_2k`: `StandardWebhooks::verify_at` (headers parsed, timestamp
//!   checked against a fixed clock, signature decoded, HMAC-SHA256 of `{id}.{ts}.{body}`,
//!   constant-time compare).
//! - `webhooks/raw_hmac_2k`: the floor: key an HMAC-SHA256 and feed it exactly the bytes that
//!   are signed (`{id}.{ts}.` and the same 2 KiB), finalize. Target: ours at most 1.1x this.
//! - `webhooks/svix_verify_2k`: `svix::webhooks::Webhook::verify` on the same body and headers
//!   (it checks the timestamp against the system clock, so the header carries "now").
//!   Target: ours at least 4x faster.
//!
//! Before criterion runs, a paired report alternates the three for several rounds and prints
//! the median time of each and the median of the per-round ratios.
//! `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the rounds; `SWITCHBOARD_BENCH_REPORT=only`
//! skips criterion.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use switchboard::webhook::{StandardWebhooks, WebhookRequest};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const BODY_LEN: usize = 2048;

struct Fixture {
    body: Vec<u8>,
    headers: HeaderMap,
    now: SystemTime,
    ours: StandardWebhooks,
    svix: svix::webhooks::Webhook,
    key: Vec<u8>,
    /// `{id}.{ts}.`, the part of the signed bytes before the body.
    prefix: String,
}

fn fixture() -> Fixture {
    // A JSON-looking body of exactly 2 KiB.
    let mut body = br#"{"type":"invoice.paid","data":{"note":""#.to_vec();
    while body.len() < BODY_LEN - 3 {
        body.push(b'a' + (body.len() % 26) as u8);
    }
    body.extend_from_slice(br#""}}"#);
    assert_eq!(body.len(), BODY_LEN);

    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let now = UNIX_EPOCH + Duration::from_secs(now_secs);
    let ours = StandardWebhooks::new(SECRET).expect("valid secret");
    let signature = ours.sign(ID, now_secs, &body).expect("has a secret");
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", ID.parse().expect("ascii"));
    headers.insert(
        "webhook-timestamp",
        now_secs.to_string().parse().expect("ascii"),
    );
    headers.insert("webhook-signature", signature.parse().expect("ascii"));

    let svix = svix::webhooks::Webhook::new(SECRET).expect("valid secret");
    svix.verify(&body, &headers)
        .expect("svix accepts our signature");
    ours.verify_at(&WebhookRequest::new(&body, &headers), now)
        .expect("we accept our signature");

    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY_B64)
        .expect("valid key");
    Fixture {
        body,
        headers,
        now,
        ours,
        svix,
        key,
        prefix: format!("{ID}.{now_secs}."),
    }
}

fn ours(f: &Fixture) {
    let req = WebhookRequest::new(black_box(&f.body), black_box(&f.headers));
    black_box(f.ours.verify_at(&req, f.now).is_ok());
}

fn raw_hmac(f: &Fixture) {
    let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&f.key)).expect("any key length");
    mac.update(black_box(f.prefix.as_bytes()));
    mac.update(black_box(&f.body));
    black_box(mac.finalize().into_bytes());
}

fn svix(f: &Fixture) {
    black_box(
        f.svix
            .verify(black_box(&f.body), black_box(&f.headers))
            .is_ok(),
    );
}

/// Median ns per call of `run` over a fixed number of calls.
fn time_ns(f: &Fixture, run: fn(&Fixture), calls: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        run(f);
    }
    start.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn paired_report(f: &Fixture) {
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
        .max(1);
    const CALLS: u32 = 20_000;
    for run in [ours, raw_hmac, svix] {
        time_ns(f, run, CALLS / 10); // warm up
    }
    let (mut o, mut r, mut s) = (Vec::new(), Vec::new(), Vec::new());
    let (mut o_r, mut s_o) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let a = time_ns(f, ours, CALLS);
        let b = time_ns(f, raw_hmac, CALLS);
        let c = time_ns(f, svix, CALLS);
        o.push(a);
        r.push(b);
        s.push(c);
        o_r.push(a / b);
        s_o.push(c / a);
    }
    println!(
        "paired report ({rounds} rounds x {CALLS} calls, 2 KiB body): \
         ours {:.0} ns, raw HMAC {:.0} ns, svix {:.0} ns; \
         ours/raw = {:.2}x (target <= 1.1x), svix/ours = {:.2}x (target >= 4x)",
        median(&mut o),
        median(&mut r),
        median(&mut s),
        median(&mut o_r),
        median(&mut s_o),
    );
}

fn main() {
    let f = fixture();
    paired_report(&f);
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("webhooks");
        g.throughput(Throughput::Bytes(BODY_LEN as u64));
        g.bench_function("standard_verify_2k", |b| b.iter(|| ours(&f)));
        g.bench_function("raw_hmac_2k", |b| b.iter(|| raw_hmac(&f)));
        g.bench_function("svix_verify_2k", |b| b.iter(|| svix(&f)));
        g.finish();
    }
    c.final_summary();
}
