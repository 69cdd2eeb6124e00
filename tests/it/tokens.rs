//! OAuth tokens: single-flight refresh in one process and across replicas (in-process, Redis
//! and PostgreSQL locks), invalid_grant handling without leaking secrets, transient retries,
//! PKCE, the JWT bearer grant, refresh ahead of expiry, and the authenticator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use switchboard::auth::Authenticator;
use switchboard::credentials::{
    CredentialKey, InMemoryCredentialStore, SealedCredential, Versioned,
};
use switchboard::test_util::{canary, LogCapture, LoopbackServer};
use switchboard::tokens::{
    token_error, ClientAuth, InProcessLock, JwtBearerGrant, OAuthClient, RefreshLock, Token,
    TokenError, TokenEvent, TokenGrant, TokenManager,
};
use switchboard::vault::Vault;
use switchboard::{ConnectionId, CredentialStore, ErrorKind, TenantId};

use crate::support::{builder, TestConnector};

// A test-only RSA key pair (generated for these tests; it protects nothing).
use crate::support::{TEST_RSA_PRIVATE_PEM, TEST_RSA_PUBLIC_PEM};

// ---------------------------------------------------------------------------------------------
// A loopback token endpoint.

/// One answer of the token endpoint.
#[derive(Clone)]
enum Reply {
    Token {
        access: String,
        refresh: Option<String>,
        expires_in: u64,
    },
    Status(u16),
    OAuthError {
        error: &'static str,
        description: String,
    },
}

impl Reply {
    fn token(access: &str) -> Self {
        Reply::Token {
            access: access.to_string(),
            refresh: None,
            expires_in: 3600,
        }
    }
}

type Form = HashMap<String, String>;
type Check = Arc<dyn Fn(&Form, &HeaderMap) -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
struct Endpoint {
    requests: Arc<AtomicUsize>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    fallback: Reply,
    delay: Duration,
    check: Option<Check>,
    forms: Arc<Mutex<Vec<Form>>>,
}

async fn token_endpoint(State(ep): State<Endpoint>, headers: HeaderMap, body: String) -> Response {
    ep.requests.fetch_add(1, Ordering::SeqCst);
    let form: Form = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    ep.forms.lock().unwrap().push(form.clone());
    if !ep.delay.is_zero() {
        tokio::time::sleep(ep.delay).await;
    }
    if let Some(check) = &ep.check {
        if let Err(why) = check(&form, &headers) {
            return json(
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": why}),
            );
        }
    }
    let reply = ep
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| ep.fallback.clone());
    match reply {
        Reply::Token {
            access,
            refresh,
            expires_in,
        } => {
            let mut body = serde_json::json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": "contacts.readonly contacts.write",
                "locationId": "loc-1",
            });
            if let Some(r) = refresh {
                body["refresh_token"] = r.into();
            }
            json(200, body)
        }
        Reply::Status(s) => (
            StatusCode::from_u16(s).unwrap(),
            [(header::CONTENT_TYPE, "text/plain")],
            "unavailable",
        )
            .into_response(),
        Reply::OAuthError { error, description } => json(
            400,
            serde_json::json!({"error": error, "error_description": description}),
        ),
    }
}

fn json(status: u16, body: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

struct TokenServer {
    server: LoopbackServer,
    ep: Endpoint,
}

impl TokenServer {
    async fn start(fallback: Reply) -> Self {
        Self::start_with(fallback, Vec::new(), Duration::ZERO, None).await
    }

    async fn start_with(
        fallback: Reply,
        script: Vec<Reply>,
        delay: Duration,
        check: Option<Check>,
    ) -> Self {
        let ep = Endpoint {
            requests: Arc::new(AtomicUsize::new(0)),
            script: Arc::new(Mutex::new(script.into())),
            fallback,
            delay,
            check,
            forms: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .with_state(ep.clone());
        TokenServer {
            server: LoopbackServer::start(app).await,
            ep,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/token", self.server.base_url())
    }

    fn requests(&self) -> usize {
        self.ep.requests.load(Ordering::SeqCst)
    }

    fn forms(&self) -> Vec<Form> {
        self.ep.forms.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn vault() -> Vault {
    crate::support::test_vault(7)
}

fn t1() -> TenantId {
    "t1".into()
}

fn c1() -> ConnectionId {
    "c1".into()
}

fn client(token_url: &str, secret: &str) -> OAuthClient {
    OAuthClient::builder()
        .client_id("app")
        .client_secret(secret.to_string())
        .token_url(token_url)
        .client_auth(ClientAuth::RequestBody)
        .build()
        .unwrap()
}

fn manager(store: Arc<dyn CredentialStore>, lock: Option<Arc<dyn RefreshLock>>) -> TokenManager {
    let mut b = TokenManager::builder(vault(), store);
    if let Some(lock) = lock {
        b = b.refresh_lock(lock);
    }
    b.build().unwrap()
}

/// A credential store that counts loads, to show that concurrent callers share one load.
#[derive(Debug)]
struct CountingStore {
    inner: InMemoryCredentialStore,
    loads: AtomicUsize,
}

#[async_trait::async_trait]
impl CredentialStore for CountingStore {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, switchboard::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key).await
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, switchboard::Error> {
        self.inner.save(key, value, expected).await
    }

    async fn list_keys(&self) -> Result<Vec<CredentialKey>, switchboard::Error> {
        self.inner.list_keys().await
    }

    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), switchboard::Error> {
        self.inner.delete(key, expected).await
    }
}

fn stored(access: &str, refresh: &str, expires_at: SystemTime) -> Token {
    Token::new(access.to_string())
        .with_refresh_token(refresh.to_string())
        .with_expires_at(expires_at)
}

fn expired() -> SystemTime {
    SystemTime::now() - Duration::from_secs(10)
}

/// 100 concurrent `access_token` calls spread over `managers`; every one must get `expected`.
async fn hundred_calls(managers: &[TokenManager], expected: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let m = managers[i % managers.len()].clone();
        tasks.spawn(async move { m.access_token(&t1(), &c1()).await });
    }
    let mut n = 0;
    while let Some(res) = tasks.join_next().await {
        let token = res.unwrap().unwrap();
        assert_eq!(token.expose_secret(), expected);
        n += 1;
    }
    assert_eq!(n, 100);
}

// ---------------------------------------------------------------------------------------------
// Single flight.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_calls_in_one_process_make_one_token_request() {
    let server = TokenServer::start_with(
        Reply::token("new-access"),
        Vec::new(),
        Duration::from_millis(100),
        None,
    )
    .await;
    let store = Arc::new(CountingStore {
        inner: InMemoryCredentialStore::new(),
        loads: AtomicUsize::new(0),
    });
    let m = manager(store.clone(), None);
    m.store_token(&t1(), &c1(), &stored("old-access", "rt-1", expired()))
        .await
        .unwrap();
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&server.token_url(), "secret")),
    );
    let loads_before = store.loads.load(Ordering::SeqCst);

    hundred_calls(std::slice::from_ref(&m), "new-access").await;

    assert_eq!(server.requests(), 1);
    // The 99 others waited for the one refresh instead of queueing on the lock and re-reading
    // the store in turn: one load before the lock, one after taking it.
    assert_eq!(store.loads.load(Ordering::SeqCst) - loads_before, 2);
    assert_eq!(server.forms()[0]["grant_type"], "refresh_token");
    assert_eq!(server.forms()[0]["refresh_token"], "rt-1");
    // The new token is stored (sealed) and keeps the refresh token the provider did not resend.
    let now_stored = m.token(&t1(), &c1()).await.unwrap().unwrap();
    assert_eq!(now_stored.access_token().expose_secret(), "new-access");
    assert_eq!(now_stored.refresh_token().unwrap().expose_secret(), "rt-1");
    assert_eq!(now_stored.extra()["locationId"], "loc-1");
}

/// Three "replicas": three managers, each with its own cache and single-flight state, sharing
/// `stores` (one per replica, over the same data) and one lock per replica.
async fn three_instances_make_one_token_request(
    stores: [Arc<dyn CredentialStore>; 3],
    locks: [Arc<dyn RefreshLock>; 3],
) {
    let server = TokenServer::start_with(
        Reply::token("new-access"),
        Vec::new(),
        Duration::from_millis(100),
        None,
    )
    .await;
    let managers: Vec<TokenManager> = stores
        .into_iter()
        .zip(locks)
        .map(|(store, lock)| manager(store, Some(lock)))
        .collect();
    managers[0]
        .store_token(&t1(), &c1(), &stored("old-access", "rt-1", expired()))
        .await
        .unwrap();
    for m in &managers {
        m.register(
            &t1(),
            &c1(),
            Arc::new(client(&server.token_url(), "secret")),
        );
    }

    hundred_calls(&managers, "new-access").await;

    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_with_a_shared_in_process_lock_make_one_token_request() {
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let lock: Arc<dyn RefreshLock> = Arc::new(InProcessLock::new());
    three_instances_make_one_token_request(
        [store.clone(), store.clone(), store],
        [lock.clone(), lock.clone(), lock],
    )
    .await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_with_the_redis_lock_make_one_token_request() {
    use switchboard::tokens::RedisRefreshLock;

    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let mut locks = Vec::new();
    for _ in 0..3 {
        let lock = RedisRefreshLock::connect(&crate::support::redis_url())
            .await
            .expect("Redis at 127.0.0.1:6379")
            .key_prefix(prefix.clone());
        locks.push(Arc::new(lock) as Arc<dyn RefreshLock>);
    }
    let locks: [Arc<dyn RefreshLock>; 3] = locks.try_into().unwrap();
    three_instances_make_one_token_request([store.clone(), store.clone(), store], locks).await;

    // Every lock was released.
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn the_redis_lock_excludes_a_second_holder_until_released() {
    use switchboard::tokens::RedisRefreshLock;

    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let lock = RedisRefreshLock::connect(&crate::support::redis_url())
        .await
        .unwrap()
        .key_prefix(prefix)
        .wait_timeout(Duration::from_millis(100));
    let held = lock.acquire("k", Duration::from_secs(5)).await.unwrap();
    let err = lock.acquire("k", Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    held.release().await.unwrap();
    let again = lock.acquire("k", Duration::from_secs(5)).await.unwrap();
    again.release().await.unwrap();
    // A holder that died is replaced once its ttl runs out.
    let _dead = std::mem::ManuallyDrop::new(lock.acquire("k2", Duration::from_millis(50)).await);
    let lock = lock.wait_timeout(Duration::from_secs(2));
    lock.acquire("k2", Duration::from_secs(5))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_with_the_postgres_advisory_lock_and_store_make_one_token_request() {
    use switchboard::store::postgres::PostgresStore;
    use switchboard::tokens::PostgresAdvisoryLock;

    // Three replicas: each its own PostgresStore pool on one schema, and its own lock pool.
    let schema = format!("sb_tokens_{:016x}", fastrand::u64(..));
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let mut stores = Vec::new();
    let mut locks = Vec::new();
    for _ in 0..3 {
        let store = PostgresStore::connect_with_schema(&crate::support::postgres_url(), &schema)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432/test");
        stores.push(Arc::new(store) as Arc<dyn CredentialStore>);
        let lock = PostgresAdvisoryLock::connect(&crate::support::postgres_url())
            .await
            .unwrap()
            .key_prefix(prefix.clone());
        locks.push(Arc::new(lock) as Arc<dyn RefreshLock>);
    }
    let stores: [Arc<dyn CredentialStore>; 3] = stores.try_into().unwrap();
    let locks: [Arc<dyn RefreshLock>; 3] = locks.try_into().unwrap();
    three_instances_make_one_token_request(stores, locks).await;

    let pool = sqlx::PgPool::connect(&crate::support::postgres_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_lock_excludes_a_second_holder_until_released_or_dropped() {
    use switchboard::tokens::PostgresAdvisoryLock;

    let lock = PostgresAdvisoryLock::connect(&crate::support::postgres_url())
        .await
        .unwrap()
        .key_prefix(format!("switchboard-test:{:016x}:", fastrand::u64(..)))
        .wait_timeout(Duration::from_millis(100));
    let held = lock.acquire("k", Duration::from_secs(5)).await.unwrap();
    let err = lock.acquire("k", Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    // From here on a generous wait: checking a pool connection out again may mean opening a
    // new session, which takes more than 100 ms on a busy machine.
    let lock = lock.wait_timeout(Duration::from_secs(5));
    held.release().await.unwrap();
    let again = lock.acquire("k", Duration::from_secs(5)).await.unwrap();
    // Dropped without release: its session closes, which releases the lock.
    drop(again);
    lock.acquire("k", Duration::from_secs(5))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Failures.

#[tokio::test]
async fn invalid_grant_is_a_typed_auth_error_with_an_event_and_no_secret() {
    let (logs, _guard) = LogCapture::start();
    let secret = canary("client-secret");
    let refresh = canary("refresh");
    let access = canary("access");
    // The provider echoes the refresh token in its description: it must be scrubbed.
    let server = TokenServer::start(Reply::OAuthError {
        error: "invalid_grant",
        description: format!("refresh token {refresh} was revoked"),
    })
    .await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    m.store_token(&t1(), &c1(), &stored(&access, &refresh, expired()))
        .await
        .unwrap();
    m.register(&t1(), &c1(), Arc::new(client(&server.token_url(), &secret)));
    let mut events = m.subscribe();

    let err = m.access_token(&t1(), &c1()).await.unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!err.is_retryable());
    let shown = format!("{err}");
    assert!(shown.contains("invalid_grant"), "{shown}");
    assert!(shown.contains("reconnect the account"), "{shown}");
    let Some(TokenError::InvalidGrant { description }) = token_error(&err) else {
        panic!("not a typed invalid_grant: {err:?}");
    };
    let description = description.clone().unwrap();
    assert!(description.contains("[redacted]"), "{description}");
    match events.try_recv().unwrap() {
        TokenEvent::RefreshRejected {
            tenant,
            connection,
            description: event_description,
            ..
        } => {
            assert_eq!((tenant, connection), (t1(), c1()));
            assert_eq!(event_description.as_deref(), Some(description.as_str()));
        }
        other => panic!("unexpected event {other:?}"),
    }
    // The canaries were really sent...
    assert_eq!(server.forms()[0]["client_secret"], secret);
    assert_eq!(server.forms()[0]["refresh_token"], refresh);
    // ...and appear nowhere.
    let everything = format!("{err} {err:?} {description} {m:?}");
    for c in [&secret, &refresh, &access] {
        assert!(!everything.contains(c.as_str()), "{everything}");
        logs.assert_absent(c);
    }

    // The capture works: the rejection was logged, without the secrets.
    assert!(
        logs.contents().contains("rejected the grant"),
        "{}",
        logs.contents()
    );

    // Later calls fail the same way without asking the provider again, and without a second
    // event.
    let again = m.access_token(&t1(), &c1()).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Auth);
    assert!(token_error(&again).unwrap().is_invalid_grant());
    assert_eq!(server.requests(), 1);
    assert!(events.try_recv().is_err());

    // Reconnecting (storing a new token) clears the rejection.
    m.store_token(
        &t1(),
        &c1(),
        &stored(
            "reconnected",
            "rt-new",
            SystemTime::now() + Duration::from_secs(600),
        ),
    )
    .await
    .unwrap();
    let token = m.access_token(&t1(), &c1()).await.unwrap();
    assert_eq!(token.expose_secret(), "reconnected");
}

#[tokio::test]
async fn a_transient_503_twice_then_200_succeeds_after_three_requests() {
    let server = TokenServer::start_with(
        Reply::token("fresh"),
        vec![Reply::Status(503), Reply::Status(503)],
        Duration::ZERO,
        None,
    )
    .await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    m.store_token(&t1(), &c1(), &stored("old", "rt-1", expired()))
        .await
        .unwrap();
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&server.token_url(), "secret")),
    );

    let token = m.access_token(&t1(), &c1()).await.unwrap();

    assert_eq!(token.expose_secret(), "fresh");
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn transient_failures_on_every_attempt_give_a_retryable_error() {
    let server = TokenServer::start(Reply::Status(503)).await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    m.store_token(&t1(), &c1(), &stored("old", "rt-1", expired()))
        .await
        .unwrap();
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&server.token_url(), "secret")),
    );

    let err = m.access_token(&t1(), &c1()).await.unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.attempts(), 3);
    assert!(token_error(&err).unwrap().is_transient());
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn a_due_but_unexpired_token_is_served_when_the_endpoint_is_down() {
    let server = TokenServer::start(Reply::Status(503)).await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    let soon = SystemTime::now() + Duration::from_secs(30);
    m.store_token(&t1(), &c1(), &stored("still-valid", "rt-1", soon))
        .await
        .unwrap();
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&server.token_url(), "secret")),
    );

    let token = m.access_token(&t1(), &c1()).await.unwrap();

    assert_eq!(token.expose_secret(), "still-valid");
    assert_eq!(server.requests(), 3);
}

// ---------------------------------------------------------------------------------------------
// Grants.

#[tokio::test]
async fn pkce_authorize_url_and_exchange_send_a_matching_verifier() {
    let challenge: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = challenge.clone();
    let check: Check = Arc::new(move |form, _| {
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Err("wrong grant_type".into());
        }
        if form.get("code").map(String::as_str) != Some("the-code") {
            return Err("wrong code".into());
        }
        if form.get("redirect_uri").map(String::as_str) != Some("https://app.example/callback") {
            return Err("wrong redirect_uri".into());
        }
        let verifier = form.get("code_verifier").ok_or("no code_verifier")?;
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if seen.lock().unwrap().as_deref() != Some(computed.as_str()) {
            return Err("code_verifier does not match the code_challenge".into());
        }
        Ok(())
    });
    let server = TokenServer::start_with(
        Reply::Token {
            access: "code-access".into(),
            refresh: Some("code-refresh".into()),
            expires_in: 3600,
        },
        Vec::new(),
        Duration::ZERO,
        Some(check),
    )
    .await;
    let client = OAuthClient::builder()
        .client_id("app")
        .client_secret("secret")
        .auth_url("https://provider.example/oauth/authorize")
        .token_url(server.token_url())
        .redirect_url("https://app.example/callback")
        .scopes(["contacts.readonly", "contacts.write"])
        .authorize_param("loginWindowOpenMode", "self")
        .build()
        .unwrap();

    let request = client.authorize_url().unwrap();
    let url = reqwest::Url::parse(request.url()).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "app");
    assert_eq!(q["redirect_uri"], "https://app.example/callback");
    assert_eq!(q["scope"], "contacts.readonly contacts.write");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], request.state());
    assert_eq!(q["loginWindowOpenMode"], "self");
    assert!(request.state().len() >= 16);
    assert!(!format!("{request:?}").contains(request.pkce_verifier().secret().expose_secret()));
    *challenge.lock().unwrap() = Some(q["code_challenge"].clone());
    // Each request gets its own state and verifier.
    let other = client.authorize_url().unwrap();
    assert_ne!(other.state(), request.state());

    // A wrong verifier is refused as invalid_grant.
    let err = client
        .exchange_code("the-code", other.pkce_verifier())
        .await
        .unwrap_err();
    assert!(err.is_invalid_grant(), "{err}");

    let token = client
        .exchange_code("the-code", request.pkce_verifier())
        .await
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), "code-access");
    assert_eq!(
        token.refresh_token().unwrap().expose_secret(),
        "code-refresh"
    );
    assert_eq!(token.scopes(), ["contacts.readonly", "contacts.write"]);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn jwt_bearer_assertion_is_signed_and_carries_the_claims() {
    let check: Check = Arc::new(|form, _| {
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Err("wrong grant_type".into());
        }
        let assertion = form.get("assertion").ok_or("no assertion")?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_RSA_PUBLIC_PEM.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["account-d.example.com"]);
        validation.set_issuer(&["integration-key"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
            .map_err(|e| e.to_string())?;
        let c = data.claims;
        if c["sub"] != "user-guid" {
            return Err("wrong sub".into());
        }
        if c["scope"] != "signature impersonation" {
            return Err("wrong scope".into());
        }
        let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if exp - iat != 300 || iat.abs_diff(now) > 5 {
            return Err("wrong iat/exp".into());
        }
        if data.header.kid.as_deref() != Some("key-1") {
            return Err("wrong kid".into());
        }
        Ok(())
    });
    let server = TokenServer::start_with(
        Reply::token("jwt-access"),
        Vec::new(),
        Duration::ZERO,
        Some(check),
    )
    .await;
    let grant = JwtBearerGrant::builder()
        .token_url(server.token_url())
        .issuer("integration-key")
        .subject("user-guid")
        .audience("account-d.example.com")
        .scopes(["signature", "impersonation"])
        .private_key_pem(TEST_RSA_PRIVATE_PEM)
        .key_id("key-1")
        .build()
        .unwrap();
    assert!(!format!("{grant:?}").contains("PRIVATE"));

    // Nothing is stored yet: the manager obtains the first token with the grant, then serves
    // it from memory.
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    let grant: Arc<dyn TokenGrant> = Arc::new(grant);
    let token = m.access_token_with(&t1(), &c1(), &grant).await.unwrap();
    assert_eq!(token.expose_secret(), "jwt-access");
    let token = m.access_token_with(&t1(), &c1(), &grant).await.unwrap();
    assert_eq!(token.expose_secret(), "jwt-access");
    assert_eq!(server.requests(), 1);

    // A key the provider does not know is invalid_grant.
    let wrong = JwtBearerGrant::builder()
        .token_url(server.token_url())
        .issuer("other-integration")
        .subject("user-guid")
        .audience("account-d.example.com")
        .private_key_pem(TEST_RSA_PRIVATE_PEM)
        .build()
        .unwrap();
    assert!(wrong.request_token().await.unwrap_err().is_invalid_grant());
}

#[tokio::test]
async fn refresh_runs_ahead_of_expiry_within_the_skew_only() {
    let server = TokenServer::start(Reply::token("refreshed")).await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    let now = SystemTime::now();
    let (soon, later): (ConnectionId, ConnectionId) = ("soon".into(), "later".into());
    m.store_token(
        &t1(),
        &later,
        &stored("later-access", "rt", now + Duration::from_secs(600)),
    )
    .await
    .unwrap();
    m.store_token(
        &t1(),
        &soon,
        &stored("soon-access", "rt", now + Duration::from_secs(30)),
    )
    .await
    .unwrap();
    for c in [&soon, &later] {
        m.register(&t1(), c, Arc::new(client(&server.token_url(), "secret")));
    }

    // Expires in 10 minutes, skew 60 s: served as is.
    let token = m.access_token(&t1(), &later).await.unwrap();
    assert_eq!(token.expose_secret(), "later-access");
    assert_eq!(server.requests(), 0);

    // Expires in 30 s, skew 60 s: refreshed.
    let token = m.access_token(&t1(), &soon).await.unwrap();
    assert_eq!(token.expose_secret(), "refreshed");
    assert_eq!(server.requests(), 1);

    // With a 15-minute skew the 10-minute token is due too.
    let wide = TokenManager::builder(vault(), Arc::new(InMemoryCredentialStore::new()))
        .refresh_skew(Duration::from_secs(900))
        .build()
        .unwrap();
    wide.store_token(
        &t1(),
        &later,
        &stored("later-access", "rt", now + Duration::from_secs(600)),
    )
    .await
    .unwrap();
    wide.register(
        &t1(),
        &later,
        Arc::new(client(&server.token_url(), "secret")),
    );
    let token = wide.access_token(&t1(), &later).await.unwrap();
    assert_eq!(token.expose_secret(), "refreshed");
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_stored_one() {
    let server = TokenServer::start_with(
        Reply::token("a2"),
        vec![Reply::Token {
            access: "a1".into(),
            refresh: Some("rt-2".into()),
            expires_in: 3600,
        }],
        Duration::ZERO,
        None,
    )
    .await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    let (rotating, keeping): (ConnectionId, ConnectionId) = ("rotating".into(), "keeping".into());
    for c in [&rotating, &keeping] {
        m.store_token(&t1(), c, &stored("old", "rt-1", expired()))
            .await
            .unwrap();
        m.register(&t1(), c, Arc::new(client(&server.token_url(), "secret")));
    }

    m.access_token(&t1(), &rotating).await.unwrap();
    m.access_token(&t1(), &keeping).await.unwrap();

    let rt = |t: Option<Token>| {
        t.unwrap()
            .refresh_token()
            .unwrap()
            .expose_secret()
            .to_string()
    };
    assert_eq!(rt(m.token(&t1(), &rotating).await.unwrap()), "rt-2");
    assert_eq!(rt(m.token(&t1(), &keeping).await.unwrap()), "rt-1");
}

#[tokio::test]
async fn a_connection_without_a_stored_token_must_connect_first() {
    let server = TokenServer::start(Reply::token("x")).await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&server.token_url(), "secret")),
    );
    let err = m.access_token(&t1(), &c1()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("connect the account"), "{err}");
    assert_eq!(server.requests(), 0);
    let unregistered = m.access_token(&t1(), &"nope".into()).await.unwrap_err();
    assert_eq!(unregistered.kind(), ErrorKind::Config);
}

// ---------------------------------------------------------------------------------------------
// The authenticator.

#[tokio::test]
async fn oauth_authenticator_sends_a_sensitive_bearer_header_through_the_pipeline() {
    let token_server = TokenServer::start(Reply::token("api-access")).await;
    let api = LoopbackServer::start(Router::new().route(
        "/v1/me",
        get(|headers: HeaderMap| async move {
            match headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap())
            {
                Some("Bearer api-access") => (StatusCode::OK, "{\"ok\":true}"),
                _ => (StatusCode::UNAUTHORIZED, "{}"),
            }
        }),
    ))
    .await;
    let m = manager(Arc::new(InMemoryCredentialStore::new()), None);
    m.store_token(&t1(), &c1(), &stored("old", "rt-1", expired()))
        .await
        .unwrap();
    m.register(
        &t1(),
        &c1(),
        Arc::new(client(&token_server.token_url(), "secret")),
    );
    let auth = m.authenticator(&t1(), &c1());

    // Directly: the header is set and marked sensitive.
    let mut req = http::Request::builder()
        .uri("https://api.example.com/x")
        .body(bytes::Bytes::new())
        .unwrap();
    auth.authenticate(&mut req).await.unwrap();
    let value = req.headers().get(header::AUTHORIZATION).unwrap();
    assert_eq!(value.to_str().unwrap(), "Bearer api-access");
    assert!(value.is_sensitive());
    assert!(!format!("{req:?} {auth:?}").contains("api-access"));

    // Through a connection.
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(TestConnector::default()))
        .tenant("t1")
        .id("c1")
        .base_url(api.base_url())
        .auth(Arc::new(auth.clone()))
        .build()
        .unwrap();
    conn.get("/v1/me").send().await.unwrap();

    // Bound to t1/c1, it refuses to authenticate another connection's calls.
    let other = sb
        .connection(Arc::new(TestConnector::default()))
        .tenant("t2")
        .id("c1")
        .base_url(api.base_url())
        .auth(Arc::new(auth))
        .build()
        .unwrap();
    let err = other.get("/v1/me").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(token_server.requests(), 1);
}

#[test]
fn token_debug_hides_the_tokens() {
    let t = stored("CANARY-a", "CANARY-r", SystemTime::now());
    let s = format!("{t:?}");
    assert!(!s.contains("CANARY"), "{s}");
    let _: SecretString = t.access_token().clone();
}

/// A template-less integration for the lifecycle test: the token is all it needs.
#[derive(Debug)]
struct OAuthApp(switchboard::templates::IntegrationTemplate);

#[async_trait::async_trait]
impl switchboard::templates::Integration for OAuthApp {
    async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> {
        Err(switchboard::Error::new(
            switchboard::ErrorKind::Config,
            "not used",
        ))
    }

    fn template(&self) -> &switchboard::templates::IntegrationTemplate {
        &self.0
    }
    fn bind(
        &self,
        _: &switchboard::templates::ConnectionConfig,
    ) -> Result<switchboard::templates::IntegrationBinding, switchboard::Error> {
        Err(switchboard::Error::new(ErrorKind::Config, "not used"))
    }
}

#[tokio::test]
async fn a_rejected_refresh_moves_the_connection_to_error_with_a_reconnect_message() {
    use switchboard::connections::{ConnectionStatus, Connections};
    let refresh = canary("refresh");
    let server = TokenServer::start(Reply::OAuthError {
        error: "invalid_grant",
        description: "token revoked".to_string(),
    })
    .await;
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let m = manager(store.clone(), None);
    let mut registry = switchboard::templates::Registry::new();
    registry
        .register(Arc::new(OAuthApp(
            switchboard::templates::IntegrationTemplate::builder("oauth-app")
                .build()
                .unwrap(),
        )))
        .unwrap();
    let sb = switchboard::Switchboard::builder()
        .credential_store(store.clone())
        .build()
        .unwrap();
    let connections = Connections::new(sb, vault(), registry);
    connections
        .create(&t1(), &c1(), "oauth-app", "CRM", &serde_json::json!({}))
        .await
        .unwrap();
    connections
        .transition(&t1(), &c1(), ConnectionStatus::Active, None)
        .await
        .unwrap();
    let _follower = connections.follow_token_events(&m);
    let mut lifecycle = connections.subscribe();
    m.store_token(&t1(), &c1(), &stored("access", &refresh, expired()))
        .await
        .unwrap();
    m.register(&t1(), &c1(), Arc::new(client(&server.token_url(), "s")));

    assert!(m.access_token(&t1(), &c1()).await.is_err());
    let event = tokio::time::timeout(Duration::from_secs(5), lifecycle.recv())
        .await
        .expect("a lifecycle event")
        .unwrap();
    assert_eq!(
        (event.from, event.to),
        (ConnectionStatus::Active, ConnectionStatus::Error)
    );
    let record = connections.get(&t1(), &c1()).await.unwrap();
    let message = record.last_error.unwrap();
    assert!(
        message.contains("invalid_grant") && message.contains("reconnect"),
        "{message}"
    );
    assert!(!message.contains(&refresh));
}
