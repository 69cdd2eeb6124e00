//! OAuth refresh never loses a rotated refresh token (issue 10, section 7), and token state
//! is keyed by (tenant, connection) (section 4).
//!
//! A loopback provider rotates refresh tokens and rejects reuse (`invalid_grant` on a spent
//! refresh token), the way GoHighLevel and providers with reuse detection do. Against it:
//! three replicas (three managers sharing one store and one Redis or PostgreSQL lock) with a
//! refresh slower than the lock ttl and a store that fails its first writes; a store that
//! fails longer than a refresh waits; answers lost after the provider spent the token; a
//! fenced write; `expires_in` out of range; two tenants sharing a connection id.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::credentials::{
    CredentialKey, InMemoryCredentialStore, SealedCredential, Versioned,
};
use switchboard::test_util::LoopbackServer;
use switchboard::tokens::{
    token_error, ClientAuth, InProcessLock, OAuthClient, PkceVerifier, RefreshLock, Token,
    TokenError, TokenManager,
};
use switchboard::vault::Vault;
use switchboard::{ConnectionId, CredentialStore, ErrorKind, TenantId};

// ---------------------------------------------------------------------------------------------
// A provider that rotates refresh tokens and rejects reuse.

/// What the provider does with a refresh it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Answers with the new token set.
    Answer,
    /// Spends the refresh token, then answers 502 (the answer is lost).
    Fail502,
}

#[derive(Default)]
struct ProviderState {
    /// The one refresh token that works, per tenant prefix (`<prefix>rt-<n>`).
    valid: Vec<(String, String)>,
    /// Refreshes accepted (a refresh token spent, a new set issued).
    accepted: usize,
    /// Refresh tokens presented that were not valid.
    reused: usize,
    /// Authorization code exchanges seen.
    codes: usize,
}

#[derive(Clone)]
struct Provider {
    state: Arc<Mutex<ProviderState>>,
    requests: Arc<AtomicUsize>,
    delay: Duration,
    after: After,
    expires_in: Arc<Mutex<serde_json::Value>>,
}

async fn provider_endpoint(State(p): State<Provider>, body: String) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    if form.get("grant_type").map(String::as_str) == Some("authorization_code") {
        p.state.lock().unwrap().codes += 1;
        return (StatusCode::BAD_GATEWAY, "upstream failed").into_response();
    }
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    // Spend the refresh token the moment the request arrives, as a provider does: whatever
    // happens to the answer, the old token no longer works.
    let issued = {
        let mut st = p.state.lock().unwrap();
        let slot = st
            .valid
            .iter_mut()
            .find(|(_, rt)| *rt == presented)
            .map(|(prefix, rt)| {
                let n: usize = rt.rsplit('-').next().unwrap().parse().unwrap();
                *rt = format!("{prefix}rt-{}", n + 1);
                (prefix.clone(), n + 1)
            });
        match slot {
            Some(s) => {
                st.accepted += 1;
                Some(s)
            }
            None => {
                st.reused += 1;
                None
            }
        }
    };
    if !p.delay.is_zero() {
        tokio::time::sleep(p.delay).await;
    }
    let Some((prefix, n)) = issued else {
        return (
            StatusCode::BAD_REQUEST,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"error":"invalid_grant","error_description":"refresh token already used"}"#,
        )
            .into_response();
    };
    if p.after == After::Fail502 {
        return (StatusCode::BAD_GATEWAY, "upstream failed").into_response();
    }
    let body = serde_json::json!({
        "access_token": format!("{prefix}at-{n}"),
        "refresh_token": format!("{prefix}rt-{n}"),
        "token_type": "Bearer",
        "expires_in": p.expires_in.lock().unwrap().clone(),
    });
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

struct RotatingProvider {
    server: LoopbackServer,
    p: Provider,
}

impl RotatingProvider {
    /// A provider where `<prefix>rt-0` is the valid refresh token of each prefix.
    async fn start(prefixes: &[&str], delay: Duration, after: After) -> Self {
        let state = ProviderState {
            valid: prefixes
                .iter()
                .map(|p| (p.to_string(), format!("{p}rt-0")))
                .collect(),
            ..ProviderState::default()
        };
        let p = Provider {
            state: Arc::new(Mutex::new(state)),
            requests: Arc::new(AtomicUsize::new(0)),
            delay,
            after,
            expires_in: Arc::new(Mutex::new(serde_json::json!(3600))),
        };
        let app = Router::new()
            .route("/token", post(provider_endpoint))
            .with_state(p.clone());
        RotatingProvider {
            server: LoopbackServer::start(app).await,
            p,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/token", self.server.base_url())
    }

    fn requests(&self) -> usize {
        self.p.requests.load(Ordering::SeqCst)
    }

    fn accepted(&self) -> usize {
        self.p.state.lock().unwrap().accepted
    }

    fn reused(&self) -> usize {
        self.p.state.lock().unwrap().reused
    }

    fn valid(&self, prefix: &str) -> String {
        let st = self.p.state.lock().unwrap();
        st.valid
            .iter()
            .find(|(p, _)| p == prefix)
            .unwrap()
            .1
            .clone()
    }
}

// ---------------------------------------------------------------------------------------------
// A store that fails its first writes.

#[derive(Debug, Default)]
struct FlakyStore {
    inner: InMemoryCredentialStore,
    fail_saves: AtomicUsize,
    saves: AtomicUsize,
}

impl FlakyStore {
    fn failing(n: usize) -> Arc<Self> {
        let s = FlakyStore::default();
        s.fail_saves.store(n, Ordering::SeqCst);
        Arc::new(s)
    }
}

#[async_trait::async_trait]
impl CredentialStore for FlakyStore {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, switchboard::Error> {
        self.inner.load(key).await
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, switchboard::Error> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        let left = self.fail_saves.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_saves.store(left - 1, Ordering::SeqCst);
            return Err(switchboard::Error::new(
                ErrorKind::Store,
                "injected store failure",
            ));
        }
        self.inner.save(key, value, expected).await
    }

    async fn list_keys(&self) -> Result<Vec<CredentialKey>, switchboard::Error> {
        self.inner.list_keys().await
    }

    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), switchboard::Error> {
        self.inner.delete(key, expected).await
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn vault() -> Vault {
    crate::support::test_vault(5)
}

fn tenant(name: &str) -> TenantId {
    name.into()
}

fn conn() -> ConnectionId {
    "crm".into()
}

fn rotating_client(token_url: &str) -> OAuthClient {
    OAuthClient::builder()
        .client_id("app")
        .client_secret("app-secret")
        .token_url(token_url)
        .client_auth(ClientAuth::RequestBody)
        .rotates_refresh_tokens(true)
        .build()
        .unwrap()
}

fn expired_token(prefix: &str) -> Token {
    Token::new(format!("{prefix}at-0"))
        .with_refresh_token(format!("{prefix}rt-0"))
        .with_expires_at(SystemTime::now() - Duration::from_secs(10))
}

#[cfg(any(feature = "redis", feature = "postgres"))]
fn manager_with(
    store: Arc<dyn CredentialStore>,
    lock: Arc<dyn RefreshLock>,
    lock_ttl: Duration,
) -> TokenManager {
    TokenManager::builder(vault(), store)
        .refresh_lock(lock)
        .lock_ttl(lock_ttl)
        .build()
        .unwrap()
}

/// A template-less integration: the connection record is all these tests need.
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

/// A `Connections` service over `store` with an active `crm` connection for each tenant,
/// following the token events of every manager.
async fn active_connections(
    store: Arc<dyn CredentialStore>,
    tenants: &[TenantId],
    managers: &[TokenManager],
) -> Connections {
    let mut registry = switchboard::templates::Registry::new();
    registry
        .register(Arc::new(OAuthApp(
            switchboard::templates::IntegrationTemplate::builder("oauth-app")
                .build()
                .unwrap(),
        )))
        .unwrap();
    let sb = switchboard::Switchboard::builder()
        .credential_store(store)
        .build()
        .unwrap();
    let connections = Connections::new(sb, vault(), registry);
    for t in tenants {
        connections
            .create(t, &conn(), "oauth-app", "CRM", &serde_json::json!({}))
            .await
            .unwrap();
        connections
            .transition(t, &conn(), ConnectionStatus::Active, None)
            .await
            .unwrap();
    }
    for m in managers {
        drop(connections.follow_token_events(m));
    }
    connections
}

async fn stored_refresh_token(m: &TokenManager, t: &TenantId) -> String {
    m.token(t, &conn())
        .await
        .unwrap()
        .unwrap()
        .refresh_token()
        .unwrap()
        .expose_secret()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Three replicas, a refresh slower than the lock ttl, a store that fails its first writes.

#[cfg(any(feature = "redis", feature = "postgres"))]
async fn three_replicas_never_lose_the_rotated_refresh_token(locks: [Arc<dyn RefreshLock>; 3]) {
    // The provider takes 1.2 s; the lock's ttl is 300 ms: without extension the lock runs out
    // four times over during one refresh.
    let provider = RotatingProvider::start(&[""], Duration::from_millis(1200), After::Answer).await;
    let flaky = FlakyStore::failing(0);
    let store: Arc<dyn CredentialStore> = flaky.clone();
    let managers: Vec<TokenManager> = locks
        .into_iter()
        .map(|lock| manager_with(store.clone(), lock, Duration::from_millis(300)))
        .collect();
    let t = tenant("acme");
    let connections = active_connections(store.clone(), std::slice::from_ref(&t), &managers).await;
    managers[0]
        .store_token(&t, &conn(), &expired_token(""))
        .await
        .unwrap();
    for m in &managers {
        m.register(
            &t,
            &conn(),
            Arc::new(rotating_client(&provider.token_url())),
        );
    }
    // The next three writes fail: the refreshed token must be retried into the store.
    flaky.fail_saves.store(3, Ordering::SeqCst);
    let mut events: Vec<_> = managers.iter().map(TokenManager::subscribe).collect();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let m = managers[i % 3].clone();
        let t = t.clone();
        tasks.spawn(async move {
            // Spread the callers over the refresh, past several lock ttls.
            tokio::time::sleep(Duration::from_millis(40 * (i as u64 % 10))).await;
            m.access_token(&t, &conn()).await
        });
    }
    while let Some(res) = tasks.join_next().await {
        let token = res.unwrap().expect("every replica gets a token");
        assert_eq!(token.expose_secret(), "at-1");
    }

    assert_eq!(
        provider.accepted(),
        1,
        "exactly one refresh at the provider"
    );
    assert_eq!(
        provider.reused(),
        0,
        "no replica resent the spent refresh token"
    );
    assert_eq!(provider.requests(), 1);
    // No refresh token lost: the store holds the one the provider will accept next.
    assert_eq!(stored_refresh_token(&managers[1], &t).await, "rt-1");
    assert_eq!(provider.valid(""), "rt-1");
    assert!(
        flaky.saves.load(Ordering::SeqCst) >= 4,
        "the failed writes were retried"
    );
    let record = connections.get(&t, &conn()).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Active);
    // One event over the three replicas: refreshed.
    let mut seen = Vec::new();
    for rx in &mut events {
        while let Ok(e) = rx.try_recv() {
            seen.push(e);
        }
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        matches!(seen[0], switchboard::tokens::TokenEvent::Refreshed { .. }),
        "{seen:?}"
    );
    // And the next refresh spends rt-1 and works: the chain is intact.
    managers[2]
        .store_token(
            &t,
            &conn(),
            &Token::new("at-1")
                .with_refresh_token("rt-1")
                .with_expires_at(SystemTime::now() - Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let next = managers[2].access_token(&t, &conn()).await.unwrap();
    assert_eq!(next.expose_secret(), "at-2");
}

#[cfg(feature = "redis")]
async fn redis_locks(prefix: &str) -> [Arc<dyn RefreshLock>; 3] {
    use switchboard::tokens::RedisRefreshLock;
    let mut locks = Vec::new();
    for _ in 0..3 {
        let lock = RedisRefreshLock::connect(&crate::support::redis_url())
            .await
            .expect("Redis at 127.0.0.1:6379")
            .key_prefix(prefix.to_string());
        locks.push(Arc::new(lock) as Arc<dyn RefreshLock>);
    }
    locks.try_into().unwrap()
}

#[cfg(feature = "postgres")]
async fn postgres_locks(prefix: &str) -> [Arc<dyn RefreshLock>; 3] {
    use switchboard::tokens::PostgresAdvisoryLock;
    let mut locks = Vec::new();
    for _ in 0..3 {
        let lock = PostgresAdvisoryLock::connect(&crate::support::postgres_url())
            .await
            .expect("PostgreSQL at 127.0.0.1:5432")
            .key_prefix(prefix.to_string());
        locks.push(Arc::new(lock) as Arc<dyn RefreshLock>);
    }
    locks.try_into().unwrap()
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_with_redis_keep_the_rotated_refresh_token_through_a_slow_refresh_and_store_failures(
) {
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    three_replicas_never_lose_the_rotated_refresh_token(redis_locks(&prefix).await).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_with_postgres_keep_the_rotated_refresh_token_through_a_slow_refresh_and_store_failures(
) {
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    three_replicas_never_lose_the_rotated_refresh_token(postgres_locks(&prefix).await).await;
}

// ---------------------------------------------------------------------------------------------
// A store that fails for longer than a refresh waits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_store_refuses_is_never_served_and_is_written_once_the_store_recovers() {
    let provider = RotatingProvider::start(&[""], Duration::ZERO, After::Answer).await;
    let flaky = FlakyStore::failing(0);
    let store: Arc<dyn CredentialStore> = flaky.clone();
    let m = TokenManager::builder(vault(), store.clone())
        .store_retry_for(Duration::from_millis(150))
        .build()
        .unwrap();
    let t = tenant("acme");
    m.store_token(&t, &conn(), &expired_token(""))
        .await
        .unwrap();
    m.register(
        &t,
        &conn(),
        Arc::new(rotating_client(&provider.token_url())),
    );
    // Many more failures than 150 ms of retries cover.
    flaky.fail_saves.store(12, Ordering::SeqCst);

    let err = m.access_token(&t, &conn()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(err.to_string().contains("not stored yet"), "{err}");
    // Meanwhile: no second refresh, and still not served.
    let err = m.access_token(&t, &conn()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert_eq!(provider.accepted(), 1);

    // The background write lands; the token is served from then on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let token = loop {
        match m.access_token(&t, &conn()).await {
            Ok(token) => break token,
            Err(e) if e.kind() == ErrorKind::Store => {
                assert!(tokio::time::Instant::now() < deadline, "never stored: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(token.expose_secret(), "at-1");
    assert_eq!(stored_refresh_token(&m, &t).await, "rt-1");
    assert_eq!(provider.accepted(), 1);
    assert_eq!(provider.reused(), 0);
}

// ---------------------------------------------------------------------------------------------
// The provider spent the token but its answer was lost.

#[tokio::test]
async fn a_rotating_refresh_whose_answer_is_lost_is_not_resent_and_asks_for_a_reconnect() {
    let provider = RotatingProvider::start(&[""], Duration::ZERO, After::Fail502).await;
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let m = TokenManager::builder(vault(), store.clone())
        .build()
        .unwrap();
    let t = tenant("acme");
    let connections = active_connections(
        store.clone(),
        std::slice::from_ref(&t),
        std::slice::from_ref(&m),
    )
    .await;
    let mut lifecycle = connections.subscribe();
    m.store_token(&t, &conn(), &expired_token(""))
        .await
        .unwrap();
    m.register(
        &t,
        &conn(),
        Arc::new(rotating_client(&provider.token_url())),
    );

    let err = m.access_token(&t, &conn()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("reconnect"), "{err}");
    assert!(matches!(
        token_error(&err),
        Some(TokenError::OutcomeUnknown { .. })
    ));
    // One request: the spent token was not sent again (the provider saw no reuse).
    assert_eq!(provider.requests(), 1);
    assert_eq!(provider.reused(), 0);

    let event = tokio::time::timeout(Duration::from_secs(5), lifecycle.recv())
        .await
        .expect("a lifecycle event")
        .unwrap();
    assert_eq!(
        (event.from, event.to),
        (ConnectionStatus::Active, ConnectionStatus::Error)
    );
    let message = connections
        .get(&t, &conn())
        .await
        .unwrap()
        .last_error
        .unwrap();
    assert!(message.contains("reconnect"), "{message}");
    assert!(!message.contains("rt-0"), "{message}");

    // Later calls fail fast, without asking the provider.
    let again = m.access_token(&t, &conn()).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Auth);
    assert!(again.to_string().contains("reconnect"), "{again}");
    assert_eq!(provider.requests(), 1);

    // A reconnect stores a new token and the connection works again.
    m.store_token(
        &t,
        &conn(),
        &Token::new("fresh").with_expires_at(SystemTime::now() + Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    assert_eq!(
        m.access_token(&t, &conn()).await.unwrap().expose_secret(),
        "fresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_uses_the_token_another_replica_stored_meanwhile() {
    // The provider takes 400 ms and then fails; meanwhile another writer (a replica whose
    // lock this one outlived) stores a fresh token.
    let provider = RotatingProvider::start(&[""], Duration::from_millis(400), After::Fail502).await;
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let m = TokenManager::builder(vault(), store.clone())
        .build()
        .unwrap();
    let other = TokenManager::builder(vault(), store.clone())
        .build()
        .unwrap();
    let t = tenant("acme");
    let connections = active_connections(
        store.clone(),
        std::slice::from_ref(&t),
        std::slice::from_ref(&m),
    )
    .await;
    m.store_token(&t, &conn(), &expired_token(""))
        .await
        .unwrap();
    m.register(
        &t,
        &conn(),
        Arc::new(rotating_client(&provider.token_url())),
    );
    let writer = {
        let (other, t) = (other.clone(), t.clone());
        let requests = provider.p.requests.clone();
        tokio::spawn(async move {
            while requests.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other
                .store_token(
                    &t,
                    &conn(),
                    &Token::new("from-other-replica")
                        .with_refresh_token("rt-other")
                        .with_expires_at(SystemTime::now() + Duration::from_secs(3600)),
                )
                .await
                .unwrap();
        })
    };

    let token = m.access_token(&t, &conn()).await.unwrap();
    writer.await.unwrap();
    assert_eq!(token.expose_secret(), "from-other-replica");
    assert_eq!(provider.requests(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        connections.get(&t, &conn()).await.unwrap().status,
        ConnectionStatus::Active
    );
}

#[tokio::test]
async fn a_rotating_refresh_cut_off_after_it_was_sent_is_not_resent() {
    use tokio::io::AsyncReadExt;
    // A provider that reads the whole request, then drops the connection without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    let err = rotating_client(&url)
        .refresh(&SecretString::from("rt-0".to_string()))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rotating_refresh_refused_with_429_was_not_processed_and_is_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let app = Router::new().route(
        "/token",
        post(move || {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
                }
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    r#"{"access_token":"at-1","refresh_token":"rt-1","token_type":"Bearer"}"#,
                )
                    .into_response()
            }
        }),
    );
    let server = LoopbackServer::start(app).await;
    let token = rotating_client(&format!("{}/token", server.base_url()))
        .refresh(&SecretString::from("rt-0".to_string()))
        .await
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), "at-1");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_authorization_code_is_not_resent_after_an_ambiguous_failure() {
    let provider = RotatingProvider::start(&[""], Duration::ZERO, After::Answer).await;
    let client = rotating_client(&provider.token_url());
    let err = client
        .exchange_code("the-code", &PkceVerifier::new("v".repeat(43)))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert_eq!(provider.p.state.lock().unwrap().codes, 1);
    let err = switchboard::Error::from(err);
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_refresh_of_a_provider_that_does_not_rotate_is_still_retried_after_a_5xx() {
    let provider = RotatingProvider::start(&[""], Duration::ZERO, After::Fail502).await;
    let client = OAuthClient::builder()
        .client_id("app")
        .token_url(provider.token_url())
        .build()
        .unwrap();
    let err = client
        .refresh(&SecretString::from("rt-0".to_string()))
        .await
        .unwrap_err();
    // The first attempt spent rt-0 (502) and the retry resent it: rejected as reuse.
    assert_eq!(provider.requests(), 2);
    assert!(err.is_invalid_grant(), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The fence: a writer that lost its lock never overwrites a newer token set.

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_lost_its_lock_does_not_overwrite_a_token_stored_meanwhile() {
    use switchboard::tokens::RedisRefreshLock;
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let provider = RotatingProvider::start(&[""], Duration::from_millis(600), After::Answer).await;
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let lock = RedisRefreshLock::connect(&crate::support::redis_url())
        .await
        .unwrap()
        .key_prefix(prefix.clone());
    let m = manager_with(store.clone(), Arc::new(lock), Duration::from_secs(5));
    let t = tenant("acme");
    m.store_token(&t, &conn(), &expired_token(""))
        .await
        .unwrap();
    m.register(
        &t,
        &conn(),
        Arc::new(rotating_client(&provider.token_url())),
    );

    let refresh = {
        let (m, t) = (m.clone(), t.clone());
        tokio::spawn(async move { m.access_token(&t, &conn()).await })
    };
    while provider.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The lock is lost (a Redis failover, an eviction) and a reconnect stores a new token set,
    // one that is already due (short-lived) but valid.
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut conn_r = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn_r)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: () = redis::cmd("DEL")
        .arg(&keys[0])
        .query_async(&mut conn_r)
        .await
        .unwrap();
    let reconnected = Token::new("reconnected-at")
        .with_refresh_token("reconnected-rt")
        .with_expires_at(SystemTime::now() + Duration::from_secs(30));
    let other = TokenManager::builder(vault(), store.clone())
        .build()
        .unwrap();
    other.store_token(&t, &conn(), &reconnected).await.unwrap();

    let served = refresh.await.unwrap().unwrap();
    assert_eq!(served.expose_secret(), "reconnected-at");
    assert_eq!(stored_refresh_token(&m, &t).await, "reconnected-rt");
}

// ---------------------------------------------------------------------------------------------
// The lock is extended while held, and says when it was lost.

#[cfg(feature = "redis")]
#[tokio::test]
async fn the_redis_lock_is_extended_while_held_and_reports_a_lost_lock() {
    use switchboard::tokens::RedisRefreshLock;
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let lock = RedisRefreshLock::connect(&crate::support::redis_url())
        .await
        .unwrap()
        .key_prefix(prefix.clone())
        .wait_timeout(Duration::from_millis(50));
    let ttl = Duration::from_millis(200);
    let mut held = lock.acquire("k", ttl).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.extend(ttl).await.unwrap();
    }
    // 400 ms after taking a 200 ms lock it is still held.
    assert_eq!(
        lock.acquire("k", ttl).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = held.extend(ttl).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let next = lock.acquire("k", ttl).await.unwrap();
    // The old holder cannot extend (nor release) the new holder's lock.
    assert_eq!(
        held.extend(ttl).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    next.release().await.unwrap();
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_lock_extend_checks_the_session_still_holds_it() {
    use switchboard::tokens::PostgresAdvisoryLock;
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    let lock = PostgresAdvisoryLock::connect(&crate::support::postgres_url())
        .await
        .unwrap()
        .key_prefix(prefix);
    for key in ["k", "a-key-whose-hash-is-negative-or-not", "k3"] {
        let mut held = lock.acquire(key, Duration::from_secs(1)).await.unwrap();
        held.extend(Duration::from_secs(1)).await.unwrap();
        held.release().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// expires_in out of range.

#[tokio::test]
async fn expires_in_out_of_range_is_clamped_or_a_typed_error_never_a_panic() {
    let provider = RotatingProvider::start(&[""], Duration::ZERO, After::Answer).await;
    let client = rotating_client(&provider.token_url());
    let mut rt = "rt-0".to_string();

    *provider.p.expires_in.lock().unwrap() = serde_json::json!(u64::MAX);
    let token = client
        .refresh(&SecretString::from(rt.clone()))
        .await
        .expect("a huge expires_in is clamped");
    let lifetime = token
        .expires_at()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(lifetime <= switchboard::tokens::MAX_TOKEN_LIFETIME);
    assert!(lifetime > Duration::from_secs(9 * 365 * 24 * 3600));
    rt = token.refresh_token().unwrap().expose_secret().to_string();

    for bad in [
        serde_json::json!(-5),
        serde_json::json!("soon"),
        serde_json::json!(1e300),
    ] {
        *provider.p.expires_in.lock().unwrap() = bad.clone();
        let err = client
            .refresh(&SecretString::from(rt.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TokenError::InvalidResponse { .. }),
            "{bad}: {err}"
        );
        // The provider spent the token; follow the chain for the next case.
        rt = provider.valid("");
    }

    // Through the manager too: a huge value is stored and served, and reads back.
    *provider.p.expires_in.lock().unwrap() = serde_json::json!(u64::MAX);
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let m = TokenManager::builder(vault(), store).build().unwrap();
    let t = tenant("acme");
    m.store_token(
        &t,
        &conn(),
        &Token::new("old")
            .with_refresh_token(rt.clone())
            .with_expires_at(SystemTime::now() - Duration::from_secs(1)),
    )
    .await
    .unwrap();
    m.register(&t, &conn(), Arc::new(client));
    assert!(m.access_token(&t, &conn()).await.is_ok());
    let stored = m.token(&t, &conn()).await.unwrap().unwrap();
    assert!(stored.expires_at().unwrap() > SystemTime::now() + Duration::from_secs(3600));
}

// ---------------------------------------------------------------------------------------------
// Two tenants, one connection id.

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_sharing_a_connection_id_refresh_independently() {
    let prefix = format!("switchboard-test:{:016x}:", fastrand::u64(..));
    // Tenant A's provider answers slowly and then loses the answer; tenant B's works.
    let slow_a =
        RotatingProvider::start(&["a-"], Duration::from_millis(1500), After::Fail502).await;
    let fast_b = RotatingProvider::start(&["b-"], Duration::ZERO, After::Answer).await;
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let managers: Vec<TokenManager> = redis_locks(&prefix)
        .await
        .into_iter()
        .map(|lock| manager_with(store.clone(), lock, Duration::from_millis(300)))
        .collect();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    let connections = active_connections(store.clone(), &[a.clone(), b.clone()], &managers).await;
    managers[0]
        .store_token(&a, &conn(), &expired_token("a-"))
        .await
        .unwrap();
    managers[0]
        .store_token(&b, &conn(), &expired_token("b-"))
        .await
        .unwrap();
    for m in &managers {
        m.register(&a, &conn(), Arc::new(rotating_client(&slow_a.token_url())));
        m.register(&b, &conn(), Arc::new(rotating_client(&fast_b.token_url())));
    }

    let a_call = {
        let (m, a) = (managers[0].clone(), a.clone());
        tokio::spawn(async move { m.access_token(&a, &conn()).await })
    };
    while slow_a.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // B, on every replica, is neither blocked by A's lock nor by A's single flight.
    let started = tokio::time::Instant::now();
    for m in &managers {
        let token = m.access_token(&b, &conn()).await.unwrap();
        assert_eq!(token.expose_secret(), "b-at-1");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "B waited for A: {:?}",
        started.elapsed()
    );
    assert!(!a_call.is_finished());

    // A's lost answer moves A, and only A, to error.
    let a_err = a_call.await.unwrap().unwrap_err();
    assert!(a_err.to_string().contains("reconnect"), "{a_err}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while connections.get(&a, &conn()).await.unwrap().status != ConnectionStatus::Error {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A never moved to error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        connections.get(&b, &conn()).await.unwrap().status,
        ConnectionStatus::Active
    );
    assert_eq!(stored_refresh_token(&managers[1], &b).await, "b-rt-1");
    for m in &managers {
        assert_eq!(
            m.access_token(&b, &conn()).await.unwrap().expose_secret(),
            "b-at-1"
        );
        assert!(m.access_token(&a, &conn()).await.is_err());
    }
    assert_eq!(fast_b.accepted(), 1);
    assert_eq!(slow_a.requests(), 1);
}

#[tokio::test]
async fn the_in_process_lock_never_reports_a_lost_lock() {
    let lock = InProcessLock::new();
    let mut held = lock.acquire("k", Duration::from_millis(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    held.extend(Duration::from_millis(1)).await.unwrap();
    held.release().await.unwrap();
}
