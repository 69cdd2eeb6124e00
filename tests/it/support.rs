//! Shared pieces for the integration tests: a connector whose classifier a test can script,
//! and a switchboard with short, test-friendly delays.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
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
}

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

#[async_trait]
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

    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        connection.get("/health").send().await.map(|_| ())
    }
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
