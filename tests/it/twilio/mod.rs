//! Twilio connector tests: retry rules over loopback, the typed API over loopback mocks,
//! the contract against Prism serving Twilio's own OpenAPI specs, signature vectors, the
//! verifier's URL rules, and secrets.

mod api;
mod conformance;
mod prism;
mod retry;
mod secrets;
mod vectors;
mod webhook;

use switchboard::twilio::{TwilioClient, TwilioConnector, TwilioConnectorBuilder};
use switchboard::Switchboard;

/// A well-formed account SID.
pub(crate) const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// A well-formed subaccount SID.
pub(crate) const SUB: &str = "ACcccccccccccccccccccccccccccccccc";
/// A well-formed message SID.
pub(crate) const SM: &str = "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// A well-formed call SID.
pub(crate) const CA: &str = "CAdddddddddddddddddddddddddddddddd";

/// A connector builder with the test account and a token, both hosts pointed at `base`.
pub(crate) fn connector(base: &str) -> TwilioConnectorBuilder {
    TwilioConnector::builder()
        .account_sid(AC)
        .auth_token("test-token")
        .base_url(base)
        .lookups_base_url(base)
}

/// A client of `connector` for tenant `t1`, connection `c1`.
pub(crate) fn client(sb: &Switchboard, connector: TwilioConnectorBuilder) -> TwilioClient {
    TwilioClient::connect(sb, connector.build().expect("valid connector"), "t1", "c1")
        .expect("valid client")
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
