//! What verifying an `X-Twilio-Signature` costs, against a floor measured in the same run (the
//! bench machine is small and noisy, so the ratio means more than the times), on two forms:
//!
//! - `verify_1536_24p`: a 24-parameter, 1.5 KiB form (a large message status callback with
//!   media and location fields; the case issue 18 measures). Target: at most 3x the floor.
//! - `verify_1k_23p`: the earlier 23-parameter, 1 KiB form (a typical status callback is ~15
//!   parameters and ~600 bytes).
//!
//! Each is `TwilioVerifier::verify` (header decoded, URL taken as given, form parsed and
//! percent-decoded, pairs sorted, HMAC-SHA1, constant-time compare, de-duplication id). Its
//! floor, `raw_hmac_sha1_*`, keys an HMAC-SHA1 with the token and feeds it exactly the string
//! Twilio signs (URL + sorted params), already built, then finalizes.
//!
//! Before criterion runs, a paired report alternates ours and the floor for several rounds and
//! prints the median of each and the median per-round ratio. `SWITCHBOARD_BENCH_ROUNDS`
//! (default 7) sets the rounds; `SWITCHBOARD_BENCH_REPORT=only` skips criterion.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha1::Sha1;
use switchboard::twilio::{TwilioSigner, TwilioVerifier};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};

const TOKEN: &str = "9f3c0f6c2b1e4d7a8c5b3e2d1f0a9b8c";
const URL: &str = "https://hooks.example.com/twilio/status?tenant=acme&connection=sms";

struct Fixture {
    name: &'static str,
    params: usize,
    body: Vec<u8>,
    headers: HeaderMap,
    url: url::Url,
    verifier: TwilioVerifier,
    string_to_sign: String,
}

/// `n` Twilio-like parameters (phone numbers, so `+` is percent-encoded as Twilio sends it),
/// the last one padded so the encoded body is exactly `len` bytes.
fn fixture(name: &'static str, n: usize, len: usize) -> Fixture {
    let mut params: Vec<(String, String)> = (0..n - 1)
        .map(|i| (format!("Param{i:02}"), format!("+1415555{i:04}")))
        .collect();
    params.push(("Body".into(), String::new()));
    let encode = |p: &[(String, String)]| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        s.finish()
    };
    while encode(&params).len() < len {
        let last = params.last_mut().expect("has params");
        last.1.push((b'a' + (last.1.len() % 26) as u8) as char);
    }
    let body = encode(&params).into_bytes();
    assert_eq!(body.len(), len);

    let signature = TwilioSigner::new(TOKEN).sign_form(URL, &params);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&signature).expect("base64 is a header value"),
    );
    let mut sorted = params.clone();
    sorted.sort();
    let mut string_to_sign = URL.to_string();
    for (k, v) in &sorted {
        string_to_sign.push_str(k);
        string_to_sign.push_str(v);
    }
    // The floor signs exactly what Twilio signed.
    let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    assert_eq!(
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            mac.finalize().into_bytes()
        ),
        signature
    );
    let f = Fixture {
        name,
        params: n,
        body,
        headers,
        url: url::Url::parse(URL).expect("valid URL"),
        verifier: TwilioVerifier::builder()
            .auth_token(TOKEN)
            .build()
            .expect("valid token"),
        string_to_sign,
    };
    assert!(ours(&f), "the fixture verifies");
    f
}

fn ours(f: &Fixture) -> bool {
    let req = WebhookRequest::new(black_box(&f.body), &f.headers).with_url(&f.url);
    f.verifier.verify(&req).is_ok()
}

fn floor(f: &Fixture) -> bool {
    let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).expect("any key length");
    mac.update(black_box(f.string_to_sign.as_bytes()));
    !mac.finalize().into_bytes().is_empty()
}

fn time(iters: u32, f: &Fixture, which: fn(&Fixture) -> bool) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(which(f));
    }
    start.elapsed() / iters
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(f: &Fixture) {
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let o = time(20_000, f, ours).as_nanos() as f64;
        let h = time(20_000, f, floor).as_nanos() as f64;
        a.push(o);
        b.push(h);
        r.push(o / h);
    }
    println!(
        "twilio verify {} B / {} params: ours {:.0} ns, raw HMAC-SHA1 {:.0} ns, ratio {:.2}x (medians of {rounds} rounds; target <= 3x)",
        f.body.len(),
        f.params,
        median(a),
        median(b),
        median(r)
    );
}

fn main() {
    let fixtures = [fixture("1536_24p", 24, 1536), fixture("1k_23p", 23, 1024)];
    for f in &fixtures {
        report(f);
    }
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
        .configure_from_args();
    let mut g = c.benchmark_group("twilio");
    for f in &fixtures {
        g.throughput(Throughput::Bytes(f.body.len() as u64));
        g.bench_function(format!("verify_{}", f.name), |b| b.iter(|| ours(f)));
        g.bench_function(format!("raw_hmac_sha1_{}", f.name), |b| b.iter(|| floor(f)));
    }
    g.finish();
    c.final_summary();
}
