//! The transport's own client (hyper with rustls): `https` is spoken, and its hello names the
//! host and offers HTTP/1.1 alone (as reqwest's did); the connect timeout covers the TLS
//! handshake; a failed handshake is a connect failure (nothing sent); a URI that is not an
//! http(s) URL is refused before anything is sent; calls share a pooled connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard::pipeline::HttpService;
use switchboard::test_util::{RawAction, RawServer};
use switchboard::{ErrorKind, RetryConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::support::{builder, connect, TestConnector};

/// A server that accepts connections and never writes a byte: a TLS handshake with it never
/// ends. Counts the connections it accepted.
async fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (format!("https://127.0.0.1:{port}"), accepted)
}

/// One GET to `base` fails as a connect failure: nothing was sent.
async fn assert_a_get_fails_to_connect(sb: &switchboard::Switchboard, base: &str) {
    let conn = connect(sb, TestConnector::default(), base);
    let e = conn.get("/x").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
}

#[tokio::test]
async fn the_connect_timeout_covers_the_tls_handshake() {
    let (base, accepted) = silent_server().await;
    // The attempt's own timeout is far longer: only the connect timeout can end this early,
    // and it must end as a connect failure (nothing sent), not an attempt timeout.
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .connect_timeout(Duration::from_millis(200))
        .attempt_timeout(Duration::from_secs(8))
        .call_deadline(Duration::from_secs(9))
        .build()
        .unwrap();
    assert_a_get_fails_to_connect(&sb, &base).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the TCP connect itself succeeded"
    );
}

/// A server that answers every connection at once with a plain HTTP response, whatever was
/// sent: to a TLS client, its first bytes are not a TLS record.
async fn plain_http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_connect_timeout_of_duration_max_connects_without_a_panic() {
    let server = RawServer::start(|_| RawAction::status(200, "{}")).await;
    let sb = builder().connect_timeout(Duration::MAX).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let resp = conn.get("/x").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn https_to_a_server_that_answers_in_plain_http_is_a_connect_failure() {
    let base = plain_http_server().await;
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .build()
        .unwrap();
    // The handshake failed: no request was written, so a retry could not repeat one.
    assert_a_get_fails_to_connect(&sb, &base).await;
}

#[tokio::test]
async fn a_uri_rewritten_to_another_scheme_is_refused_before_anything_is_sent() {
    let server = RawServer::start(|_| RawAction::status(200, "{}")).await;
    // A host layer that rewrites every attempt's URI to a scheme no HTTP client speaks.
    let sb = builder()
        .attempt_layer(|inner: HttpService| {
            HttpService::new(tower::service_fn(move |mut req: http::Request<Bytes>| {
                let path = req.uri().path_and_query().map(|p| p.as_str().to_string());
                let authority = req.uri().authority().map(|a| a.as_str().to_string());
                *req.uri_mut() = format!("ftp://{}{}", authority.unwrap(), path.unwrap())
                    .parse()
                    .unwrap();
                tower::ServiceExt::oneshot(inner.clone(), req)
            }))
        })
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let e = conn.get("/x").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("not an http or https URL"), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn calls_one_after_another_reuse_one_pooled_connection_with_the_default_headers() {
    let server = RawServer::start(|req| {
        // What the wire carries by default: hyper's `Host`, our `User-Agent` and `Accept`.
        let ok = req.header("host").is_some()
            && req.header("user-agent").is_some()
            && req.header("accept") == Some("*/*");
        RawAction::status(if ok { 200 } else { 400 }, "{}")
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    for _ in 0..3 {
        let resp = conn.get("/x").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    assert_eq!(server.requests(), 3);
    assert_eq!(server.connections(), 1, "the idle connection was reused");
}

/// A `ClientHello`'s server name (SNI) and the ALPN protocols it offers.
type Hello = (Option<String>, Vec<String>);

/// What a TLS server saw in the first `ClientHello` sent to it: the server name (SNI) and the
/// ALPN protocols offered. The server has no certificate: it reads the hello and hangs up.
fn client_hello_server() -> (u16, tokio::sync::oneshot::Receiver<Hello>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut acceptor = rustls::server::Acceptor::default();
        loop {
            if acceptor.read_tls(&mut socket).unwrap_or(0) == 0 {
                return;
            }
            if let Ok(Some(accepted)) = acceptor.accept() {
                let hello = accepted.client_hello();
                let name = hello.server_name().map(str::to_string);
                let alpn = hello
                    .alpn()
                    .map(|protocols| {
                        protocols
                            .map(|p| String::from_utf8_lossy(p).to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = tx.send((name, alpn));
                return;
            }
        }
    });
    (port, rx)
}

#[tokio::test]
async fn the_tls_hello_names_the_host_and_offers_http_1_1_alone() {
    let (port, hello) = client_hello_server();
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .build()
        .unwrap();
    // The server hangs up after the hello: the call fails to connect, nothing sent.
    assert_a_get_fails_to_connect(&sb, &format!("https://localhost:{port}")).await;
    let (name, alpn) = hello.await.expect("the server read a ClientHello");
    assert_eq!(name.as_deref(), Some("localhost"));
    assert_eq!(alpn, ["http/1.1"]);
}
