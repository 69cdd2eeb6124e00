//! Memory bounds of DocuSign's large documents, in a test binary of its own: a counting global
//! allocator sees every allocation of the process, so this binary holds one test and nothing
//! else allocates while it measures.
//!
//! 1. The combined PDF, a 50 MB body a loopback server generates chunk by chunk, read to the
//!    end as a stream: the heap grows by less than 8 MB over the baseline.
//! 2. A 50 MB document sent as a part of a multipart envelope request (the loopback server
//!    reads it chunk by chunk with `multer`): the heap grows by less than 8 MB over the
//!    baseline, which already holds the document, so the request made no second copy of it.
//!
//! A memory bound, not a timing assertion.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use peak_alloc::PeakAlloc;
use serde_json::{json, Value};
use switchboard::auth::BearerToken;
use switchboard::docusign::{CreateEnvelope, DocuSignClient, DocuSignConnector, DocumentUpload};
use switchboard::test_util::LoopbackServer;
use switchboard::Switchboard;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const TOTAL: usize = 50 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const LIMIT: usize = 8 * 1024 * 1024;

/// The byte at position `i` of the generated document: position-dependent, so a lost,
/// repeated or reordered chunk changes the checksum.
fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

/// A checksum over a byte sequence, fed chunk by chunk.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Checksum {
    len: usize,
    sum: u64,
}

impl Checksum {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.sum = self.sum.wrapping_mul(1_000_003).wrapping_add(u64::from(b));
        }
        self.len += bytes.len();
    }

    fn of_generated(len: usize) -> Self {
        let mut c = Checksum::default();
        for start in (0..len).step_by(CHUNK) {
            let chunk: Vec<u8> = (start..len.min(start + CHUNK)).map(byte_at).collect();
            c.feed(&chunk);
        }
        c
    }
}

/// The combined PDF: `TOTAL` bytes made one chunk at a time as the client reads, never held.
async fn combined() -> Response {
    let chunks = futures_util::stream::unfold(0usize, |sent| async move {
        if sent >= TOTAL {
            return None;
        }
        let end = TOTAL.min(sent + CHUNK);
        let chunk = Bytes::from((sent..end).map(byte_at).collect::<Vec<u8>>());
        Some((Ok::<_, std::io::Error>(chunk), end))
    });
    Response::builder()
        .header("content-type", "application/pdf")
        .header("content-length", TOTAL.to_string())
        .body(Body::from_stream(chunks))
        .unwrap()
}

/// What the upload endpoint read: the JSON part, and each document part's checksum.
#[derive(Default)]
struct Received {
    definition: Mutex<Option<Value>>,
    documents: Mutex<Vec<(String, Checksum)>>,
}

/// `POST /envelopes` as multipart, each document read chunk by chunk and checksummed.
async fn create(State(received): State<Arc<Received>>, request: Request) -> Response {
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut multipart = multer::Multipart::new(request.into_body().into_data_stream(), boundary);
    let mut first = true;
    while let Some(mut field) = multipart.next_field().await.unwrap() {
        if first {
            first = false;
            let json = field.bytes().await.unwrap();
            *received.definition.lock().unwrap() = Some(serde_json::from_slice(&json).unwrap());
            continue;
        }
        let disposition = field
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut sum = Checksum::default();
        while let Some(chunk) = field.chunk().await.unwrap() {
            sum.feed(&chunk);
        }
        received.documents.lock().unwrap().push((disposition, sum));
    }
    (
        StatusCode::CREATED,
        Json(json!({"envelopeId": "env-big", "status": "sent"})),
    )
        .into_response()
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::test]
async fn fifty_megabyte_documents_stream_both_ways_in_under_eight_megabytes() {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route(
            "/restapi/v2.1/accounts/{account}/envelopes/{envelope}/documents/combined",
            get(combined),
        )
        .route("/restapi/v2.1/accounts/{account}/envelopes", post(create))
        .with_state(received.clone());
    let server = LoopbackServer::start(app).await;
    let sb = Switchboard::builder()
        // The cap bounds a body's total size, streamed or not; memory is what this test
        // bounds.
        .body_cap(64 * 1024 * 1024)
        .attempt_timeout(Duration::from_secs(120))
        .call_deadline(Duration::from_secs(240))
        .build()
        .unwrap();
    let connection = sb
        .connection(Arc::new(DocuSignConnector::new()))
        .tenant("t1")
        .id("docusign-memory")
        .base_url(server.base_url())
        .auth(BearerToken::new("memory-test-token"))
        .build()
        .unwrap();
    let docusign = DocuSignClient::from_connection(connection)
        .unwrap()
        .with_account("acct-1");
    let expected = Checksum::of_generated(TOTAL);

    // 1. Download, measured from before the call is sent: everything it allocates counts
    // (the connection, the call's state, the client's and the server's buffers).
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let mut stream = docusign
        .documents(&switchboard::docusign::EnvelopeId::new("env-1"))
        .combined()
        .await
        .unwrap();
    let mut got = Checksum::default();
    while let Some(chunk) = stream.next().await {
        got.feed(&chunk.unwrap());
    }
    drop(stream);
    let growth = HEAP.peak_usage().saturating_sub(baseline);
    eprintln!(
        "combined PDF: {} bytes read, heap peak {:.2} MB over a {:.2} MB baseline",
        got.len,
        mb(growth),
        mb(baseline)
    );
    assert_eq!(got, expected, "every byte, in order");
    assert!(
        growth < LIMIT,
        "reading the 50 MB stream grew the heap by {:.2} MB",
        mb(growth)
    );

    // 2. Upload. The document is made (50 MB on the heap) before the baseline.
    let document: Bytes = {
        let mut v = Vec::with_capacity(TOTAL);
        v.extend((0..TOTAL).map(byte_at));
        Bytes::from(v)
    };
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let summary = docusign
        .envelopes()
        .create_multipart(
            CreateEnvelope::from_documents("Big one").send(),
            vec![DocumentUpload::pdf("1", "big.pdf", document.clone())],
        )
        .await
        .unwrap();
    let growth = HEAP.peak_usage().saturating_sub(baseline);
    eprintln!(
        "multipart upload: heap peak {:.2} MB over a {:.2} MB baseline holding the document",
        mb(growth),
        mb(baseline)
    );
    assert_eq!(summary.envelope_id.as_str(), "env-big");
    assert_eq!(
        received.definition.lock().unwrap().as_ref(),
        Some(&json!({
            "emailSubject": "Big one",
            "status": "sent",
            "documents": [{"documentId": "1", "name": "big.pdf", "fileExtension": "pdf"}],
        }))
    );
    let documents = received.documents.lock().unwrap().clone();
    assert_eq!(
        documents,
        [(
            "file; filename=\"big.pdf\"; documentid=1".to_string(),
            expected
        )]
    );
    assert!(
        growth < LIMIT,
        "sending the 50 MB document grew the heap by {:.2} MB: a copy of it was made",
        mb(growth)
    );
    drop(document);
}
