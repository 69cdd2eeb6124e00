//! Connections from templates: validation, sealed secrets, lifecycle transitions and events,
//! test_connection, and pipeline outcomes moving the state.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::credentials::CredentialStore;
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::test_util::{canary, LoopbackServer};
use switchboard::vault::Vault;
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

use crate::support::{builder, TestConnector};

/// A host's own integration: "acme-crm", API key (secret) + base URL (plain).
#[derive(Debug)]
struct AcmeCrm(IntegrationTemplate);

impl AcmeCrm {
    fn new() -> Self {
        AcmeCrm(
            IntegrationTemplate::builder("acme-crm")
                .display_name("Acme CRM")
                .category("crm")
                .config_schema(json!({
                    "type": "object",
                    "required": ["apiKey", "baseUrl"],
                    "properties": {
                        "apiKey": {"type": "string", "title": "API Key", "format": "password", "minLength": 8},
                        "baseUrl": {"type": "string", "title": "Base URL"}
                    }
                }))
                .endpoint_url_field("baseUrl")
                .setup_instructions("Paste the API key from **Settings > API**.")
                .api_version("2024-01")
                .build()
                .unwrap(),
        )
    }
}

#[async_trait::async_trait]
impl Integration for AcmeCrm {
    async fn check(&self, connection: &switchboard::Connection) -> Result<(), switchboard::Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let key = config.require_secret("apiKey")?.expose_secret().to_string();
        Ok(IntegrationBinding::new(
            Arc::new(TestConnector::default()),
            config.str("baseUrl").unwrap_or_default(),
            Some(Arc::new(BearerToken::new(key))),
        ))
    }
}

fn vault() -> Vault {
    crate::support::test_vault(9)
}

fn service() -> Connections {
    let mut registry = Registry::new();
    registry.register(Arc::new(AcmeCrm::new())).unwrap();
    // The provider is a loopback server: the host allows it explicitly.
    Connections::new(
        builder().allow_endpoint_host("127.0.0.1").build().unwrap(),
        vault(),
        registry,
    )
}

/// A provider whose /health answers with the status in `status`, and 401 for a wrong key.
async fn provider(key: String, status: Arc<AtomicU16>) -> LoopbackServer {
    let app = Router::new().route(
        "/health",
        get(move |headers: HeaderMap| {
            let (key, status) = (key.clone(), status.clone());
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if auth != format!("Bearer {key}") {
                    return (
                        StatusCode::UNAUTHORIZED,
                        format!("{{\"error\":\"bad key {auth}\"}}"),
                    );
                }
                (
                    StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap(),
                    "{}".to_string(),
                )
            }
        }),
    );
    LoopbackServer::start(app).await
}

#[tokio::test]
async fn invalid_config_reports_every_error_with_pointers_and_no_secret() {
    let s = service();
    let secret = canary("short");
    let err = s
        .create(
            &"t".into(),
            &"c".into(),
            "acme-crm",
            "CRM",
            &json!({"apiKey": 42, "extra": secret}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("/apiKey") && text.contains("baseUrl"),
        "{text}"
    );
    assert!(!text.contains("42") && !text.contains(&secret), "{text}");
    let err = s
        .create(&"t".into(), &"c".into(), "no-such", "x", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// A host's template gives its own messages (`errorMessage` as a string for every rule of a
/// field, `x-error-message` keyed by rule); `Connections::create` reports them per field.
#[tokio::test]
async fn host_templates_give_their_own_validation_messages() {
    let template = IntegrationTemplate::builder("acme-msg")
        .config_schema(json!({
            "type": "object",
            "required": ["region", "apiKey"],
            "properties": {
                "apiKey": {"type": "string", "title": "API key", "format": "password",
                    "minLength": 8, "errorMessage": "must be the 8+ character key from Settings",
                    "x-error-message": {"required": "is needed to call Acme"}},
                "region": {"type": "string", "title": "Region", "enum": ["eu", "us"]},
                "port": {"type": "integer", "minimum": 1}
            }
        }))
        .build()
        .unwrap();
    let err = template
        .validate(&json!({"apiKey": "CANARY", "region": "mars", "port": 0}))
        .unwrap_err();
    let msg = |p: &str| {
        err.issues
            .iter()
            .find(|i| i.pointer == p)
            .map(|i| i.message.clone())
            .unwrap_or_else(|| panic!("no issue at {p}: {err}"))
    };
    assert_eq!(
        msg("/apiKey"),
        "API key must be the 8+ character key from Settings"
    );
    assert_eq!(msg("/region"), "Region must be one of: eu, us");
    assert_eq!(msg("/port"), "`port` must be at least 1");
    assert!(!format!("{err} {err:?}").contains("CANARY"));
    let err = template.validate(&json!({"region": "eu"})).unwrap_err();
    assert_eq!(err.issues.len(), 1, "{err}");
    assert_eq!(err.issues[0].pointer, "/apiKey");
    assert_eq!(err.issues[0].message, "API key is needed to call Acme");
}

#[tokio::test]
async fn a_host_integration_is_created_sealed_checked_and_moved_like_ours() {
    let s = service();
    let mut events = s.subscribe();
    let key = canary("acme-key");
    let status = Arc::new(AtomicU16::new(200));
    let server = provider(key.clone(), status.clone()).await;
    let (t, c): (TenantId, ConnectionId) = ("tenant-1".into(), "crm-1".into());
    let record = s
        .create(
            &t,
            &c,
            "acme-crm",
            "Main CRM",
            &json!({"apiKey": key, "baseUrl": server.base_url()}),
        )
        .await
        .unwrap();
    assert_eq!(record.status, ConnectionStatus::Pending);
    assert_eq!(
        record.config,
        json!({"baseUrl": server.base_url()}),
        "secret not in the record"
    );

    // The secret is sealed in the credential store, bound to this tenant and connection.
    let store = s_credential_store(&s).await;
    let sealed = store.load(&record.config_key()).await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(sealed.value.as_bytes()).contains(&key));

    let r = s.test_connection(&t, &c).await.unwrap();
    assert_eq!(r.status, ConnectionStatus::Active);
    assert!(r.last_check.is_some() && r.last_success.is_some());
    let e = events.recv().await.unwrap();
    assert_eq!(
        (e.from, e.to),
        (ConnectionStatus::Pending, ConnectionStatus::Active)
    );

    // The provider starts failing: the check moves it to error, message redacted.
    status.store(503, Ordering::SeqCst);
    let r = s.test_connection(&t, &c).await.unwrap();
    assert_eq!(r.status, ConnectionStatus::Error);
    assert_eq!(r.consecutive_failures, 1);
    let msg = r.last_error.clone().unwrap();
    assert!(msg.contains("503") && !msg.contains(&key), "{msg}");
    let e = events.recv().await.unwrap();
    assert_eq!(
        (e.from, e.to),
        (ConnectionStatus::Active, ConnectionStatus::Error)
    );
    let r = s.test_connection(&t, &c).await.unwrap();
    assert_eq!(r.consecutive_failures, 2);

    status.store(200, Ordering::SeqCst);
    assert_eq!(
        s.test_connection(&t, &c).await.unwrap().status,
        ConnectionStatus::Active
    );
    assert_eq!(
        s.disconnect(&t, &c).await.unwrap().status,
        ConnectionStatus::Disconnected
    );
}

async fn s_credential_store(s: &Connections) -> Arc<dyn CredentialStore> {
    // The service seals into its switchboard's store; reach it through a connection.
    let t: TenantId = "tenant-1".into();
    let c: ConnectionId = "crm-1".into();
    s.connection(&t, &c)
        .await
        .unwrap()
        .switchboard()
        .credential_store()
        .clone()
}

#[tokio::test]
async fn every_lifecycle_transition_legal_and_illegal() {
    use ConnectionStatus::*;
    let legal = [
        (Pending, Active),
        (Pending, Error),
        (Active, Error),
        (Active, Disconnected),
        (Error, Active),
        (Disconnected, Active),
    ];
    // Paths that reach each starting status from pending.
    let path_to = |s: ConnectionStatus| -> Vec<ConnectionStatus> {
        match s {
            Pending => vec![],
            Active => vec![Active],
            Error => vec![Error],
            Disconnected => vec![Active, Disconnected],
            _ => unreachable!(),
        }
    };
    let s = service();
    let mut n = 0;
    for from in ConnectionStatus::ALL {
        for to in ConnectionStatus::ALL {
            if from == to {
                continue;
            }
            n += 1;
            let (t, c): (TenantId, ConnectionId) = ("t".into(), format!("c{n}").into());
            s.create(
                &t,
                &c,
                "acme-crm",
                "x",
                &json!({"apiKey": "12345678", "baseUrl": "http://127.0.0.1:9"}),
            )
            .await
            .unwrap();
            for step in path_to(from) {
                s.transition(&t, &c, step, None).await.unwrap();
            }
            let result = s.transition(&t, &c, to, Some("why")).await;
            if legal.contains(&(from, to)) {
                assert_eq!(result.unwrap().status, to, "{from} -> {to}");
            } else {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::State, "{from} -> {to}");
                assert_eq!(
                    s.get(&t, &c).await.unwrap().status,
                    from,
                    "unchanged after {from} -> {to}"
                );
            }
        }
    }
    assert_eq!(n, 12);
}

#[tokio::test]
async fn pipeline_outcomes_move_the_connection() {
    let s = service();
    let key = canary("acme-key");
    let status = Arc::new(AtomicU16::new(200));
    let server = provider(key.clone(), status.clone()).await;
    let (t, c): (TenantId, ConnectionId) = ("t".into(), "c".into());
    s.create(
        &t,
        &c,
        "acme-crm",
        "x",
        &json!({"apiKey": key, "baseUrl": server.base_url()}),
    )
    .await
    .unwrap();
    s.test_connection(&t, &c).await.unwrap();
    let mut events = s.subscribe();
    let conn = s.connection(&t, &c).await.unwrap();
    status.store(401, Ordering::SeqCst);
    assert!(conn.get("/health").send().await.is_err());
    let e = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.to, ConnectionStatus::Error);
    assert!(e.error.unwrap().contains("401"));
    status.store(200, Ordering::SeqCst);
    conn.get("/health").send().await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.from, e.to),
        (ConnectionStatus::Error, ConnectionStatus::Active)
    );
    // Further successes write nothing.
    conn.get("/health").send().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err()
    );
}
