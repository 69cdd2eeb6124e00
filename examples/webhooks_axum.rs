//! Inbound webhooks in an axum app: a `WebhookRouter` with an HMAC verifier mounted on
//! loopback, which sends itself one signed event and the same event again, prints both
//! outcomes and exits. Offline.
//!
//! ```text
//! cargo run --example webhooks_axum --features axum
//! ```

#[cfg(feature = "axum")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;

    use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
    use switchboard::webhook::{HmacBodyVerifier, SignatureEncoding};

    const SECRET: &str = "demo-secret";
    let verifier = HmacBodyVerifier::new("x-signature", SignatureEncoding::Hex).secret(SECRET);

    // The host's handler: here it only prints what arrived.
    let handler = handler_fn(|event: WebhookEvent| async move {
        println!(
            "handler: {} bytes for connection `{}` (event id {})",
            event.body.len(),
            event.target.connection,
            event.event_id
        );
        Ok(())
    });
    let webhooks = WebhookRouter::builder()
        .route(WebhookRoute::new(
            "demo",
            Arc::new(verifier),
            Arc::new(handler),
        ))
        .build()?;

    // The host's app, with the webhook routes merged in.
    let app = axum::Router::new().merge(switchboard::webhook::axum::routes(webhooks));
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

    // Play the provider: sign the raw body and post it twice (a redelivery).
    let signer = HmacBodyVerifier::new("x-signature", SignatureEncoding::Hex).secret(SECRET);
    let body = r#"{"type":"contact.created","id":"evt_1"}"#;
    let signature = signer.sign(body.as_bytes()).ok_or("no secret")?;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/webhooks/demo/acme-crm");
    for label in ["first delivery", "redelivery"] {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-signature", &signature)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        println!("{label}: HTTP {status} ({})", response.text().await?);
    }
    let forged = client
        .post(&url)
        .header("x-signature", "00")
        .body(body)
        .send()
        .await?;
    println!("forged signature: HTTP {}", forged.status());

    let _ = stop.send(());
    server.await??;
    Ok(())
}

#[cfg(not(feature = "axum"))]
fn main() {
    eprintln!("this example needs `--features axum`");
}
