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
//! | `store::sqlite::SqliteStore` | `sqlite` | the embedded default: one host process (or a few on one machine) and a file |
//! | `store::postgres::PostgresStore` | `postgres` | several replicas share the same records |
//!
//! The in-memory stores live beside their traits in [`credentials`](crate::credentials) and
//! [`connections`](crate::connections), since they need nothing but the standard library.
//!
//! Each backend keeps its tables (`switchboard_credentials`, `switchboard_connections`) and
//! its migrations, which run when the store is opened. Give switchboard its own database file
//! or PostgreSQL schema: sqlx records applied migrations in one `_sqlx_migrations` table per
//! database or schema, which the host's own sqlx migrations would otherwise share.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod row;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) mod time;

#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "postgres")]
pub mod postgres;
