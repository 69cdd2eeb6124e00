//! An envelope's documents against a loopback account API: the list, one document and the
//! combined PDF read as streams (a failure mid-body is a typed error item), DocuSign's
//! `errorCode` on a missing document, and the multipart envelope request parsed back with
//! `multer` (the JSON part first, each document in its own part with its `documentid`).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::auth::BearerToken;
use switchboard::docusign::{
    CreateEnvelope, DocuSignClient, DocuSignConnector, Document, DocumentUpload, EnvelopeDocuments,
    EnvelopeId, Signer, Tab,
};
use switchboard::test_util::{canary, LoopbackServer};
use switchboard::{ErrorKind, ProviderError};

use crate::support::builder;

const ACCOUNT: &str = "acct-1";
const ENVELOPE: &str = "93be49ab-afa0-4adf-933c-f752070d71ec";

/// One part of a multipart request as the server read it.
#[derive(Debug, Clone)]
struct Part {
    content_type: Option<String>,
    disposition: String,
    bytes: Bytes,
}

/// A multipart request as the server read it: its `Content-Type`, `Content-Length` and parts.
type Upload = (String, Option<String>, Vec<Part>);

#[derive(Default)]
struct Seen {
    /// The `Content-Type` and `Content-Length` of each multipart request, and its parts.
    uploads: Mutex<Vec<Upload>>,
    /// The `Accept` and query of each document download.
    downloads: Mutex<Vec<(Option<String>, Option<String>)>>,
    /// Lets the `broken` document fail, once the client has its first bytes.
    break_now: tokio::sync::Notify,
}

/// A document's bytes: `len` bytes of a pattern that differs per position, so a chunk lost
/// or repeated changes the checksum.
fn pdf_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "))
}

async fn list(Path((account, envelope)): Path<(String, String)>) -> Json<Value> {
    assert_eq!(account, ACCOUNT);
    Json(json!({
        "envelopeId": envelope,
        "envelopeDocuments": [
            {"documentId": "1", "documentIdGuid": "g-1", "name": "contract.pdf", "type": "content", "uri": format!("/envelopes/{envelope}/documents/1"), "order": "1", "sizeBytes": "300000", "pages": [{"pageId": "p1", "sequence": "1"}]},
            {"documentId": "certificate", "name": "Summary", "type": "summary", "order": "999"}
        ]
    }))
}

async fn document(
    State(seen): State<Arc<Seen>>,
    Path((_, _, document)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    if !authorized(request.headers()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    seen.downloads.lock().unwrap().push((
        request
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        request.uri().query().map(str::to_string),
    ));
    match document.as_str() {
        // 300 000 bytes in 3 000-byte chunks, chunked on the wire.
        "1" | "combined" => {
            let chunks = pdf_bytes(300_000)
                .chunks(3_000)
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>();
            Response::builder()
                .header("content-type", "application/pdf")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        // Some bytes, then (once the client has them) the connection fails.
        "broken" => {
            let first = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(
                Bytes::from_static(b"%PDF-1.7 partial"),
            )));
            let fail = futures_util::stream::once(async move {
                seen.break_now.notified().await;
                Err(std::io::Error::other("disk gone"))
            });
            Response::builder()
                .header("content-type", "application/pdf")
                .body(Body::from_stream(first.chain(fail)))
                .unwrap()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"errorCode": "DOCUMENT_DOES_NOT_EXIST", "message": "The document specified was not found."})),
        )
            .into_response(),
    }
}

async fn create(State(seen): State<Arc<Seen>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorCode": "INVALID_CONTENT_TYPE", "message": "not multipart"})),
        )
            .into_response();
    };
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.unwrap() {
        let content_type = field.content_type().map(|m| m.to_string());
        let disposition = field
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = field.bytes().await.unwrap();
        parts.push(Part {
            content_type,
            disposition,
            bytes,
        });
    }
    seen.uploads
        .lock()
        .unwrap()
        .push((content_type, length, parts));
    (
        StatusCode::CREATED,
        Json(json!({"envelopeId": "env-new", "status": "sent", "uri": "/envelopes/env-new", "statusDateTime": "2025-01-01T00:00:00Z"})),
    )
        .into_response()
}

struct Fixture {
    seen: Arc<Seen>,
    docusign: DocuSignClient,
    _server: LoopbackServer,
}

async fn fixture() -> Fixture {
    fixture_with(builder()).await
}

async fn fixture_with(sb: switchboard::SwitchboardBuilder) -> Fixture {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/restapi/v2.1/accounts/{account}/envelopes/{envelope}/documents",
            get(list),
        )
        .route(
            "/restapi/v2.1/accounts/{account}/envelopes/{envelope}/documents/{document}",
            get(document),
        )
        .route("/restapi/v2.1/accounts/{account}/envelopes", post(create))
        .with_state(seen.clone());
    let server = LoopbackServer::start(app).await;
    let sb = sb.build().unwrap();
    let connection = sb
        .connection(Arc::new(DocuSignConnector::new()))
        .tenant("t1")
        .id("docusign-1")
        .base_url(server.base_url())
        .auth(BearerToken::new(canary("docusign-token")))
        .build()
        .unwrap();
    let docusign = DocuSignClient::from_connection(connection)
        .unwrap()
        .with_account(ACCOUNT);
    Fixture {
        seen,
        docusign,
        _server: server,
    }
}

#[tokio::test]
async fn the_list_is_typed() {
    let f = fixture().await;
    let list: EnvelopeDocuments = f
        .docusign
        .documents(&EnvelopeId::new(ENVELOPE))
        .list()
        .await
        .unwrap();
    assert_eq!(list.envelope_id.as_deref(), Some(ENVELOPE));
    let ids: Vec<_> = list
        .envelope_documents
        .iter()
        .map(|d| d.document_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["1", "certificate"]);
    assert_eq!(
        list.envelope_documents[0].size_bytes.as_deref(),
        Some("300000")
    );
    assert!(list.envelope_documents[0].extra.contains_key("pages"));
}

#[tokio::test]
async fn a_document_and_the_combined_pdf_arrive_as_streams_in_several_chunks() {
    let f = fixture().await;
    let documents = f.docusign.documents(&EnvelopeId::new(ENVELOPE));
    for (call, query) in [
        (documents.download("1"), None),
        (
            documents
                .combined()
                .map_request(|r| r.query(&[("certificate", "true")])),
            Some("certificate=true"),
        ),
    ] {
        let mut stream = call.await.unwrap();
        let mut chunks = 0;
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.unwrap());
            chunks += 1;
        }
        assert_eq!(body, pdf_bytes(300_000));
        // Handed on as it arrived, not collected into one buffer first.
        assert!(chunks > 1, "{chunks} chunk(s)");
        let last = f.seen.downloads.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.0.as_deref(), Some("application/pdf"));
        assert_eq!(last.1.as_deref(), query);
    }
}

#[tokio::test]
async fn a_missing_document_is_docusigns_error_before_any_byte() {
    let f = fixture().await;
    let err = f
        .docusign
        .documents(&EnvelopeId::new(ENVELOPE))
        .download("7")
        .await
        .err()
        .expect("a 404 is an error, not a stream");
    assert_eq!(err.kind(), ErrorKind::Status);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(err.error_code(), Some("DOCUMENT_DOES_NOT_EXIST"));
}

#[tokio::test]
async fn a_body_that_breaks_midway_ends_the_stream_with_a_typed_error() {
    let f = fixture().await;
    let mut stream = f
        .docusign
        .documents(&EnvelopeId::new(ENVELOPE))
        .download("broken")
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"%PDF-1.7 partial");
    f.seen.break_now.notify_one();
    let err = match stream.next().await {
        Some(Err(e)) => e,
        Some(Ok(more)) => panic!("{} more bytes after the failure", more.len()),
        None => panic!("the stream ended without reporting the broken body"),
    };
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(
        !format!("{err:?}{err}").contains("CANARY"),
        "no secret in the error"
    );
}

#[tokio::test]
async fn a_streamed_body_past_the_cap_is_a_typed_error_item() {
    let f = fixture_with(builder().body_cap(100_000)).await;
    let mut stream = f
        .docusign
        .documents(&EnvelopeId::new(ENVELOPE))
        .combined()
        .await
        .unwrap();
    let mut total = 0;
    let err = loop {
        match stream.next().await {
            Some(Ok(chunk)) => total += chunk.len(),
            Some(Err(e)) => break e,
            None => panic!("300 000 bytes passed a 100 000-byte cap"),
        }
    };
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
    assert!(total <= 100_000, "{total}");
}

#[tokio::test]
async fn an_envelope_id_is_one_path_segment() {
    let f = fixture().await;
    // A slash in the id cannot climb out of the envelope: it is encoded into one segment,
    // which the server reads back whole.
    let list = f
        .docusign
        .documents(&EnvelopeId::new("a/../../x"))
        .list()
        .await
        .unwrap();
    assert_eq!(list.envelope_id.as_deref(), Some("a/../../x"));
}

#[tokio::test]
async fn the_multipart_envelope_request_is_parsed_back_part_by_part() {
    let f = fixture().await;
    let first = Bytes::from(pdf_bytes(2 * 1024 * 1024 + 17));
    let second = Bytes::from_static(b"%PDF-1.4 small one");
    let params = CreateEnvelope::from_documents("Please sign")
        .signer(Signer::new("a@example.test", "A", "1").tab(Tab::sign_here().anchor("/sn1/")))
        .send();
    let summary = f
        .docusign
        .envelopes()
        .create_multipart(
            params,
            vec![
                DocumentUpload::pdf("1", "contract.pdf", first.clone()),
                DocumentUpload::pdf("2", "annex.pdf", second.clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(summary.envelope_id.as_str(), "env-new");

    let uploads = f.seen.uploads.lock().unwrap().clone();
    assert_eq!(uploads.len(), 1);
    let (content_type, length, parts) = &uploads[0];
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    // Sent with its length, not chunked.
    let length: usize = length.as_deref().expect("Content-Length").parse().unwrap();
    assert!(length > first.len() + second.len(), "{length}");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(parts[0].disposition, "form-data");
    let sent: Value = serde_json::from_slice(&parts[0].bytes).unwrap();
    assert_eq!(
        sent["documents"],
        json!([
            {"documentId": "1", "name": "contract.pdf", "fileExtension": "pdf"},
            {"documentId": "2", "name": "annex.pdf", "fileExtension": "pdf"}
        ])
    );
    assert_eq!(
        (&sent["emailSubject"], &sent["status"]),
        (&json!("Please sign"), &json!("sent"))
    );
    // The JSON part is an envelope definition DocuSign's spec accepts.
    super::spec::check("envelopeDefinition", &sent).unwrap();
    for (part, (id, name, bytes)) in parts[1..]
        .iter()
        .zip([("1", "contract.pdf", &first), ("2", "annex.pdf", &second)])
    {
        assert_eq!(part.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(
            part.disposition,
            format!("file; filename=\"{name}\"; documentid={id}")
        );
        assert_eq!(&part.bytes, bytes, "document {id}");
    }
}

#[tokio::test]
async fn a_multipart_request_with_a_bad_document_id_or_inline_documents_sends_nothing() {
    let f = fixture().await;
    let err = f
        .docusign
        .envelopes()
        .create_multipart(
            CreateEnvelope::from_documents("Sign").send(),
            vec![DocumentUpload::pdf("0", "c.pdf", &b"%PDF"[..])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("documents.document_id"), "{err}");
    assert!(err.to_string().contains("documents[0]"), "{err}");
    let err = f
        .docusign
        .envelopes()
        .create_multipart(
            CreateEnvelope::from_documents("Sign")
                .document(Document::pdf("1", "inline.pdf", b"%PDF"))
                .send(),
            vec![DocumentUpload::pdf("2", "c.pdf", &b"%PDF"[..])],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("envelope_definition.documents"),
        "{err}"
    );
    assert!(f.seen.uploads.lock().unwrap().is_empty());
}
