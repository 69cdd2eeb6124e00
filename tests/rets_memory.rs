//! Memory bound of a RETS search, in a test binary of its own: a counting global allocator
//! sees every allocation of the process, so this binary holds one test and nothing else
//! allocates while it measures.
//!
//! A COMPACT-DECODED reply of 100,000 rows of 40 columns (about 54 MB, the shape
//! `../shared/tools/rets_gen.py 100000 40` writes), generated chunk by chunk by a loopback
//! server, read row by row through the template, `Connections` and `RetsClient`: the heap
//! grows by less than 32 MB over the baseline while every row is read, and every row arrives
//! whole. A memory bound, not a timing assertion.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use peak_alloc::PeakAlloc;
use serde_json::json;
use switchboard::connections::Connections;
use switchboard::rets::{Dmql, RetsClient, RetsIntegration, Search};
use switchboard::templates::Registry;
use switchboard::test_util::LoopbackServer;
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::{ConnectionId, Switchboard, TenantId};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const ROWS: usize = 100_000;
const COLS: usize = 40;
const LIMIT: f32 = 32.0;
/// Rows per generated chunk (about 64 KB).
const ROWS_PER_CHUNK: usize = 120;

/// Row `r` as the generator writes it: a key, a remarks field with escapes, values.
fn row(r: usize) -> String {
    let mut s = String::with_capacity(600);
    s.push_str("<DATA>\tL");
    s.push_str(&format!("{r:09}"));
    for c in 1..COLS {
        s.push('\t');
        match c {
            3 => s.push_str(
                &"spacious &amp; bright &lt;renovated&gt; kitchen, granite, views ".repeat(4),
            ),
            _ if (r + c).is_multiple_of(7) => {}
            _ => s.push_str(&format!("v{}", (r * 31 + c * 17) % 99_991)),
        }
    }
    s.push_str("\t</DATA>\n");
    s
}

fn header() -> String {
    let mut names = vec!["ListingKey".to_string()];
    names.extend((1..COLS).map(|c| format!("Field{c}")));
    format!(
        "<?xml version=\"1.0\"?>\n<RETS ReplyCode=\"0\" ReplyText=\"Operation Successful\">\n\
         <COUNT Records=\"{ROWS}\" />\n<DELIMITER value=\"09\" />\n<COLUMNS>\t{}\t</COLUMNS>\n",
        names.join("\t")
    )
}

async fn serve(uri: axum::http::Uri) -> Response {
    if uri.path() == "/rets/login" {
        return (
            [("content-type", "text/xml")],
            "<RETS ReplyCode=\"0\" ReplyText=\"OK\">\n<RETS-RESPONSE>\nSearch=/rets/search\n\
             Logout=/rets/logout\n</RETS-RESPONSE>\n</RETS>\n",
        )
            .into_response();
    }
    if uri.query().is_some_and(|q| q.contains("Offset=")) {
        // The page after a full one: nothing more.
        return (
            [("content-type", "text/xml")],
            "<RETS ReplyCode=\"20201\" ReplyText=\"No Records Found\" />\n",
        )
            .into_response();
    }
    let chunks = (0..=ROWS.div_ceil(ROWS_PER_CHUNK) + 1).map(|i| {
        let text = if i == 0 {
            header()
        } else if i > ROWS.div_ceil(ROWS_PER_CHUNK) {
            "</RETS>\n".to_string()
        } else {
            let start = (i - 1) * ROWS_PER_CHUNK;
            (start..(start + ROWS_PER_CHUNK).min(ROWS))
                .map(row)
                .collect()
        };
        Ok::<_, std::io::Error>(Bytes::from(text))
    });
    (
        [("content-type", "text/xml")],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

#[tokio::test]
async fn a_fifty_megabyte_search_streams_in_bounded_memory() {
    let server = LoopbackServer::start(Router::new().fallback(any(serve))).await;
    let vault = Vault::new(KeyRing::new(
        KeyId::new("memory").unwrap(),
        MasterKey::from_bytes(&[9u8; 32]).unwrap(),
    ));
    // The switchboard's body cap (32 MB by default) bounds one reply, streamed or not: a
    // host reading 100,000-row pages raises it.
    let sb = Switchboard::builder()
        .allow_endpoint_host("127.0.0.1")
        .body_cap(256 * 1024 * 1024)
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(RetsIntegration::new())).unwrap();
    let connections = Connections::new(sb, vault, registry);
    let (t, c) = (TenantId::new("acme"), ConnectionId::new("mls"));
    let config = json!({
        "login_url": format!("{}/rets/login", server.base_url()),
        "username": "agent",
        "password": "pw",
        "page_size": ROWS,
    });
    connections
        .create(&t, &c, "rets", "MLS", &config)
        .await
        .unwrap();
    let rets = RetsClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap();
    rets.login().await.unwrap();

    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let mut rows = rets.search(Search::new("Property", "RES", Dmql::raw("(ListingKey=*)")));
    let (mut n, mut bytes) = (0usize, 0usize);
    while let Some(r) = rows.next_row().await.unwrap() {
        assert_eq!(r.len(), COLS);
        let key = r.get(0).unwrap();
        assert_eq!(key, format!("L{n:09}"), "rows arrive whole and in order");
        bytes += (0..COLS)
            .map(|i| r.get(i).map_or(0, |v| v.len()))
            .sum::<usize>();
        n += 1;
    }
    let growth = HEAP.peak_usage().saturating_sub(baseline) as f32 / 1_048_576.0;
    println!(
        "{n} rows ({} MB of field text) streamed; heap peak {growth:.2} MB over a {:.2} MB baseline",
        bytes / 1_048_576,
        baseline as f32 / 1_048_576.0
    );
    assert_eq!(n, ROWS);
    assert_eq!(rows.count(), Some(ROWS as u64));
    assert!(
        growth < LIMIT,
        "heap grew by {growth:.2} MB (limit {LIMIT} MB)"
    );
}
