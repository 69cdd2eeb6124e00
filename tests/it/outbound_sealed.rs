//! Outbound endpoint signing secrets are sealed with the vault at rest, on SQLite and
//! PostgreSQL: the raw rows never hold a secret in clear, a row read with the wrong key ring
//! is a typed error naming the key id, and two tenants with the same endpoint id have their
//! own &crate::support::postgres_url() and secrets (the sealed value is bound to tenant + endpoint id, so one copied onto
//! the other's row does not open). Secrets an older build stored in clear are sealed on open.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{Endpoint, EndpointId, MessageStatus, OutboundQueue, WebhookSender};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault, VaultError};
use switchboard::ErrorKind;

fn vault_with(id: &str, byte: u8) -> Vault {
    Vault::new(KeyRing::new(
        KeyId::new(id).unwrap(),
        MasterKey::from_bytes(&[byte; 32]).unwrap(),
    ))
}

/// A Standard Webhooks secret whose base64 body carries a canary, so a clear copy of it in a
/// row is easy to spot.
fn canary_secret(label: &str) -> String {
    let raw = format!("CANARY-{label}-{:016x}", fastrand::u64(..));
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    )
}

/// tenant, id, url, sealed secrets, legacy clear secrets.
type EndpointRow = (String, String, String, Vec<u8>, Option<String>);

fn vault_error(e: &switchboard::Error) -> Option<&VaultError> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<VaultError>())
}

/// Stored rows as text (BLOBs as their bytes and as hex), for the canary check.
type Dump = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = String>>>>;

/// The shared checks, given a queue under vault `k1`, a way to open another queue on the
/// same storage under another vault, a raw dump of the rows, and a way to copy one endpoint
/// row's sealed secrets onto another's.
async fn sealed_scenario<R, RF, C, CF>(
    queue: Arc<dyn OutboundQueue>,
    reopen: R,
    dump: Dump,
    copy: C,
) where
    R: Fn(Vault) -> RF,
    RF: std::future::Future<Output = Arc<dyn OutboundQueue>>,
    C: Fn((String, String), (String, String)) -> CF,
    CF: std::future::Future<Output = ()>,
{
    let a_secret = canary_secret("a");
    let a_old = canary_secret("a-old");
    let b_secret = canary_secret("b");
    let a = EndpointId::for_tenant("tenant-a", "default");
    let b = EndpointId::for_tenant("tenant-b", "default");
    queue
        .put_endpoint(
            &Endpoint::for_tenant("tenant-a", "default", "http://127.0.0.1:1/a", &a_secret)
                .with_secret(&a_old),
        )
        .await
        .unwrap();
    queue
        .put_endpoint(&Endpoint::for_tenant(
            "tenant-b",
            "default",
            "http://127.0.0.1:1/b",
            &b_secret,
        ))
        .await
        .unwrap();

    // Each tenant reads back its own endpoint.
    let got_a = queue.endpoint(&a).await.unwrap().unwrap();
    let got_b = queue.endpoint(&b).await.unwrap().unwrap();
    assert_eq!(got_a.secrets, [a_secret.clone(), a_old.clone()]);
    assert!(got_a.url.ends_with("/a"));
    assert_eq!(got_b.secrets, std::slice::from_ref(&b_secret));
    assert!(got_b.url.ends_with("/b"));
    assert!(queue
        .endpoint(&EndpointId::new("default"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(got_a.id.to_string(), "tenant-a/default");

    // Canary: no secret in clear (nor its base64 body) in any stored row.
    let rows = dump().await;
    assert!(
        rows.contains("tenant-a") && rows.contains("tenant-b"),
        "{rows}"
    );
    for s in [&a_secret, &a_old, &b_secret] {
        let body = s.trim_start_matches("whsec_");
        assert!(!rows.contains(body), "secret stored in clear:\n{rows}");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let text = String::from_utf8(decoded).unwrap();
        assert!(
            !rows.contains(&text),
            "secret bytes stored in clear:\n{rows}"
        );
    }

    // The wrong key: same key id, other bytes; and a ring without the key id at all.
    let wrong = reopen(vault_with("k1", 0x42)).await;
    let err = wrong.endpoint(&a).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Vault);
    assert!(err.to_string().contains("`k1`"), "names the key id: {err}");
    assert!(err.to_string().contains("tenant-a/default"), "{err}");
    assert_eq!(vault_error(&err), Some(&VaultError::Tampered));
    let unknown = reopen(vault_with("k2", 0x11)).await;
    let err = unknown.endpoint(&b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Vault);
    assert!(err.to_string().contains("`k1`"), "{err}");
    assert_eq!(
        vault_error(&err),
        Some(&VaultError::UnknownKey {
            key_id: "k1".into()
        })
    );
    for s in [&a_secret, &b_secret] {
        assert!(!format!("{err} {err:?}").contains(s.as_str()));
    }

    // Tenant A's sealed secrets copied onto tenant B's row (same endpoint id) do not open:
    // the associated data binds tenant and endpoint.
    copy(
        ("tenant-a".into(), "default".into()),
        ("tenant-b".into(), "default".into()),
    )
    .await;
    let err = queue.endpoint(&b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Vault);
    assert_eq!(vault_error(&err), Some(&VaultError::Tampered));
    // A is untouched.
    assert_eq!(
        queue.endpoint(&a).await.unwrap().unwrap().secrets[0],
        a_secret
    );
}

fn sign(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn sqlite_endpoint_secrets_are_sealed_per_tenant_and_endpoint() {
    let path = std::env::temp_dir().join(format!("sb-sealed-{:016x}.db", fastrand::u64(..)));
    let queue = SqliteQueue::open(&path, vault_with("k1", 7)).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let p = path.clone();
    let r1 = raw.clone();
    let r2 = raw.clone();
    sealed_scenario(
        Arc::new(queue.clone()),
        move |vault| {
            let p = p.clone();
            async move {
                Arc::new(SqliteQueue::open(&p, vault).await.unwrap()) as Arc<dyn OutboundQueue>
            }
        },
        Box::new(move || {
            let raw = r1.clone();
            Box::pin(async move {
                let rows: Vec<EndpointRow> = sqlx::query_as(
                    "SELECT tenant, id, url, secrets, legacy_secrets \
                         FROM switchboard_outbound_endpoints",
                )
                .fetch_all(&raw)
                .await
                .unwrap();
                rows.iter()
                    .map(|(t, i, u, s, l)| {
                        assert!(l.is_none(), "no clear copy");
                        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
                        format!("{t} {i} {u} {} {hex}", String::from_utf8_lossy(s))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }),
        move |(ft, fi), (tt, ti)| {
            let raw = r2.clone();
            async move {
                sqlx::query(
                    "UPDATE switchboard_outbound_endpoints SET secrets = \
                     (SELECT secrets FROM switchboard_outbound_endpoints \
                      WHERE tenant = ?1 AND id = ?2) WHERE tenant = ?3 AND id = ?4",
                )
                .bind(ft)
                .bind(fi)
                .bind(tt)
                .bind(ti)
                .execute(&raw)
                .await
                .unwrap();
            }
        },
    )
    .await;

    // A secret an older build stored in clear is sealed when the queue opens.
    let legacy = canary_secret("legacy");
    sqlx::query(
        "INSERT INTO switchboard_outbound_endpoints \
         (tenant, id, url, secrets, legacy_secrets, enabled) \
         VALUES ('', 'old', 'http://127.0.0.1:1/old', NULL, ?1, 1)",
    )
    .bind(serde_json::to_string(&[&legacy]).unwrap())
    .execute(&raw)
    .await
    .unwrap();
    let reopened = SqliteQueue::open(&path, vault_with("k1", 7)).await.unwrap();
    let (sealed, clear): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
        "SELECT secrets, legacy_secrets FROM switchboard_outbound_endpoints WHERE id = 'old'",
    )
    .fetch_one(&raw)
    .await
    .unwrap();
    assert!(clear.is_none(), "the clear copy is gone");
    let sealed = sealed.expect("sealed on open");
    assert!(!String::from_utf8_lossy(&sealed).contains(legacy.trim_start_matches("whsec_")));
    assert_eq!(
        reopened
            .endpoint(&EndpointId::new("old"))
            .await
            .unwrap()
            .unwrap()
            .secrets,
        [legacy]
    );
    raw.close().await;
    queue.close().await;
    reopened.close().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_one_endpoint_id_get_their_own_url_and_signature_over_http() {
    let seen: Arc<Mutex<Vec<(char, RawRequest)>>> = Arc::default();
    let (la, lb) = (seen.clone(), seen.clone());
    let server_a = RawServer::start(move |r| {
        la.lock().unwrap().push(('a', r.clone()));
        RawAction::status(200, "")
    })
    .await;
    let server_b = RawServer::start(move |r| {
        lb.lock().unwrap().push(('b', r.clone()));
        RawAction::status(200, "")
    })
    .await;
    let (sa, sb) = (canary_secret("http-a"), canary_secret("http-b"));
    let s = WebhookSender::builder(SqliteQueue::in_memory(vault_with("k1", 7)).await.unwrap())
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap()))
        .poll_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    for (t, url, secret) in [
        ("tenant-a", server_a.base_url(), &sa),
        ("tenant-b", server_b.base_url(), &sb),
    ] {
        s.add_endpoint(Endpoint::for_tenant(
            t,
            "default",
            format!("{url}/h"),
            secret,
        ))
        .await
        .unwrap();
    }
    let _w = s.spawn_workers(1);
    let ida = s
        .send(
            &EndpointId::for_tenant("tenant-a", "default"),
            "t",
            r#"{"for":"a"}"#.into(),
        )
        .await
        .unwrap();
    let idb = s
        .send(
            &EndpointId::for_tenant("tenant-b", "default"),
            "t",
            r#"{"for":"b"}"#.into(),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in [&ida, &idb] {
        while s.message(id).await.unwrap().unwrap().status != MessageStatus::Delivered {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (who, r) in &seen {
        let (secret, other, body) = if *who == 'a' {
            (&sa, &sb, br#"{"for":"a"}"#)
        } else {
            (&sb, &sa, br#"{"for":"b"}"#)
        };
        assert_eq!(r.body, body, "each tenant's message reaches its own URL");
        let id = r.header("webhook-id").unwrap();
        let ts = r.header("webhook-timestamp").unwrap();
        let sig = r.header("webhook-signature").unwrap();
        assert_eq!(sig, sign(secret, id, ts, &r.body));
        assert_ne!(sig, sign(other, id, ts, &r.body));
    }
    let m = s.message(&ida).await.unwrap().unwrap();
    assert_eq!(m.endpoint, EndpointId::for_tenant("tenant-a", "default"));
    let attempts = s
        .queue()
        .attempts_since(
            &EndpointId::for_tenant("tenant-b", "default"),
            std::time::UNIX_EPOCH,
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "health is per tenant's endpoint");
    assert_eq!(attempts[0].message, idb);
}

#[tokio::test]
async fn a_wrong_key_ring_fails_the_attempt_without_a_secret_and_retries() {
    let path = std::env::temp_dir().join(format!("sb-sealed-w-{:016x}.db", fastrand::u64(..)));
    let good = SqliteQueue::open(&path, vault_with("k1", 7)).await.unwrap();
    let s = WebhookSender::builder(good.clone()).build().unwrap();
    s.add_endpoint(Endpoint::new(
        "e",
        "http://127.0.0.1:1/h",
        canary_secret("w"),
    ))
    .await
    .unwrap();
    let id = s
        .send(&EndpointId::new("e"), "t", "{}".into())
        .await
        .unwrap();
    let bad = SqliteQueue::open(&path, vault_with("k1", 0x42))
        .await
        .unwrap();
    let s2 = WebhookSender::builder(bad)
        .poll_interval(Duration::from_millis(5))
        .schedule(vec![Duration::from_secs(3600)])
        .build()
        .unwrap();
    let _w = s2.spawn_workers(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let attempts = loop {
        let a = s2.queue().attempts_of(&id).await.unwrap();
        if !a.is_empty() {
            break a;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let error = attempts[0].error.clone().unwrap();
    assert!(error.contains("`k1`"), "{error}");
    // Retried later (the key ring can be fixed), not dead-lettered.
    let state = s2.message(&id).await.unwrap().unwrap();
    assert_eq!(state.status, MessageStatus::Pending);
    good.close().await;
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_endpoint_secrets_are_sealed_per_tenant_and_endpoint() {
    use switchboard::outbound::queue::postgres::PostgresOutboundQueue;
    let schema = format!("sb_sealed_{:016x}", fastrand::u64(..));
    let queue = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        &schema,
        vault_with("k1", 7),
    )
    .await
    .unwrap();
    let raw = sqlx::PgPool::connect(&crate::support::postgres_url())
        .await
        .unwrap();
    let (r1, r2, r3) = (raw.clone(), raw.clone(), raw.clone());
    let (s0, s1, s2) = (schema.clone(), schema.clone(), schema.clone());
    sealed_scenario(
        Arc::new(queue.clone()),
        move |vault| {
            let schema = s0.clone();
            async move {
                Arc::new(
                    PostgresOutboundQueue::connect_with_schema(
                        &crate::support::postgres_url(),
                        &schema,
                        vault,
                    )
                    .await
                    .unwrap(),
                ) as Arc<dyn OutboundQueue>
            }
        },
        Box::new(move || {
            let (raw, schema) = (r1.clone(), s1.clone());
            Box::pin(async move {
                let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
                    "SELECT tenant, id, url, secrets, legacy_secrets \
                         FROM \"{schema}\".switchboard_outbound_endpoints"
                ))
                .fetch_all(&raw)
                .await
                .unwrap();
                rows.iter()
                    .map(|(t, i, u, s, l)| {
                        assert!(l.is_none(), "no clear copy");
                        let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
                        format!("{t} {i} {u} {} {hex}", String::from_utf8_lossy(s))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }),
        move |(ft, fi), (tt, ti)| {
            let (raw, schema) = (r2.clone(), s2.clone());
            async move {
                sqlx::query(&format!(
                    "UPDATE \"{schema}\".switchboard_outbound_endpoints SET secrets = \
                     (SELECT secrets FROM \"{schema}\".switchboard_outbound_endpoints \
                      WHERE tenant = $1 AND id = $2) WHERE tenant = $3 AND id = $4"
                ))
                .bind(ft)
                .bind(fi)
                .bind(tt)
                .bind(ti)
                .execute(&raw)
                .await
                .unwrap();
            }
        },
    )
    .await;

    // A clear secret from an older build is sealed on connect.
    let legacy = canary_secret("legacy-pg");
    sqlx::query(&format!(
        "INSERT INTO \"{schema}\".switchboard_outbound_endpoints \
         (tenant, id, url, secrets, legacy_secrets, enabled) \
         VALUES ('', 'old', 'http://127.0.0.1:1/old', NULL, $1, TRUE)"
    ))
    .bind(serde_json::to_string(&[&legacy]).unwrap())
    .execute(&r3)
    .await
    .unwrap();
    let reopened = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        &schema,
        vault_with("k1", 7),
    )
    .await
    .unwrap();
    let clear: Option<String> = sqlx::query_scalar(&format!(
        "SELECT legacy_secrets FROM \"{schema}\".switchboard_outbound_endpoints WHERE id = 'old'"
    ))
    .fetch_one(&raw)
    .await
    .unwrap();
    assert!(clear.is_none());
    assert_eq!(
        reopened
            .endpoint(&EndpointId::new("old"))
            .await
            .unwrap()
            .unwrap()
            .secrets,
        [legacy]
    );
    queue.close().await;
    reopened.close().await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&raw)
        .await;
    raw.close().await;
}
