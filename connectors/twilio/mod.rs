//! The Twilio connector: Messages (SMS, MMS, WhatsApp), Calls, Lookups v2, and
//! `X-Twilio-Signature` webhooks (feature `twilio`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::twilio::{NewMessage, TwilioClient, TwilioConnector};
//! use switchboard::Switchboard;
//!
//! let sb = Switchboard::builder().build()?;
//! let connector = TwilioConnector::builder()
//!     .account_sid("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
//!     .auth_token(std::env::var("TWILIO_AUTH_TOKEN")?)
//!     .build()?;
//! let twilio = TwilioClient::connect(&sb, connector, "acme", "acme-sms")?;
//! if twilio.lookups().phone_number("+15558675310").await?.is_valid() {
//!     let msg = twilio
//!         .messages()
//!         .send(&NewMessage::new("+15558675310").from("+15017122661").body("Hi"))
//!         .await?;
//!     println!("sent {}", msg.sid);
//! }
//! # Ok(()) }
//! ```
//!
//! What it does for you:
//! - **Auth**: account SID + auth token, or API key SID + secret (Basic auth; the account SID
//!   stays in the path); subaccounts (calls scoped to the subaccount, authenticated as the
//!   parent). Secrets never reach `Debug`, errors or logs.
//! - **Retries** follow Twilio's rules ([`TwilioConnector`]'s classifier): a Messages POST has
//!   no idempotency key, so it is never retried once it may have reached Twilio; a refused
//!   connection and a 429 / error 20429 (never processed) are.
//! - **Two hosts**: `api.twilio.com` and `lookups.twilio.com`, two connections of one client.
//! - **Bulk sends** through the core's rate limiter (bucket [`MESSAGES_BUCKET`]).
//! - **Webhooks**: [`TwilioVerifier`] (see its module for the URL rules and SDK differences)
//!   and typed payloads ([`MessageStatusCallback`], [`InboundMessage`], [`CallStatusCallback`]).
//! - **Template** [`TwilioIntegration`] (`twilio`) for the connection service.

pub mod api;
mod client;
mod connector;
mod error;
pub mod models;
mod template;
pub mod webhook;

pub use api::{BulkOptions, MESSAGES_BUCKET};
pub use client::TwilioClient;
pub use connector::{TwilioConnector, TwilioConnectorBuilder};
pub use error::{TwilioError, CODE_TOO_MANY_REQUESTS};
pub use models::{
    Account, AccountSid, AccountStatus, ApiKeySid, Call, CallSid, CallStatus, CallStatusCallback,
    InboundMessage, ListMessages, MediaItem, Message, MessageDirection, MessageSid, MessageStatus,
    MessageStatusCallback, MessagingServiceSid, NewCall, NewMessage, PhoneNumberLookup, UpdateCall,
};
pub use template::TwilioIntegration;
pub use webhook::{TwilioSigner, TwilioVerifier, TwilioVerifierBuilder};

/// The REST API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The Lookups API's base URL.
pub const DEFAULT_LOOKUPS_BASE_URL: &str = "https://lookups.twilio.com";
