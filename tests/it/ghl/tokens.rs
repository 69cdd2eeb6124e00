//! A marketplace app's tokens through the host's path (template -> `Connections` ->
//! `GhlClient`): GoHighLevel's refresh tokens are single use, so three replicas (three
//! connection services sharing the credential and connection stores and a Redis refresh lock)
//! that all find the token expired make exactly one refresh, and every call then carries the
//! new token. A second tenant with the same connection id refreshes its own token only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use switchboard::connections::{Connections, InMemoryConnectionStore};
use switchboard::credentials::{CredentialStore, InMemoryCredentialStore};
use switchboard::ghl::{GhlClient, GhlIntegration};
use switchboard::templates::Registry;
use switchboard::test_util::LoopbackServer;
use switchboard::tokens::{RefreshLock, Token, TokenManager};
use switchboard::{ConnectionId, TenantId};

use crate::support::builder;

/// GoHighLevel's token endpoint and one location read, per location: `rt-N` is the one
/// refresh token that works (spent on arrival), `at-N` the access token it issued.
#[derive(Default)]
struct App {
    /// location -> N of the current token set.
    current: HashMap<String, u32>,
    refreshes: u32,
    reused: u32,
    bad_forms: u32,
}

type Shared = Arc<Mutex<App>>;

async fn token(State(app): State<Shared>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let ok_form = form.get("client_id").map(String::as_str) == Some("app-client")
        && form.get("client_secret").map(String::as_str) == Some("app-secret")
        && form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("user_type").map(String::as_str) == Some("Location");
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let issued = {
        let mut a = app.lock().unwrap();
        if !ok_form {
            a.bad_forms += 1;
            None
        } else {
            // `<location>:rt-<n>`
            let found = presented
                .split_once(":rt-")
                .and_then(|(loc, n)| Some((loc.to_string(), n.parse::<u32>().ok()?)))
                .filter(|(loc, n)| a.current.get(loc) == Some(n));
            match found {
                Some((loc, n)) => {
                    a.current.insert(loc.clone(), n + 1);
                    a.refreshes += 1;
                    Some((loc, n + 1))
                }
                None => {
                    a.reused += 1;
                    None
                }
            }
        }
    };
    // Slow enough that the replicas' calls overlap while one refresh is in flight.
    tokio::time::sleep(Duration::from_millis(200)).await;
    match issued {
        Some((loc, n)) => Json(json!({
            "access_token": format!("{loc}:at-{n}"),
            "refresh_token": format!("{loc}:rt-{n}"),
            "token_type": "Bearer",
            "expires_in": 86399,
            "userType": "Location",
            "locationId": loc,
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Invalid refresh token"})),
        )
            .into_response(),
    }
}

/// `POST /oauth/locationToken`: the agency token `agency-token` exchanged for a location's.
async fn location_token(State(app): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (Some(loc), Some(_company), Some("Bearer agency-token"), true) = (
        form.get("locationId"),
        form.get("companyId"),
        auth,
        headers.get("version").is_some(),
    ) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode": 401, "message": "Invalid JWT"})),
        )
            .into_response();
    };
    let n = {
        let mut a = app.lock().unwrap();
        let n = a.current.get(loc).map_or(0, |n| n + 1);
        a.current.insert(loc.clone(), n);
        n
    };
    Json(json!({
        "access_token": format!("{loc}:at-{n}"), "refresh_token": format!("{loc}:rt-{n}"),
        "token_type": "Bearer", "expires_in": 86399, "userType": "Location",
        "locationId": loc, "companyId": "co_1",
    }))
    .into_response()
}

async fn location(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let want = app
        .lock()
        .unwrap()
        .current
        .get(&id)
        .map(|n| format!("Bearer {id}:at-{n}"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if headers.get("version").is_none() || want.is_none() || auth != want.as_deref() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode": 401, "message": "Invalid JWT"})),
        )
            .into_response();
    }
    Json(json!({"location": {"id": id, "name": format!("Location {id}")}})).into_response()
}

/// One replica: its own switchboard, token manager and connection service over the shared
/// stores and lock.
fn replica(
    credentials: &Arc<dyn CredentialStore>,
    records: &Arc<InMemoryConnectionStore>,
    lock: Arc<dyn RefreshLock>,
) -> Connections {
    let vault = crate::support::test_vault(16);
    let sb = builder()
        .allow_endpoint_host("127.0.0.1")
        .credential_store(credentials.clone())
        .build()
        .unwrap();
    let tokens = TokenManager::builder(vault.clone(), credentials.clone())
        .refresh_lock(lock)
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(GhlIntegration::new())).unwrap();
    Connections::new(sb, vault, registry)
        .with_connection_store(records.clone())
        .with_tokens(tokens)
}

#[cfg(feature = "redis")]
async fn lock(prefix: &str) -> Arc<dyn RefreshLock> {
    let lock = switchboard::tokens::RedisRefreshLock::connect(&crate::support::redis_url())
        .await
        .expect("Redis at 127.0.0.1:6379")
        .key_prefix(prefix.to_string());
    Arc::new(lock)
}

#[cfg(not(feature = "redis"))]
async fn lock(_prefix: &str) -> Arc<dyn RefreshLock> {
    // Without Redis the replicas share one in-process lock (the same guarantee in one process).
    static LOCK: std::sync::OnceLock<Arc<dyn RefreshLock>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| Arc::new(switchboard::tokens::InProcessLock::new()))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_spend_a_single_use_refresh_token_once() {
    let app: Shared = Arc::default();
    let server = LoopbackServer::start(
        Router::new()
            .route("/oauth/token", post(token))
            .route("/oauth/locationToken", post(location_token))
            .route("/locations/{id}", get(location))
            .with_state(app.clone()),
    )
    .await;
    let credentials: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let records = Arc::new(InMemoryConnectionStore::new());
    // Three connections to Redis, one lock name space: the replicas' shared lock.
    let prefix = format!("ghl-tokens-{}", uuid::Uuid::new_v4());
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&credentials, &records, lock(&prefix).await));
    }
    let id = ConnectionId::new("ghl");
    // Two tenants, one connection id, one location each.
    for (tenant, loc) in [("acme", "loc_acme"), ("globex", "loc_globex")] {
        app.lock().unwrap().current.insert(loc.into(), 0);
        let t = TenantId::new(tenant);
        replicas[0]
            .create(
                &t,
                &id,
                "ghl",
                "GoHighLevel",
                &json!({
                    "clientId": "app-client", "clientSecret": "app-secret",
                    "locationId": loc, "baseUrl": server.base_url(),
                }),
            )
            .await
            .unwrap();
        // The host stored the token of its code exchange; it has expired since.
        let stored = Token::new(format!("{loc}:at-0"))
            .with_refresh_token(format!("{loc}:rt-0"))
            .with_expires_at(SystemTime::now() - Duration::from_secs(60));
        replicas[0]
            .tokens()
            .unwrap()
            .store_token(&t, &id, &stored)
            .await
            .unwrap();
    }

    // Every replica checks acme's location at once, twice over.
    let acme = TenantId::new("acme");
    let mut calls = Vec::new();
    for r in replicas.iter().chain(replicas.iter()) {
        let (r, t, id) = (r.clone(), acme.clone(), id.clone());
        calls.push(tokio::spawn(async move {
            let conn = r.connection(&t, &id).await?;
            let ghl = GhlClient::from_connection(conn).map_err(switchboard::Error::from)?;
            ghl.check().await.map_err(switchboard::Error::from)
        }));
    }
    for call in calls {
        let check = call.await.unwrap().unwrap_or_else(|e| {
            let a = app.lock().unwrap();
            panic!(
                "{e}: refreshes {}, reused {}, bad forms {}",
                a.refreshes, a.reused, a.bad_forms
            )
        });
        assert_eq!(check.location_name, "Location loc_acme");
        assert_eq!(check.api_version, "2021-07-28");
    }
    {
        let a = app.lock().unwrap();
        assert_eq!(a.refreshes, 1, "one refresh across the replicas");
        assert_eq!(a.reused, 0, "no replica presented a spent refresh token");
        assert_eq!(a.bad_forms, 0, "every refresh carried the app's form");
        assert_eq!(
            a.current["loc_globex"], 0,
            "the other tenant's token was not touched"
        );
    }

    // The other tenant, same connection id: its own refresh, its own location.
    let globex = TenantId::new("globex");
    let conn = replicas[2].connection(&globex, &id).await.unwrap();
    let check = GhlClient::from_connection(conn)
        .unwrap()
        .check()
        .await
        .unwrap();
    assert_eq!(check.location_name, "Location loc_globex");
    let a = app.lock().unwrap();
    assert_eq!((a.refreshes, a.reused), (2, 0));
    assert_eq!(a.current["loc_acme"], 1);
}

#[tokio::test]
async fn an_app_install_connects_its_location_once() {
    use switchboard::auth::BearerToken;
    use switchboard::connections::ConnectionStatus;
    use switchboard::ghl::{install_location, GhlConnector, GhlEvent};

    let app: Shared = Arc::default();
    let server = LoopbackServer::start(
        Router::new()
            .route("/oauth/token", post(token))
            .route("/oauth/locationToken", post(location_token))
            .route("/locations/{id}", get(location))
            .with_state(app.clone()),
    )
    .await;
    let credentials: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let records = Arc::new(InMemoryConnectionStore::new());
    let host = replica(&credentials, &records, lock("ghl-install").await);
    // The agency's own connection, as the host keeps it.
    let sb = builder().allow_endpoint_host("127.0.0.1").build().unwrap();
    let agency = GhlClient::from_connection(
        sb.connection(GhlConnector::new())
            .tenant("acme")
            .id("ghl-agency")
            .base_url(server.base_url())
            .auth(Arc::new(BearerToken::new("agency-token")))
            .build()
            .unwrap(),
    )
    .unwrap();

    let body = serde_json::json!({"type": "INSTALL", "appId": "app_1", "installType": "Location",
        "locationId": "loc_new", "companyId": "co_1", "userId": "u_1"});
    let GhlEvent::AppInstall(install) = GhlEvent::from_slice(body.to_string().as_bytes()).unwrap()
    else {
        panic!("an AppInstall");
    };
    let (t, id) = (TenantId::new("acme"), ConnectionId::new("ghl-loc_new"));
    let config = json!({"clientId": "app-client", "clientSecret": "app-secret", "baseUrl": server.base_url()});
    let record = install_location(
        &host,
        &agency,
        &install,
        &t,
        &id,
        "New office",
        config.clone(),
    )
    .await
    .unwrap();
    assert_eq!(record.status, ConnectionStatus::Active, "{record:?}");
    // A retried delivery: no second connection, a fresh token, still active.
    let again = install_location(&host, &agency, &install, &t, &id, "New office", config)
        .await
        .unwrap();
    assert_eq!(again.status, ConnectionStatus::Active);
    assert_eq!(host.list(&t).await.unwrap().len(), 1);
    let ghl = GhlClient::from_connection(host.connection(&t, &id).await.unwrap()).unwrap();
    assert_eq!(ghl.check().await.unwrap().location_name, "Location loc_new");

    // The uninstall is tested through the router (webhooks.rs).
}
