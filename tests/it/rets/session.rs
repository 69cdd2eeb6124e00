//! Login sessions through the template and `Connections`: Digest and Basic, the
//! `RETS-UA-Authorization` header, cookies, one re-login on a 401, one session per
//! credential shared by concurrent callers, 20022, logout, the check, and secrets kept out
//! of everything a host can print.

use md5::{Digest as _, Md5};
use switchboard::rets::{Dmql, ReplyCode, Search};
use switchboard::test_util::{canary, LogCapture};
use switchboard::{ConnectionId, ErrorKind, ProviderError, TenantId};

use super::server::{Auth, RetsServer};
use super::{client, config, host, listings};

fn all() -> Search {
    Search::new("Property", "RES", Dmql::raw("(ListPrice=0+)"))
}

#[tokio::test]
async fn digest_login_search_and_logout_through_the_template() {
    let server = RetsServer::start("pw-digest", Auth::Digest, listings(5, 1)).await;
    let connections = host();
    let rets = client(
        &connections,
        "acme",
        config(&server.login_url(), "pw-digest"),
    )
    .await;
    let rows = rets.search(all()).collect().await.unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(server.with(|s| s.logins), 1);
    // The first login request went without credentials and got the challenge; every
    // request after it answers the challenge and carries the session cookie.
    let logins = server.seen("/rets/login");
    assert_eq!(logins.len(), 2);
    assert!(logins[0].headers.get("authorization").is_none());
    let search = &server.seen("/rets/search")[0];
    assert!(search.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Digest "));
    assert!(search.headers["cookie"]
        .to_str()
        .unwrap()
        .contains("RETS-Session-ID=S1"));
    assert_eq!(search.headers["rets-version"], "RETS/1.7.2");
    assert!(search.headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("switchboard/"));
    rets.logout().await.unwrap();
    assert_eq!(server.with(|s| s.logouts), 1);
    // The next call logs in again.
    rets.search(all()).collect().await.unwrap();
    assert_eq!(server.with(|s| s.logins), 2);
}

#[tokio::test]
async fn basic_auth_and_post_transactions() {
    let server = RetsServer::start("pw-basic", Auth::Basic, listings(3, 1)).await;
    let connections = host();
    let mut cfg = config(&server.login_url(), "pw-basic");
    cfg["http_auth"] = "basic".into();
    cfg["http_method"] = "POST".into();
    let rets = client(&connections, "acme", cfg).await;
    assert_eq!(rets.search(all()).collect().await.unwrap().len(), 3);
    // Basic goes with the first request: no challenge round trip.
    assert_eq!(server.seen("/rets/login").len(), 1);
    let search = &server.seen("/rets/search")[0];
    assert_eq!(search.method, axum::http::Method::POST);
    assert_eq!(search.params["Query"], "(ListPrice=0+)");
}

#[tokio::test]
async fn ua_authorization_follows_the_rule() {
    let server = RetsServer::start("pw", Auth::Digest, listings(1, 1)).await;
    let connections = host();
    let mut cfg = config(&server.login_url(), "pw");
    cfg["user_agent"] = "MyAgent/1.2.3".into();
    cfg["user_agent_password"] = "ua-secret".into();
    cfg["rets_version"] = "RETS/1.7".into();
    let rets = client(&connections, "acme", cfg).await;
    rets.search(all()).collect().await.unwrap();
    let search = &server.seen("/rets/search")[0];
    let request_id = search.headers["rets-request-id"].to_str().unwrap();
    let hex = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let a1 = hex("MyAgent/1.2.3:ua-secret".to_string());
    let expected = format!("Digest {}", hex(format!("{a1}:{request_id}:S1:RETS/1.7")));
    assert_eq!(search.headers["rets-ua-authorization"], expected.as_str());
}

#[tokio::test]
async fn an_expired_session_logs_in_once_more_then_fails() {
    let server = RetsServer::start("pw", Auth::Digest, listings(2, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    rets.search(all()).collect().await.unwrap();
    server.with(|s| s.expire_next = 1);
    assert_eq!(rets.search(all()).collect().await.unwrap().len(), 2);
    assert_eq!(server.with(|s| s.logins), 2);
    // Refused again right after the new login: one re-login per call, then the error.
    server.with(|s| s.expire_next = 2);
    let e = rets.search(all()).collect().await.unwrap_err();
    assert_eq!(e.status(), Some(http::StatusCode::UNAUTHORIZED), "{e}");
    assert_eq!(server.with(|s| s.logins), 3);
}

#[tokio::test]
async fn concurrent_callers_share_one_login_and_connections_share_a_credential() {
    let server = RetsServer::start("pw", Auth::Digest, listings(4, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let rets = rets.clone();
            tokio::spawn(async move { rets.search(all()).collect().await.map(|r| r.len()) })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), 4);
    }
    assert_eq!(server.with(|s| s.logins), 1);
    // A second connection with the same login (another tenant's) uses the same session:
    // the server would refuse a second login with 20022.
    let other = client(&connections, "globex", config(&server.login_url(), "pw")).await;
    assert_eq!(other.search(all()).collect().await.unwrap().len(), 4);
    assert_eq!(server.with(|s| s.logins), 1);
}

#[tokio::test]
async fn another_login_holding_the_session_is_a_typed_20022() {
    let server = RetsServer::start("pw", Auth::Digest, listings(1, 1)).await;
    server.with(|s| s.sessions.push("someone-else".into()));
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let e = rets.search(all()).collect().await.unwrap_err();
    assert_eq!(
        e.reply_code(),
        Some(ReplyCode::ADDITIONAL_LOGIN_NOT_PERMITTED)
    );
    assert_eq!(e.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn tenants_sharing_a_connection_id_keep_their_own_sessions() {
    // Two MLS accounts on two servers; the tenants use the same connection id.
    let a = RetsServer::start("pw-a", Auth::Digest, listings(2, 1)).await;
    let b = RetsServer::start("pw-b", Auth::Basic, listings(3, 1)).await;
    let connections = host();
    let ra = client(&connections, "tenant-a", config(&a.login_url(), "pw-a")).await;
    let mut cfg_b = config(&b.login_url(), "pw-b");
    cfg_b["http_auth"] = "basic".into();
    let rb = client(&connections, "tenant-b", cfg_b).await;
    assert_eq!(ra.search(all()).collect().await.unwrap().len(), 2);
    assert_eq!(rb.search(all()).collect().await.unwrap().len(), 3);
    // Tenant A's session expiring does not touch B's.
    a.with(|s| s.expire_next = 1);
    ra.search(all()).collect().await.unwrap();
    rb.search(all()).collect().await.unwrap();
    assert_eq!((a.with(|s| s.logins), b.with(|s| s.logins)), (2, 1));
    // No cookie of A's sessions ever reached B's server, nor B's credentials A's.
    for r in b.with(|s| s.seen.clone()) {
        if let Some(c) = r.headers.get("cookie") {
            assert_eq!(c.to_str().unwrap(), "RETS-Session-ID=S1");
        }
        if let Some(a) = r.headers.get("authorization") {
            assert!(a.to_str().unwrap().starts_with("Basic "));
        }
    }
    // A wrong password is the tenant's own failure.
    let c = RetsServer::start("right", Auth::Digest, listings(1, 1)).await;
    let e = client(&connections, "tenant-c", config(&c.login_url(), "wrong"))
        .await
        .search(all())
        .collect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
}

#[tokio::test]
async fn the_check_logs_in_and_out_and_secrets_never_show() {
    let password = canary("rets-password");
    let ua_password = canary("rets-ua");
    let server = RetsServer::start(&password, Auth::Digest, listings(1, 1)).await;
    let (logs, _guard) = LogCapture::start();
    let connections = host();
    let mut cfg = config(&server.login_url(), &password);
    cfg["user_agent_password"] = ua_password.clone().into();
    let (t, c) = (TenantId::new("acme"), ConnectionId::new(super::CONNECTION));
    connections
        .create(&t, &c, "rets", "MLS", &cfg)
        .await
        .unwrap();
    let record = connections.test_connection(&t, &c).await.unwrap();
    assert_eq!(
        record.status,
        switchboard::connections::ConnectionStatus::Active,
        "{record:?}"
    );
    assert_eq!(server.with(|s| (s.logins, s.logouts)), (1, 1));
    let conn = connections.connection(&t, &c).await.unwrap();
    let rets = switchboard::rets::RetsClient::from_connection(conn.clone()).unwrap();
    let printed = format!("{rets:?} {conn:?}");
    assert!(
        !printed.contains(&password) && !printed.contains(&ua_password),
        "{printed}"
    );
    // A failure's error and the logs hold neither password.
    server.with(|s| s.password = "changed".into());
    rets.logout().await.ok();
    let e = rets.search(all()).collect().await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains(&password) && !shown.contains(&ua_password),
        "{shown}"
    );
    logs.assert_absent(&password);
    logs.assert_absent(&ua_password);
}
