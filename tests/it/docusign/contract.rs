//! The contract of the view calls: Prism serving DocuSign's views-and-Connect subset
//! (`specs/docusign/esignature.v2.1.subset-views-connect.json`) with `--errors`, so a request
//! that breaks the spec gets a 4xx and the call passing is the proof. One negative test shows
//! the harness catches a violation.
//!
//! Two Prism quirks, handled in the open:
//! - Prism ignores the spec's `basePath` (`/restapi`) and serves `/v2.1/...`; a test-only
//!   attempt layer strips `/restapi` on the way to Prism (the client's real paths are
//!   asserted against the loopback account API in `views.rs`).
//! - The view operations declare `produces: []`, so Prism has no content to answer with and
//!   sends `201` with an empty body, which the typed call cannot decode. The same layer records
//!   each answer's status: the check is "Prism answered 201" (the request passed), and the
//!   typed error must be exactly a decode error of that empty body.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::StatusCode;
use switchboard::auth::BearerToken;
use switchboard::docusign::{
    CreateRecipientView, CreateSenderView, DocuSignClient, DocuSignConnector, DocuSignError,
    EnvelopeId, ViewUrl,
};
use switchboard::pipeline::HttpService;
use switchboard::test_util::prism::{violations, Prism, PrismOptions};
use switchboard::{ErrorKind, ProviderError};
use tower::ServiceExt;

use crate::support::{builder, shared_dir};

fn prism() -> &'static Prism {
    Prism::shared(&PrismOptions::new(
        shared_dir().join("specs/docusign/esignature.v2.1.subset-views-connect.json"),
    ))
}

type Statuses = Arc<Mutex<Vec<(String, StatusCode)>>>;

/// A client to Prism whose requests lose their `/restapi` prefix, and the (path, status) of
/// every answer.
fn client() -> (DocuSignClient, Statuses) {
    let statuses: Statuses = Arc::default();
    let seen = statuses.clone();
    let sb = builder()
        .attempt_layer(move |inner: HttpService| {
            let seen = seen.clone();
            HttpService::new(tower::service_fn(move |mut req: http::Request<Bytes>| {
                let inner = inner.clone();
                let seen = seen.clone();
                if let Some(pq) = req.uri().path_and_query() {
                    let stripped = pq.as_str().strip_prefix("/restapi").unwrap_or(pq.as_str());
                    let mut parts = req.uri().clone().into_parts();
                    parts.path_and_query = stripped.parse().ok();
                    if let Ok(uri) = http::Uri::from_parts(parts) {
                        *req.uri_mut() = uri;
                    }
                }
                let path = req.uri().path().to_string();
                async move {
                    let resp = inner.oneshot(req).await?;
                    seen.lock().unwrap().push((path, resp.status()));
                    Ok(resp)
                }
            }))
        })
        .build()
        .unwrap();
    let conn = sb
        .connection(DocuSignConnector::new())
        .tenant("acme")
        .id("docusign")
        .base_url(prism().base_url())
        .auth(BearerToken::new("prism-token"))
        .build()
        .unwrap();
    let ds = DocuSignClient::from_connection(conn)
        .unwrap()
        .with_account("00000000-0000-0000-0000-000000000001");
    (ds, statuses)
}

/// Prism accepted the request: it answered 201, with the empty body described in the module
/// docs (so the typed call fails to decode it, and with nothing else).
fn accepted(what: &str, result: Result<ViewUrl, DocuSignError>, statuses: &Statuses, path: &str) {
    let last = statuses.lock().unwrap().last().cloned();
    match result {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::Decode => {}
        Err(e) => {
            let found = e.core().body().map(|b| violations(b)).unwrap_or_default();
            panic!("{what}: Prism refused the request: {e}; violations: {found:#?}");
        }
    }
    let (seen, status) = last.unwrap_or_else(|| panic!("{what}: no answer recorded"));
    assert_eq!(seen, path, "{what}");
    assert_eq!(status, StatusCode::CREATED, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_and_sender_views_pass_prism_validation() {
    let (ds, statuses) = client();
    let envelope = EnvelopeId::new("93be49ab-0000-4f3b-8a3f-000000000042");
    let recipient = ds
        .views()
        .recipient(
            &envelope,
            CreateRecipientView::new(
                "https://app.example.test/signed",
                "Jane Doe",
                "jane@example.test",
                "cu-jane",
            )
            .recipient_id("1")
            .frame_ancestors(["https://app.example.test"])
            .message_origins(["https://apps-d.docusign.com"]),
        )
        .await;
    accepted(
        "recipient view",
        recipient,
        &statuses,
        "/v2.1/accounts/00000000-0000-0000-0000-000000000001/envelopes/93be49ab-0000-4f3b-8a3f-000000000042/views/recipient",
    );
    let sender = ds
        .views()
        .sender(
            &envelope,
            CreateSenderView::new("https://app.example.test/sent"),
        )
        .await;
    accepted(
        "sender view",
        sender,
        &statuses,
        "/v2.1/accounts/00000000-0000-0000-0000-000000000001/envelopes/93be49ab-0000-4f3b-8a3f-000000000042/views/sender",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_refuses_a_view_request_that_breaks_the_spec() {
    let (ds, statuses) = client();
    let err = ds
        .views()
        .recipient(
            &EnvelopeId::new("e-1"),
            CreateRecipientView::new(
                "https://app.example.test/signed",
                "Jane",
                "j@example.test",
                "cu",
            )
            .param("pingFrequency", 600),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
    // The spec defines a 400 answer, so Prism answers with it and lists the violations in
    // its `sl-violations` header.
    let header = err
        .core()
        .headers()
        .and_then(|h| h.get("sl-violations"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        header.contains("pingFrequency"),
        "{err}; sl-violations: {header}"
    );
    assert_eq!(
        statuses.lock().unwrap().last().map(|s| s.1),
        Some(StatusCode::BAD_REQUEST)
    );
}
