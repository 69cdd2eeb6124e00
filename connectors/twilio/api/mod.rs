//! The calls of each Twilio resource, reached from [`crate::twilio::TwilioClient`]:
//! `client.messages()`, `client.calls()`, `client.lookups()`, `client.accounts()`.

mod accounts;
mod calls;
mod lookups;
mod messages;

pub use accounts::Accounts;
pub use calls::Calls;
pub use lookups::Lookups;
pub use messages::{BulkOptions, Messages, MESSAGES_BUCKET};

use super::error::TwilioError;
use crate::RequestBuilder;

/// Sends a request and decodes a JSON answer, turning every failure into a [`TwilioError`].
pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
    req: RequestBuilder,
) -> Result<T, TwilioError> {
    let resp = req.send().await?;
    Ok(resp.json().await?)
}

/// Percent-encodes one path segment (a phone number's `+` becomes `%2B`).
pub(crate) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
