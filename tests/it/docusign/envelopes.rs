//! Envelopes against the loopback account API (`envelope_api.rs`), which checks every request
//! body against the spec: every builder feature (documents, signers and carbon copies with
//! routing orders, the five tab kinds placed by anchor and by position, template roles, a
//! per-envelope event notification), get with recipients and their statuses, the status cache
//! (one read per envelope per interval, per tenant and connection, dropped by a write through
//! the client), status changes page by page, void, resend and recipient updates, and the same
//! through the `docusign` template and `Connections`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use futures_util::TryStreamExt;
use http::Method;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::docusign::{
    AnchorUnits, CarbonCopy, CreateEnvelope, DocuSignClient, DocuSignConnector, Document,
    EnvelopeId, EnvelopeStatus, EventNotification, ListEnvelopeStatusChanges, RecipientStatus,
    Signer, Tab, TemplateRole, UpdateRecipients,
};
use switchboard::test_util::canary;
use switchboard::{ConnectionId, ProviderError, Switchboard, TenantId};

use super::envelope_api::{self, ApiState};
use super::mock::FakeDocuSign;
use super::{jwt_config, Shared};
use crate::support::builder;

const ACCOUNT: &str = "acct-1";

/// A hand-built client of `tenant` (connection id `docusign`) with its own bearer token.
fn client(sb: &Switchboard, base_url: &str, tenant: &str, token: &str) -> DocuSignClient {
    let conn = sb
        .connection(DocuSignConnector::new())
        .tenant(tenant)
        .id("docusign")
        .base_url(base_url)
        .auth(BearerToken::new(token))
        .build()
        .unwrap();
    DocuSignClient::from_connection(conn)
        .unwrap()
        .with_account(ACCOUNT)
}

fn nda(subject: &str) -> CreateEnvelope {
    CreateEnvelope::from_documents(subject)
        .document(Document::pdf("1", "nda.pdf", b"%PDF-1.4 nda"))
        .signer(
            Signer::new("jane@example.test", "Jane Doe", "1")
                .routing_order(1)
                .tab(Tab::sign_here().anchor("/sn1/")),
        )
        .send()
}

#[tokio::test]
async fn every_builder_feature_passes_the_spec_and_the_envelope_reports_each_recipient() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    let definition = CreateEnvelope::from_documents("Please sign the NDA")
        .email_blurb("Two signatures and a copy for legal.")
        .document(Document::pdf("1", "nda.pdf", b"%PDF-1.4 nda"))
        .document(Document::new("2", "terms.docx", "docx", b"PK terms").param("order", "2"))
        .signer(
            Signer::new("jane@example.test", "Jane Doe", "1")
                .routing_order(1)
                .tab(
                    Tab::sign_here()
                        .anchor("/sn1/")
                        .anchor_offset(20, -10)
                        .anchor_units(AnchorUnits::Pixels)
                        .anchor_ignore_if_not_present(false),
                )
                .tab(
                    Tab::initial_here()
                        .position("1", 2, 100, 600)
                        .required(false),
                )
                .tab(
                    Tab::date_signed()
                        .anchor("/ds1/")
                        .anchor_units(AnchorUnits::Millimetres),
                )
                .tab(
                    Tab::text()
                        .position("2", 1, 120, 200)
                        .label("company")
                        .value("Acme")
                        .required(true)
                        .locked(false)
                        .param("width", "180"),
                )
                .tab(
                    Tab::checkbox()
                        .anchor("/cb1/")
                        .label("agree")
                        .selected(true)
                        .required(true),
                ),
        )
        .signer(
            Signer::new("john@example.test", "John Roe", "2")
                .routing_order(2)
                .client_user_id("cu-john")
                .tab(Tab::sign_here().position("1", 3, 50, 700)),
        )
        .carbon_copy(CarbonCopy::new("legal@example.test", "Legal", "3").routing_order(3))
        .event_notification(
            EventNotification::new("https://hooks.example.test/docusign/env")
                .envelope_events([
                    EnvelopeStatus::Sent,
                    EnvelopeStatus::Completed,
                    EnvelopeStatus::Declined,
                    EnvelopeStatus::Voided,
                ])
                .recipient_events([RecipientStatus::Completed, RecipientStatus::Declined])
                .include_hmac(true)
                .require_acknowledgment(true)
                .logging_enabled(true)
                .include_documents(false)
                .json_events(),
        )
        .send();
    let summary = ds.envelopes().create(definition).await.unwrap();
    api.assert_no_violations();
    assert_eq!(summary.envelope_id.as_str(), "env-1");
    assert_eq!(summary.status, Some(EnvelopeStatus::Sent));

    let sent = api.last(Method::POST, "/envelopes").body;
    assert_eq!(
        sent["documents"][0]["documentBase64"],
        base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 nda")
    );
    assert_eq!(sent["status"], "sent");
    let jane = &sent["recipients"]["signers"][0];
    assert_eq!(jane["routingOrder"], "1");
    assert_eq!(jane["tabs"]["signHereTabs"][0]["anchorString"], "/sn1/");
    assert_eq!(jane["tabs"]["signHereTabs"][0]["anchorYOffset"], "-10");
    assert_eq!(jane["tabs"]["initialHereTabs"][0]["pageNumber"], "2");
    assert_eq!(jane["tabs"]["dateSignedTabs"][0]["anchorUnits"], "mms");
    assert_eq!(jane["tabs"]["textTabs"][0]["xPosition"], "120");
    assert_eq!(jane["tabs"]["checkboxTabs"][0]["selected"], "true");
    assert_eq!(sent["recipients"]["signers"][1]["clientUserId"], "cu-john");
    assert_eq!(sent["recipients"]["carbonCopies"][0]["routingOrder"], "3");
    assert_eq!(
        sent["eventNotification"]["envelopeEvents"][1],
        json!({"envelopeEventStatusCode": "completed"})
    );
    assert_eq!(sent["eventNotification"]["includeHMAC"], "true");

    let envelope = ds.envelopes().get(&summary.envelope_id).await.unwrap();
    assert_eq!(
        api.last(Method::GET, "/envelopes/env-1").query.as_deref(),
        Some("include=recipients")
    );
    assert_eq!(envelope.status, EnvelopeStatus::Sent);
    assert_eq!(
        envelope.email_subject.as_deref(),
        Some("Please sign the NDA")
    );
    let recipients = envelope.recipients.expect("include=recipients");
    let statuses: Vec<_> = recipients
        .signers
        .iter()
        .map(|s| {
            (
                s.recipient_id.clone().unwrap(),
                s.routing_order(),
                s.status.clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("1".to_string(), Some(1), Some(RecipientStatus::Sent)),
            ("2".to_string(), Some(2), Some(RecipientStatus::Created)),
        ]
    );
    assert_eq!(
        recipients.carbon_copies[0].status,
        Some(RecipientStatus::Created)
    );
    assert_eq!(envelope.extra["envelopeLocation"], "current_site");
}

#[tokio::test]
async fn a_template_envelope_fills_its_roles() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    let summary = ds
        .envelopes()
        .create(
            CreateEnvelope::from_template("tpl-9f2c")
                .email_subject("Your lease")
                .role(
                    TemplateRole::new("Tenant", "jane@example.test", "Jane Doe")
                        .routing_order(1)
                        .client_user_id("cu-jane")
                        .tab(Tab::text().label("rent").value("1200")),
                )
                .role(TemplateRole::new("Landlord", "lee@example.test", "Lee").routing_order(2))
                .send(),
        )
        .await
        .unwrap();
    api.assert_no_violations();
    let sent = api.last(Method::POST, "/envelopes").body;
    assert_eq!(sent["templateId"], "tpl-9f2c");
    assert_eq!(sent["templateRoles"][0]["roleName"], "Tenant");
    assert_eq!(
        sent["templateRoles"][0]["tabs"]["textTabs"][0]["value"],
        "1200"
    );
    assert!(sent.get("documents").is_none() && sent.get("recipients").is_none());
    let envelope = ds.envelopes().get(&summary.envelope_id).await.unwrap();
    assert_eq!(envelope.template_id.as_deref(), Some("tpl-9f2c"));
    let signers = envelope.recipients.unwrap().signers;
    assert_eq!(signers[0].role_name.as_deref(), Some("Tenant"));
    assert_eq!(signers[0].status, Some(RecipientStatus::Sent));
    assert_eq!(signers[1].status, Some(RecipientStatus::Created));
}

#[tokio::test]
async fn a_body_that_breaks_the_spec_is_refused_and_fails_the_call() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    let err = ds
        .envelopes()
        .create(nda("x").signer(Signer::new("a@example.test", "A", "2").param("routingOrdr", "1")))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_REQUEST_BODY"), "{err}");
    let violations = api.violations.lock().unwrap().clone();
    assert_eq!(violations.len(), 1);
    assert!(
        violations[0].contains("/recipients/signers/1"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn get_answers_from_the_status_cache_until_a_write_through_the_client_drops_it() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    assert_eq!(ds.status_poll_interval(), Duration::from_secs(900));
    let id = ds.envelopes().create(nda("NDA")).await.unwrap().envelope_id;
    let reads = || api.count(Method::GET, "/envelopes/env-1");

    for _ in 0..3 {
        ds.envelopes().get(&id).await.unwrap();
    }
    assert_eq!(reads(), 1, "one read per envelope per interval");
    // Another client over the same switchboard shares the cache.
    let again = client(&sb, &server.base_url(), "acme", "tok-acme");
    again.envelopes().get(&id).await.unwrap();
    assert_eq!(reads(), 1);
    // get_fresh goes to DocuSign every time.
    ds.envelopes().get_fresh(&id).await.unwrap();
    assert_eq!(reads(), 2);

    ds.envelopes()
        .void(&id, "Sent to the wrong person")
        .await
        .unwrap();
    api.assert_no_violations();
    let put = api.last(Method::PUT, "/envelopes/env-1");
    assert_eq!(
        put.body,
        json!({"status": "voided", "voidedReason": "Sent to the wrong person"})
    );
    let envelope = ds.envelopes().get(&id).await.unwrap();
    assert_eq!(reads(), 3, "the void dropped the cached envelope");
    assert_eq!(envelope.status, EnvelopeStatus::Voided);
    assert_eq!(
        envelope.voided_reason.as_deref(),
        Some("Sent to the wrong person")
    );

    ds.envelopes().resend(&id).await.unwrap();
    let put = api.last(Method::PUT, "/envelopes/env-1");
    assert_eq!(put.query.as_deref(), Some("resend_envelope=true"));
    ds.envelopes().get(&id).await.unwrap();
    assert_eq!(reads(), 4, "the resend dropped it");

    let summary = ds
        .envelopes()
        .recipients(&id)
        .update(
            UpdateRecipients::new()
                .signer(Signer::new("jane.doe@example.test", "Jane Doe", "1").routing_order(1))
                .carbon_copy(CarbonCopy::new("audit@example.test", "Audit", "4").routing_order(3))
                .resend_envelope(true),
        )
        .await
        .unwrap();
    api.assert_no_violations();
    assert_eq!(summary.recipient_update_results.len(), 2);
    assert_eq!(summary.recipient_update_results[0].error_code(), None);
    assert_eq!(
        api.last(Method::PUT, "/envelopes/env-1/recipients")
            .query
            .as_deref(),
        Some("resend_envelope=true")
    );
    let envelope = ds.envelopes().get(&id).await.unwrap();
    assert_eq!(reads(), 5, "the recipients update dropped it");
    let recipients = envelope.recipients.unwrap();
    assert_eq!(
        recipients.signers[0].email.as_deref(),
        Some("jane.doe@example.test")
    );
    assert_eq!(
        recipients.carbon_copies[0].recipient_id.as_deref(),
        Some("4"),
        "the carbon copy was added: {recipients:?}"
    );

    // Zero turns the cache off.
    let uncached = ds.with_status_poll_interval(Duration::ZERO);
    uncached.envelopes().get(&id).await.unwrap();
    uncached.envelopes().get(&id).await.unwrap();
    assert_eq!(reads(), 7);
}

#[tokio::test]
async fn two_tenants_sharing_a_connection_id_and_an_envelope_id_get_their_own_envelopes() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    // Same switchboard (one cache), same connection id, same account URL, same envelope id.
    let acme = client(&sb, &server.base_url(), "acme", &canary("acme-token"));
    let globex = client(&sb, &server.base_url(), "globex", &canary("globex-token"));
    let a = acme.envelopes().create(nda("for acme")).await.unwrap();
    let g = globex.envelopes().create(nda("for globex")).await.unwrap();
    assert_eq!(a.envelope_id, g.envelope_id, "both are env-1");
    for _ in 0..2 {
        let mine = acme.envelopes().get(&a.envelope_id).await.unwrap();
        assert_eq!(mine.email_subject.as_deref(), Some("for acme"));
        let theirs = globex.envelopes().get(&g.envelope_id).await.unwrap();
        assert_eq!(theirs.email_subject.as_deref(), Some("for globex"));
    }
    assert_eq!(
        api.count(Method::GET, "/envelopes/env-1"),
        2,
        "one read per tenant"
    );
    // A void by one tenant drops only its own entry.
    globex
        .envelopes()
        .void(&g.envelope_id, "mistake")
        .await
        .unwrap();
    acme.envelopes().get(&a.envelope_id).await.unwrap();
    assert_eq!(api.count(Method::GET, "/envelopes/env-1"), 2);
    let theirs = globex.envelopes().get(&g.envelope_id).await.unwrap();
    assert_eq!(theirs.status, EnvelopeStatus::Voided);
    assert_eq!(api.count(Method::GET, "/envelopes/env-1"), 3);
    let debug = format!("{acme:?} {globex:?}");
    assert!(!debug.contains("CANARY"), "{debug}");
}

#[tokio::test]
async fn status_changes_are_listed_page_by_page_from_a_date() {
    let (api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    for i in 0..5 {
        ds.envelopes()
            .create(nda(&format!("NDA {i}")))
            .await
            .unwrap();
    }
    let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
    let listed: Vec<EnvelopeId> = ds
        .envelopes()
        .list_status_changes(
            ListEnvelopeStatusChanges::since(since)
                .statuses([EnvelopeStatus::Sent, EnvelopeStatus::Completed])
                .page_size(2),
        )
        .map_ok(|e| e.envelope_id)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(EnvelopeId::as_str).collect();
    assert_eq!(ids, ["env-1", "env-2", "env-3", "env-4", "env-5"]);
    let pages: Vec<String> = api
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == Method::GET && s.path.ends_with("/envelopes"))
        .map(|s| s.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (page, start) in pages.iter().zip([0, 2, 4]) {
        assert!(
            page.contains("from_date=2024-05-01T12%3A00%3A00Z")
                || page.contains("from_date=2024-05-01T12:00:00Z"),
            "{page}"
        );
        assert!(
            page.contains("status=sent%2Ccompleted") || page.contains("status=sent,completed"),
            "{page}"
        );
        assert!(page.contains(&format!("start_position={start}")), "{page}");
        assert!(page.contains("count=2"), "{page}");
    }
    // An RFC 3339 string is sent as given; no envelope changed → an empty list.
    let empty: Vec<_> = client(&sb, &server.base_url(), "acme", "tok-other")
        .envelopes()
        .list_status_changes(ListEnvelopeStatusChanges::since_rfc3339(
            "2024-06-01T00:00:00Z",
        ))
        .try_collect()
        .await
        .unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn docusign_errors_are_typed() {
    let (_api, server) = envelope_api::start().await;
    let sb = builder().build().unwrap();
    let ds = client(&sb, &server.base_url(), "acme", "tok-acme");
    let missing = ds
        .envelopes()
        .get(&EnvelopeId::new("env-404"))
        .await
        .unwrap_err();
    assert_eq!(missing.error_code(), Some("ENVELOPE_DOES_NOT_EXIST"));
    assert_eq!(missing.status(), Some(http::StatusCode::NOT_FOUND));
    let id = ds.envelopes().create(nda("NDA")).await.unwrap().envelope_id;
    let no_reason = ds.envelopes().void(&id, "").await.unwrap_err();
    assert_eq!(no_reason.error_code(), Some("INVALID_REQUEST_PARAMETER"));
    // An id with a slash stays one path segment.
    let odd = ds
        .envelopes()
        .get(&EnvelopeId::new("a/b"))
        .await
        .unwrap_err();
    assert_eq!(odd.error_code(), Some("ENVELOPE_DOES_NOT_EXIST"), "{odd}");
}

async fn connected(
    ds: &FakeDocuSign,
    connections: &switchboard::connections::Connections,
    tenant: &str,
) -> DocuSignClient {
    let (t, c) = (TenantId::new(tenant), ConnectionId::new("docusign"));
    let mut config = jwt_config(&ds.url(), "user-1");
    config["status_poll_interval_secs"] = json!(3600);
    connections
        .create(&t, &c, "docusign", "DocuSign", &config)
        .await
        .unwrap();
    connections.test_connection(&t, &c).await.unwrap();
    DocuSignClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap()
}

#[tokio::test]
async fn through_the_template_and_connections_two_tenants_keep_their_own_envelopes_and_cache() {
    let api = Arc::new(ApiState::default());
    let ds = FakeDocuSign::start_with(envelope_api::routes(api.clone())).await;
    let connections = Shared::new().replica();
    // Both tenants act as the same DocuSign user, so their calls go to the same account URL;
    // only the tenant (and its own token) tells them apart.
    let acme = connected(&ds, &connections, "acme").await;
    let globex = connected(&ds, &connections, "globex").await;
    assert_eq!(acme.status_poll_interval(), Duration::from_secs(3600));
    assert_eq!(acme.account_id(), globex.account_id());

    let a = acme.envelopes().create(nda("for acme")).await.unwrap();
    let g = globex.envelopes().create(nda("for globex")).await.unwrap();
    api.assert_no_violations();
    assert_eq!(a.envelope_id, g.envelope_id);
    for _ in 0..3 {
        let mine = acme.envelopes().get(&a.envelope_id).await.unwrap();
        assert_eq!(mine.email_subject.as_deref(), Some("for acme"));
        let theirs = globex.envelopes().get(&g.envelope_id).await.unwrap();
        assert_eq!(theirs.email_subject.as_deref(), Some("for globex"));
    }
    assert_eq!(api.count(Method::GET, "/envelopes/env-1"), 2);
    // A client made again from the connection (a later request of the host) shares the cache.
    let (t, c) = (TenantId::new("acme"), ConnectionId::new("docusign"));
    let later =
        DocuSignClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap();
    later.envelopes().get(&a.envelope_id).await.unwrap();
    assert_eq!(api.count(Method::GET, "/envelopes/env-1"), 2);
}
