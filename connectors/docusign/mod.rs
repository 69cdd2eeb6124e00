//! The DocuSign eSignature connector: the JWT grant (and the authorization-code grant for user
//! consent apps) with the account's `base_uri` looked up from `/oauth/userinfo`, envelopes,
//! recipients and documents over the core pipeline, typed `errorCode` errors, DocuSign's
//! rate-limit headers, Connect webhook verification and typed Connect events, and the
//! `docusign` integration template.
//!
//! ```no_run
//! # async fn demo(connections: switchboard::connections::Connections) -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::docusign::DocuSignClient;
//!
//! // A `docusign` connection made through the connection service (its template binds the JWT
//! // grant; `Connections::with_tokens` gives it the token manager), tested once so that its
//! // account was looked up.
//! let connection = connections.connection(&"acme".into(), &"acme-docusign".into()).await?;
//! let docusign = DocuSignClient::from_connection(connection)?;
//! let account = docusign.account_id();
//! # let _ = account; Ok(()) }
//! ```
//!
//! This module uses only the core's public items and never imports another connector.

mod api;
mod auth;
mod client;
mod config;
mod connector;
mod error;
mod models;
mod template;
mod webhook;

pub use api::{
    AnchorUnits, CarbonCopy, CreateEnvelope, CreateRecipientView, CreateSenderView, Document,
    DocumentStream, Documents, Envelopes, EventNotification, ListEnvelopeStatusChanges, Recipients,
    Signer, Tab, TabKind, TemplateRole, UpdateRecipients, Views,
};
pub use auth::{consent_url, DocuSignEnvironment, DocuSignGrant, DocuSignJwtGrant};
pub use client::DocuSignClient;
pub use config::DocuSignConfig;
pub use connector::{DocuSignConnector, DEFAULT_HOURLY_LIMIT};
pub use error::DocuSignError;
pub use models::{
    Account, AccountId, ConnectData, ConnectEvent, ConnectEventKind, DocumentUpload, Envelope,
    EnvelopeDocument, EnvelopeDocuments, EnvelopeId, EnvelopeRecipients, EnvelopeStatus,
    EnvelopeSummary, EnvelopeUpdateSummary, Recipient, RecipientStatus, RecipientUpdateResult,
    RecipientsUpdateSummary, UserInfo, UserInfoAccount, ViewUrl,
};
pub use template::DocuSignIntegration;
pub use webhook::{
    DocuSignVerifier, DocuSignVerifierBuilder, MAX_SIGNATURE_HEADERS, SIGNATURE_HEADER,
    SIGNATURE_HEADER_PATTERN,
};

/// DocuSign's developer (demo) authentication host.
pub const DEMO_AUTH_BASE_URL: &str = "https://account-d.docusign.com";
/// DocuSign's production authentication host.
pub const PRODUCTION_AUTH_BASE_URL: &str = "https://account.docusign.com";
/// The least time between two status reads of one envelope from DocuSign, unless the
/// connection's `status_poll_interval_secs` says otherwise: DocuSign's polling rule (once per
/// 15 minutes).
pub const DEFAULT_STATUS_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(900);
/// The eSignature REST API version every path uses.
pub const API_VERSION: &str = "v2.1";
/// The scopes the JWT grant asks for: `signature` (the eSignature API) and `impersonation`
/// (acting as the configured user).
pub const JWT_SCOPES: [&str; 2] = ["signature", "impersonation"];
