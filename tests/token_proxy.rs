//! The token client takes no proxy from the environment unless the host opts in (issue 10,
//! section 6).
//!
//! A test binary of its own: it sets `HTTP_PROXY`/`ALL_PROXY` for the whole process, which
//! would reroute the HTTP clients of every other test running beside it.

#![cfg(all(feature = "test-util", feature = "oauth"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use switchboard::test_util::LoopbackServer;
use switchboard::tokens::OAuthClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A "proxy" on loopback that answers every request itself with a token `via-proxy`, and
/// counts the requests it saw (a proxy that reads the refresh token and the client secret).
async fn fake_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head and the (small) body.
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"access_token":"via-proxy","token_type":"Bearer"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn the_token_client_ignores_proxy_variables_unless_the_host_opts_in() {
    let (proxy_url, proxied) = fake_proxy().await;
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, &proxy_url);
    }
    for var in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(var);
    }
    let provider = LoopbackServer::start(Router::new().route(
        "/token",
        post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                r#"{"access_token":"direct","token_type":"Bearer"}"#,
            )
        }),
    ))
    .await;
    let token_url = format!("{}/token", provider.base_url());
    let rt = SecretString::from("rt".to_string());

    // Default: straight to the token endpoint.
    let client = OAuthClient::builder()
        .client_id("app")
        .client_secret("secret")
        .token_url(&token_url)
        .build()
        .unwrap();
    let token = client.refresh(&rt).await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "direct");
    assert_eq!(proxied.load(Ordering::SeqCst), 0);

    // Opted in: through the proxy the environment names.
    let client = OAuthClient::builder()
        .client_id("app")
        .client_secret("secret")
        .token_url(&token_url)
        .proxy_from_env(true)
        .build()
        .unwrap();
    let token = client.refresh(&rt).await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "via-proxy");
    assert_eq!(proxied.load(Ordering::SeqCst), 1);
}
