//! The durable queue behind [`WebhookSender`](super::WebhookSender): messages, leases,
//! endpoints and the attempt log.
//!
//! A message is `pending` until a worker leases it (`inflight`, with an owner and an expiry),
//! then `delivered`, `pending` again (a retry at `next_attempt_at`) or `dead`. A lease that
//! expires (its worker died between sending and acknowledging) makes the message leasable
//! again, so delivery is at least once. Completing checks the lease owner, so a worker whose
//! lease was taken over cannot overwrite the new owner's outcome.
//!
//! Backends: [`sqlite::SqliteQueue`] (feature `sqlite`, from
//! `SqliteBackend::outbound_queue`) and [`postgres::PostgresOutboundQueue`] (feature
//! `postgres`, `FOR UPDATE SKIP LOCKED`, for several replicas, from
//! `PostgresBackend::outbound_queue`); each shares its backend's pool and migration set with
//! the other stores. Redis Streams can implement the same trait.

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Endpoint, EndpointId, MessageId};
use crate::credentials::{CredentialKey, SealedCredential};
use crate::error::Error;
use crate::ids::ConnectionId;
use crate::vault::Vault;

/// The vault's `kind` for an outbound endpoint's signing secrets: with the tenant and the
/// endpoint id it forms the sealed record's associated data, so a sealed value copied onto
/// another tenant's endpoint of the same id (or another endpoint) does not open.
pub const ENDPOINT_SECRETS_KIND: &str = "outbound_endpoint_secrets";

fn secrets_key(id: &EndpointId) -> CredentialKey {
    CredentialKey::new(
        id.tenant().clone(),
        ConnectionId::new(id.as_str()),
        ENDPOINT_SECRETS_KIND,
    )
}

/// Seals an endpoint's secrets (a JSON array inside) for storage, bound to its tenant and
/// id. Every [`OutboundQueue`] stores secrets only this way.
///
/// # Errors
/// [`ErrorKind::Vault`](crate::ErrorKind::Vault) when the vault refuses (its primary key is exhausted).
pub fn seal_secrets(vault: &Vault, id: &EndpointId, secrets: &[String]) -> Result<Vec<u8>, Error> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(secrets).unwrap_or_default());
    let sealed = vault.seal(&secrets_key(id), &json).map_err(|e| {
        Error::vault(format!(
            "cannot seal the signing secrets of outbound endpoint `{id}`: {e}"
        ))
        .with_source(e)
    })?;
    Ok(sealed.as_bytes().to_vec())
}

/// Seals secrets an older build stored in clear (a JSON list), for the one-time upgrade both
/// SQL queues run when they open.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn seal_clear_secrets(
    vault: &Vault,
    id: &EndpointId,
    clear: zeroize::Zeroizing<String>,
) -> Result<Vec<u8>, Error> {
    let secrets: zeroize::Zeroizing<Vec<String>> =
        zeroize::Zeroizing::new(serde_json::from_str(&clear).map_err(|e| {
            Error::store(format!("stored endpoint `{id}` has invalid secrets")).with_source(e)
        })?);
    seal_secrets(vault, id, &secrets)
}

/// Opens an endpoint's stored secrets. The error names the endpoint and the key id the
/// record was sealed under (never a secret), with the [`VaultError`](crate::vault::VaultError)
/// as its source.
///
/// # Errors
/// [`ErrorKind::Vault`](crate::ErrorKind::Vault) when the record does not open (another key ring, another tenant's
/// or endpoint's record, tampering) or does not hold a list of secrets.
pub fn open_secrets(vault: &Vault, id: &EndpointId, stored: &[u8]) -> Result<Vec<String>, Error> {
    use secrecy::ExposeSecret;
    let sealed = SealedCredential::new(stored.to_vec());
    let fail = |e: crate::vault::VaultError| {
        let key = Vault::key_id_of(&sealed).unwrap_or_else(|_| "<unreadable>".to_string());
        Error::vault(format!(
            "cannot open the signing secrets of outbound endpoint `{id}` \
                 (sealed under key `{key}`): {e}"
        ))
        .with_source(e)
    };
    let plain = vault.open(&secrets_key(id), &sealed).map_err(fail)?;
    serde_json::from_slice(plain.expose_secret()).map_err(|_| {
        Error::vault(format!(
            "the sealed signing secrets of outbound endpoint `{id}` are not a JSON list"
        ))
    })
}

/// A message to enqueue.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewMessage {
    /// Its id (the `webhook-id`).
    pub id: MessageId,
    /// Where it goes.
    pub endpoint: EndpointId,
    /// The event type.
    pub event_type: String,
    /// The exact bytes sent (and signed).
    pub payload: Bytes,
    /// When it was enqueued; its first attempt is due then.
    pub created_at: SystemTime,
}

/// A message leased to a worker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeasedMessage {
    /// Its id.
    pub id: MessageId,
    /// Where it goes.
    pub endpoint: EndpointId,
    /// The event type.
    pub event_type: String,
    /// The payload.
    pub payload: Bytes,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Leased to a worker.
    Inflight,
    /// Delivered (a 2xx answer).
    Delivered,
    /// Given up; in the dead-letter list.
    Dead,
}

impl MessageStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Inflight => "inflight",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => MessageStatus::Pending,
            "inflight" => MessageStatus::Inflight,
            "delivered" => MessageStatus::Delivered,
            "dead" => MessageStatus::Dead,
            _ => return None,
        })
    }
}

/// A message's current state.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageState {
    /// Its id.
    pub id: MessageId,
    /// Where it goes.
    pub endpoint: EndpointId,
    /// Its status.
    pub status: MessageStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Why it was dead-lettered.
    pub dead_reason: Option<String>,
}

/// A dead-lettered message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Its id.
    pub id: MessageId,
    /// Where it was going.
    pub endpoint: EndpointId,
    /// The event type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why it was given up.
    pub reason: String,
}

/// One logged attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The message.
    pub message: MessageId,
    /// The endpoint.
    pub endpoint: EndpointId,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// When it started.
    pub at: SystemTime,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// How long it took.
    pub latency: Duration,
    /// Whether it delivered the message.
    pub success: bool,
    /// What went wrong (no secrets).
    pub error: Option<String>,
}

/// What happens to a message after an attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Completion {
    /// Delivered.
    Delivered,
    /// Try again at this time.
    Retry {
        /// When.
        at: SystemTime,
    },
    /// Give up.
    Dead {
        /// Why.
        reason: String,
    },
}

/// What [`OutboundQueue::purge_delivered`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Delivered messages deleted.
    pub messages: u64,
    /// Their logged attempts deleted.
    pub attempts: u64,
}

impl PurgeReport {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: PurgeReport) {
        self.messages += other.messages;
        self.attempts += other.attempts;
    }
}

/// What [`OutboundQueue::finish`] did.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FinishOutcome {
    /// False when the lease was no longer this worker's (the outcome was not applied).
    pub acked: bool,
    /// After a failed attempt: since when the endpoint has been failing without a success.
    pub failing_since: Option<SystemTime>,
}

/// The storage behind a [`WebhookSender`](super::WebhookSender). Implementations must make
/// [`lease`](OutboundQueue::lease) atomic across workers and processes, key endpoints by
/// (tenant, id), and store endpoint secrets only sealed ([`seal_secrets`] /
/// [`open_secrets`]).
#[async_trait]
pub trait OutboundQueue: Send + Sync + fmt::Debug {
    /// Creates or replaces an endpoint (keeping its failure clock).
    async fn put_endpoint(&self, endpoint: &Endpoint) -> Result<(), Error>;

    /// Loads an endpoint.
    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, Error>;

    /// Disables an endpoint; true only for the call that changed it from enabled.
    async fn disable_endpoint(&self, id: &EndpointId, reason: &str) -> Result<bool, Error>;

    /// Enqueues a message, due at once.
    async fn enqueue(&self, message: &NewMessage) -> Result<(), Error>;

    /// Leases up to `max` due messages (pending and due, or inflight with an expired lease)
    /// to `owner` until `now + lease`, counting an attempt on each.
    async fn lease(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<LeasedMessage>, Error>;

    /// Logs an attempt and applies its outcome, if `owner` still holds the lease; updates the
    /// endpoint's failure clock (cleared on success, started on the first failure).
    async fn finish(
        &self,
        owner: &str,
        attempt: &AttemptRecord,
        completion: &Completion,
    ) -> Result<FinishOutcome, Error>;

    /// A message's state.
    async fn message(&self, id: &MessageId) -> Result<Option<MessageState>, Error>;

    /// Up to `limit` dead-lettered messages, oldest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, Error>;

    /// Moves a dead message back to pending with a fresh attempt count; false if it was not
    /// dead.
    async fn redrive(&self, id: &MessageId, now: SystemTime) -> Result<bool, Error>;

    /// The attempts on an endpoint since `since`.
    async fn attempts_since(
        &self,
        endpoint: &EndpointId,
        since: SystemTime,
    ) -> Result<Vec<AttemptRecord>, Error>;

    /// Every logged attempt of a message, in order.
    async fn attempts_of(&self, message: &MessageId) -> Result<Vec<AttemptRecord>, Error>;

    /// Deletes up to `limit` delivered messages whose delivery was recorded before `before`
    /// (oldest first), with every attempt logged for them, in one transaction. Pending,
    /// in-flight and dead-lettered messages are never touched. A bounded batch keeps each
    /// transaction short, so a large backlog does not hold the tables' write lock for long;
    /// callers loop until a batch deletes fewer than `limit` messages.
    async fn purge_delivered(&self, before: SystemTime, limit: usize)
        -> Result<PurgeReport, Error>;
}

#[cfg(test)]
fn _obj_safe(_: std::sync::Arc<dyn OutboundQueue>) {}
