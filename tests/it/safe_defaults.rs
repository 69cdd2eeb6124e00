//! Safe defaults: no idempotency key (and so no retried POST after a 5xx) unless the connector
//! opts in, no proxy from the environment unless the host opts in, and endpoint URLs from
//! tenant config only over https to public hosts unless the host allows the host explicitly.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::Connections;
use switchboard::credentials::{CredentialStore, InMemoryCredentialStore};
use switchboard::templates::{
    ConnectionConfig, EndpointPolicy, Integration, IntegrationBinding, IntegrationTemplate,
    Registry,
};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::vault::Vault;
use switchboard::{
    ConnectionId, Connector, Error, ErrorKind, RetryConfig, Switchboard, SwitchboardBuilder,
    TenantId,
};

use crate::support::builder;

// ------------------------------------------------------------------ idempotency

/// A host's own connector that says nothing about idempotency keys.
#[derive(Debug)]
struct PlainHostConnector;

impl Connector for PlainHostConnector {
    fn name(&self) -> &str {
        "plain-host"
    }
}

#[tokio::test]
async fn a_connector_without_an_idempotency_header_sends_no_key_and_its_post_is_not_retried() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<RawRequest>::new()));
    let s = seen.clone();
    let server = RawServer::start(move |req: &RawRequest| {
        s.lock().unwrap().push(req.clone());
        RawAction::status(500, "{}")
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(PlainHostConnector))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let e = conn
        .post("/charges")
        .json(&json!({"amount": 1}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status, "{e}");
    assert_eq!(e.idempotency_key(), None);
    assert_eq!(
        server.requests(),
        1,
        "a POST without a key is not retried after a 5xx"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen[0]
            .headers
            .iter()
            .all(|(n, _)| !n.contains("idempotency")),
        "{:?}",
        seen[0].headers
    );
}

#[tokio::test]
async fn a_connector_without_an_idempotency_header_ends_an_ambiguous_post_in_outcome_unknown() {
    // The connection is reset after the request was read: it may have been acted on.
    let server = RawServer::start(|_: &RawRequest| RawAction::Reset).await;
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(PlainHostConnector))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let e = conn.post("/charges").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutcomeUnknown, "{e}");
    assert_eq!(e.idempotency_key(), None, "no key was generated");
    assert_eq!(server.requests(), 1, "not retried");
}

// ------------------------------------------------------------------ proxy from the environment

/// What the recording proxy read of each request: its head and body, as text.
type Received = Arc<Mutex<Vec<String>>>;

/// A loopback "proxy" that counts the connections made to it, keeps what it read of each
/// request, and answers each with 200.
fn recording_proxy() -> (String, Arc<AtomicUsize>, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let received = Received::default();
    let (c, r) = (count.clone(), received.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            r.lock().unwrap().push(read_request(&mut stream));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (format!("http://{addr}"), count, received)
}

/// Reads one request's head and as much body as its `content-length` names (or what arrives
/// before the read timeout), as text.
fn read_request(stream: &mut std::net::TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&seen).to_string(),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Runs [`proxy_child`] in a child process of this test binary with the proxy variables set
/// (the environment is process-wide: setting it here would reach every other test's client).
fn run_child(mode: &str, proxy: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "safe_defaults::proxy_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SWITCHBOARD_PROXY_CHILD", mode);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(var, proxy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    cmd.output().unwrap()
}

#[test]
fn the_pipeline_ignores_proxy_variables_unless_the_host_opts_in() {
    let (proxy, count, received) = recording_proxy();
    let out = run_child("default", &proxy);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("1 passed"), "the child test ran: {text}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "the proxy was used: {text}"
    );

    let out = run_child("opt-in", &proxy);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed: {text}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "opted in: both calls through the proxy: {text}"
    );
    // The body of parts went through the proxy whole, with its length, in absolute form.
    let received = received.lock().unwrap();
    let put = received
        .iter()
        .find(|r| r.starts_with("PUT http://provider.invalid/upload "))
        .unwrap_or_else(|| panic!("the PUT reached the proxy: {received:?}"));
    assert!(put.contains("content-length: 10\r\n"), "{put}");
    assert!(!put.contains("transfer-encoding"), "{put}");
    assert!(put.ends_with("\r\n\r\nhead;;tail"), "{put}");
}

/// The child half of the proxy test; does nothing unless run by it.
#[tokio::test]
async fn proxy_child() {
    let Ok(mode) = std::env::var("SWITCHBOARD_PROXY_CHILD") else {
        return;
    };
    let sb = Switchboard::builder()
        .retry(RetryConfig::default().max_attempts(1))
        .attempt_timeout(Duration::from_secs(5))
        .proxy_from_env(mode == "opt-in")
        .build()
        .unwrap();
    let conn = sb
        .connection(Arc::new(PlainHostConnector))
        .tenant("t1")
        .id("c1")
        // Does not resolve: only a proxy can answer it.
        .base_url("http://provider.invalid")
        .build()
        .unwrap();
    let result = conn.get("/x").send().await;
    if mode == "opt-in" {
        result.expect("answered by the proxy");
        let parts = vec![
            bytes::Bytes::from_static(b"head;"),
            bytes::Bytes::from_static(b";tail"),
        ];
        conn.put("/upload")
            .body_parts(parts, "application/octet-stream")
            .send()
            .await
            .expect("the parts answered by the proxy");
    } else {
        let e = result.expect_err("no proxy: the name does not resolve");
        assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    }
}

// ------------------------------------------------------------------ endpoint URLs from config

/// A host's own integration whose `baseUrl` is an endpoint field.
#[derive(Debug)]
struct HostApi(IntegrationTemplate);

impl HostApi {
    fn new() -> Self {
        HostApi(
            IntegrationTemplate::builder("host-api")
                .config_schema(json!({
                    "type": "object",
                    "required": ["apiKey", "baseUrl"],
                    "properties": {
                        "apiKey": {"type": "string", "format": "password"},
                        "baseUrl": {"type": "string"}
                    }
                }))
                .endpoint_url_field("baseUrl")
                .build()
                .unwrap(),
        )
    }
}

#[async_trait::async_trait]
impl Integration for HostApi {
    async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> {
        Ok(())
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let key = config.require_secret("apiKey")?.expose_secret().to_string();
        Ok(IntegrationBinding::new(
            Arc::new(PlainHostConnector),
            config.str("baseUrl").unwrap_or_default(),
            Some(Arc::new(BearerToken::new(key))),
        ))
    }
}

/// A host integration that does not declare its endpoint field: the binding's base URL is
/// still checked when `Connections` binds it.
#[derive(Debug)]
struct Undeclared(IntegrationTemplate);

#[async_trait::async_trait]
impl Integration for Undeclared {
    async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> {
        Ok(())
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        Ok(IntegrationBinding::new(
            Arc::new(PlainHostConnector),
            config.str("url").unwrap_or_default(),
            None,
        ))
    }
}

fn vault() -> Vault {
    crate::support::test_vault(6)
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(HostApi::new())).unwrap();
    r.register(Arc::new(Undeclared(
        IntegrationTemplate::builder("undeclared")
            .config_schema(json!({"type": "object", "properties": {"url": {"type": "string"}}}))
            .build()
            .unwrap(),
    )))
    .unwrap();
    #[cfg(feature = "stripe")]
    r.register(Arc::new(switchboard::stripe::StripeIntegration::new()))
        .unwrap();
    #[cfg(feature = "twilio")]
    r.register(Arc::new(switchboard::twilio::TwilioIntegration::new()))
        .unwrap();
    r
}

fn connections(b: SwitchboardBuilder, store: Arc<dyn CredentialStore>) -> Connections {
    Connections::new(
        b.credential_store(store).build().unwrap(),
        vault(),
        registry(),
    )
}

const REFUSED: [&str; 5] = [
    "http://10.0.0.5",
    "https://169.254.169.254",
    "https://localhost",
    "https://127.0.0.1:8443/v1",
    "http://api.example.com",
];

#[tokio::test]
async fn endpoint_urls_in_tenant_config_must_be_https_and_public() {
    let c = connections(builder(), Arc::new(InMemoryCredentialStore::new()));
    let t = TenantId::new("t1");
    for (i, url) in REFUSED.iter().enumerate() {
        let id = ConnectionId::new(format!("c{i}"));
        let e = c
            .create(
                &t,
                &id,
                "host-api",
                "API",
                &json!({"apiKey": "k", "baseUrl": url}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{url}: {e}");
        assert!(e.to_string().contains("/baseUrl"), "{url}: {e}");
        assert!(c.get(&t, &id).await.is_err(), "{url}: nothing was stored");
    }
    c.create(
        &t,
        &"ok".into(),
        "host-api",
        "API",
        &json!({"apiKey": "k", "baseUrl": "https://api.example.com/v2"}),
    )
    .await
    .expect("a public https URL is fine");
}

#[tokio::test]
async fn a_host_that_allows_a_host_explicitly_may_use_it() {
    let c = connections(
        builder()
            .allow_endpoint_host("10.0.0.5")
            .allow_endpoint_host("169.254.169.254")
            .allow_endpoint_host("localhost"),
        Arc::new(InMemoryCredentialStore::new()),
    );
    let t = TenantId::new("t1");
    for (i, url) in REFUSED[..3].iter().enumerate() {
        let id = ConnectionId::new(format!("c{i}"));
        c.create(
            &t,
            &id,
            "host-api",
            "API",
            &json!({"apiKey": "k", "baseUrl": url}),
        )
        .await
        .unwrap_or_else(|e| panic!("{url} is allowed: {e}"));
        c.connection(&t, &id).await.expect("and binds");
    }
    // Only the hosts named: another private address is still refused.
    let e = c
        .create(
            &t,
            &"c9".into(),
            "host-api",
            "API",
            &json!({"apiKey": "k", "baseUrl": "http://10.0.0.6"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn binding_checks_again_under_the_policy_in_force() {
    // Created by a permissive host, then bound by a strict one over the same stores.
    let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
    let records = Arc::new(switchboard::connections::InMemoryConnectionStore::new());
    let lax = connections(builder().allow_endpoint_host("10.0.0.5"), store.clone())
        .with_connection_store(records.clone());
    let strict = connections(builder(), store).with_connection_store(records);
    let t = TenantId::new("t1");
    lax.create(
        &t,
        &"c1".into(),
        "host-api",
        "API",
        &json!({"apiKey": "k", "baseUrl": "http://10.0.0.5"}),
    )
    .await
    .unwrap();
    let e = strict.connection(&t, &"c1".into()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.to_string().contains("/baseUrl"), "{e}");

    // A template that does not declare its endpoint field: the bound base URL is checked.
    strict
        .create(
            &t,
            &"c2".into(),
            "undeclared",
            "U",
            &json!({"url": "https://169.254.169.254"}),
        )
        .await
        .unwrap();
    let e = strict.connection(&t, &"c2".into()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("metadata"), "{e}");
}

#[cfg(feature = "stripe")]
#[tokio::test]
async fn the_stripe_template_refuses_a_private_base_url() {
    let c = connections(builder(), Arc::new(InMemoryCredentialStore::new()));
    for url in REFUSED {
        let e = c
            .create(
                &"t1".into(),
                &"stripe".into(),
                "stripe",
                "Stripe",
                &json!({"secret_key": "sk_test_x", "base_url": url}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation, "{url}: {e}");
        assert!(e.to_string().contains("/base_url"), "{url}: {e}");
    }
}

#[cfg(feature = "twilio")]
#[tokio::test]
async fn the_twilio_template_refuses_private_base_urls() {
    let c = connections(builder(), Arc::new(InMemoryCredentialStore::new()));
    let sid = format!("AC{}", "a".repeat(32));
    let e = c
        .create(
            &"t1".into(),
            &"twilio".into(),
            "twilio",
            "Twilio",
            &json!({"account_sid": sid, "auth_token": "x", "lookups_base_url": "https://169.254.169.254"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.to_string().contains("/lookups_base_url"), "{e}");
}

#[test]
fn the_policy_classifies_with_the_ssrf_guard() {
    let p = EndpointPolicy::new();
    for url in REFUSED {
        assert!(p.check(url).is_err(), "{url}");
    }
    for url in [
        "https://[::1]/",
        "https://[fd00:ec2::254]",
        "https://192.168.1.10",
        "https://100.64.0.1",
        "https://app.localhost",
        "https://metadata.google.internal",
        "ftp://api.example.com",
        "not a url",
    ] {
        assert!(p.check(url).is_err(), "{url}");
    }
    assert!(p.check("https://api.stripe.com").is_ok());
    assert!(p.check("https://8.8.8.8").is_ok());
    let p = EndpointPolicy::new()
        .allow_host("::1")
        .allow_host("LocalHost");
    assert!(p.check("http://[::1]:8080").is_ok());
    assert!(p.check("http://localhost:3000").is_ok());
    assert!(p.check("http://127.0.0.1").is_err());
}

#[test]
fn a_template_cannot_declare_an_endpoint_field_it_does_not_have() {
    let e = IntegrationTemplate::builder("x")
        .config_schema(json!({"type": "object", "properties": {"url": {"type": "string"}}}))
        .endpoint_url_field("baseUrl")
        .build()
        .unwrap_err();
    assert_eq!(e.setting, "template.endpoint_url_field");
}

/// This machine's host name, if it resolves only to non-public addresses (it usually resolves
/// to loopback through /etc/hosts): a name whose text passes the policy but whose addresses
/// do not.
async fn private_host_name() -> Option<String> {
    use switchboard::outbound::ssrf::AddressClass;
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()?
        .trim()
        .to_string();
    if name.is_empty() || name == "localhost" || name.ends_with(".localhost") {
        return None;
    }
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 443))
        .await
        .ok()?
        .collect();
    let all_private = !addrs.is_empty() && addrs.iter().all(|a| AddressClass::of(a.ip()).is_some());
    all_private.then_some(name)
}

#[tokio::test]
async fn a_tenant_host_name_that_resolves_to_a_private_address_is_refused_when_connecting() {
    let Some(name) = private_host_name().await else {
        eprintln!("skipped: this machine's host name does not resolve to a private address");
        return;
    };
    let server = RawServer::start(|_: &RawRequest| RawAction::status(200, "{}")).await;
    let port = server.base_url().rsplit(':').next().unwrap().to_string();
    let t = TenantId::new("t1");

    // The text passes (a plain https host name); the resolved address does not.
    let strict = connections(builder(), Arc::new(InMemoryCredentialStore::new()));
    let url = format!("https://{name}:{port}");
    strict
        .create(
            &t,
            &"c1".into(),
            "host-api",
            "API",
            &json!({"apiKey": "k", "baseUrl": url}),
        )
        .await
        .expect("the URL's text is acceptable");
    let conn = strict.connection(&t, &"c1".into()).await.unwrap();
    let e = conn.get("/x").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("SSRF guard"), "{e}");
    assert!(!e.may_have_been_sent());
    assert_eq!(server.connections(), 0, "no socket reached the server");

    // The host allows that name: the same kind of connection reaches the server.
    let lax = connections(
        builder().allow_endpoint_host(&name),
        Arc::new(InMemoryCredentialStore::new()),
    );
    let url = format!("http://{name}:{port}");
    lax.create(
        &t,
        &"c1".into(),
        "host-api",
        "API",
        &json!({"apiKey": "k", "baseUrl": url}),
    )
    .await
    .unwrap();
    let conn = lax.connection(&t, &"c1".into()).await.unwrap();
    conn.get("/x").send().await.expect("allowed explicitly");
    assert_eq!(server.requests(), 1);
}
