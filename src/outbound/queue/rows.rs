//! The queue's rows as both SQL backends read them, and their checks: a stored value this
//! build cannot read (a negative attempt count, an HTTP status above 65535) is an
//! [`ErrorKind::Store`](crate::ErrorKind::Store) error naming the table and column, never a
//! silent zero.

use std::time::SystemTime;

use bytes::Bytes;

use super::{AttemptRecord, DeadLetter, LeasedMessage, MessageState, MessageStatus};
use crate::error::Error;
use crate::outbound::{EndpointId, MessageId};
use crate::store::row::StoredRow;

pub(crate) const MESSAGES: &str = "switchboard_outbound_messages";
pub(crate) const ATTEMPTS: &str = "switchboard_outbound_attempts";
pub(crate) const ENDPOINTS: &str = "switchboard_outbound_endpoints";

/// One logged attempt.
#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    message_id: String,
    endpoint_tenant: String,
    endpoint_id: String,
    attempt: i64,
    at_ms: i64,
    status: Option<i64>,
    latency_us: i64,
    success: bool,
    error: Option<String>,
}

impl AttemptRow {
    pub(crate) fn into_record(self) -> Result<AttemptRecord, Error> {
        let row = StoredRow::new(ATTEMPTS, "attempt of message", &self.message_id);
        let status = self
            .status
            .map(|s| u16::try_from(s).map_err(|_| row.corrupt("status")))
            .transpose()?;
        Ok(AttemptRecord {
            attempt: row.count("attempt", self.attempt)?,
            at: row.time("at_ms", self.at_ms)?,
            status,
            latency: row.micros("latency_us", self.latency_us)?,
            success: self.success,
            error: self.error,
            endpoint: EndpointId::for_tenant(self.endpoint_tenant, self.endpoint_id),
            message: MessageId::new(self.message_id),
        })
    }
}

/// A message as a lease returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct LeasedRow {
    id: String,
    endpoint_tenant: String,
    endpoint_id: String,
    event_type: String,
    payload: Vec<u8>,
    attempts: i64,
}

impl LeasedRow {
    pub(crate) fn into_leased(self) -> Result<LeasedMessage, Error> {
        let attempt =
            StoredRow::new(MESSAGES, "message", &self.id).count("attempts", self.attempts)?;
        Ok(LeasedMessage {
            endpoint: EndpointId::for_tenant(self.endpoint_tenant, self.endpoint_id),
            event_type: self.event_type,
            payload: Bytes::from(self.payload),
            attempt,
            id: MessageId::new(self.id),
        })
    }
}

/// A message's state.
#[derive(sqlx::FromRow)]
pub(crate) struct StateRow {
    endpoint_tenant: String,
    endpoint_id: String,
    status: String,
    attempts: i64,
    dead_reason: Option<String>,
}

impl StateRow {
    pub(crate) fn into_state(self, id: &MessageId) -> Result<MessageState, Error> {
        let row = StoredRow::new(MESSAGES, "message", id.as_str());
        Ok(MessageState {
            id: id.clone(),
            status: MessageStatus::parse(&self.status).ok_or_else(|| row.corrupt("status"))?,
            attempts: row.count("attempts", self.attempts)?,
            endpoint: EndpointId::for_tenant(self.endpoint_tenant, self.endpoint_id),
            dead_reason: self.dead_reason,
        })
    }
}

/// A dead-lettered message.
#[derive(sqlx::FromRow)]
pub(crate) struct DeadRow {
    id: String,
    endpoint_tenant: String,
    endpoint_id: String,
    event_type: String,
    attempts: i64,
    dead_reason: Option<String>,
}

impl DeadRow {
    pub(crate) fn into_dead_letter(self) -> Result<DeadLetter, Error> {
        let attempts =
            StoredRow::new(MESSAGES, "message", &self.id).count("attempts", self.attempts)?;
        Ok(DeadLetter {
            endpoint: EndpointId::for_tenant(self.endpoint_tenant, self.endpoint_id),
            event_type: self.event_type,
            attempts,
            reason: self.dead_reason.unwrap_or_default(),
            id: MessageId::new(self.id),
        })
    }
}

/// An endpoint's stored failure clock.
pub(crate) fn failing_since(id: &EndpointId, ms: Option<i64>) -> Result<Option<SystemTime>, Error> {
    StoredRow::tenant(ENDPOINTS, "endpoint", id.tenant().as_str(), id.as_str())
        .opt_time("failing_since_ms", ms)
}

/// The error for an endpoint row without sealed secrets.
pub(crate) fn no_secrets(id: &EndpointId) -> Error {
    StoredRow::tenant(ENDPOINTS, "endpoint", id.tenant().as_str(), id.as_str()).corrupt("secrets")
}
