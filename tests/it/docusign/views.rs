//! Recipient and sender views against the loopback account API (bodies checked against the
//! spec): the embedded signing URL of a signer with a `clientUserId`, DocuSign's refusal of a
//! recipient the envelope does not have, the sender view of a draft, and a view URL (a bearer
//! link) never shown by `Debug`.

use http::Method;
use switchboard::docusign::{
    CreateEnvelope, CreateRecipientView, CreateSenderView, Document, Signer, Tab,
};

use switchboard::auth::BearerToken;
use switchboard::docusign::{DocuSignClient, DocuSignConnector};

use super::envelope_api;
use crate::support::builder;

fn client(base_url: &str) -> DocuSignClient {
    let conn = builder()
        .build()
        .unwrap()
        .connection(DocuSignConnector::new())
        .tenant("acme")
        .id("docusign")
        .base_url(base_url)
        .auth(BearerToken::new("tok-acme"))
        .build()
        .unwrap();
    DocuSignClient::from_connection(conn)
        .unwrap()
        .with_account("acct-1")
}

#[tokio::test]
async fn a_recipient_view_is_the_embedded_signers_url_and_debug_hides_it() {
    let (api, server) = envelope_api::start().await;
    let ds = client(&server.base_url());
    let id = ds
        .envelopes()
        .create(
            CreateEnvelope::from_documents("Sign here")
                .document(Document::pdf("1", "a.pdf", b"%PDF"))
                .signer(
                    Signer::new("jane@example.test", "Jane Doe", "1")
                        .client_user_id("cu-jane")
                        .tab(Tab::sign_here().anchor("/sn1/")),
                )
                .send(),
        )
        .await
        .unwrap()
        .envelope_id;
    let view = ds
        .views()
        .recipient(
            &id,
            CreateRecipientView::new(
                "https://app.example.test/signed",
                "Jane Doe",
                "jane@example.test",
                "cu-jane",
            )
            .recipient_id("1")
            .frame_ancestors(["https://app.example.test", "https://apps-d.docusign.com"])
            .message_origins(["https://apps-d.docusign.com"])
            .param("pingUrl", "https://app.example.test/ping")
            .param("pingFrequency", "600"),
        )
        .await
        .unwrap();
    api.assert_no_violations();
    assert!(view.url.contains("VIEW-CANARY-env-1"), "{}", view.url);
    assert!(!format!("{view:?}").contains("VIEW-CANARY"));
    let sent = api.last(Method::POST, "/views/recipient").body;
    assert_eq!(sent["authenticationMethod"], "none");
    assert_eq!(sent["clientUserId"], "cu-jane");
    assert_eq!(sent["frameAncestors"][1], "https://apps-d.docusign.com");

    let stranger = ds
        .views()
        .recipient(
            &id,
            CreateRecipientView::new(
                "https://app.example.test/signed",
                "Jane Doe",
                "jane@example.test",
                "cu-other",
            )
            .authentication_method("email"),
        )
        .await
        .unwrap_err();
    assert_eq!(stranger.error_code(), Some("UNKNOWN_ENVELOPE_RECIPIENT"));
}

#[tokio::test]
async fn a_sender_view_opens_the_sending_page_of_a_draft() {
    let (api, server) = envelope_api::start().await;
    let ds = client(&server.base_url());
    let draft = ds
        .envelopes()
        .create(
            CreateEnvelope::from_documents("Draft")
                .document(Document::pdf("1", "a.pdf", b"%PDF"))
                .draft(),
        )
        .await
        .unwrap();
    assert_eq!(
        api.last(Method::POST, "/envelopes").body["status"],
        "created"
    );
    let view = ds
        .views()
        .sender(
            &draft.envelope_id,
            CreateSenderView::new("https://app.example.test/sent"),
        )
        .await
        .unwrap();
    api.assert_no_violations();
    assert!(view.url.ends_with("SEND-env-1"));
    assert_eq!(
        api.last(Method::POST, "/views/sender").body,
        serde_json::json!({"returnUrl": "https://app.example.test/sent"})
    );
}
