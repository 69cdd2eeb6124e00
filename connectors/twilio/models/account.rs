//! The Account resource, fetched by the integration's `check()`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AccountSid;

/// An Account (or subaccount).
///
/// Twilio includes the account's `auth_token` in this resource; it is consumed and dropped
/// while parsing, so it can never reach `extra`, `Debug` or a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(clippy::manual_non_exhaustive)]
pub struct Account {
    /// The Account SID.
    pub sid: AccountSid,
    /// The account's name.
    pub friendly_name: Option<String>,
    /// The parent account of a subaccount (itself for a main account).
    pub owner_account_sid: Option<AccountSid>,
    /// The account's status.
    #[serde(default)]
    pub status: AccountStatus,
    /// `Trial` or `Full`, as Twilio sends it.
    #[serde(rename = "type")]
    pub account_type: Option<String>,
    // Secret: read and dropped, never kept (see the type's docs). This private field is not
    // a hand-made `non_exhaustive`: it is what consumes `auth_token` so `extra` cannot keep it.
    #[serde(
        default,
        rename = "auth_token",
        deserialize_with = "drop_secret",
        skip_serializing
    )]
    _auth_token: (),
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn drop_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| ())
}

/// An account's status. New values parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountStatus {
    /// Active.
    Active,
    /// Suspended.
    Suspended,
    /// Closed.
    Closed,
    /// A status this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_token_in_an_account_is_dropped() {
        let a: Account = serde_json::from_value(serde_json::json!({
            "sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "auth_token": "CANARY-account-token",
            "status": "active", "type": "Full"
        }))
        .unwrap();
        assert_eq!(a.status, AccountStatus::Active);
        let text = format!("{a:?} {}", serde_json::to_string(&a).unwrap());
        assert!(!text.contains("CANARY"), "{text}");
    }
}
