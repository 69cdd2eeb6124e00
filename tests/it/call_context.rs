//! Where a call's `CallContext` can be read: a host's attempt layer and an authenticator that
//! says it reads it find it in the request's extensions, each call its own tenant's; an
//! authenticator that says it does not finds none (the pipeline then skips inserting it).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use switchboard::auth::{Authenticator, BearerToken};
use switchboard::pipeline::{CallContext, HttpService};
use switchboard::test_util::{RawAction, RawServer};
use switchboard::{Connection, Error, Switchboard};

use crate::support::{builder, TestConnector};

/// (tenant, connection, endpoint) of each context seen, or `None` for a request without one.
type Seen = Arc<Mutex<Vec<Option<(String, String, String)>>>>;

fn record(seen: &Seen, req: &http::Request<Bytes>) {
    let ctx = req.extensions().get::<Arc<CallContext>>().map(|c| {
        (
            c.tenant().to_string(),
            c.connection().to_string(),
            c.endpoint().to_string(),
        )
    });
    seen.lock().unwrap().push(ctx);
}

#[derive(Debug)]
struct Recording {
    seen: Seen,
    reads: bool,
}

#[async_trait]
impl Authenticator for Recording {
    async fn authenticate(&self, request: &mut http::Request<Bytes>) -> Result<(), Error> {
        record(&self.seen, request);
        Ok(())
    }

    fn reads_call_context(&self) -> bool {
        self.reads
    }
}

fn connection(
    sb: &Switchboard,
    base: &str,
    tenant: &str,
    auth: Arc<dyn Authenticator>,
) -> Connection {
    sb.connection(Arc::new(TestConnector::default()))
        .tenant(tenant)
        .id("shared-id")
        .base_url(base)
        .auth(auth)
        .build()
        .unwrap()
}

fn ok_server() -> impl std::future::Future<Output = RawServer> {
    RawServer::start(|_| RawAction::status(200, "{}"))
}

#[tokio::test]
async fn an_attempt_layer_finds_each_calls_own_context() {
    let server = ok_server().await;
    let seen = Seen::default();
    let log = seen.clone();
    let sb = builder()
        .attempt_layer(move |inner: HttpService| {
            let log = log.clone();
            HttpService::new(tower::service_fn(move |req: http::Request<Bytes>| {
                record(&log, &req);
                let inner = inner.clone();
                async move { tower::ServiceExt::oneshot(inner, req).await }
            }))
        })
        .build()
        .unwrap();
    // A built-in authenticator does not read the context: the layer alone must get it there.
    let token = || Arc::new(BearerToken::new("t")) as Arc<dyn Authenticator>;
    let a = connection(&sb, &server.base_url(), "tenant-a", token());
    let b = connection(&sb, &server.base_url(), "tenant-b", token());
    a.get("/x").endpoint("a.read").send().await.unwrap();
    b.get("/x").endpoint("b.read").send().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            Some(("tenant-a".into(), "shared-id".into(), "a.read".into())),
            Some(("tenant-b".into(), "shared-id".into(), "b.read".into())),
        ]
    );
}

#[tokio::test]
async fn an_authenticator_finds_the_context_only_when_it_says_it_reads_it() {
    let server = ok_server().await;
    let sb = builder().build().unwrap();
    let reader = Seen::default();
    let other = Seen::default();
    let a = connection(
        &sb,
        &server.base_url(),
        "tenant-a",
        Arc::new(Recording {
            seen: reader.clone(),
            reads: true,
        }),
    );
    let b = connection(
        &sb,
        &server.base_url(),
        "tenant-b",
        Arc::new(Recording {
            seen: other.clone(),
            reads: false,
        }),
    );
    a.get("/x").endpoint("a.read").send().await.unwrap();
    b.get("/x").endpoint("b.read").send().await.unwrap();

    assert_eq!(
        *reader.lock().unwrap(),
        vec![Some((
            "tenant-a".into(),
            "shared-id".into(),
            "a.read".into()
        ))]
    );
    assert_eq!(*other.lock().unwrap(), vec![None]);
}

/// The OAuth authenticator reads the context to refuse a call of another tenant's connection
/// that shares its connection id: it must still find it there.
#[tokio::test]
async fn an_oauth_authenticator_refuses_the_call_of_another_tenant_sharing_its_id() {
    use switchboard::credentials::InMemoryCredentialStore;
    use switchboard::tokens::{OAuthAuthenticator, TokenManager};

    let server = ok_server().await;
    let sb = builder().build().unwrap();
    let tokens = TokenManager::builder(
        crate::support::test_vault(3),
        Arc::new(InMemoryCredentialStore::new()),
    )
    .build()
    .unwrap();
    let tenant_a_token = Arc::new(OAuthAuthenticator::new(
        tokens,
        "tenant-a".into(),
        "shared-id".into(),
    ));
    let own = connection(&sb, &server.base_url(), "tenant-a", tenant_a_token.clone());
    let other = connection(&sb, &server.base_url(), "tenant-b", tenant_a_token);

    let refused = other.get("/x").send().await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("was used by connection `shared-id` (tenant `tenant-b`)"),
        "{refused}"
    );
    // Its own connection gets past the check (and fails only for want of a stored token).
    let own = own.get("/x").send().await.unwrap_err();
    assert!(!own.to_string().contains("was used by"), "{own}");
    assert_eq!(server.requests(), 0, "nothing is sent without a token");
}

/// A host's integration whose binding authenticator records the contexts it finds.
#[derive(Debug)]
struct Probe {
    template: switchboard::templates::IntegrationTemplate,
    seen: Seen,
    reads: bool,
}

#[async_trait]
impl switchboard::templates::Integration for Probe {
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &switchboard::templates::IntegrationTemplate {
        &self.template
    }

    fn bind(
        &self,
        config: &switchboard::templates::ConnectionConfig,
    ) -> Result<switchboard::templates::IntegrationBinding, Error> {
        Ok(switchboard::templates::IntegrationBinding::new(
            Arc::new(TestConnector::default()),
            config.str("baseUrl").unwrap_or_default(),
            Some(Arc::new(Recording {
                seen: self.seen.clone(),
                reads: self.reads,
            })),
        ))
    }
}

/// Through `Connections`, whose clients renew their credentials as the config changes: the
/// answer is the current authenticator's, so one that reads the context still finds its own
/// tenant's, and one that does not finds none.
#[tokio::test]
async fn a_managed_connection_answers_as_its_current_authenticator() {
    use switchboard::connections::Connections;
    use switchboard::templates::{IntegrationTemplate, Registry};

    let server = ok_server().await;
    for reads in [true, false] {
        let seen = Seen::default();
        let mut registry = Registry::new();
        registry
            .register(Arc::new(Probe {
                template: IntegrationTemplate::builder("probe")
                    .config_schema(serde_json::json!({
                        "type": "object",
                        "required": ["baseUrl"],
                        "properties": {"baseUrl": {"type": "string"}}
                    }))
                    .endpoint_url_field("baseUrl")
                    .build()
                    .unwrap(),
                seen: seen.clone(),
                reads,
            }))
            .unwrap();
        let sb = builder().allow_endpoint_host("127.0.0.1").build().unwrap();
        let connections = Connections::new(sb, crate::support::test_vault(4), registry);
        let config = serde_json::json!({"baseUrl": server.base_url()});
        for tenant in ["tenant-a", "tenant-b"] {
            let (tenant, id) = (tenant.into(), "shared-id".into());
            connections
                .create(&tenant, &id, "probe", "Probe", &config)
                .await
                .unwrap();
            let client = connections.connection(&tenant, &id).await.unwrap();
            client.get("/x").endpoint("read").send().await.unwrap();
        }
        let expected = if reads {
            vec![
                Some(("tenant-a".into(), "shared-id".into(), "read".into())),
                Some(("tenant-b".into(), "shared-id".into(), "read".into())),
            ]
        } else {
            vec![None, None]
        };
        assert_eq!(*seen.lock().unwrap(), expected, "reads: {reads}");
    }
}
