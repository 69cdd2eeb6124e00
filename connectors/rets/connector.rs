//! [`RetsConnector`]: what the core needs to know about RETS servers. Every transaction reads
//! (a POST only carries a long query), so there is no idempotency header. A RETS failure
//! comes back as HTTP 200 with a `ReplyCode`: the typed client reads it from the reply it
//! streams, and the connector restates the "come back later" codes of short buffered replies
//! as a 503, so the pipeline retries them with backoff and never caches them.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::parse_reply;
use crate::connector::{BodyFailure, Connector};

/// Replies longer than this are data (metadata, photos), never a bare status: they are not
/// read for a back-off code.
const STATUS_REPLY_MAX: usize = 4096;

/// The RETS connector: name `"rets"`, the core's default retry rules (every transaction is
/// safe to repeat) plus the back-off reply codes (20050, 20209, 20210) retried as a 503, no
/// secret query parameters (credentials travel in headers).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RetsConnector;

impl RetsConnector {
    /// The connector.
    pub fn new() -> Self {
        RetsConnector
    }
}

impl Connector for RetsConnector {
    fn name(&self) -> &str {
        "rets"
    }

    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// A short XML reply whose `ReplyCode` asks the client to come back later stands for a
    /// 503 (retried with backoff, never cached).
    fn failure_in_body(
        &self,
        _status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<BodyFailure> {
        if body.len() > STATUS_REPLY_MAX {
            return None;
        }
        let xml = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.contains("xml") || t.starts_with("text/"));
        if !xml {
            return None;
        }
        let status = parse_reply(body).ok()?;
        status.code.is_back_off().then(|| {
            BodyFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("RETS {}", status.code),
            )
        })
    }
}
