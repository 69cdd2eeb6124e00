//! The lifecycle operations a host's integrations page needs, through `Connections`: list a
//! tenant's connections, change a config by merge patch (one compare-and-swap, no half state),
//! delete a connection with its sealed secrets; and config changes reaching every replica
//! (two `Connections` sharing one store) within a second, for API calls (a loopback provider
//! records the key it was sent) and for webhook verification (real HTTP through the router).
//! Every test has two tenants sharing a connection id.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::{
    ConnectionRecord, ConnectionStatus, ConnectionStore, Connections, InMemoryConnectionStore,
};
use switchboard::credentials::{
    CredentialKey, CredentialStore, InMemoryCredentialStore, SealedCredential, Versioned,
};
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::test_util::{canary, LoopbackServer};
use switchboard::vault::Vault;
use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
use switchboard::webhook::WebhookVerifier;
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

use crate::support::{builder, TestConnector};
use crate::webhook_router::{now_secs, sign, IdVerifier};

const TEMPLATE: &str = "acme";

/// A host's integration: `apiKey` (secret, sent as a bearer token), `baseUrl` (plain, an
/// endpoint &crate::support::postgres_url()), `region` (plain, optional), `webhookSecret` (secret, optional, signs its
/// webhooks).
#[derive(Debug)]
struct Acme(IntegrationTemplate);

impl Acme {
    fn new() -> Self {
        Acme(
            IntegrationTemplate::builder(TEMPLATE)
                .config_schema(json!({
                    "type": "object",
                    "required": ["apiKey", "baseUrl"],
                    "properties": {
                        "apiKey": {"type": "string", "format": "password", "minLength": 8},
                        "baseUrl": {"type": "string"},
                        "region": {"type": "string"},
                        "webhookSecret": {"type": "string", "format": "password"}
                    }
                }))
                .endpoint_url_field("baseUrl")
                .webhooks(true)
                .build()
                .unwrap(),
        )
    }
}

#[async_trait::async_trait]
impl Integration for Acme {
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
    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let secret = config.require_secret("webhookSecret")?.expose_secret();
        Ok(Arc::new(IdVerifier {
            secret: secret.as_bytes().to_vec(),
        }))
    }
}

fn vault() -> Vault {
    crate::support::test_vault(5)
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Arc::new(Acme::new())).unwrap();
    registry
}

/// A service (one replica) over the given stores; the loopback provider is allowed.
fn replica(
    credentials: Arc<dyn CredentialStore>,
    records: Arc<dyn ConnectionStore>,
) -> Connections {
    let sb = builder()
        .allow_endpoint_host("127.0.0.1")
        .credential_store(credentials)
        .build()
        .unwrap();
    Connections::new(sb, vault(), registry()).with_connection_store(records)
}

fn in_memory() -> Connections {
    replica(
        Arc::new(InMemoryCredentialStore::new()),
        Arc::new(InMemoryConnectionStore::new()),
    )
}

/// A provider whose /health records the Authorization header of every call and answers 200.
async fn provider(seen: Arc<Mutex<Vec<String>>>) -> LoopbackServer {
    let app = Router::new().route(
        "/health",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(auth);
                (StatusCode::OK, "{}")
            }
        }),
    );
    LoopbackServer::start(app).await
}

fn ids() -> (TenantId, TenantId, ConnectionId) {
    (
        TenantId::new("tenant-a"),
        TenantId::new("tenant-b"),
        ConnectionId::new("crm"),
    )
}

async fn secret_of(s: &Connections, t: &TenantId, c: &ConnectionId, field: &str) -> String {
    s.config(t, c)
        .await
        .unwrap()
        .secret(field)
        .map(|v| v.expose_secret().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn update_config_merges_a_patch_validates_the_result_and_never_touches_the_other_tenant() {
    let s = in_memory();
    let (ta, tb, c) = ids();
    let (key_a, key_b, new_a) = (canary("key-a"), canary("key-b"), canary("key-a2"));
    for (t, key) in [(&ta, &key_a), (&tb, &key_b)] {
        s.create(
            t,
            &c,
            TEMPLATE,
            "CRM",
            &json!({"apiKey": key, "baseUrl": "https://api.acme.example", "region": "eu",
                    "webhookSecret": format!("{key}-hook")}),
        )
        .await
        .unwrap();
    }

    // Only the key changes: the rest of the config (plain and secret) is kept. The old code
    // replaced the whole config, so this patch failed validation (baseUrl is required).
    let r = s
        .update_config(&ta, &c, &json!({"apiKey": new_a}))
        .await
        .unwrap();
    assert_eq!(
        r.config,
        json!({"baseUrl": "https://api.acme.example", "region": "eu"})
    );
    assert_eq!(secret_of(&s, &ta, &c, "apiKey").await, new_a);
    assert_eq!(
        secret_of(&s, &ta, &c, "webhookSecret").await,
        format!("{key_a}-hook")
    );

    // `null` removes a field (RFC 7386); an object is merged, not replaced.
    let r = s
        .update_config(&ta, &c, &json!({"region": null}))
        .await
        .unwrap();
    assert_eq!(r.config, json!({"baseUrl": "https://api.acme.example"}));
    assert_eq!(secret_of(&s, &ta, &c, "apiKey").await, new_a);

    // The merged result is validated: removing a required field, or a too-short key, is a
    // validation error that echoes no value, and nothing changes.
    for patch in [json!({"apiKey": null}), json!({"apiKey": "short"})] {
        let err = s.update_config(&ta, &c, &patch).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
        assert!(!err.to_string().contains("short"), "{err}");
    }
    // So is the endpoint policy, as at create: a private address is refused.
    let err = s
        .update_config(&ta, &c, &json!({"baseUrl": "https://169.254.169.254/"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
    assert_eq!(secret_of(&s, &ta, &c, "apiKey").await, new_a);
    assert_eq!(
        s.get(&ta, &c).await.unwrap().config["baseUrl"],
        "https://api.acme.example"
    );

    // Tenant B's connection of the same id never moved.
    let b = s.get(&tb, &c).await.unwrap();
    assert_eq!(b.config["region"], "eu");
    assert_eq!(secret_of(&s, &tb, &c, "apiKey").await, key_b);

    // A connection that does not exist is NotFound, in the other tenant too.
    let err = s
        .update_config(&TenantId::new("tenant-c"), &c, &json!({"region": "us"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_land() {
    let s = in_memory();
    let (ta, _, c) = ids();
    s.create(
        &ta,
        &c,
        TEMPLATE,
        "CRM",
        &json!({"apiKey": canary("key-a"), "baseUrl": "https://api.acme.example"}),
    )
    .await
    .unwrap();
    let new_key = canary("key-a2");
    let (s1, s2, t1, t2, c1, c2) = (
        s.clone(),
        s.clone(),
        ta.clone(),
        ta.clone(),
        c.clone(),
        c.clone(),
    );
    let k = new_key.clone();
    let a = tokio::spawn(async move {
        s1.update_config(&t1, &c1, &json!({"region": "eu"}))
            .await
            .unwrap()
    });
    let b = tokio::spawn(async move {
        s2.update_config(&t2, &c2, &json!({"apiKey": k}))
            .await
            .unwrap()
    });
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(s.get(&ta, &c).await.unwrap().config["region"], "eu");
    assert_eq!(secret_of(&s, &ta, &c, "apiKey").await, new_key);
}

/// A credential store that fails every save while `fail` is set.
#[derive(Debug, Default)]
struct FlakyCredentials {
    inner: InMemoryCredentialStore,
    fail: AtomicBool,
}

#[async_trait]
impl CredentialStore for FlakyCredentials {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, Error> {
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Store, "credential store is down"));
        }
        self.inner.save(key, value, expected).await
    }
    async fn list_keys(&self) -> Result<Vec<CredentialKey>, Error> {
        self.inner.list_keys().await
    }
    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), Error> {
        self.inner.delete(key, expected).await
    }
}

/// A connection store that fails every save while `fail` is set.
#[derive(Debug, Default)]
struct FlakyRecords {
    inner: InMemoryConnectionStore,
    fail: AtomicBool,
}

#[async_trait]
impl ConnectionStore for FlakyRecords {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.load(tenant, id).await
    }
    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Store, "record store is down"));
        }
        self.inner.save(record).await
    }
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        self.inner.list(tenant).await
    }
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        version: u64,
    ) -> Result<(), Error> {
        self.inner.delete(tenant, id, version).await
    }
    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.find_by_webhook_token(token).await
    }
    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.find_by_routing_key(template, key).await
    }
}

async fn config_keys_of(store: &dyn CredentialStore, t: &TenantId, c: &ConnectionId) -> usize {
    store
        .list_keys()
        .await
        .unwrap()
        .iter()
        .filter(|k| &k.tenant == t && &k.connection == c)
        .count()
}

#[tokio::test]
async fn a_failed_update_leaves_the_old_config_whole_never_a_mix() {
    let creds = Arc::new(FlakyCredentials::default());
    let records = Arc::new(FlakyRecords::default());
    let s = replica(creds.clone(), records.clone());
    let (ta, tb, c) = ids();
    let (key_a, key_b) = (canary("key-a"), canary("key-b"));
    for (t, key) in [(&ta, &key_a), (&tb, &key_b)] {
        s.create(
            t,
            &c,
            TEMPLATE,
            "CRM",
            &json!({"apiKey": key, "baseUrl": "https://old.acme.example"}),
        )
        .await
        .unwrap();
    }
    let patch = json!({"apiKey": canary("key-a2"), "baseUrl": "https://new.acme.example"});

    // The secrets cannot be sealed: nothing changes. (The old code wrote the record first,
    // so the new base &crate::support::postgres_url() went out with the old key.)
    creds.fail.store(true, Ordering::SeqCst);
    let err = s.update_config(&ta, &c, &patch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    creds.fail.store(false, Ordering::SeqCst);
    let config = s.config(&ta, &c).await.unwrap();
    assert_eq!(
        (
            config.str("baseUrl").unwrap(),
            config.secret("apiKey").unwrap().expose_secret()
        ),
        ("https://old.acme.example", key_a.as_str())
    );

    // The record cannot be written: the secrets sealed for it are removed again, and the old
    // pair is still what every reader gets. (The old code had overwritten the old secrets.)
    records.fail.store(true, Ordering::SeqCst);
    let err = s.update_config(&ta, &c, &patch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    records.fail.store(false, Ordering::SeqCst);
    let fresh = replica(creds.clone(), records.clone());
    let config = fresh.config(&ta, &c).await.unwrap();
    assert_eq!(
        (
            config.str("baseUrl").unwrap(),
            config.secret("apiKey").unwrap().expose_secret()
        ),
        ("https://old.acme.example", key_a.as_str())
    );
    assert_eq!(
        config_keys_of(creds.as_ref(), &ta, &c).await,
        1,
        "no orphan"
    );

    // Then it works, and only one sealed config is left.
    s.update_config(&ta, &c, &patch).await.unwrap();
    assert_eq!(config_keys_of(creds.as_ref(), &ta, &c).await, 1);
    // (`fresh` cached the old config under a second ago: within the bound it may keep it,
    // so a third reader checks what is stored.)
    let third = replica(creds.clone(), records.clone());
    assert_eq!(
        third.config(&ta, &c).await.unwrap().str("baseUrl"),
        Some("https://new.acme.example")
    );
    assert_eq!(secret_of(&fresh, &tb, &c, "apiKey").await, key_b);
}

#[tokio::test]
async fn list_gives_one_tenants_connections_with_status_error_and_sync() {
    let s = in_memory();
    let (ta, tb, c) = ids();
    let other = ConnectionId::new("billing");
    for (t, id) in [(&ta, &c), (&ta, &other), (&tb, &c)] {
        s.create(
            t,
            id,
            TEMPLATE,
            "CRM",
            &json!({"apiKey": canary("key"), "baseUrl": "https://api.acme.example"}),
        )
        .await
        .unwrap();
    }
    s.transition(
        &ta,
        &c,
        ConnectionStatus::Error,
        Some("provider answered 401"),
    )
    .await
    .unwrap();
    s.record_sync(&ta, &other).await.unwrap();

    let listed = s.list(&ta).await.unwrap();
    let summary: Vec<_> = listed
        .iter()
        .map(|r| {
            (
                r.tenant.as_str(),
                r.id.as_str(),
                r.status,
                r.last_error.as_deref(),
                r.last_sync.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("tenant-a", "billing", ConnectionStatus::Pending, None, true),
            (
                "tenant-a",
                "crm",
                ConnectionStatus::Error,
                Some("provider answered 401"),
                false
            ),
        ]
    );
    // No secret in what a status page would show.
    assert!(listed.iter().all(|r| r.config.get("apiKey").is_none()));
    let b = s.list(&tb).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].status, ConnectionStatus::Pending);
    assert!(s.list(&TenantId::new("nobody")).await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_removes_the_connection_and_its_sealed_secrets_and_only_that_tenants() {
    let creds = Arc::new(InMemoryCredentialStore::new());
    let s = replica(creds.clone(), Arc::new(InMemoryConnectionStore::new()));
    let (ta, tb, c) = ids();
    let key_b = canary("key-b");
    for (t, key) in [(&ta, canary("key-a")), (&tb, key_b.clone())] {
        s.create(
            t,
            &c,
            TEMPLATE,
            "CRM",
            &json!({"apiKey": key, "baseUrl": "https://api.acme.example"}),
        )
        .await
        .unwrap();
    }
    s.update_config(&ta, &c, &json!({"apiKey": canary("key-a2")}))
        .await
        .unwrap();
    // Another credential of the same connection (as a token manager keeps OAuth tokens).
    let token_key = CredentialKey::new(ta.clone(), c.clone(), "oauth_token");
    creds
        .save(&token_key, SealedCredential::new(&b"sealed"[..]), None)
        .await
        .unwrap();
    // Warm the caches, which must not outlive the connection.
    s.config(&ta, &c).await.unwrap();

    s.delete(&ta, &c).await.unwrap();
    assert_eq!(
        s.get(&ta, &c).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        s.config(&ta, &c).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(config_keys_of(creds.as_ref(), &ta, &c).await, 0);
    assert!(s.list(&ta).await.unwrap().is_empty());
    // Deleting again, or something that never existed, is NotFound.
    for (t, id) in [(&ta, &c), (&tb, &ConnectionId::new("nope"))] {
        assert_eq!(
            s.delete(t, id).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    // Tenant B's connection of the same id is whole.
    assert_eq!(secret_of(&s, &tb, &c, "apiKey").await, key_b);
    assert_eq!(config_keys_of(creds.as_ref(), &tb, &c).await, 1);

    // The id can be used again, with new secrets only.
    let fresh = canary("key-a3");
    s.create(
        &ta,
        &c,
        TEMPLATE,
        "CRM",
        &json!({"apiKey": fresh, "baseUrl": "https://api.acme.example"}),
    )
    .await
    .unwrap();
    assert_eq!(secret_of(&s, &ta, &c, "apiKey").await, fresh);
}

/// Two replicas over one store: after A changes the key (and the webhook secret), B's calls
/// and B's webhook verification use the new ones within a second, and tenant B's connection
/// of the same id keeps its own.
async fn config_changes_reach_the_other_replica(a: Connections, b: Connections) {
    let (ta, tb, c) = ids();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = provider(seen.clone()).await;
    let (old_key, new_key, key_b) = (canary("old-key"), canary("new-key"), canary("key-b"));
    let (old_hook, new_hook) = (canary("old-hook"), canary("new-hook"));
    for (t, key) in [(&ta, &old_key), (&tb, &key_b)] {
        a.create(
            t,
            &c,
            TEMPLATE,
            "CRM",
            &json!({"apiKey": key, "baseUrl": server.base_url(), "webhookSecret": old_hook}),
        )
        .await
        .unwrap();
    }

    // B serves webhooks over real HTTP.
    let router = WebhookRouter::builder(b.clone())
        .route(WebhookRoute::new(
            TEMPLATE,
            Arc::new(handler_fn(|_e: WebhookEvent| async { Ok(()) })),
        ))
        .build()
        .unwrap();
    let hooks = LoopbackServer::start(switchboard::webhook::axum::routes(router)).await;
    let path = b.webhook_path(&ta, &c, "/webhooks").await.unwrap();
    let mut n = 0;
    let mut deliver = |secret: String| {
        n += 1;
        let (url, id) = (format!("{}{path}", hooks.base_url()), format!("evt-{n}"));
        async move {
            let body = r#"{"type":"ping"}"#;
            reqwest::Client::new()
                .post(url)
                .headers(sign(&secret, &id, now_secs(), body.as_bytes()))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // B warms every cache with the old config.
    let last_auth = |seen: &Arc<Mutex<Vec<String>>>| seen.lock().unwrap().last().cloned();
    // A client made before the change and kept, as hosts keep and share clients.
    let kept = b.connection(&ta, &c).await.unwrap();
    crate::support::check_health(&kept).await.unwrap();
    assert_eq!(last_auth(&seen), Some(format!("Bearer {old_key}")));
    assert_eq!(secret_of(&b, &ta, &c, "apiKey").await, old_key);
    assert!(b.webhook_verifier(&ta, &c).await.is_ok());
    assert_eq!(deliver(old_hook.clone()).await, 200);

    a.update_config(
        &ta,
        &c,
        &json!({"apiKey": new_key, "webhookSecret": new_hook}),
    )
    .await
    .unwrap();

    // A client B makes now, and B's webhook verification, use the new config at once (both
    // read the record, which names the new sealed generation).
    crate::support::check_health(&b.connection(&ta, &c).await.unwrap())
        .await
        .unwrap();
    assert_eq!(last_auth(&seen), Some(format!("Bearer {new_key}")));
    assert_eq!(deliver(new_hook.clone()).await, 200);
    assert_eq!(deliver(old_hook.clone()).await, 401);
    // `config` revalidates within the bound (about a second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(secret_of(&b, &ta, &c, "apiKey").await, new_key);
    // ... and so does the client made before the change: no call uses the old key past it.
    crate::support::check_health(&kept).await.unwrap();
    assert_eq!(last_auth(&seen), Some(format!("Bearer {new_key}")));

    // Tenant B's connection of the same id kept its key.
    crate::support::check_health(&b.connection(&tb, &c).await.unwrap())
        .await
        .unwrap();
    assert_eq!(last_auth(&seen), Some(format!("Bearer {key_b}")));
    assert_eq!(secret_of(&b, &tb, &c, "apiKey").await, key_b);

    // And a delete on A is seen by B's webhooks at once.
    a.delete(&ta, &c).await.unwrap();
    assert_ne!(deliver(new_hook).await, 200);
}

#[tokio::test]
async fn config_changes_reach_another_replica_in_memory() {
    let creds: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let records: Arc<dyn ConnectionStore> = Arc::new(InMemoryConnectionStore::new());
    config_changes_reach_the_other_replica(
        replica(creds.clone(), records.clone()),
        replica(creds, records),
    )
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn config_changes_reach_another_replica_over_one_sqlite_file() {
    use switchboard::store::sqlite::SqliteStore;
    let path = std::env::temp_dir().join(format!("sb-replicas-{:016x}.db", fastrand::u64(..)));
    // Two processes' worth: each replica opens the file itself.
    let one = Arc::new(SqliteStore::open(&path).await.unwrap());
    let two = Arc::new(SqliteStore::open(&path).await.unwrap());
    config_changes_reach_the_other_replica(
        replica(one.clone(), one.clone()),
        replica(two.clone(), two),
    )
    .await;
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn config_changes_reach_another_replica_over_one_postgres_schema() {
    use switchboard::store::postgres::PostgresStore;
    let schema = format!("sb_ops_{:016x}", fastrand::u64(..));
    // Two pools on one schema, as two processes would have.
    let one = Arc::new(
        PostgresStore::connect_with_schema(&crate::support::postgres_url(), &schema)
            .await
            .unwrap(),
    );
    let two = Arc::new(
        PostgresStore::connect_with_schema(&crate::support::postgres_url(), &schema)
            .await
            .unwrap(),
    );
    config_changes_reach_the_other_replica(
        replica(one.clone(), one.clone()),
        replica(two.clone(), two),
    )
    .await;
    if let Ok(pool) = sqlx::PgPool::connect(&crate::support::postgres_url()).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&pool)
            .await;
    }
}

/// What a config update writes is not a value a patch could smuggle into another tenant: the
/// patch is applied to this connection's own config only (checked above); here, that a
/// merged secret value never shows in the record or an error.
#[tokio::test]
async fn patched_secrets_stay_out_of_records_and_errors() {
    let s = in_memory();
    let (ta, _, c) = ids();
    s.create(
        &ta,
        &c,
        TEMPLATE,
        "CRM",
        &json!({"apiKey": canary("key-a"), "baseUrl": "https://api.acme.example"}),
    )
    .await
    .unwrap();
    let secret = canary("patched");
    let r = s
        .update_config(&ta, &c, &json!({"webhookSecret": secret}))
        .await
        .unwrap();
    let shown = format!("{r:?} {}", r.config);
    assert!(!shown.contains(&secret), "{shown}");
    let err = s
        .update_config(&ta, &c, &json!({"webhookSecret": 12345, "apiKey": secret}))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(&secret), "{err}");
}
