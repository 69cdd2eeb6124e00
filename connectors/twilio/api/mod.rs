//! The calls of each Twilio resource, reached from [`crate::twilio::TwilioClient`]:
//! `client.messages()`, `client.calls()`, `client.lookups()`, `client.accounts()`. Each handle
//! owns a clone of the client; each endpoint returns a [`crate::toolkit::Call`] awaited
//! directly, each list a [`crate::toolkit::Pages`].

mod accounts;
mod calls;
mod lookups;
mod messages;

pub use accounts::Accounts;
pub use calls::Calls;
pub use lookups::Lookups;
pub use messages::{BulkOptions, Messages, MESSAGES_BUCKET};

use serde::de::DeserializeOwned;

use super::error::TwilioError;
use crate::toolkit::Call;
use crate::Response;

/// The decoder of a JSON answer, for a call that fails before it is sent.
fn json<T: DeserializeOwned + Send + 'static>(
    resp: Response,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, crate::Error>> + Send>> {
    Box::pin(resp.json::<T>())
}

/// A call that fails with `error` and sends nothing (parameters refused before sending).
fn refused<T: DeserializeOwned + Send + 'static>(
    error: impl Into<TwilioError>,
) -> Call<T, TwilioError> {
    Call::failed(error.into(), json::<T>)
}
