//! Calls: the [`Call`] resource, what a create takes ([`CreateCall`]) and an update ([`UpdateCall`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{AccountSid, CallSid};

/// A Call resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Call {
    /// The Call SID.
    pub sid: CallSid,
    /// The account that owns the call.
    pub account_sid: Option<AccountSid>,
    /// The parent call, for a leg of a conference or a `<Dial>`.
    pub parent_call_sid: Option<CallSid>,
    /// The caller.
    pub from: Option<String>,
    /// The callee.
    pub to: Option<String>,
    /// The call's status.
    #[serde(default)]
    pub status: CallStatus,
    /// The direction (`inbound`, `outbound-api`, `outbound-dial`), as Twilio sends it.
    pub direction: Option<String>,
    /// The duration in seconds, as Twilio sends it (a string).
    pub duration: Option<String>,
    /// RFC 2822 date, as Twilio sends it.
    pub start_time: Option<String>,
    /// RFC 2822 date, as Twilio sends it.
    pub end_time: Option<String>,
    /// The price, as Twilio formats it.
    pub price: Option<String>,
    /// The price's currency.
    pub price_unit: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A call's status. New values parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CallStatus {
    /// Queued.
    Queued,
    /// Ringing.
    Ringing,
    /// Answered, in progress.
    InProgress,
    /// Finished.
    Completed,
    /// The callee was busy.
    Busy,
    /// Could not be placed.
    Failed,
    /// Not answered.
    NoAnswer,
    /// Canceled while queued or ringing.
    Canceled,
    /// A status this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// What [`crate::twilio::Calls::create`] takes: `To`, `From`, and either a TwiML `Url`
/// or inline `Twiml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
#[non_exhaustive]
pub struct CreateCall {
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Url`: where Twilio fetches the call's TwiML.
    pub url: Option<String>,
    /// `Twiml`: inline instructions.
    pub twiml: Option<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// Any other parameter of the Calls API, sent as given.
    pub params: Vec<(String, String)>,
}

impl CreateCall {
    /// A call from `from` to `to`.
    pub fn new(to: impl Into<String>, from: impl Into<String>) -> Self {
        CreateCall {
            to: to.into(),
            from: from.into(),
            ..Default::default()
        }
    }
    /// Where Twilio fetches the TwiML.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// Inline TwiML.
    pub fn twiml(mut self, twiml: impl Into<String>) -> Self {
        self.twiml = Some(twiml.into());
        self
    }
    /// Where Twilio posts status callbacks.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }
    /// Adds another Calls API parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    pub(crate) fn form(&self) -> Vec<(&str, String)> {
        let mut f = vec![("To", self.to.clone()), ("From", self.from.clone())];
        if let Some(v) = &self.url {
            f.push(("Url", v.clone()));
        }
        if let Some(v) = &self.twiml {
            f.push(("Twiml", v.clone()));
        }
        if let Some(v) = &self.status_callback {
            f.push(("StatusCallback", v.clone()));
        }
        for (k, v) in &self.params {
            f.push((k.as_str(), v.clone()));
        }
        f
    }
}

/// What [`crate::twilio::Calls::update`] takes: redirect a live call (`Url`/`Twiml`) or
/// end it (`Status` = `canceled` / `completed`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
#[non_exhaustive]
pub struct UpdateCall {
    /// `Status`: `canceled` (a queued or ringing call) or `completed` (a call in progress).
    pub status: Option<String>,
    /// `Url`: new TwiML to run.
    pub url: Option<String>,
    /// `Twiml`: new inline TwiML.
    pub twiml: Option<String>,
    /// Any other parameter, sent as given.
    pub params: Vec<(String, String)>,
}

impl UpdateCall {
    /// Nothing changed yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ends a call in progress (`Status=completed`).
    pub fn complete() -> Self {
        UpdateCall {
            status: Some("completed".into()),
            ..Default::default()
        }
    }
    /// Cancels a queued or ringing call (`Status=canceled`).
    pub fn cancel() -> Self {
        UpdateCall {
            status: Some("canceled".into()),
            ..Default::default()
        }
    }
    /// Redirects the call to new TwiML.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// Runs new inline TwiML.
    pub fn twiml(mut self, twiml: impl Into<String>) -> Self {
        self.twiml = Some(twiml.into());
        self
    }
    /// Adds another parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    pub(crate) fn form(&self) -> Vec<(&str, String)> {
        let mut f = Vec::new();
        if let Some(v) = &self.status {
            f.push(("Status", v.clone()));
        }
        if let Some(v) = &self.url {
            f.push(("Url", v.clone()));
        }
        if let Some(v) = &self.twiml {
            f.push(("Twiml", v.clone()));
        }
        for (k, v) in &self.params {
            f.push((k.as_str(), v.clone()));
        }
        f
    }
}
