//! Lookups v2 (`lookups.twilio.com`): validate a phone number before sending to it.

use crate::toolkit::{segment, Call};
use crate::twilio::error::TwilioError;
use crate::twilio::models::PhoneNumberLookup;
use crate::twilio::TwilioClient;

/// `client.lookups()`. Owns a clone of the client.
#[derive(Debug, Clone)]
pub struct Lookups {
    client: TwilioClient,
}

impl Lookups {
    pub(crate) fn new(client: TwilioClient) -> Self {
        Lookups { client }
    }

    /// `GET /v2/PhoneNumbers/{number}`: basic validation (free), parsed. Check
    /// [`PhoneNumberLookup::is_valid`].
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited; an invalid number is not an error (it answers
    /// `valid: false`).
    pub fn phone_number(&self, number: &str) -> Call<PhoneNumberLookup, TwilioError> {
        self.phone_number_with_fields(number, &[])
    }

    /// Like [`Self::phone_number`], asking for data packages too (`Fields=line_type_intelligence,...`;
    /// they may be billed). Their results stay in `extra`.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited.
    pub fn phone_number_with_fields(
        &self,
        number: &str,
        fields: &[&str],
    ) -> Call<PhoneNumberLookup, TwilioError> {
        let mut req = self
            .client
            .lookups_connection()
            .get(format!("/v2/PhoneNumbers/{}", segment(number)))
            .endpoint("lookups.phone_number");
        if !fields.is_empty() {
            req = req.query(&[("Fields", fields.join(","))]);
        }
        Call::new(req)
    }
}
