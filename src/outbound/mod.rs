//! Outbound webhooks: durable, signed, retried deliveries to your customers' endpoints.
//!
//! - [`WebhookSender`] (cheap to clone) registers endpoints, enqueues messages
//!   ([`WebhookSender::send`]) and runs workers that deliver them
//!   ([`WebhookSender::spawn_workers`]).
//! - Every attempt is signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`); the id is the message id on every attempt,
//!   the timestamp and signature are fresh per attempt.
//! - Failed attempts are retried on a jittered schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//!   10 h by default), honouring `Retry-After`; exhausted messages are dead-lettered and can be
//!   redriven. A `410 Gone` disables an endpoint at once; an endpoint that fails without a
//!   single success for longer than `disable_after` (5 days) is disabled too.
//! - Targets pass the [`ssrf`] guard; redirects are never followed. At most
//!   [`MAX_ANSWER_BYTES`] (64 KiB) of a receiver's answer is read; the status decides.
//! - Delivered messages and their attempt log are deleted 30 days (configurable,
//!   [`OutboundConfig::retention`]) after delivery: a worker purges at most once per
//!   `retention_interval` (1 h) per process, in transactions of `retention_batch` (500)
//!   messages, off the leasing path. Dead letters are kept until redriven (a redriven message
//!   that is then delivered ages out like any other); pending messages are never purged.
//! - Messages live in an [`OutboundQueue`]: [`queue::sqlite::SqliteQueue`] (feature `sqlite`)
//!   or `queue::postgres::PostgresOutboundQueue` (feature `postgres`, for several replicas)
//!   leases them to workers, so a worker that dies mid-delivery leaves a lease that expires
//!   and another worker delivers the message again (at least once).

pub mod queue;
mod sender;
pub mod ssrf;

pub use queue::{
    AttemptRecord, Completion, DeadLetter, FinishOutcome, LeasedMessage, MessageState,
    MessageStatus, NewMessage, OutboundQueue, PurgeReport,
};
pub use sender::{
    EndpointHealth, OutboundConfig, OutboundEvent, WebhookSender, WebhookSenderBuilder, Workers,
    MAX_ANSWER_BYTES,
};

use std::fmt;

use crate::ids::TenantId;

/// A message id; also the `webhook-id` header of every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A new random id, `msg_<32 hex>`.
    pub fn generate() -> Self {
        MessageId(format!("msg_{}", uuid::Uuid::new_v4().simple()))
    }

    /// Wraps a stored id.
    pub fn new(id: impl Into<String>) -> Self {
        MessageId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An endpoint id, chosen by the host, within a tenant: two tenants may both have an
/// endpoint `default`, and they are two endpoints with their own URL and secrets. An id made
/// with [`EndpointId::new`] belongs to no tenant (the host's own endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    tenant: TenantId,
    id: String,
}

impl EndpointId {
    /// An endpoint of no tenant (the host's own).
    pub fn new(id: impl Into<String>) -> Self {
        EndpointId {
            tenant: TenantId::new(""),
            id: id.into(),
        }
    }

    /// An endpoint of `tenant`.
    pub fn for_tenant(tenant: impl Into<TenantId>, id: impl Into<String>) -> Self {
        EndpointId {
            tenant: tenant.into(),
            id: id.into(),
        }
    }

    /// The owning tenant (empty for the host's own endpoints).
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The id within its tenant, as text.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tenant.as_str().is_empty() {
            f.write_str(&self.id)
        } else {
            write!(f, "{}/{}", self.tenant, self.id)
        }
    }
}

impl From<&str> for EndpointId {
    fn from(s: &str) -> Self {
        EndpointId::new(s)
    }
}

/// A delivery target.
///
/// `secrets` are Standard Webhooks secrets (`whsec_<base64>`); every attempt carries one
/// signature per secret, so a receiver can rotate without losing messages. Queues keep them
/// sealed with the [`Vault`](crate::vault::Vault), bound to the endpoint's tenant and id.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// The id.
    pub id: EndpointId,
    /// The URL every message is POSTed to.
    pub url: String,
    /// Signing secrets, newest first.
    pub secrets: Vec<String>,
    /// Whether deliveries are attempted.
    pub enabled: bool,
    /// Why the endpoint was disabled.
    pub disabled_reason: Option<String>,
}

impl Endpoint {
    /// An enabled endpoint of `tenant` with one secret.
    pub fn for_tenant(
        tenant: impl Into<TenantId>,
        id: impl Into<String>,
        url: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let mut e = Endpoint::new(id, url, secret);
        e.id = EndpointId::for_tenant(tenant, e.id.id);
        e
    }

    /// An enabled endpoint of no tenant (the host's own) with one secret.
    pub fn new(id: impl Into<String>, url: impl Into<String>, secret: impl Into<String>) -> Self {
        Endpoint {
            id: EndpointId::new(id),
            url: url.into(),
            secrets: vec![secret.into()],
            enabled: true,
            disabled_reason: None,
        }
    }

    /// Adds another secret (for rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &url_without_secrets(&self.url))
            .field("secrets", &"[redacted]")
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .finish()
    }
}

/// The URL with its query, fragment and user info dropped (they may carry secrets).
pub(crate) fn url_without_secrets(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}
