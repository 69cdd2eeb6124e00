//! INTERIM: replaced by the GoHighLevel verifier under way on another branch.

use crate::webhook::{Verified, WebhookError, WebhookRequest, WebhookVerifier};

/// Interim verifier: refuses everything (fails closed).
#[derive(Debug, Clone, Default)]
pub struct GhlVerifier;

impl GhlVerifier {
    /// GoHighLevel's published keys.
    pub fn published() -> Self {
        GhlVerifier
    }
}

impl WebhookVerifier for GhlVerifier {
    fn verify(&self, _request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        Err(WebhookError::SecretMissing)
    }
}
