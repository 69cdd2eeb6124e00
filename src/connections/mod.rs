//! Connection records and their lifecycle: `pending -> active | error`,
//! `active -> error | disconnected`, `error -> active`, `disconnected -> active`.
//!
//! A record holds the tenant, the template it was made from, its name, status, the non-secret
//! part of its config, when it was last checked, last succeeded and last synced, a redacted
//! error message, the count of consecutive failures, and its webhook token (the unguessable
//! last segment of its webhook URL, which names this one (tenant, connection)) and webhook
//! routing key (for payload-routed providers). Stores write records with a
//! compare-and-swap on `version`, so two replicas moving the same connection cannot lose an
//! update.

pub mod health;
mod lifecycle;
mod memory;

pub use lifecycle::{ConnectionEvent, Connections, CONFIG_KIND};
pub use memory::InMemoryConnectionStore;

use std::fmt::{self, Debug};
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// Where a connection is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Created, not yet checked.
    Pending,
    /// Checked and working.
    Active,
    /// The last check or call failed in a way that needs attention.
    Error,
    /// Turned off by the tenant or the host.
    Disconnected,
}

impl ConnectionStatus {
    /// Every status, for tables and UIs.
    pub const ALL: [ConnectionStatus; 4] = [
        ConnectionStatus::Pending,
        ConnectionStatus::Active,
        ConnectionStatus::Error,
        ConnectionStatus::Disconnected,
    ];

    /// Whether a connection may move from `self` to `next`.
    pub fn can_become(self, next: ConnectionStatus) -> bool {
        use ConnectionStatus::*;
        matches!(
            (self, next),
            (Pending, Active)
                | (Pending, Error)
                | (Active, Error)
                | (Active, Disconnected)
                | (Error, Active)
                | (Disconnected, Active)
        )
    }

    /// The lower-case name (`"pending"`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "pending",
            ConnectionStatus::Active => "active",
            ConnectionStatus::Error => "error",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) naming the unknown value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        ConnectionStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::store(format!("unknown connection status `{s}` in store")))
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned for an illegal transition.
pub(crate) fn illegal_transition(from: ConnectionStatus, to: ConnectionStatus) -> Error {
    Error::state(format!("a connection cannot go from `{from}` to `{to}`"))
}

/// One tenant's connection, as stored. Secret config fields are not here: they are sealed in
/// the credential store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The connection's id.
    pub id: ConnectionId,
    /// The template it was made from (`"stripe"`, or a host's own).
    pub template: String,
    /// A name for people.
    pub name: String,
    /// Its lifecycle status.
    pub status: ConnectionStatus,
    /// The non-secret config fields.
    pub config: serde_json::Value,
    /// When it was last checked.
    pub last_check: Option<SystemTime>,
    /// When a check or call last succeeded.
    pub last_success: Option<SystemTime>,
    /// When data was last synced.
    pub last_sync: Option<SystemTime>,
    /// When a verified webhook event last arrived.
    pub last_event: Option<SystemTime>,
    /// The last error, redacted.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The unguessable token in the connection's webhook URL
    /// (`{prefix}/{template}/{webhook_token}`, see [`Connections::webhook_path`]): at least 128
    /// random bits, URL-safe, made at [`Connections::create`]. `None` only for records stored
    /// before tokens existed; [`Connections::webhook_path`] gives those one on first use.
    #[serde(default)]
    pub webhook_token: Option<String>,
    /// The value of the integration's webhook routing field in this connection's config
    /// ([`crate::templates::Integration::webhook_routing`]: Stripe Connect's `account_id`,
    /// GoHighLevel's `locationId`), by which a payload-routed webhook finds its connection.
    /// Unique per template across every tenant.
    #[serde(default)]
    pub webhook_routing_key: Option<String>,
    /// Which sealed config this record's secrets are in: `None` for the credential kind
    /// [`CONFIG_KIND`] (as [`Connections::create`] writes it), `Some(g)` for `config.{g}`
    /// (as [`Connections::update_config`] writes it). Each generation is sealed once and never
    /// overwritten, so a record read together with the generation it names is always a
    /// matching pair, whatever writes race.
    #[serde(default)]
    pub config_generation: Option<String>,
    /// The compare-and-swap version (0 before the first write).
    pub version: u64,
}

impl ConnectionRecord {
    /// A new pending record.
    pub fn new(
        tenant: TenantId,
        id: ConnectionId,
        template: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ConnectionRecord {
            tenant,
            id,
            template: template.into(),
            name: name.into(),
            status: ConnectionStatus::Pending,
            config: serde_json::Value::Object(Default::default()),
            last_check: None,
            last_success: None,
            last_sync: None,
            last_event: None,
            last_error: None,
            consecutive_failures: 0,
            webhook_token: None,
            webhook_routing_key: None,
            config_generation: None,
            version: 0,
        }
    }

    /// Where this record's secret config fields are sealed: the credential kind
    /// [`CONFIG_KIND`], or `config.{generation}` when the record names a generation
    /// ([`Self::config_generation`]).
    pub fn config_key(&self) -> crate::credentials::CredentialKey {
        lifecycle::config_key(&self.tenant, &self.id, self.config_generation.as_deref())
    }
}

/// A new webhook token: 192 random bits from the operating system, base64url without padding
/// (32 characters).
pub(crate) fn new_webhook_token() -> String {
    use aes_gcm::aead::rand_core::RngCore as _;
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    aes_gcm::aead::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `s` has the shape of a webhook token (so a malformed path segment never reaches a
/// store query).
pub(crate) fn is_webhook_token_shape(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Stores connection records.
#[async_trait]
pub trait ConnectionStore: Send + Sync + Debug {
    /// Loads a record.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error>;

    /// Writes `record` if the stored version equals `record.version` (0: must not exist yet),
    /// and returns the new version.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when another writer won; [`ErrorKind::Store`](crate::ErrorKind::Store) on backend failure.
    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error>;

    /// Every record of `tenant`.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error>;

    /// Deletes a record if its stored version is `version`.
    ///
    /// # Errors
    /// As for [`ConnectionStore::save`].
    async fn delete(&self, tenant: &TenantId, id: &ConnectionId, version: u64)
        -> Result<(), Error>;

    /// The record whose [`ConnectionRecord::webhook_token`] is `token`, in any tenant.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error>;

    /// The record of `template` whose [`ConnectionRecord::webhook_routing_key`] is `key`, in
    /// any tenant (the pair is unique).
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error>;
}

/// The error a store returns when a record would take a webhook token or routing key another
/// record holds.
pub fn webhook_key_conflict(record: &ConnectionRecord) -> Error {
    Error::conflict(format!(
            "connection `{}` of tenant `{}`: its webhook token or its `{}` routing key is already used by another connection",
            record.id, record.tenant, record.template
        ))
}

/// The error a store returns when a compare-and-swap loses.
pub fn connection_conflict(
    tenant: &TenantId,
    id: &ConnectionId,
    expected: u64,
    found: Option<u64>,
) -> Error {
    Error::conflict(format!(
        "version conflict on connection `{id}` of tenant `{tenant}`: expected {expected}, found {}",
        found.map_or_else(|| "none".to_string(), |v| v.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn transition_table() {
        use ConnectionStatus::*;
        let legal = [
            (Pending, Active),
            (Pending, Error),
            (Active, Error),
            (Active, Disconnected),
            (Error, Active),
            (Disconnected, Active),
        ];
        for from in ConnectionStatus::ALL {
            for to in ConnectionStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(
            ConnectionStatus::parse("zombie").unwrap_err().kind(),
            ErrorKind::Store
        );
    }
}
