//! What a credential load and a compare-and-swap save cost in each store backend, with no
//! cache in front of the store (target for a SQLite load: at most 50 µs).
//!
//! Criterion groups (wall time, one caller at a time on a current-thread runtime):
//! - `credential_load/*`: `CredentialStore::load` of a 512-byte sealed record.
//!   `in_memory` is the baseline; `sqlite_file/one_key` reads the same record again and again
//!   (a WAL-mode file on `std::env::temp_dir()`, so SQLite's page cache is warm);
//!   `sqlite_file/10k_keys` walks 10,000 records round-robin; `sqlite_in_memory` is
//!   `SqliteStore::in_memory()`; `postgres` runs only when PostgreSQL answers at
//!   `$SWITCHBOARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`; its own schema, dropped afterwards).
//! - `credential_save/*`: a winning compare-and-swap save of the same record (SQLite syncs
//!   every commit to disk, so this is mostly the `fsync` of the file system under `temp_dir`).
//!
//! sqlx runs each SQLite connection on its own thread, so a SQLite call includes two
//! cross-thread hand-offs; on a small VM those dominate the time SQLite itself spends.
//!
//! Run: `cargo bench --features sqlite,postgres --bench stores`.

#[cfg(feature = "sqlite")]
fn main() {
    with_sqlite::main();
}

#[cfg(not(feature = "sqlite"))]
fn main() {
    eprintln!("benches/stores.rs needs `--features sqlite` (and `postgres` for its group)");
}

#[cfg(feature = "postgres")]
#[path = "../tests/it/support/addresses.rs"]
mod addresses;

#[cfg(feature = "sqlite")]
mod with_sqlite {
    use std::hint::black_box;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use criterion::Criterion;
    use switchboard::credentials::{
        CredentialKey, CredentialStore, InMemoryCredentialStore, SealedCredential,
    };
    use switchboard::store::sqlite::SqliteStore;
    use tokio::runtime::Runtime;

    const RECORD_LEN: usize = 512;
    const MANY: usize = 10_000;

    fn key(i: usize) -> CredentialKey {
        CredentialKey::new(
            format!("tenant-{}", i % 97).into(),
            format!("conn-{i}").into(),
            "oauth_token",
        )
    }

    fn record() -> SealedCredential {
        SealedCredential::new(vec![0xA5; RECORD_LEN])
    }

    /// A temporary database file, removed (with its WAL files) on drop.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new() -> Self {
            TempDb(std::env::temp_dir().join(format!(
                "switchboard-bench-{}-{:016x}.db",
                std::process::id(),
                fastrand::u64(..)
            )))
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.0.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    async fn filled(store: &dyn CredentialStore, n: usize) {
        for i in 0..n {
            store.save(&key(i), record(), None).await.expect("fill");
        }
    }

    /// An integration that only exists to hold a config with one secret field.
    #[derive(Debug)]
    struct Holder(switchboard::templates::IntegrationTemplate);

    #[async_trait::async_trait]
    impl switchboard::templates::Integration for Holder {
        async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> {
            Err(switchboard::Error::new(
                switchboard::ErrorKind::Config,
                "not used",
            ))
        }

        fn template(&self) -> &switchboard::templates::IntegrationTemplate {
            &self.0
        }
        fn bind(
            &self,
            _: &switchboard::templates::ConnectionConfig,
        ) -> Result<switchboard::templates::IntegrationBinding, switchboard::Error> {
            Err(switchboard::Error::new(
                switchboard::ErrorKind::Config,
                "not used",
            ))
        }
    }

    /// The credential a call needs, loaded and decrypted, when the decrypted-config cache holds
    /// it (target: at most 2 µs), next to the vault's own open of the sealed record (what a
    /// miss adds to the store load).
    fn cached_credential(c: &mut Criterion, rt: &Runtime) {
        use switchboard::connections::Connections;
        use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
        let template = switchboard::templates::IntegrationTemplate::builder("holder")
            .config_schema(serde_json::json!({
                "type": "object",
                "properties": {"apiKey": {"type": "string", "format": "password"}}
            }))
            .build()
            .expect("template");
        let mut registry = switchboard::templates::Registry::new();
        registry
            .register(Arc::new(Holder(template)))
            .expect("register");
        let vault = Vault::new(KeyRing::new(
            KeyId::new("k1").expect("key id"),
            MasterKey::from_bytes(&[3u8; 32]).expect("key"),
        ));
        let sb = switchboard::Switchboard::builder()
            .build()
            .expect("switchboard");
        let connections = Connections::new(sb, vault.clone(), registry);
        let (t, id) = ("tenant-1".into(), "conn-1".into());
        rt.block_on(connections.create(
            &t,
            &id,
            "holder",
            "bench",
            &serde_json::json!({"apiKey": "sk_live_0123456789abcdef0123456789abcdef"}),
        ))
        .expect("create");
        rt.block_on(connections.config(&t, &id)).expect("warm");
        let sealed_key = CredentialKey::new(t.clone(), id.clone(), "config");
        let sealed = vault.seal(&sealed_key, &[0x5A; 256]).expect("seal");
        let mut g = c.benchmark_group("credential_cached");
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("connections_config_hit", |b| {
            b.to_async(rt).iter(|| async {
                black_box(connections.config(&t, &id).await.expect("config"));
            })
        });
        g.bench_function("vault_open_256B", |b| {
            b.iter(|| black_box(vault.open(&sealed_key, &sealed).expect("open")))
        });
        g.bench_function("baseline_async_noop", |b| {
            b.to_async(rt).iter(|| async { black_box(1) })
        });
        g.finish();
    }

    fn bench_load(c: &mut Criterion, rt: &Runtime, name: &str, store: &dyn CredentialStore) {
        let k = key(0);
        c.benchmark_group("credential_load")
            .measurement_time(Duration::from_secs(3))
            .bench_function(name, |b| {
                b.to_async(rt)
                    .iter(|| async { black_box(store.load(&k).await.expect("load")) })
            });
    }

    pub(super) fn main() {
        let mut c = Criterion::default().configure_from_args();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");

        cached_credential(&mut c, &rt);

        let memory = InMemoryCredentialStore::new();
        rt.block_on(filled(&memory, 1));
        bench_load(&mut c, &rt, "in_memory", &memory);

        let db = TempDb::new();
        let file = rt
            .block_on(SqliteStore::open(db.path()))
            .expect("open sqlite file");
        rt.block_on(filled(&file, MANY));
        bench_load(&mut c, &rt, "sqlite_file/one_key", &file);
        let keys: Arc<Vec<CredentialKey>> = Arc::new((0..MANY).map(key).collect());
        let mut next = 0usize;
        c.benchmark_group("credential_load")
            .measurement_time(Duration::from_secs(3))
            .bench_function("sqlite_file/10k_keys", |b| {
                b.to_async(&rt).iter(|| {
                    next = (next + 1) % MANY;
                    let k = &keys[next];
                    let file = &file;
                    async move { black_box(file.load(k).await.expect("load")) }
                })
            });

        let in_memory = rt
            .block_on(SqliteStore::in_memory())
            .expect("sqlite in memory");
        rt.block_on(filled(&in_memory, 1));
        bench_load(&mut c, &rt, "sqlite_in_memory", &in_memory);

        #[cfg(feature = "postgres")]
        postgres(&mut c, &rt);

        let k = key(0);
        let mut version = rt
            .block_on(CredentialStore::load(&file, &k))
            .expect("load")
            .expect("present")
            .version;
        c.benchmark_group("credential_save")
            .sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .bench_function("sqlite_file", |b| {
                b.iter(|| {
                    version = rt
                        .block_on(file.save(&k, record(), Some(version)))
                        .expect("save");
                })
            });

        rt.block_on(file.close());
        rt.block_on(in_memory.close());
        c.final_summary();
    }

    #[cfg(feature = "postgres")]
    fn postgres(c: &mut Criterion, rt: &Runtime) {
        use switchboard::store::postgres::PostgresStore;
        let url = crate::addresses::postgres_url();

        let schema = format!("sb_bench_{:016x}", fastrand::u64(..));
        let connect = async {
            tokio::time::timeout(
                Duration::from_secs(5),
                PostgresStore::connect_with_schema(&url, &schema),
            )
            .await
        };
        let store = match rt.block_on(connect) {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => return eprintln!("skipping credential_load/postgres: {e}"),
            Err(_) => return eprintln!("skipping credential_load/postgres: no answer in 5 s"),
        };
        rt.block_on(filled(&store, 1));
        bench_load(c, rt, "postgres", &store);
        rt.block_on(async {
            store.close().await;
            if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                let _ = sqlx::query(&drop).execute(&pool).await;
                pool.close().await;
            }
        });
    }
}
