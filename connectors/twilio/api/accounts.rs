//! The Account resource: fetch the account (or subaccount) the client is scoped to.

use super::send_json;
use crate::twilio::error::TwilioError;
use crate::twilio::models::Account;
use crate::twilio::TwilioClient;

/// `client.accounts()`.
#[derive(Debug, Clone, Copy)]
pub struct Accounts<'a> {
    client: &'a TwilioClient,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(client: &'a TwilioClient) -> Self {
        Accounts { client }
    }

    /// `GET /2010-04-01/Accounts/{sid}.json` for the client's scope.
    ///
    /// # Errors
    /// A [`TwilioError`] (for example 20003 authentication failed, 20404 not found).
    pub async fn fetch(&self) -> Result<Account, TwilioError> {
        let c = self.client;
        send_json(
            c.connection()
                .get(format!("{}.json", c.account_path()))
                .endpoint("accounts.fetch"),
        )
        .await
    }
}
