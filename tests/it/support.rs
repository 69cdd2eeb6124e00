//! Shared pieces for the integration tests: a connector whose classifier a test can script,
//! and a switchboard with short, test-friendly delays.

mod addresses;
mod keys;

#[allow(unused_imports)] // which ones a build uses depends on its features
pub(crate) use addresses::{postgres_url, redis_addr, redis_url};
#[allow(unused_imports)]
pub(crate) use keys::{TEST_RSA_PRIVATE_PEM, TEST_RSA_PUBLIC_PEM};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard::{
    AttemptOutcome, Connection, Connector, Error, RetryConfig, RetryDecision, Switchboard,
    SwitchboardBuilder,
};

type Classifier = dyn Fn(&AttemptOutcome<'_>) -> RetryDecision + Send + Sync;

/// A connector for tests: `name` "test", default idempotency header, optional classifier.
#[derive(Clone)]
pub(crate) struct TestConnector {
    pub(crate) classifier: Option<Arc<Classifier>>,
    pub(crate) idempotency_header: Option<&'static str>,
    pub(crate) secret_params: &'static [&'static str],
    /// What `Connector::failure_in_body` answers, given the body.
    pub(crate) body_failure: Option<Arc<BodyFailureFn>>,
}

/// A `Connector::failure_in_body` for tests.
pub(crate) type BodyFailureFn = dyn Fn(&[u8]) -> Option<switchboard::BodyFailure> + Send + Sync;

impl std::fmt::Debug for TestConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestConnector")
    }
}

impl Default for TestConnector {
    fn default() -> Self {
        TestConnector {
            classifier: None,
            idempotency_header: Some("Idempotency-Key"),
            secret_params: &[],
            body_failure: None,
        }
    }
}

impl TestConnector {
    pub(crate) fn with_classifier(
        f: impl Fn(&AttemptOutcome<'_>) -> RetryDecision + Send + Sync + 'static,
    ) -> Self {
        TestConnector {
            classifier: Some(Arc::new(f)),
            ..Default::default()
        }
    }
}

impl Connector for TestConnector {
    fn name(&self) -> &str {
        "test"
    }

    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        self.classifier
            .as_ref()
            .map_or(RetryDecision::NoOpinion, |c| c(attempt))
    }

    fn secret_query_params(&self) -> &[&str] {
        self.secret_params
    }

    fn idempotency_header(&self) -> Option<&str> {
        self.idempotency_header
    }

    fn failure_in_body(
        &self,
        _status: http::StatusCode,
        _headers: &http::HeaderMap,
        body: &bytes::Bytes,
    ) -> Option<switchboard::BodyFailure> {
        self.body_failure.as_ref().and_then(|f| f(body))
    }
}

/// The check the test integrations run (`Integration::check`): `GET /health`.
pub(crate) async fn check_health(connection: &Connection) -> Result<(), Error> {
    connection.get("/health").send().await.map(|_| ())
}

/// A vault over one fixed 32-byte master key (`[seed; 32]`, id `k1`): tests that need two
/// vaults that cannot open each other's records give two seeds.
#[allow(dead_code)] // its users are feature-gated (sqlite, postgres, the connectors)
pub(crate) fn test_vault(seed: u8) -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    let key = MasterKey::from_bytes(&[seed; 32]).expect("32 bytes is a valid master key");
    Vault::new(KeyRing::new(
        KeyId::new("k1").expect("`k1` is a valid key id"),
        key,
    ))
}

/// The connection service with the Stripe and Twilio integrations, over [`builder`] (loopback
/// endpoints allowed) and [`test_vault`]: the host path the connector tests share.
#[cfg(all(feature = "stripe", feature = "twilio"))]
pub(crate) fn stripe_and_twilio_connections() -> switchboard::connections::Connections {
    let mut registry = switchboard::templates::Registry::new();
    registry
        .register(Arc::new(switchboard::stripe::StripeIntegration::new()))
        .expect("one stripe integration");
    registry
        .register(Arc::new(switchboard::twilio::TwilioIntegration::new()))
        .expect("one twilio integration");
    switchboard::connections::Connections::new(
        builder()
            .allow_endpoint_host("127.0.0.1")
            .build()
            .expect("the test switchboard builds"),
        test_vault(7),
        registry,
    )
}

/// Defaults for tests: 3 attempts, 10 ms base delay, generous budget, short attempt timeout.
pub(crate) fn builder() -> SwitchboardBuilder {
    Switchboard::builder()
        .retry(
            RetryConfig::default()
                .base_delay(Duration::from_millis(10))
                .max_delay(Duration::from_millis(50))
                .budget(1000.0, 1000, Duration::from_secs(10)),
        )
        .attempt_timeout(Duration::from_secs(2))
        .call_deadline(Duration::from_secs(10))
}

/// A connection of `connector` to `base_url` for tenant `t1`, connection `c1`.
pub(crate) fn connect(sb: &Switchboard, connector: TestConnector, base_url: &str) -> Connection {
    connect_as(sb, connector, base_url, "t1", "c1")
}

/// A connection for a given tenant and connection id.
pub(crate) fn connect_as(
    sb: &Switchboard,
    connector: TestConnector,
    base_url: &str,
    tenant: &str,
    id: &str,
) -> Connection {
    sb.connection(Arc::new(connector))
        .tenant(tenant)
        .id(id)
        .base_url(base_url)
        .build()
        .expect("valid test connection")
}

/// The shared test-material folder: `$SWITCHBOARD_SHARED_DIR`, or `../shared` next to the crate.
#[allow(dead_code)] // used only by the connector test modules, which are feature-gated
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    )
}

/// The vector folder: `$SWITCHBOARD_VECTORS_DIR`, or `../shared/vectors` next to the crate.
pub(crate) fn vectors_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_VECTORS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    )
}

/// Every `*.json` file in [`vectors_dir`], sorted, parsed. A file that cannot be read or parsed
/// is returned as an `Err` naming it, so a runner reports it instead of skipping it silently.
pub(crate) fn vector_files() -> Vec<(String, Result<serde_json::Value, String>)> {
    vector_files_in(&vectors_dir())
}

/// [`vector_files`] of another folder (tests of the runners use a temporary one, so the
/// process-wide `SWITCHBOARD_VECTORS_DIR` is never changed under the other tests).
pub(crate) fn vector_files_in(dir: &Path) -> Vec<(String, Result<serde_json::Value, String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read vectors dir {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let doc = std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
            (name, doc)
        })
        .collect()
}

/// The class of a webhook rejection, to compare with the official SDK's message that a vector
/// states in `expected_error` (each runner maps its SDK's messages to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    NoMatch,
    Missing,
    Invalid,
    Tolerance,
    Secret,
}

/// The class of one of our rejections.
pub(crate) fn reason_of(err: &switchboard::webhook::WebhookError) -> Option<Reason> {
    use switchboard::webhook::WebhookError as E;
    match err {
        E::NoSignatureMatched { .. } => Some(Reason::NoMatch),
        E::MissingHeader { .. } => Some(Reason::Missing),
        E::InvalidHeader { .. } => Some(Reason::Invalid),
        E::TimestampOutsideTolerance { .. } => Some(Reason::Tolerance),
        E::SecretMissing => Some(Reason::Secret),
        _ => None,
    }
}

/// Runs every vector of every file from [`vector_files`] whose `scheme` (a vector's own, else
/// its file's) `is_scheme` accepts, through `run`. Fails on an unreadable file, on any failing
/// vector (all are reported), and when no vector ran, so a wrong folder never passes. Returns
/// how many ran.
pub(crate) fn run_vector_files(
    label: &str,
    is_scheme: impl Fn(&str) -> bool,
    run: impl Fn(&serde_json::Value) -> Result<(), String>,
) -> usize {
    run_vector_files_in(&vectors_dir(), label, is_scheme, run)
}

/// [`run_vector_files`] over the files of `dir`.
pub(crate) fn run_vector_files_in(
    dir: &Path,
    label: &str,
    is_scheme: impl Fn(&str) -> bool,
    run: impl Fn(&serde_json::Value) -> Result<(), String>,
) -> usize {
    let matches = |scheme: Option<&serde_json::Value>| {
        scheme
            .and_then(serde_json::Value::as_str)
            .is_some_and(|s| is_scheme(s.trim()))
    };
    let (mut ran, mut failures, mut used) = (0usize, Vec::new(), Vec::new());
    for (fname, doc) in vector_files_in(dir) {
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                failures.push(format!("{fname}: unreadable: {e}"));
                continue;
            }
        };
        let file_matches = matches(doc.get("scheme"));
        let Some(vectors) = doc.get("vectors").and_then(serde_json::Value::as_array) else {
            continue;
        };
        let mut in_file = 0usize;
        for (i, v) in vectors.iter().enumerate() {
            let selected = match v.get("scheme") {
                Some(s) => matches(Some(s)),
                None => file_matches,
            };
            if !selected {
                continue;
            }
            ran += 1;
            in_file += 1;
            let name = v["name"]
                .as_str()
                .map_or_else(|| format!("#{i}"), str::to_owned);
            if let Err(why) = run(v) {
                failures.push(format!("{fname}:{name}: {why}"));
            }
        }
        if in_file > 0 {
            used.push(format!("{fname} ({in_file})"));
        }
    }
    println!(
        "{label} vectors: {ran} run, {} failed, from {} [{}]",
        failures.len(),
        dir.display(),
        used.join(", ")
    );
    assert!(
        ran > 0,
        "no {label} vector found in {} (wrong SWITCHBOARD_VECTORS_DIR?)",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} failing {label} vector(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    ran
}

/// A fresh, empty folder under the system temp dir, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-{label}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (path, status, `sl-violations`) of every answer a Prism server gave, in order.
pub(crate) type PrismAnswers =
    std::sync::Arc<std::sync::Mutex<Vec<(String, http::StatusCode, String)>>>;

/// [`builder`] with an attempt layer that records every answer's path, status and Prism's
/// `sl-violations` header, for the contract tests.
pub(crate) fn recording_builder() -> (SwitchboardBuilder, PrismAnswers) {
    use tower::ServiceExt;
    let answers = PrismAnswers::default();
    let seen = answers.clone();
    let builder = builder().attempt_layer(move |inner: switchboard::pipeline::HttpService| {
        let seen = seen.clone();
        switchboard::pipeline::HttpService::new(tower::service_fn(
            move |req: http::Request<bytes::Bytes>| {
                let inner = inner.clone();
                let seen = seen.clone();
                let path = req.uri().path().to_string();
                async move {
                    let resp = inner.oneshot(req).await?;
                    let header = resp
                        .headers()
                        .get("sl-violations")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().unwrap().push((path, resp.status(), header));
                    Ok(resp)
                }
            },
        ))
    });
    (builder, answers)
}
