//! The Calls resource: create, fetch, update.

use super::send_json;
use crate::twilio::error::TwilioError;
use crate::twilio::models::{Call, CallSid, NewCall, UpdateCall};
use crate::twilio::TwilioClient;
use crate::ConfigError;

/// `client.calls()`.
#[derive(Debug, Clone, Copy)]
pub struct Calls<'a> {
    client: &'a TwilioClient,
}

impl<'a> Calls<'a> {
    pub(crate) fn new(client: &'a TwilioClient) -> Self {
        Calls { client }
    }

    /// `POST …/Calls.json`. Like every Twilio POST it carries no idempotency key, so it is
    /// retried only when Twilio did not act on it (refused connection, 429 / 20429).
    ///
    /// # Errors
    /// A [`TwilioError`]; a config error when neither `url` nor `twiml` is set.
    pub async fn create(&self, call: &NewCall) -> Result<Call, TwilioError> {
        if call.url.is_none()
            && call.twiml.is_none()
            && !call.params.iter().any(|(k, _)| k == "ApplicationSid")
        {
            return Err(
                ConfigError::new("call", "needs `url`, `twiml` or an `ApplicationSid`").into(),
            );
        }
        let c = self.client;
        send_json(
            c.connection()
                .post(format!("{}/Calls.json", c.account_path()))
                .form(&call.form())
                .endpoint("calls.create"),
        )
        .await
    }

    /// `GET …/Calls/{sid}.json`.
    ///
    /// # Errors
    /// A [`TwilioError`] (20404 when the call does not exist).
    pub async fn fetch(&self, sid: &CallSid) -> Result<Call, TwilioError> {
        let c = self.client;
        send_json(
            c.connection()
                .get(format!("{}/Calls/{sid}.json", c.account_path()))
                .endpoint("calls.fetch"),
        )
        .await
    }

    /// `POST …/Calls/{sid}.json`: redirect or end a live call.
    ///
    /// # Errors
    /// A [`TwilioError`].
    pub async fn update(&self, sid: &CallSid, update: &UpdateCall) -> Result<Call, TwilioError> {
        let c = self.client;
        send_json(
            c.connection()
                .post(format!("{}/Calls/{sid}.json", c.account_path()))
                .form(&update.form())
                .endpoint("calls.update"),
        )
        .await
    }
}
