//! A lease signed through DocuSign, the way a host runs it: the `docusign` template and the
//! connection service with a token manager, the connection's first test (which looks up the
//! account and its API host), an envelope with a signer (sign-here and date tabs by anchor
//! text) and a carbon copy, a status webhook for that envelope, its status and recipients,
//! the embedded signing URL, the combined PDF as a stream, and a Connect event verified and
//! parsed.
//!
//! Runs offline by default against an in-process stand-in for DocuSign (loopback), with the
//! authorization-code grant and a token the host stored after its code exchange. With
//! `DOCUSIGN_INTEGRATION_KEY`, `DOCUSIGN_USER_ID` and `DOCUSIGN_PRIVATE_KEY_PATH` set (a
//! developer account's app, consent granted), it runs against DocuSign's demo platform with
//! the JWT grant instead and leaves the envelope as a draft.
//!
//! ```text
//! cargo run --example docusign_envelope
//! DOCUSIGN_INTEGRATION_KEY=… DOCUSIGN_USER_ID=… DOCUSIGN_PRIVATE_KEY_PATH=private.pem \
//!     cargo run --example docusign_envelope
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::credentials::InMemoryCredentialStore;
use switchboard::docusign::{
    CarbonCopy, ConnectEvent, CreateEnvelope, CreateRecipientView, DocuSignClient,
    DocuSignIntegration, DocuSignVerifier, Document, EnvelopeStatus, EventNotification,
    RecipientStatus, Signer, Tab, SIGNATURE_HEADER,
};
use switchboard::templates::Registry;
use switchboard::tokens::{Token, TokenManager};
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};
use switchboard::{ConnectionId, Switchboard, TenantId};

#[path = "mocks/docusign.rs"]
mod mock;

/// The Connect HMAC key of the demo (in DocuSign: Settings → Connect → Add secret key).
const CONNECT_KEY: &str = "demo-connect-hmac-key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let live = std::env::var("DOCUSIGN_INTEGRATION_KEY").is_ok();
    let stand_in = if live {
        None
    } else {
        Some(mock::start().await)
    };

    let store = Arc::new(InMemoryCredentialStore::new());
    let vault = Vault::new(KeyRing::new(
        KeyId::new("demo")?,
        MasterKey::from_bytes(&[7u8; 32])?,
    ));
    let mut switchboard = Switchboard::builder().credential_store(store.clone());
    if stand_in.is_some() {
        switchboard = switchboard.allow_endpoint_host("127.0.0.1");
    }
    let tokens = TokenManager::builder(vault.clone(), store).build()?;
    let mut registry = Registry::new();
    registry.register(Arc::new(DocuSignIntegration::new()))?;
    let connections =
        Connections::new(switchboard.build()?, vault, registry).with_tokens(tokens.clone());
    let _follow = connections.follow_token_events(&tokens);

    let (tenant, id) = (TenantId::new("oak-realty"), ConnectionId::new("docusign"));
    let config = match &stand_in {
        None => json!({
            "integration_key": std::env::var("DOCUSIGN_INTEGRATION_KEY")?,
            "user_id": std::env::var("DOCUSIGN_USER_ID")?,
            "private_key": std::fs::read_to_string(std::env::var("DOCUSIGN_PRIVATE_KEY_PATH")?)?,
            "environment": "demo",
            "connect_hmac_key": CONNECT_KEY,
        }),
        Some(server) => json!({
            "integration_key": "offline-integration-key",
            "grant": "authorization_code",
            "client_secret": "offline-secret-key",
            "auth_base_url": server.base_url(),
            "redirect_uri": "https://app.example.com/docusign/callback",
            "connect_hmac_key": CONNECT_KEY,
        }),
    };
    connections
        .create(&tenant, &id, "docusign", "Oak Realty DocuSign", &config)
        .await?;
    if stand_in.is_some() {
        // What the host stores after the user signed in (the code exchange).
        let token = Token::new("offline-access-token")
            .with_refresh_token("offline-refresh-token")
            .with_expires_in(Duration::from_secs(8 * 3600));
        tokens.store_token(&tenant, &id, &token).await?;
    }
    let record = connections.test_connection(&tenant, &id).await?;
    println!(
        "connection {} ({:?})",
        record.status.as_str(),
        record.last_error
    );
    if record.status != ConnectionStatus::Active {
        return Err("the connection did not become active".into());
    }
    let docusign = DocuSignClient::from_connection(connections.connection(&tenant, &id).await?)?;
    let account = docusign.account().await?;
    println!("account    {:?}", account.account_name);

    let lease = b"%PDF-1.4\n% Lease for 12 Oak Street ... /sn1/ ... /ds1/\n%%EOF\n";
    let mut envelope = CreateEnvelope::from_documents("Lease for 12 Oak Street")
        .document(Document::pdf("1", "lease.pdf", lease))
        .signer(
            Signer::new("jenny@example.com", "Jenny Rosen", "1")
                .routing_order(1)
                .client_user_id("tenant-jenny")
                .tab(Tab::sign_here().anchor("/sn1/"))
                .tab(Tab::date_signed().anchor("/ds1/")),
        )
        .carbon_copy(CarbonCopy::new("office@example.com", "Front Desk", "2").routing_order(2))
        .event_notification(
            EventNotification::new("https://hooks.example.com/docusign/status")
                .envelope_events([EnvelopeStatus::Completed, EnvelopeStatus::Declined])
                .recipient_events([RecipientStatus::Completed])
                .include_hmac(true),
        );
    envelope = if live {
        envelope.draft()
    } else {
        envelope.send()
    };
    let summary = docusign.envelopes().create(envelope).await?;
    println!("envelope   {} {:?}", summary.envelope_id, summary.status);

    let current = docusign.envelopes().get(&summary.envelope_id).await?;
    println!("status     {}", current.status.as_str());
    for signer in current.recipients.iter().flat_map(|r| r.signers.iter()) {
        println!(
            "signer     {:?} {:?}",
            signer.name,
            signer.status.as_ref().map(RecipientStatus::as_str)
        );
    }

    if !live {
        let view = docusign
            .views()
            .recipient(
                &summary.envelope_id,
                CreateRecipientView::new(
                    "https://app.example.com/signed",
                    "Jenny Rosen",
                    "jenny@example.com",
                    "tenant-jenny",
                ),
            )
            .await?;
        println!("signing    {} characters of URL", view.url.len());
        let pdf: Vec<u8> = docusign
            .documents(&summary.envelope_id)
            .combined()
            .await?
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await?;
        println!(
            "combined   {} bytes, PDF: {}",
            pdf.len(),
            pdf.starts_with(b"%PDF")
        );
        if !pdf.starts_with(b"%PDF") {
            return Err("the combined document is not a PDF".into());
        }
    }

    // DocuSign Connect posts a signed JSON event; the router verifies it with the connection's
    // keys. Here, one event signed as DocuSign would and verified by hand.
    let body = json!({
        "event": "envelope-completed", "apiVersion": "v2.1", "retryCount": 0,
        "uri": format!("/restapi/v2.1/accounts/{}/envelopes/{}", docusign.account_id().map(|a| a.as_str()).unwrap_or(""), summary.envelope_id),
        "configurationId": 10_000_001, "generatedDateTime": "2026-12-02T10:00:00.0000000Z",
        "data": {"accountId": docusign.account_id().map(|a| a.as_str()), "envelopeId": summary.envelope_id.as_str()}
    })
    .to_string();
    let verifier = DocuSignVerifier::new(CONNECT_KEY);
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&verifier.sign(body.as_bytes())?)?,
    );
    let verified = verifier.verify(&WebhookRequest::new(body.as_bytes(), &headers))?;
    let event = ConnectEvent::from_slice(body.as_bytes())?;
    println!(
        "connect    {:?} for {:?} (event id {})",
        event.event,
        event.data.envelope_id,
        verified.event_id.is_some()
    );
    Ok(())
}
