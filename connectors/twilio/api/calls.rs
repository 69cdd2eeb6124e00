//! The Calls resource: create, fetch, update.

use super::refused;
use crate::toolkit::{segment, Call};
use crate::twilio::error::TwilioError;
use crate::twilio::models::{Call as VoiceCall, CallSid, CreateCall, UpdateCall};
use crate::twilio::TwilioClient;
use crate::ConfigError;

/// `client.calls()`. Owns a clone of the client.
#[derive(Debug, Clone)]
pub struct Calls {
    client: TwilioClient,
}

impl Calls {
    pub(crate) fn new(client: TwilioClient) -> Self {
        Calls { client }
    }

    fn path(&self, sid: Option<&CallSid>) -> String {
        let base = self.client.account_path();
        match sid {
            Some(s) => format!("{base}/Calls/{}.json", segment(s.as_str())),
            None => format!("{base}/Calls.json"),
        }
    }

    /// `POST …/Calls.json`. Like every Twilio POST it carries no idempotency key, so it is
    /// retried only when Twilio did not act on it (refused connection, 429 / 20429).
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited; a config error, with nothing sent, when neither `url`,
    /// `twiml` nor an `ApplicationSid` is set.
    pub fn create(&self, call: CreateCall) -> Call<VoiceCall, TwilioError> {
        if call.url.is_none()
            && call.twiml.is_none()
            && !call.params.iter().any(|(k, _)| k == "ApplicationSid")
        {
            return refused(ConfigError::new(
                "call",
                "needs `url`, `twiml` or an `ApplicationSid`",
            ));
        }
        Call::new(
            self.client
                .connection()
                .post(self.path(None))
                .form(&call.form())
                .endpoint("calls.create"),
        )
    }

    /// `GET …/Calls/{sid}.json`.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited (20404 when the call does not exist).
    pub fn fetch(&self, sid: &CallSid) -> Call<VoiceCall, TwilioError> {
        Call::new(
            self.client
                .connection()
                .get(self.path(Some(sid)))
                .endpoint("calls.fetch"),
        )
    }

    /// `POST …/Calls/{sid}.json`: redirect or end a live call.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited.
    pub fn update(&self, sid: &CallSid, update: UpdateCall) -> Call<VoiceCall, TwilioError> {
        Call::new(
            self.client
                .connection()
                .post(self.path(Some(sid)))
                .form(&update.form())
                .endpoint("calls.update"),
        )
    }
}
