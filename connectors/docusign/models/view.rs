//! The URL of an embedded signing (recipient) or sending (sender) view.

use serde::Deserialize;
use serde_json::{Map, Value};

/// `POST /envelopes/{envelopeId}/views/{recipient,sender}`: the view's URL. It is a bearer
/// link to the envelope (whoever opens it acts as the recipient or sender), valid for a few
/// minutes and once: hand it to the user, never log it.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct ViewUrl {
    /// The URL to open (or embed in an iframe).
    pub url: String,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for ViewUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries a one-time token that signs in as the recipient.
        f.debug_struct("ViewUrl")
            .field("url", &"[redacted]")
            .finish_non_exhaustive()
    }
}
