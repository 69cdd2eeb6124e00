//! Credential storage: the [`CredentialStore`] trait and its in-memory implementation.
//!
//! A store holds sealed (encrypted) credential records and knows nothing of keys or
//! plaintext; every write is a compare-and-swap on the record's version, so two replicas
//! refreshing the same token cannot silently overwrite each other.

mod memory;

pub use memory::InMemoryCredentialStore;

use std::fmt::{self, Debug};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// Where a credential record lives: a tenant's connection and the kind of credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialKey {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection the credential belongs to.
    pub connection: ConnectionId,
    /// What it is (`"config"`, `"oauth_token"`).
    pub kind: Arc<str>,
}

impl CredentialKey {
    /// The key of `kind` for `tenant`'s `connection`.
    pub fn new(tenant: TenantId, connection: ConnectionId, kind: impl Into<Arc<str>>) -> Self {
        CredentialKey {
            tenant,
            connection,
            kind: kind.into(),
        }
    }
}

/// An opaque sealed record. Its `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredential(Bytes);

impl SealedCredential {
    /// Wraps sealed bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        SealedCredential(bytes.into())
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Debug for SealedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCredential({} bytes)", self.0.len())
    }
}

/// A stored value with the version a compare-and-swap must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// Starts at 1 and grows by one on every write.
    pub version: u64,
    /// The value.
    pub value: T,
}

/// Stores sealed credential records.
#[async_trait]
pub trait CredentialStore: Send + Sync + Debug {
    /// Loads a record, if present.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn load(&self, key: &CredentialKey)
        -> Result<Option<Versioned<SealedCredential>>, Error>;

    /// Writes a record if its current version is `expected` (`None`: it must not exist yet),
    /// and returns the new version.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when another writer won (re-read and retry), or
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails. Nothing is written then.
    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, Error>;

    /// Every key in the store, in no particular order (used by key rotation).
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn list_keys(&self) -> Result<Vec<CredentialKey>, Error>;

    /// Deletes a record if its current version is `expected`.
    ///
    /// # Errors
    /// As for [`CredentialStore::save`].
    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), Error>;
}

pub(crate) fn version_conflict(
    key: &CredentialKey,
    expected: Option<u64>,
    found: Option<u64>,
) -> Error {
    let show = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    Error::conflict(format!(
        "version conflict on credential `{}` of connection `{}`: expected {}, found {}",
        key.kind,
        key.connection,
        show(expected),
        show(found)
    ))
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn CredentialStore>) {}
