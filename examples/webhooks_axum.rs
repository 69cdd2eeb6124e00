//! Inbound webhooks in an axum app, for two tenants: each connection gets its own webhook URL
//! (an unguessable token made when it is created) and its webhooks are verified with that
//! connection's own sealed secret. The app sends itself one signed event per tenant, a
//! redelivery, and tenant A's signature on tenant B's URL, prints every outcome and exits.
//! Offline.
//!
//! ```text
//! cargo run --example webhooks_axum --features axum
//! ```

#[cfg(feature = "axum")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;

    use secrecy::ExposeSecret;
    use serde_json::json;
    use switchboard::connections::Connections;
    use switchboard::templates::{
        ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
    };
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
    use switchboard::webhook::{HmacBodyVerifier, WebhookVerifier};
    use switchboard::{ConnectionId, Error, Switchboard, TenantId};

    /// The host's own integration: a CRM that signs the raw body with HMAC-SHA256 under each
    /// account's webhook secret (`x-signature`, hex).
    #[derive(Debug)]
    struct AcmeCrm(IntegrationTemplate);

    #[async_trait::async_trait]
    impl Integration for AcmeCrm {
        async fn check(&self, _: &switchboard::Connection) -> Result<(), Error> {
            Err(Error::new(
                switchboard::ErrorKind::Config,
                "this example only receives webhooks",
            ))
        }

        fn template(&self) -> &IntegrationTemplate {
            &self.0
        }

        fn bind(&self, _: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
            Err(Error::new(
                switchboard::ErrorKind::Config,
                "this example only receives webhooks",
            ))
        }

        // Each connection's verifier comes from that connection's own secret.
        fn webhook_verifier(
            &self,
            config: &ConnectionConfig,
        ) -> Result<Arc<dyn WebhookVerifier>, Error> {
            let secret = config.require_secret("webhook_secret")?;
            Ok(Arc::new(HmacBodyVerifier::new(secret.expose_secret())))
        }
    }

    let template = IntegrationTemplate::builder("acme-crm")
        .webhooks(true)
        .config_schema(json!({
            "type": "object",
            "required": ["webhook_secret"],
            "properties": {"webhook_secret": {"type": "string", "format": "password"}}
        }))
        .build()?;
    let mut registry = Registry::new();
    registry.register(Arc::new(AcmeCrm(template)))?;
    // A fixed demo key; a host loads its master key from its secret manager.
    let vault = Vault::new(KeyRing::new(
        KeyId::new("demo")?,
        MasterKey::from_bytes(&[42u8; 32])?,
    ));
    let connections = Connections::new(Switchboard::builder().build()?, vault, registry);

    // The host's handler: here it only prints what arrived and for whom.
    let handler = handler_fn(|event: WebhookEvent| async move {
        println!(
            "  handler: {} bytes for tenant `{}`, connection `{}` (event id {})",
            event.body.len(),
            event.target.tenant,
            event.target.connection,
            event.event_id
        );
        Ok(())
    });
    // One router for every tenant; tenants connected later are served without rebuilding it.
    let webhooks = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new("acme-crm", Arc::new(handler)))
        .build()?;

    // The host's app, with the webhook routes merged in.
    let app = axum::Router::new().merge(switchboard::webhook::axum::routes(webhooks.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // Two tenants connect their CRM accounts, with the same connection id and their own
    // secrets. Each gets its own URL to paste into the CRM.
    let id = ConnectionId::new("crm");
    let mut urls = Vec::new();
    for (tenant, secret) in [("tenant-a", "secret-a"), ("tenant-b", "secret-b")] {
        let tenant = TenantId::new(tenant);
        connections
            .create(
                &tenant,
                &id,
                "acme-crm",
                "CRM",
                &json!({ "webhook_secret": secret }),
            )
            .await?;
        let path = webhooks.webhook_path(&tenant, &id).await?;
        println!("{tenant}: webhook URL http://{addr}{path}");
        urls.push((format!("http://{addr}{path}"), secret));
    }

    // Play the CRM: sign the raw body and post it; then a redelivery; then tenant A's
    // signature on tenant B's URL.
    let body = r#"{"type":"contact.created","id":"evt_1"}"#;
    let sign = |secret: &str| HmacBodyVerifier::new(secret).sign(body.as_bytes());
    let client = reqwest::Client::new();
    let attempts = [
        ("tenant-a, first delivery", &urls[0].0, sign(urls[0].1)?),
        ("tenant-a, redelivery", &urls[0].0, sign(urls[0].1)?),
        ("tenant-b, first delivery", &urls[1].0, sign(urls[1].1)?),
        (
            "tenant-a's signature on tenant-b's URL",
            &urls[1].0,
            sign(urls[0].1)?,
        ),
    ];
    for (label, url, signature) in attempts {
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        println!("{label}: HTTP {status} ({})", response.text().await?);
    }

    let _ = stop.send(());
    server.await??;
    Ok(())
}

#[cfg(not(feature = "axum"))]
fn main() {
    eprintln!("this example needs `--features axum`");
}
