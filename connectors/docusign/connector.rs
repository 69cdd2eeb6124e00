//! [`DocuSignConnector`]: what the core needs to know about DocuSign: its name and its retry
//! rules. Nothing of a tenant (no account, no token) lives here.

use http::Method;

use super::error::{error_code, is_limit_code};
use crate::connector::{AttemptOutcome, Connector, RetryDecision};

/// The DocuSign eSignature connector: name `"docusign"`, DocuSign's retry rules.
///
/// DocuSign has no idempotency key, so a write that may have reached it is never resent (the
/// core's side-effect gate); a 429 was not acted on and is retried after `Retry-After`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DocuSignConnector;

impl DocuSignConnector {
    /// The connector.
    pub fn new() -> Self {
        DocuSignConnector
    }
}

impl Connector for DocuSignConnector {
    fn name(&self) -> &str {
        "docusign"
    }

    /// Lets [`super::DocuSignClient::from_connection`] check the connection is DocuSign's.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// 1. A 400 whose `errorCode` is a polling or per-envelope limit → never (retrying spends
    ///    the same limit; the caller gets a typed rate limit).
    /// 2. 429 (DocuSign's hourly or burst limit) → retry after `Retry-After`: the request was
    ///    refused before it was acted on.
    /// 3. ≥ 500 → retry for GET and HEAD; for writes "no opinion", so the core's gate decides
    ///    (without an idempotency key it does not resend a write that may have landed).
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        let AttemptOutcome::Response {
            method,
            status,
            body,
            ..
        } = attempt
        else {
            return RetryDecision::NoOpinion;
        };
        match status.as_u16() {
            400 if error_code(body).as_deref().is_some_and(is_limit_code) => RetryDecision::Never,
            429 => RetryDecision::Retry { after: None },
            s if s >= 500 && matches!(**method, Method::GET | Method::HEAD) => {
                RetryDecision::Retry { after: None }
            }
            _ => RetryDecision::NoOpinion,
        }
    }
}
