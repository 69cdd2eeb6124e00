//! Stateful backends for the credential and connection stores, and how to pick one.
//!
//! Every backend implements both [`CredentialStore`](crate::credentials::CredentialStore) and
//! [`ConnectionStore`](crate::connections::ConnectionStore) with the same rules: every write is
//! one compare-and-swap statement on a `version` column, so a lost race is reported as
//! [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) and never as a silently lost update.
//!
//! | backend | feature | use it when |
//! | --- | --- | --- |
//! | [`InMemoryCredentialStore`](crate::credentials::InMemoryCredentialStore), [`InMemoryConnectionStore`](crate::connections::InMemoryConnectionStore) | none | tests, or one process that may forget everything on restart |
//! | `store::sqlite::SqliteStore` (from `SqliteBackend::store`) | `sqlite` | the embedded default: one host process (or a few on one machine) and a file |
//! | `store::postgres::PostgresStore` (from `PostgresBackend::store`) | `postgres` | several replicas share the same records |
//!
//! One pool per backend: `sqlite::SqliteBackend` opens one file and
//! `postgres::PostgresBackend` one pool, run the backend's one migration set (every table of
//! every store that lives there) and hand out the stores over that pool:
//!
//! | store | `SqliteBackend` | `PostgresBackend` |
//! | --- | --- | --- |
//! | credentials and connection records | `store()` | `store()` |
//! | webhook de-duplication | `dedup()` | (Redis: `RedisDedupStore`) |
//! | the outbound queue | `outbound_queue(vault)` | `outbound_queue(vault)` |
//! | token refresh locks | (one process: `InProcessLock`) | `token_locks()` |
//! | sync cursors, fences, run log, links and parked conflicts ([`SyncStore`](crate::sync::SyncStore)) | `sync_store()` | `sync_store()` |
//!
//! The in-memory stores live beside their traits in [`credentials`](crate::credentials),
//! [`connections`](crate::connections) and [`sync::store`](crate::sync::store), since they
//! need nothing but the standard library.
//!
//! Each backend keeps every table's migrations in one folder (`sqlite/migrations`,
//! `postgres/migrations`, named `<version>_switchboard_<what>.sql`), which run when the backend
//! is opened. Give switchboard its own database file or PostgreSQL schema: sqlx records
//! applied migrations in one `_sqlx_migrations` table per database or schema, which the host's
//! own sqlx migrations would otherwise share.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod row;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sync_row;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) mod time;

#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "postgres")]
pub mod postgres;
