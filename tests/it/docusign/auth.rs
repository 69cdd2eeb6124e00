//! The JWT grant and the account lookup, through the `docusign` template and `Connections`
//! the way a host uses them: the assertion checked field by field and verified with the app's
//! public key, the token reused and minted once across replicas, the account's `base_uri`
//! taken from `/oauth/userinfo`, consent problems moving the connection to `error` with the
//! consent URL, and two tenants sharing a connection id never sharing a token or an account.

use std::sync::atomic::Ordering;

use switchboard::connections::ConnectionStatus;
use switchboard::docusign::DocuSignClient;
use switchboard::{ConnectionId, TenantId};

use super::mock::FakeDocuSign;
use super::{jwt_config, Shared, INTEGRATION_KEY};

fn ids(tenant: &str) -> (TenantId, ConnectionId) {
    (TenantId::new(tenant), ConnectionId::new("docusign"))
}

#[tokio::test]
async fn the_jwt_assertion_carries_docusigns_claims_and_verifies_with_the_public_key() {
    let ds = FakeDocuSign::start().await;
    let connections = Shared::new().replica();
    let (t, c) = ids("acme");
    connections
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    let record = connections.test_connection(&t, &c).await.unwrap();
    assert_eq!(
        record.status,
        ConnectionStatus::Active,
        "{:?}",
        record.last_error
    );
    let assertions = ds.state.assertions.lock().unwrap().clone();
    assert_eq!(
        assertions.len(),
        1,
        "one token for the check and the activation"
    );
    let claims = &assertions[0];
    assert_eq!(claims.iss, INTEGRATION_KEY);
    assert_eq!(claims.sub, "user-1");
    assert_eq!(claims.aud, ds.audience());
    assert_eq!(claims.scope, "signature impersonation");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(claims.iat <= now && claims.iat + 120 >= now, "iat is now");
    assert_eq!(
        claims.exp - claims.iat,
        3600,
        "DocuSign's longest assertion"
    );
}

#[tokio::test]
async fn the_first_test_stores_the_default_account_and_its_base_uri_then_calls_go_there() {
    let ds = FakeDocuSign::start().await;
    let connections = Shared::new().replica();
    let (t, c) = ids("acme");
    connections
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    // Before the test: the account is not known, and a typed call says what to do.
    let early = DocuSignClient::from_connection(connections.connection(&t, &c).await.unwrap())
        .unwrap()
        .account()
        .await
        .unwrap_err();
    assert!(
        early.to_string().contains("test the connection first"),
        "{early}"
    );
    connections.test_connection(&t, &c).await.unwrap();
    let config = connections.config(&t, &c).await.unwrap();
    assert_eq!(
        config.str("account_id"),
        Some("acct-user-1"),
        "the default account, not the first"
    );
    assert_eq!(config.str("base_uri"), Some(ds.url().as_str()));
    let client =
        DocuSignClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap();
    assert_eq!(client.account_id().unwrap().as_str(), "acct-user-1");
    for _ in 0..3 {
        let account = client.account().await.unwrap();
        assert_eq!(account.account_name.as_deref(), Some("Account of user-1"));
    }
    assert_eq!(
        ds.state.token_requests.load(Ordering::SeqCst),
        1,
        "the hour-long token is reused"
    );
    // A second test finds nothing to change: the record is not rewritten for it.
    connections.test_connection(&t, &c).await.unwrap();
    let config = connections.config(&t, &c).await.unwrap();
    assert_eq!(config.str("base_uri"), Some(ds.url().as_str()));
}

#[tokio::test]
async fn a_missing_consent_moves_the_connection_to_error_with_the_consent_url() {
    let ds = FakeDocuSign::start().await;
    ds.state
        .no_consent
        .lock()
        .unwrap()
        .insert("user-1".to_string());
    let connections = Shared::new().replica();
    let (t, c) = ids("acme");
    connections
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    let record = connections.test_connection(&t, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Error);
    let message = record.last_error.unwrap();
    assert!(message.contains("grant consent"), "{message}");
    assert!(
        message.contains(&format!(
            "{}/oauth/auth?response_type=code&scope=signature+impersonation&client_id={INTEGRATION_KEY}",
            ds.url()
        )),
        "{message}"
    );
    // Consent granted: the next test succeeds.
    ds.state.no_consent.lock().unwrap().clear();
    let record = connections.test_connection(&t, &c).await.unwrap();
    assert_eq!(
        record.status,
        ConnectionStatus::Active,
        "{:?}",
        record.last_error
    );
}

#[tokio::test]
async fn two_tenants_sharing_a_connection_id_get_their_own_token_and_account() {
    let ds = FakeDocuSign::start().await;
    let connections = Shared::new().replica();
    let (a, c) = ids("tenant-a");
    let (b, _) = ids("tenant-b");
    connections
        .create(&a, &c, "docusign", "A", &jwt_config(&ds.url(), "user-a"))
        .await
        .unwrap();
    connections
        .create(&b, &c, "docusign", "B", &jwt_config(&ds.url(), "user-b"))
        .await
        .unwrap();
    connections.test_connection(&a, &c).await.unwrap();
    connections.test_connection(&b, &c).await.unwrap();
    let client_a =
        DocuSignClient::from_connection(connections.connection(&a, &c).await.unwrap()).unwrap();
    let client_b =
        DocuSignClient::from_connection(connections.connection(&b, &c).await.unwrap()).unwrap();
    assert_eq!(client_a.account_id().unwrap().as_str(), "acct-user-a");
    assert_eq!(client_b.account_id().unwrap().as_str(), "acct-user-b");
    // Each tenant's token reads its own account: the fake refuses a token on another user's
    // account, so a shared token would fail one of these.
    assert_eq!(
        client_a.account().await.unwrap().account_name.as_deref(),
        Some("Account of user-a")
    );
    assert_eq!(
        client_b.account().await.unwrap().account_name.as_deref(),
        Some("Account of user-b")
    );
    let subs: Vec<String> = ds
        .state
        .assertions
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.sub.clone())
        .collect();
    assert_eq!(
        subs,
        ["user-a", "user-b"],
        "one token per tenant's connection"
    );
    // Tenant A's client pointed at B's account is refused by DocuSign: the token is A's.
    let err = client_a
        .with_account("acct-user-b")
        .account()
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("USER_LACKS_MEMBERSHIP"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_mint_one_token_between_them() {
    let ds = FakeDocuSign::start().await;
    let shared = Shared::new();
    let first = shared.replica();
    let (t, c) = ids("acme");
    first
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    first.test_connection(&t, &c).await.unwrap();
    // The stored token is due (it expires within the refresh skew): three fresh replicas
    // calling at once mint one new token between them.
    let due = switchboard::tokens::Token::new("ds-token-stale")
        .with_expires_at(std::time::SystemTime::now() + std::time::Duration::from_secs(10));
    first
        .tokens()
        .unwrap()
        .store_token(&t, &c, &due)
        .await
        .unwrap();
    let replicas: Vec<_> = (0..3).map(|_| shared.replica()).collect();
    let before = ds.state.token_requests.load(Ordering::SeqCst);
    let mut tasks = Vec::new();
    for r in &replicas {
        let conn = r.connection(&t, &c).await.unwrap();
        tasks.push(tokio::spawn(async move {
            DocuSignClient::from_connection(conn)
                .unwrap()
                .account()
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        ds.state.token_requests.load(Ordering::SeqCst),
        before + 1,
        "one replica mints the new token; the others read it from the store"
    );
}

#[tokio::test]
async fn user_authentication_failed_on_a_call_moves_the_connection_to_error_with_the_consent_url() {
    let ds = FakeDocuSign::start().await;
    let connections = Shared::new().replica();
    let (t, c) = ids("acme");
    connections
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    connections.test_connection(&t, &c).await.unwrap();
    // A token DocuSign no longer honours (revoked): the account call answers 401
    // USER_AUTHENTICATION_FAILED.
    let revoked = switchboard::tokens::Token::new("ds-token-revoked")
        .with_expires_at(std::time::SystemTime::now() + std::time::Duration::from_secs(3000));
    connections
        .tokens()
        .unwrap()
        .store_token(&t, &c, &revoked)
        .await
        .unwrap();
    connections.tokens().unwrap().invalidate(&t, &c).await;
    let client =
        DocuSignClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap();
    let err = client.account().await.unwrap_err();
    assert_eq!(err.error_code(), Some("USER_AUTHENTICATION_FAILED"));
    assert!(err.needs_consent());
    // The lifecycle records the move in the background.
    let mut record = connections.get(&t, &c).await.unwrap();
    for _ in 0..200 {
        if record.status == ConnectionStatus::Error {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        record = connections.get(&t, &c).await.unwrap();
    }
    assert_eq!(record.status, ConnectionStatus::Error);
    let message = record.last_error.unwrap();
    assert!(
        message.contains("USER_AUTHENTICATION_FAILED") || message.contains("401"),
        "{message}"
    );
    assert!(
        message.contains("grant consent: the user must open")
            && message.contains("/oauth/auth?response_type=code"),
        "{message}"
    );
}

#[tokio::test]
async fn an_authorization_code_connection_refreshes_its_stored_token() {
    let ds = FakeDocuSign::start().await;
    let connections = Shared::new().replica();
    let (t, c) = ids("acme");
    let config = serde_json::json!({
        "integration_key": INTEGRATION_KEY,
        "grant": "authorization_code",
        "client_secret": switchboard::test_util::canary("ds-secret"),
        "auth_base_url": ds.url(),
        "redirect_uri": "https://app.example.test/docusign/callback",
    });
    connections
        .create(&t, &c, "docusign", "DocuSign", &config)
        .await
        .unwrap();
    // What the host stores after its code exchange: an access token about to expire.
    let token = switchboard::tokens::Token::new("ds-token-expiring")
        .with_refresh_token("rt-user-7")
        .with_expires_at(std::time::SystemTime::now() + std::time::Duration::from_secs(5));
    connections
        .tokens()
        .unwrap()
        .store_token(&t, &c, &token)
        .await
        .unwrap();
    let record = connections.test_connection(&t, &c).await.unwrap();
    assert_eq!(
        record.status,
        ConnectionStatus::Active,
        "{:?}",
        record.last_error
    );
    assert_eq!(*ds.state.refreshes.lock().unwrap(), ["user-7"]);
    let config = connections.config(&t, &c).await.unwrap();
    assert_eq!(config.str("account_id"), Some("acct-user-7"));
    // The host's code flow uses the same client settings.
    let client = switchboard::docusign::DocuSignIntegration::oauth_client(&config).unwrap();
    let request = client.authorize_url().unwrap();
    assert!(
        request
            .url()
            .starts_with(&format!("{}/oauth/auth?", ds.url())),
        "{}",
        request.url()
    );
    assert!(request
        .url()
        .contains(&format!("client_id={INTEGRATION_KEY}")));
}

#[tokio::test]
async fn a_service_without_a_token_manager_says_it_needs_one() {
    let ds = FakeDocuSign::start().await;
    let mut registry = switchboard::templates::Registry::new();
    registry
        .register(std::sync::Arc::new(
            switchboard::docusign::DocuSignIntegration::new(),
        ))
        .unwrap();
    let connections = switchboard::connections::Connections::new(
        crate::support::builder()
            .allow_endpoint_host("127.0.0.1")
            .build()
            .unwrap(),
        crate::support::test_vault(3),
        registry,
    );
    let (t, c) = ids("acme");
    connections
        .create(
            &t,
            &c,
            "docusign",
            "DocuSign",
            &jwt_config(&ds.url(), "user-1"),
        )
        .await
        .unwrap();
    let err = connections.connection(&t, &c).await.unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Config);
    assert!(
        err.to_string().contains("Connections::with_tokens"),
        "{err}"
    );
    assert_eq!(ds.state.token_requests.load(Ordering::SeqCst), 0);
}
