//! [`TwilioConnector`]: what the core needs to know about Twilio, the same for every tenant:
//! its name, its retry rules, that it has no idempotency header, and its two hosts. A tenant's
//! account (SID, token, subaccount, default sender) is not here: it is the connection's
//! authenticator and settings, made from a [`super::TwilioConfig`].

use std::any::Any;

use super::error::{error_code, CODE_TOO_MANY_REQUESTS};
use super::{DEFAULT_BASE_URL, DEFAULT_LOOKUPS_BASE_URL};
use crate::{AttemptOutcome, Connector, RetryDecision};

/// The Twilio connector: Twilio's rules shared by every tenant. It holds no credentials, so one
/// value serves every connection; a tenant's account comes from its [`super::TwilioConfig`].
///
/// ```
/// use switchboard::twilio::TwilioConnector;
/// use switchboard::Connector;
/// let connector = TwilioConnector::new();
/// assert_eq!(connector.name(), "twilio");
/// assert_eq!(connector.idempotency_header(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TwilioConnector {
    _rules_only: (),
}

impl TwilioConnector {
    /// The connector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The REST API's base URL when a config names none ([`DEFAULT_BASE_URL`]).
    pub fn base_url(&self) -> &str {
        DEFAULT_BASE_URL
    }

    /// The Lookups API's base URL when a config names none ([`DEFAULT_LOOKUPS_BASE_URL`]).
    pub fn lookups_base_url(&self) -> &str {
        DEFAULT_LOOKUPS_BASE_URL
    }
}

impl Connector for TwilioConnector {
    fn name(&self) -> &str {
        "twilio"
    }

    /// Twilio's published rules: a 429 / error 20429 ("Too Many Requests") was not processed
    /// and is always safe to retry, even for a Messages POST, which has no idempotency key.
    /// Everything else is left to the core's defaults, whose side-effect gate keeps an unkeyed
    /// POST from being retried once its bytes may have reached Twilio (a reset after the
    /// write, a 500), and retries a refused connection, which sent nothing.
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        match attempt {
            AttemptOutcome::Response { status, body, .. }
                if status.as_u16() == 429 || error_code(body) == Some(CODE_TOO_MANY_REQUESTS) =>
            {
                RetryDecision::Retry { after: None }
            }
            _ => RetryDecision::NoOpinion,
        }
    }

    /// Twilio has no idempotency keys; without a header the core sends none and its gate
    /// treats every POST as unkeyed.
    fn idempotency_header(&self) -> Option<&str> {
        None
    }

    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(self)
    }
}
