//! The user and their accounts (`/oauth/userinfo`) and an account (`GET /accounts/{id}`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A DocuSign account id (a GUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// An account id.
    pub fn new(id: impl Into<String>) -> Self {
        AccountId(id.into())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `GET {auth}/oauth/userinfo`: the user the token acts for and the accounts they belong to.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user id (GUID).
    pub sub: String,
    /// The user's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The accounts the user belongs to.
    #[serde(default)]
    pub accounts: Vec<UserInfoAccount>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserInfo {
    /// The account to use: `chosen` when given (`None` if the user has no such account),
    /// otherwise the user's default account (or the only one).
    pub fn account(&self, chosen: Option<&str>) -> Option<&UserInfoAccount> {
        match chosen {
            Some(id) => self.accounts.iter().find(|a| a.account_id.as_str() == id),
            None => self
                .accounts
                .iter()
                .find(|a| a.is_default)
                .or_else(|| (self.accounts.len() == 1).then(|| &self.accounts[0])),
        }
    }
}

/// One account of [`UserInfo`].
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UserInfoAccount {
    /// The account id.
    pub account_id: AccountId,
    /// Whether it is the user's default account (DocuSign sends a boolean, some hosts the
    /// string `"true"`).
    #[serde(default, deserialize_with = "bool_or_string")]
    pub is_default: bool,
    /// The account's name.
    #[serde(default)]
    pub account_name: Option<String>,
    /// The account's API host (`https://demo.docusign.net`): every eSignature call of the
    /// account goes to `{base_uri}/restapi`.
    pub base_uri: String,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Str(s) => s.eq_ignore_ascii_case("true"),
    })
}

/// `GET /restapi/v2.1/accounts/{accountId}`: the account's information.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Account {
    /// The account id (GUID).
    #[serde(default)]
    pub account_id_guid: Option<String>,
    /// The account's name.
    #[serde(default)]
    pub account_name: Option<String>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_account_or_the_chosen_one() {
        let info: UserInfo = serde_json::from_str(
            r#"{"sub":"u","accounts":[
                {"account_id":"a1","is_default":false,"base_uri":"https://na2.docusign.net"},
                {"account_id":"a2","is_default":"true","base_uri":"https://demo.docusign.net"}]}"#,
        )
        .unwrap();
        assert_eq!(info.account(None).unwrap().account_id.as_str(), "a2");
        assert_eq!(
            info.account(Some("a1")).unwrap().base_uri,
            "https://na2.docusign.net"
        );
        assert!(info.account(Some("a3")).is_none());
    }
}
