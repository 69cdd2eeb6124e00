//! Lookups v2 (`lookups.twilio.com`): validate a phone number before sending to it.

use super::{segment, send_json};
use crate::twilio::error::TwilioError;
use crate::twilio::models::PhoneNumberLookup;
use crate::twilio::TwilioClient;

/// `client.lookups()`.
#[derive(Debug, Clone, Copy)]
pub struct Lookups<'a> {
    client: &'a TwilioClient,
}

impl<'a> Lookups<'a> {
    pub(crate) fn new(client: &'a TwilioClient) -> Self {
        Lookups { client }
    }

    /// `GET /v2/PhoneNumbers/{number}`: basic validation (free), parsed. Check
    /// [`PhoneNumberLookup::is_valid`].
    ///
    /// # Errors
    /// A [`TwilioError`]; an invalid number is not an error (it answers `valid: false`).
    pub async fn phone_number(&self, number: &str) -> Result<PhoneNumberLookup, TwilioError> {
        self.phone_number_with_fields(number, &[]).await
    }

    /// Like [`Self::phone_number`], asking for data packages too (`Fields=line_type_intelligence,...`;
    /// they may be billed). Their results stay in `extra`.
    ///
    /// # Errors
    /// A [`TwilioError`].
    pub async fn phone_number_with_fields(
        &self,
        number: &str,
        fields: &[&str],
    ) -> Result<PhoneNumberLookup, TwilioError> {
        let mut req = self
            .client
            .lookups_connection()
            .get(format!("/v2/PhoneNumbers/{}", segment(number)))
            .endpoint("lookups.phone_number");
        if !fields.is_empty() {
            req = req.query(&[("Fields", fields.join(","))]);
        }
        send_json(req).await
    }
}
