//! The Twilio connector: Messages (SMS, MMS, WhatsApp), Calls, Lookups v2, and
//! `X-Twilio-Signature` webhooks (feature `twilio`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::twilio::{CreateMessage, TwilioClient, TwilioConfig};
//! use switchboard::Switchboard;
//!
//! let sb = Switchboard::builder().build()?;
//! // A tenant's account; with the connection service, `connections.connection(&tenant, &id)`
//! // gives the same connection from the stored config.
//! let config = TwilioConfig::new(
//!     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
//!     std::env::var("TWILIO_AUTH_TOKEN")?,
//! );
//! let twilio = TwilioClient::from_connection(config.connection(&sb, "acme", "acme-sms")?)?;
//! if twilio.lookups().phone_number("+15558675310").await?.is_valid() {
//!     let msg = twilio
//!         .messages()
//!         .create(CreateMessage::new("+15558675310").from("+15017122661").body("Hi"))
//!         .await?;
//!     println!("sent {}", msg.sid);
//! }
//! # Ok(()) }
//! ```
//!
//! What it does for you:
//! - **One shape for every tenant**: [`TwilioConnector`] holds only Twilio's rules; each
//!   tenant's account is a [`TwilioConfig`] (the template's schema as a type), which becomes
//!   the connection's Basic authenticator (account SID + auth token, or API key SID + secret)
//!   and its [`TwilioSettings`] (account SID in the path, subaccount scope, default sender).
//!   Secrets never reach `Debug`, errors or logs.
//! - **Retries** follow Twilio's rules ([`TwilioConnector`]'s classifier): a Messages POST has
//!   no idempotency key, so it is never retried once it may have reached Twilio; a refused
//!   connection and a 429 / error 20429 (never processed) are.
//! - **Two hosts**: `api.twilio.com` and `lookups.twilio.com`, two connections of one client.
//! - **Bulk sends** through the core's rate limiter (bucket [`MESSAGES_BUCKET`]).
//! - **Webhooks**: [`TwilioVerifier`] (see its module for the URL rules and SDK differences)
//!   and typed payloads ([`MessageStatusCallback`], [`InboundMessage`], [`CallStatusCallback`]).
//! - **Template** [`TwilioIntegration`] (`twilio`) for the connection service;
//!   [`TwilioClient::from_connection`] refuses another connector's connection.

mod api;
mod client;
mod config;
mod connector;
mod error;
mod models;
mod template;
mod webhook;

pub use api::{Accounts, BulkOptions, Calls, Lookups, Messages, MESSAGES_BUCKET};
pub use client::TwilioClient;
pub use config::{TwilioConfig, TwilioSettings};
pub use connector::TwilioConnector;
pub use error::{TwilioError, CODE_TOO_MANY_REQUESTS};
pub use models::{
    Account, AccountSid, AccountStatus, ApiKeySid, Call, CallSid, CallStatus, CallStatusCallback,
    CreateCall, CreateMessage, InboundMessage, ListMessages, MediaItem, Message, MessageDirection,
    MessageSid, MessageStatus, MessageStatusCallback, MessagingServiceSid, PhoneNumberLookup,
    UpdateCall,
};
pub use template::TwilioIntegration;
pub use webhook::{
    TwilioSigner, TwilioVerifier, TwilioVerifierBuilder, IDEMPOTENCY_TOKEN_HEADER, SIGNATURE_HEADER,
};

/// The REST API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The Lookups API's base URL.
pub const DEFAULT_LOOKUPS_BASE_URL: &str = "https://lookups.twilio.com";
