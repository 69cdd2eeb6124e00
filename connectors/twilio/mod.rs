//! The Twilio (Messages, Calls, Lookups v2, X-Twilio-Signature webhooks) connector.
//!
//! **Not implemented yet.** This module only reserves the feature and the folder so that hosts
//! and CI can already build with it; the connector itself lands with the Stripe and Twilio connectors issue. It uses only the
//! core's public items and never imports another connector.
