//! One store suite, written once against the `CredentialStore` and `ConnectionStore` traits
//! and run on every backend: the in-memory stores, SQLite on a temporary file and PostgreSQL
//! on `postgres://postgres@127.0.0.1:5432/test` (started by `scripts/test.sh`; these tests fail
//! rather than skip when it is down). Each test gets its own file or schema, removed after.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::future::join_all;
use futures_util::FutureExt;
use serde_json::json;
use switchboard::connections::{
    ConnectionRecord, ConnectionStatus, ConnectionStore, InMemoryConnectionStore,
};
use switchboard::credentials::{
    CredentialKey, CredentialStore, InMemoryCredentialStore, SealedCredential,
};
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

/// How many writers race on one record.
const WRITERS: u64 = 50;

// ------------------------------------------------------------------------------- fixtures

/// Both stores of one backend, and what to remove afterwards.
struct Fixture {
    creds: Arc<dyn CredentialStore>,
    conns: Arc<dyn ConnectionStore>,
    teardown: Teardown,
}

enum Teardown {
    Nothing,
    #[cfg(feature = "sqlite")]
    Sqlite(switchboard::store::sqlite::SqliteStore, std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(switchboard::store::postgres::PostgresStore, String),
}

impl Fixture {
    async fn memory() -> Fixture {
        Fixture {
            creds: Arc::new(InMemoryCredentialStore::new()),
            conns: Arc::new(InMemoryConnectionStore::new()),
            teardown: Teardown::Nothing,
        }
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite() -> Fixture {
        let path = sqlite_support::temp_path();
        let store = switchboard::store::sqlite::SqliteStore::open(&path)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e:?}", path.display()));
        Fixture {
            creds: Arc::new(store.clone()),
            conns: Arc::new(store.clone()),
            teardown: Teardown::Sqlite(store, path),
        }
    }

    #[cfg(feature = "postgres")]
    async fn postgres() -> Fixture {
        let schema = format!("sb_test_{:016x}", fastrand::u64(..));
        let store = switchboard::store::postgres::PostgresStore::connect_with_schema(
            &crate::support::postgres_url(),
            &schema,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must be running at {} (scripts/test.sh starts it): {e:?}",
                &crate::support::postgres_url()
            )
        });
        Fixture {
            creds: Arc::new(store.clone()),
            conns: Arc::new(store.clone()),
            teardown: Teardown::Postgres(store, schema),
        }
    }

    async fn teardown(self) {
        drop((self.creds, self.conns));
        match self.teardown {
            Teardown::Nothing => {}
            #[cfg(feature = "sqlite")]
            Teardown::Sqlite(store, path) => {
                store.close().await;
                sqlite_support::remove(&path);
            }
            #[cfg(feature = "postgres")]
            Teardown::Postgres(store, schema) => {
                store.close().await;
                pg_support::drop_schema(&schema).await;
            }
        }
    }
}

/// Runs one suite function on a fresh fixture and tears the fixture down even if it panics.
macro_rules! store_suite {
    ($backend:ident: $($name:ident => $suite:ident($store:ident);)*) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fx = Fixture::$backend().await;
                    let outcome = AssertUnwindSafe($suite(&*fx.$store)).catch_unwind().await;
                    fx.teardown().await;
                    if let Err(panic) = outcome {
                        std::panic::resume_unwind(panic);
                    }
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($backend:ident),*) => {$(
        store_suite!($backend:
            credential_saved_new_starts_at_version_one => saves_new_credential_at_version_one(creds);
            credential_stale_write_conflicts_and_changes_nothing => stale_credential_write_conflicts(creds);
            credential_delete_needs_the_current_version => credential_delete_checks_version(creds);
            credential_list_keys_returns_exactly_what_was_saved => list_keys_returns_saved_keys(creds);
            credential_concurrent_increments_lose_no_update => concurrent_credential_increments(creds);
            connection_stale_write_conflicts_and_changes_nothing => stale_connection_write_conflicts(conns);
            connection_record_round_trips_every_field => connection_round_trips_every_field(conns);
            connection_list_returns_only_that_tenant => list_returns_only_that_tenant(conns);
            connection_concurrent_increments_lose_no_update => concurrent_connection_increments(conns);
            connection_webhook_token_and_routing_key_find_one_record_in_any_tenant => webhook_lookups(conns);
        );
    )*};
}

every_backend!(memory);
#[cfg(feature = "sqlite")]
every_backend!(sqlite);
#[cfg(feature = "postgres")]
every_backend!(postgres);

// ---------------------------------------------------------------- the suite: credentials

fn key(tenant: &str, connection: &str, kind: &str) -> CredentialKey {
    CredentialKey::new(tenant.into(), connection.into(), kind)
}

fn sealed(bytes: &[u8]) -> SealedCredential {
    SealedCredential::new(bytes.to_vec())
}

fn assert_conflict(result: Result<impl std::fmt::Debug, Error>, expected: &str) {
    let err = result.expect_err("a stale write must lose");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    assert!(
        err.to_string().contains(expected),
        "{err} lacks `{expected}`"
    );
}

async fn saves_new_credential_at_version_one(s: &dyn CredentialStore) {
    let k = key("t1", "c1", "oauth_token");
    assert_eq!(s.load(&k).await.unwrap(), None);
    assert_eq!(
        s.save(&k, sealed(b"\x00sealed\xff"), None).await.unwrap(),
        1
    );
    let got = s.load(&k).await.unwrap().expect("saved");
    assert_eq!(got.version, 1);
    assert_eq!(got.value.as_bytes(), b"\x00sealed\xff");
    // "Must not exist yet" loses once it exists.
    assert_conflict(
        s.save(&k, sealed(b"other"), None).await,
        "expected none, found 1",
    );
    // Naming a version of a record that does not exist loses too.
    assert_conflict(
        s.save(&key("t1", "c1", "missing"), sealed(b"x"), Some(1))
            .await,
        "expected 1, found none",
    );
    assert_eq!(s.load(&key("t1", "c1", "missing")).await.unwrap(), None);
}

async fn stale_credential_write_conflicts(s: &dyn CredentialStore) {
    let k = key("t1", "c1", "config");
    s.save(&k, sealed(b"one"), None).await.unwrap();
    assert_eq!(s.save(&k, sealed(b"two"), Some(1)).await.unwrap(), 2);
    assert_conflict(
        s.save(&k, sealed(b"stale"), Some(1)).await,
        "expected 1, found 2",
    );
    assert_conflict(
        s.save(&k, sealed(b"future"), Some(3)).await,
        "expected 3, found 2",
    );
    assert_conflict(s.save(&k, sealed(b"huge"), Some(u64::MAX)).await, "found 2");
    let got = s.load(&k).await.unwrap().unwrap();
    assert_eq!((got.version, got.value.as_bytes()), (2, &b"two"[..]));
}

async fn credential_delete_checks_version(s: &dyn CredentialStore) {
    let k = key("t1", "c1", "config");
    s.save(&k, sealed(b"one"), None).await.unwrap();
    s.save(&k, sealed(b"two"), Some(1)).await.unwrap();
    assert_conflict(s.delete(&k, 1).await, "expected 1, found 2");
    assert_eq!(s.load(&k).await.unwrap().unwrap().version, 2);
    s.delete(&k, 2).await.unwrap();
    assert_eq!(s.load(&k).await.unwrap(), None);
    assert_conflict(s.delete(&k, 2).await, "expected 2, found none");
    // Deleted keys can be created again, from version 1.
    assert_eq!(s.save(&k, sealed(b"again"), None).await.unwrap(), 1);
}

async fn list_keys_returns_saved_keys(s: &dyn CredentialStore) {
    assert!(s.list_keys().await.unwrap().is_empty());
    let keys = [
        key("t1", "c1", "config"),
        key("t1", "c1", "oauth_token"),
        key("t1", "c2", "config"),
        key("t2", "c1", "config"),
    ];
    for k in &keys {
        s.save(k, sealed(k.kind.as_bytes()), None).await.unwrap();
    }
    let listed = s.list_keys().await.unwrap();
    assert_eq!(listed.len(), keys.len(), "{listed:?}");
    let as_set = |ks: &[CredentialKey]| -> BTreeSet<(String, String, String)> {
        ks.iter()
            .map(|k| {
                (
                    k.tenant.to_string(),
                    k.connection.to_string(),
                    k.kind.to_string(),
                )
            })
            .collect()
    };
    assert_eq!(as_set(&listed), as_set(&keys));
    s.delete(&keys[1], 1).await.unwrap();
    assert_eq!(
        as_set(&s.list_keys().await.unwrap()),
        as_set(&[keys[0].clone(), keys[2].clone(), keys[3].clone()])
    );
}

async fn concurrent_credential_increments(s: &dyn CredentialStore) {
    let k = key("t1", "c1", "counter");
    s.save(&k, sealed(&0u64.to_le_bytes()), None).await.unwrap();
    let writer = || async {
        let mut conflicts = 0u64;
        loop {
            let current = s.load(&k).await.unwrap().expect("counter exists");
            let n = u64::from_le_bytes(current.value.as_bytes().try_into().unwrap());
            // Let the other writers run between the read and the write.
            tokio::task::yield_now().await;
            match s
                .save(&k, sealed(&(n + 1).to_le_bytes()), Some(current.version))
                .await
            {
                Ok(_) => return conflicts,
                Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                Err(e) => panic!("writer failed: {e:?}"),
            }
        }
    };
    let conflicts: u64 = join_all((0..WRITERS).map(|_| writer()))
        .await
        .into_iter()
        .sum();
    let end = s.load(&k).await.unwrap().unwrap();
    let n = u64::from_le_bytes(end.value.as_bytes().try_into().unwrap());
    assert_eq!(n, WRITERS, "lost updates ({conflicts} conflicts retried)");
    assert_eq!(end.version, WRITERS + 1);
    assert!(
        conflicts > 0,
        "the writers never raced; the test proves nothing"
    );
}

// ---------------------------------------------------------------- the suite: connections

fn record(tenant: &str, id: &str) -> ConnectionRecord {
    ConnectionRecord::new(
        tenant.into(),
        id.into(),
        "stripe",
        format!("{tenant}'s {id}"),
    )
}

async fn stale_connection_write_conflicts(s: &dyn ConnectionStore) {
    let (t, c) = (TenantId::from("t1"), ConnectionId::from("c1"));
    let mut r = record("t1", "c1");
    assert_eq!(s.save(&r).await.unwrap(), 1);
    // Version 0 means "must not exist yet".
    assert_conflict(s.save(&r).await, "expected 0, found 1");
    r.version = 1;
    r.name = "second".into();
    assert_eq!(s.save(&r).await.unwrap(), 2);
    let mut stale = r.clone();
    stale.name = "stale".into();
    assert_conflict(s.save(&stale).await, "expected 1, found 2");
    stale.version = u64::MAX;
    assert_conflict(s.save(&stale).await, "found 2");
    let got = s.load(&t, &c).await.unwrap().unwrap();
    assert_eq!((got.version, got.name.as_str()), (2, "second"));

    assert_conflict(s.delete(&t, &c, 1).await, "expected 1, found 2");
    assert!(s.load(&t, &c).await.unwrap().is_some());
    s.delete(&t, &c, 2).await.unwrap();
    assert_eq!(s.load(&t, &c).await.unwrap(), None);
    assert_conflict(s.delete(&t, &c, 2).await, "expected 2, found none");
    let mut ghost = record("t1", "ghost");
    ghost.version = 4;
    assert_conflict(s.save(&ghost).await, "expected 4, found none");
}

async fn connection_round_trips_every_field(s: &dyn ConnectionStore) {
    let ms = |ms: u64| Some(UNIX_EPOCH + Duration::from_millis(ms));
    let mut r = record("tenant-α", "conn/1 with spaces");
    r.template = "docusign".into();
    r.name = "Acme «prod» 🚀".into();
    r.status = ConnectionStatus::Error;
    r.config = json!({
        "account_id": "acct_123",
        "region": null,
        "retries": 3,
        "ratio": 0.25,
        "big": u64::MAX,
        "scopes": ["read", "write"],
        "nested": {"quote": "say \"hi\"", "unicode": "ünï", "empty": {}},
    });
    r.last_check = ms(1_700_000_000_123);
    r.last_success = ms(1_700_000_000_001);
    r.last_sync = Some(UNIX_EPOCH - Duration::from_millis(1_500));
    r.last_event = ms(0);
    r.last_error = Some("HTTP 401 from provider (redacted)".into());
    r.consecutive_failures = u32::MAX;
    r.webhook_token = Some("tok_round_trip_0123456789".into());
    r.webhook_routing_key = Some("acct_123".into());
    assert_eq!(s.save(&r).await.unwrap(), 1);
    let got = s.load(&r.tenant, &r.id).await.unwrap().expect("saved");
    r.version = 1;
    assert_eq!(got, r);

    // And the all-empty record, with every optional field cleared by an update.
    let mut cleared = got.clone();
    cleared.status = ConnectionStatus::Active;
    cleared.config = json!({});
    cleared.last_check = None;
    cleared.last_success = None;
    cleared.last_sync = None;
    cleared.last_event = None;
    cleared.last_error = None;
    cleared.consecutive_failures = 0;
    cleared.webhook_token = None;
    cleared.webhook_routing_key = None;
    assert_eq!(s.save(&cleared).await.unwrap(), 2);
    cleared.version = 2;
    assert_eq!(
        s.load(&r.tenant, &r.id).await.unwrap(),
        Some(cleared.clone())
    );
    assert_eq!(s.list(&r.tenant).await.unwrap(), vec![cleared]);

    // Each status survives the trip.
    for (i, status) in ConnectionStatus::ALL.into_iter().enumerate() {
        let mut r = record("statuses", &format!("c{i}"));
        r.status = status;
        s.save(&r).await.unwrap();
        let got = s.load(&r.tenant, &r.id).await.unwrap().unwrap();
        assert_eq!(got.status, status);
    }
}

async fn webhook_lookups(s: &dyn ConnectionStore) {
    // Two tenants with the same connection id: the token tells them apart.
    let mut a = record("tenant-a", "crm");
    a.webhook_token = Some("token-of-a-0000000000".into());
    a.webhook_routing_key = Some("acct_A".into());
    let mut b = record("tenant-b", "crm");
    b.webhook_token = Some("token-of-b-0000000000".into());
    b.webhook_routing_key = Some("acct_B".into());
    s.save(&a).await.unwrap();
    s.save(&b).await.unwrap();
    let found = s
        .find_by_webhook_token("token-of-b-0000000000")
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.tenant), Some(TenantId::from("tenant-b")));
    assert_eq!(
        s.find_by_webhook_token("token-of-c-0000000000")
            .await
            .unwrap(),
        None
    );
    let found = s.find_by_routing_key("stripe", "acct_A").await.unwrap();
    assert_eq!(found.map(|r| r.tenant), Some(TenantId::from("tenant-a")));
    assert_eq!(
        s.find_by_routing_key("docusign", "acct_A").await.unwrap(),
        None
    );
    assert_eq!(
        s.find_by_routing_key("stripe", "acct_C").await.unwrap(),
        None
    );

    // A token or a (template, routing key) names one record: taking one is a conflict, on
    // insert and on update, and changes nothing.
    let mut c = record("tenant-c", "crm");
    c.webhook_token = Some("token-of-a-0000000000".into());
    assert_conflict(s.save(&c).await, "already used by another connection");
    c.webhook_token = Some("token-of-c-0000000000".into());
    c.webhook_routing_key = Some("acct_B".into());
    assert_conflict(s.save(&c).await, "already used by another connection");
    assert_eq!(s.load(&c.tenant, &c.id).await.unwrap(), None);
    c.webhook_routing_key = None;
    assert_eq!(s.save(&c).await.unwrap(), 1);
    c.version = 1;
    c.webhook_routing_key = Some("acct_A".into());
    assert_conflict(s.save(&c).await, "already used by another connection");
    // The same key under another template is free; records without a key are many.
    c.template = "docusign".into();
    assert_eq!(s.save(&c).await.unwrap(), 2);
    for i in 0..3 {
        s.save(&record("tenant-d", &format!("plain-{i}")))
            .await
            .unwrap();
    }
}

async fn list_returns_only_that_tenant(s: &dyn ConnectionStore) {
    for (t, c) in [
        ("t1", "b"),
        ("t2", "a"),
        ("t1", "a"),
        ("t10", "z"),
        ("t1", "C"),
    ] {
        s.save(&record(t, c)).await.unwrap();
    }
    let ids = |rs: Vec<ConnectionRecord>| -> Vec<(String, String)> {
        rs.into_iter()
            .map(|r| (r.tenant.to_string(), r.id.to_string()))
            .collect()
    };
    let t1 = ids(s.list(&"t1".into()).await.unwrap());
    let mut sorted = t1.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [("t1", "C"), ("t1", "a"), ("t1", "b")].map(|(t, c)| (t.into(), c.into()))
    );
    assert_eq!(
        ids(s.list(&"t2".into()).await.unwrap()),
        [("t2".into(), "a".into())]
    );
    assert!(s.list(&"nobody".into()).await.unwrap().is_empty());
}

async fn concurrent_connection_increments(s: &dyn ConnectionStore) {
    let (t, c) = (TenantId::from("t1"), ConnectionId::from("c1"));
    s.save(&record("t1", "c1")).await.unwrap();
    let writer = || async {
        let mut conflicts = 0u64;
        loop {
            let mut r = s.load(&t, &c).await.unwrap().expect("record exists");
            r.consecutive_failures += 1;
            r.last_error = Some(format!("failure {}", r.consecutive_failures));
            tokio::task::yield_now().await;
            match s.save(&r).await {
                Ok(_) => return conflicts,
                Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                Err(e) => panic!("writer failed: {e:?}"),
            }
        }
    };
    let conflicts: u64 = join_all((0..WRITERS).map(|_| writer()))
        .await
        .into_iter()
        .sum();
    let end = s.load(&t, &c).await.unwrap().unwrap();
    assert_eq!(
        u64::from(end.consecutive_failures),
        WRITERS,
        "lost updates ({conflicts} conflicts retried)"
    );
    assert_eq!(end.version, WRITERS + 1);
    assert_eq!(end.last_error.as_deref(), Some("failure 50"));
    assert!(
        conflicts > 0,
        "the writers never raced; the test proves nothing"
    );
}

// ------------------------------------------------------------ backend-specific: SQLite

#[cfg(feature = "sqlite")]
mod sqlite_support {
    use std::path::{Path, PathBuf};

    pub(super) fn temp_path() -> PathBuf {
        std::env::temp_dir().join(format!(
            "switchboard-stores-{}-{:016x}.db",
            std::process::id(),
            fastrand::u64(..)
        ))
    }

    /// Removes the database and its write-ahead log files; missing files are fine.
    pub(super) fn remove(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_only {
    use super::*;
    use switchboard::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn corrupt_stored_status_is_a_typed_store_error() {
        let path = sqlite_support::temp_path();
        let store = SqliteStore::open(&path).await.unwrap();
        let outcome = AssertUnwindSafe(async {
            ConnectionStore::save(&store, &record("t1", "c1"))
                .await
                .unwrap();
            ConnectionStore::save(&store, &record("t1", "c2"))
                .await
                .unwrap();
            // Written behind the store's back, as a bad migration or a hand edit would.
            let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("UPDATE switchboard_connections SET status = 'zombie' WHERE id = 'c2'")
                .execute(&raw)
                .await
                .unwrap();
            raw.close().await;

            let err = ConnectionStore::load(&store, &"t1".into(), &"c2".into())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
            assert!(err.to_string().contains("zombie"), "{err}");
            let err = ConnectionStore::list(&store, &"t1".into())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
            // The healthy record still loads.
            let ok = ConnectionStore::load(&store, &"t1".into(), &"c1".into()).await;
            assert!(ok.unwrap().is_some());
        })
        .catch_unwind()
        .await;
        store.close().await;
        sqlite_support::remove(&path);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// A file written before webhook tokens existed (only the first migration applied, a row
    /// without the new columns) still loads after the upgrade, and the connection gets a
    /// webhook token on first use.
    #[tokio::test]
    async fn rows_stored_before_webhook_tokens_still_load_and_get_a_token() {
        use switchboard::connections::Connections;

        let path = sqlite_support::temp_path();
        let old = std::env::temp_dir().join(format!("switchboard-old-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/store/sqlite/migrations/20250601000001_switchboard_stores.sql"
            ),
            old.join("20250601000001_switchboard_stores.sql"),
        )
        .unwrap();
        let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&raw)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO switchboard_connections (tenant, id, template, name, status, config, \
             consecutive_failures, version) VALUES ('t1', 'c1', 'test', 'Old', 'active', '{}', 0, 1)",
        )
        .execute(&raw)
        .await
        .unwrap();
        raw.close().await;
        std::fs::remove_dir_all(&old).unwrap();

        let store = SqliteStore::open(&path).await.unwrap();
        let outcome = AssertUnwindSafe(async {
            let (t, c) = (TenantId::from("t1"), ConnectionId::from("c1"));
            let legacy = ConnectionStore::load(&store, &t, &c)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((legacy.webhook_token, legacy.version), (None, 1));
            let connections = Connections::new(
                crate::support::builder().build().unwrap(),
                crate::webhook_router::vault(),
                crate::webhook_router::registry(),
            )
            .with_connection_store(Arc::new(store.clone()));
            let path = connections.webhook_path(&t, &c, "/webhooks").await.unwrap();
            let token = path.strip_prefix("/webhooks/test/").unwrap().to_string();
            assert!(token.len() >= 22, "{token}");
            // Stable from now on, and findable.
            assert_eq!(
                connections.webhook_path(&t, &c, "/webhooks").await.unwrap(),
                path
            );
            let found = store.find_by_webhook_token(&token).await.unwrap().unwrap();
            assert_eq!((found.tenant, found.id), (t, c));
        })
        .catch_unwind()
        .await;
        store.close().await;
        sqlite_support::remove(&path);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_the_file() {
        let path = sqlite_support::temp_path();
        let store = SqliteStore::open(&path).await.unwrap();
        let k = key("t1", "c1", "config");
        CredentialStore::save(&store, &k, sealed(b"kept"), None)
            .await
            .unwrap();
        store.close().await;
        let reopened = SqliteStore::open(&path).await.unwrap();
        let got = CredentialStore::load(&reopened, &k).await;
        reopened.close().await;
        sqlite_support::remove(&path);
        assert_eq!(got.unwrap().unwrap().value.as_bytes(), b"kept");
    }
}

// -------------------------------------------------------- backend-specific: PostgreSQL

#[cfg(feature = "postgres")]
mod pg_support {

    /// Drops a test schema; a failure only leaves a schema behind.
    pub(super) async fn drop_schema(schema: &str) {
        if let Ok(pool) = sqlx::PgPool::connect(&crate::support::postgres_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_only {
    use super::*;
    use switchboard::store::postgres::PostgresStore;

    #[tokio::test]
    async fn corrupt_stored_status_is_a_typed_store_error() {
        let fx = Fixture::postgres().await;
        let Teardown::Postgres(store, schema) = &fx.teardown else {
            unreachable!()
        };
        let (store, schema) = (store.clone(), schema.clone());
        let outcome = AssertUnwindSafe(async {
            ConnectionStore::save(&store, &record("t1", "c1"))
                .await
                .unwrap();
            let raw = sqlx::PgPool::connect(&crate::support::postgres_url())
                .await
                .unwrap();
            sqlx::query(&format!(
                "UPDATE \"{schema}\".switchboard_connections SET status = 'zombie'"
            ))
            .execute(&raw)
            .await
            .unwrap();
            raw.close().await;
            let err = ConnectionStore::load(&store, &"t1".into(), &"c1".into())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
        })
        .catch_unwind()
        .await;
        fx.teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[tokio::test]
    async fn schemas_keep_stores_apart_and_bad_names_are_config_errors() {
        let (a, b) = (Fixture::postgres().await, Fixture::postgres().await);
        let k = key("t1", "c1", "config");
        let outcome = AssertUnwindSafe(async {
            a.creds.save(&k, sealed(b"in a"), None).await.unwrap();
            assert_eq!(b.creds.load(&k).await.unwrap(), None);
            assert!(b.creds.list_keys().await.unwrap().is_empty());
        })
        .catch_unwind()
        .await;
        a.teardown().await;
        b.teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        let err = PostgresStore::connect_with_schema(
            &crate::support::postgres_url(),
            "x; DROP SCHEMA public",
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
