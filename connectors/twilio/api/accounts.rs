//! The Account resource: fetch the account (or subaccount) the client is scoped to.

use crate::toolkit::Call;
use crate::twilio::error::TwilioError;
use crate::twilio::models::Account;
use crate::twilio::TwilioClient;

/// `client.accounts()`. Owns a clone of the client.
#[derive(Debug, Clone)]
pub struct Accounts {
    client: TwilioClient,
}

impl Accounts {
    pub(crate) fn new(client: TwilioClient) -> Self {
        Accounts { client }
    }

    /// `GET /2010-04-01/Accounts/{sid}.json` for the client's scope.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited (for example 20003 authentication failed, 20404 not
    /// found).
    pub fn fetch(&self) -> Call<Account, TwilioError> {
        let c = &self.client;
        Call::new(
            c.connection()
                .get(format!("{}.json", c.account_path()))
                .endpoint("accounts.fetch"),
        )
    }
}
