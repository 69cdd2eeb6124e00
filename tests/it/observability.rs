//! Spans and metrics carry what an operator needs, and nothing secret.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use switchboard::test_util::{LogCapture, RawAction, RawServer};

use crate::support::{builder, connect, TestConnector};

#[test]
fn metrics_count_requests_attempts_retries_and_cache_results() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let n = Arc::new(AtomicUsize::new(0));
            let server = RawServer::start(move |req| {
                if req.path == "/flaky" && n.fetch_add(1, Ordering::SeqCst) == 0 {
                    RawAction::status(503, "{}")
                } else {
                    RawAction::status(200, "{}")
                }
            })
            .await;
            let sb = builder().build().unwrap();
            let conn = connect(&sb, TestConnector::default(), &server.base_url());
            conn.get("/flaky")
                .endpoint("items.get")
                .send()
                .await
                .unwrap();
            for _ in 0..2 {
                conn.get("/cached")
                    .cache_for(Duration::from_secs(60))
                    .send()
                    .await
                    .unwrap();
            }
        });
    });
    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut histograms = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(v)) => {
                counters.insert(name, v);
            }
            (MetricKind::Histogram, DebugValue::Histogram(v)) => histograms += v.len(),
            _ => {}
        }
    }
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    assert_eq!(
        get("switchboard_requests_total{connector=test,endpoint=items.get,outcome=ok}"),
        1,
        "{counters:#?}"
    );
    assert_eq!(
        get("switchboard_attempts_total{connector=test}"),
        3,
        "2 for /flaky, 1 for the cache miss"
    );
    assert_eq!(
        get("switchboard_retries_total{connector=test,reason=status}"),
        1
    );
    assert_eq!(
        get("switchboard_cache_total{connector=test,result=miss}"),
        1
    );
    assert_eq!(get("switchboard_cache_total{connector=test,result=hit}"), 1);
    assert_eq!(histograms, 3, "one latency sample per call");
    assert!(
        counters.keys().all(|k| !k.contains("t1")),
        "no tenant label: {counters:#?}"
    );
}

#[tokio::test]
async fn call_and_attempt_spans_carry_the_operators_fields() {
    let (logs, _guard) = LogCapture::start();
    let n = Arc::new(AtomicUsize::new(0));
    let server = RawServer::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            RawAction::status(502, "{}")
        } else {
            RawAction::status(201, "{}")
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    conn.get("/things")
        .query(&[("key", "k-secret")])
        .send()
        .await
        .unwrap();
    let text = logs.contents();
    for field in [
        "switchboard.call",
        "connector=test",
        "tenant=t1",
        "connection=c1",
        "method=GET",
        "key=REDACTED",
        "status=201",
        "outcome=\"ok\"",
        "elapsed_ms=",
        "switchboard.attempt",
        "attempt=1",
        "attempt=2",
        "status=502",
        "retry_reason=\"status\"",
    ] {
        assert!(text.contains(field), "missing {field} in:\n{text}");
    }
    logs.assert_absent("k-secret");
}
