//! Template fields marked secret are sealed at any depth (a nested object property, array
//! items, `additionalProperties` values), through `Connections::create` and
//! `Connections::config` over a SQLite store, and never reach the record or the store rows in
//! clear. Two tenants with the same connection id keep their own nested secrets.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::Connections;
use switchboard::store::sqlite::SqliteStore;
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::test_util::canary;
use switchboard::vault::Vault;
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

use crate::support::{builder, TestConnector};

/// An integration whose OAuth client secret is nested and whose extra header values are
/// secret array items.
#[derive(Debug)]
struct Nested(IntegrationTemplate);

fn template() -> IntegrationTemplate {
    IntegrationTemplate::builder("nested-crm")
        .config_schema(json!({
            "type": "object",
            "required": ["apiKey", "oauth"],
            "properties": {
                "apiKey": {"type": "string", "format": "password"},
                "oauth": {
                    "type": "object",
                    "required": ["client_id", "client_secret"],
                    "properties": {
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string", "writeOnly": true}
                    }
                },
                "headers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "value": {"type": "string", "format": "password"}
                        }
                    }
                },
                "backup_keys": {
                    "type": "array",
                    "items": {"type": "string", "format": "password"}
                }
            }
        }))
        .build()
        .unwrap()
}

#[async_trait::async_trait]
impl Integration for Nested {
    async fn check(&self, connection: &switchboard::Connection) -> Result<(), switchboard::Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let secret = config.require_secret("/oauth/client_secret")?;
        Ok(IntegrationBinding::new(
            Arc::new(TestConnector::default()),
            "https://api.example.com",
            Some(Arc::new(BearerToken::new(
                secret.expose_secret().to_string(),
            ))),
        ))
    }
}

fn vault() -> Vault {
    crate::support::test_vault(5)
}

#[test]
fn the_template_finds_secrets_at_every_depth() {
    let t = template();
    let mut fields = t.secret_fields().to_vec();
    fields.sort();
    assert_eq!(
        fields,
        [
            "/backup_keys/*",
            "/headers/*/value",
            "/oauth/client_secret",
            "apiKey"
        ]
    );
    // A nested secret that is not a string is named by its pointer, its value never shown.
    let err = t
        .split(
            &json!({"apiKey": "k", "oauth": {"client_id": "c", "client_secret": "s"},
                       "headers": [{"name": "x", "value": "ok"}, {"name": "y", "value": 12345}]}),
        )
        .unwrap_err();
    assert!(
        err.issues.iter().any(|i| i.pointer == "/headers/1/value"),
        "{err}"
    );
    assert!(!err.to_string().contains("12345"));
}

#[tokio::test]
async fn nested_secrets_round_trip_sealed_and_never_reach_the_record_or_the_rows() {
    let path = std::env::temp_dir().join(format!("sb-nested-{:016x}.db", fastrand::u64(..)));
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let sb = builder().credential_store(store.clone()).build().unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(Nested(template()))).unwrap();
    let svc = Connections::new(sb, vault(), registry).with_connection_store(store.clone());

    // Two tenants, one connection id, each with its own secrets.
    let conn = ConnectionId::new("crm");
    let mut all = Vec::new();
    for tenant in ["tenant-a", "tenant-b"] {
        let top = canary(&format!("{tenant}-top"));
        let nested = canary(&format!("{tenant}-oauth"));
        let header = canary(&format!("{tenant}-header"));
        let backup0 = canary(&format!("{tenant}-backup0"));
        let backup1 = canary(&format!("{tenant}-backup1"));
        let record = svc
            .create(
                &TenantId::new(tenant),
                &conn,
                "nested-crm",
                "CRM",
                &json!({
                    "apiKey": top,
                    "oauth": {"client_id": format!("{tenant}-client"), "client_secret": nested},
                    "headers": [{"name": "x-tenant", "value": header}],
                    "backup_keys": [backup0, backup1]
                }),
            )
            .await
            .unwrap();
        // The record keeps the shape and the plain values, not one secret.
        assert_eq!(
            record.config,
            json!({
                "oauth": {"client_id": format!("{tenant}-client")},
                "headers": [{"name": "x-tenant"}],
                "backup_keys": [null, null]
            })
        );
        all.push((tenant, top, nested, header, backup0, backup1));
    }

    for (tenant, top, nested, header, backup0, backup1) in &all {
        let tenant_id = TenantId::new(*tenant);
        let config = svc.config(&tenant_id, &conn).await.unwrap();
        let get = |f: &str| config.secret(f).map(|s| s.expose_secret().to_string());
        assert_eq!(
            get("apiKey").as_deref(),
            Some(top.as_str()),
            "top level by name"
        );
        assert_eq!(
            get("/apiKey").as_deref(),
            Some(top.as_str()),
            "and by pointer"
        );
        assert_eq!(
            get("/oauth/client_secret").as_deref(),
            Some(nested.as_str())
        );
        assert_eq!(get("/headers/0/value").as_deref(), Some(header.as_str()));
        assert_eq!(get("/backup_keys/0").as_deref(), Some(backup0.as_str()));
        assert_eq!(get("/backup_keys/1").as_deref(), Some(backup1.as_str()));
        assert_eq!(
            config.plain()["oauth"]["client_id"],
            format!("{tenant}-client")
        );
        let shown = format!("{config:?}");
        for c in [top, nested, header, backup0, backup1] {
            assert!(!shown.contains(c.as_str()), "{shown}");
        }
        // The integration binds from the nested secret.
        svc.connection(&tenant_id, &conn).await.unwrap();
    }

    // Canary: no secret in clear in any row of either table.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut dump = String::new();
    for sql in [
        "SELECT tenant || ' ' || id || ' ' || config FROM switchboard_connections",
        "SELECT tenant || ' ' || connection || ' ' || kind || ' ' || hex(sealed) \
         FROM switchboard_credentials",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&raw).await.unwrap();
        assert_eq!(rows.len(), 2, "{sql}");
        dump.push_str(&rows.join("\n"));
        dump.push('\n');
    }
    // The sealed column, read as raw bytes too.
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed FROM switchboard_credentials")
        .fetch_all(&raw)
        .await
        .unwrap();
    for s in &sealed {
        dump.push_str(&String::from_utf8_lossy(s));
    }
    for (_, top, nested, header, backup0, backup1) in &all {
        for c in [top, nested, header, backup0, backup1] {
            assert!(
                !dump.contains(c.as_str()),
                "canary {c} stored in clear:\n{dump}"
            );
            let hex: String = c.bytes().map(|b| format!("{b:02X}")).collect();
            assert!(!dump.contains(&hex), "canary {c} stored in clear (hex)");
        }
    }
    assert!(
        dump.contains("client_id"),
        "the plain part is stored: {dump}"
    );
    raw.close().await;

    // A missing nested secret is a typed error naming the pointer.
    let config = svc.config(&TenantId::new("tenant-a"), &conn).await.unwrap();
    let err = config.require_secret("/oauth/nope").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("/oauth/nope"));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_merge_patch_keeps_nested_secrets_it_does_not_name() {
    let mut registry = Registry::new();
    registry.register(Arc::new(Nested(template()))).unwrap();
    let svc = Connections::new(builder().build().unwrap(), vault(), registry);
    let conn = ConnectionId::new("crm");
    let (ta, tb) = (TenantId::new("tenant-a"), TenantId::new("tenant-b"));
    let (top, nested, backup) = (canary("top"), canary("oauth"), canary("backup"));
    for t in [&ta, &tb] {
        svc.create(
            t,
            &conn,
            "nested-crm",
            "CRM",
            &json!({
                "apiKey": top,
                "oauth": {"client_id": "old-client", "client_secret": nested},
                "headers": [{"name": "x-old", "value": canary("old-header")}],
                "backup_keys": [backup]
            }),
        )
        .await
        .unwrap();
    }
    // An object is merged (the nested secret stays); an array is replaced whole (RFC 7386).
    let new_header = canary("new-header");
    let record = svc
        .update_config(
            &ta,
            &conn,
            &json!({"oauth": {"client_id": "new-client"},
                    "headers": [{"name": "x-new", "value": new_header}]}),
        )
        .await
        .unwrap();
    assert_eq!(
        record.config,
        json!({"oauth": {"client_id": "new-client"}, "headers": [{"name": "x-new"}],
               "backup_keys": [null]})
    );
    let config = svc.config(&ta, &conn).await.unwrap();
    let get = |f: &str| config.secret(f).map(|s| s.expose_secret().to_string());
    assert_eq!(get("apiKey").as_deref(), Some(top.as_str()));
    assert_eq!(
        get("/oauth/client_secret").as_deref(),
        Some(nested.as_str())
    );
    assert_eq!(get("/backup_keys/0").as_deref(), Some(backup.as_str()));
    assert_eq!(
        get("/headers/0/value").as_deref(),
        Some(new_header.as_str())
    );
    // Tenant B's connection of the same id is unchanged.
    let b = svc.get(&tb, &conn).await.unwrap();
    assert_eq!(b.config["oauth"]["client_id"], "old-client");
}
