//! Twilio connector tests: retry rules over loopback, the typed API over loopback mocks,
//! the contract against Prism serving Twilio's own OpenAPI specs, signature vectors, the
//! verifier's URL rules, and secrets.

mod api;
mod conformance;
mod prism;
mod retry;
mod secrets;
mod tenants;
mod vectors;
mod webhook;

use switchboard::twilio::{TwilioClient, TwilioConfig};
use switchboard::Switchboard;

/// A well-formed account SID.
pub(crate) const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// A well-formed subaccount SID.
pub(crate) const SUB: &str = "ACcccccccccccccccccccccccccccccccc";
/// A well-formed message SID.
pub(crate) const SM: &str = "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// A well-formed call SID.
pub(crate) const CA: &str = "CAdddddddddddddddddddddddddddddddd";

/// The test account with a token, both hosts pointed at `base`.
pub(crate) fn config(base: &str) -> TwilioConfig {
    TwilioConfig::new(AC, "test-token")
        .base_url(base)
        .lookups_base_url(base)
}

/// A client of `config` for tenant `t1`, connection `c1`.
pub(crate) fn client(sb: &Switchboard, config: TwilioConfig) -> TwilioClient {
    let connection = config.connection(sb, "t1", "c1").expect("valid config");
    TwilioClient::from_connection(connection).expect("a Twilio connection")
}

/// A message JSON as Twilio answers it.
pub(crate) fn message_json(sid: &str, to: &str) -> String {
    serde_json::json!({
        "sid": sid, "account_sid": AC, "to": to, "from": "+15017122661", "body": "hi",
        "status": "queued", "direction": "outbound-api", "num_media": "0", "num_segments": "1",
        "error_code": null, "price": null, "uri": format!("/2010-04-01/Accounts/{AC}/Messages/{sid}.json")
    })
    .to_string()
}
