//! `/envelopes/{envelopeId}/recipients`: update an envelope's recipients (correct an email or
//! a name, add a signer, change a routing order).

use http::Method;
use serde::Serialize;

use super::definition::{CarbonCopy, RecipientList, Signer};
use crate::docusign::{DocuSignClient, DocuSignError, EnvelopeId, RecipientsUpdateSummary};
use crate::toolkit::{segment, Call};

/// The body of `PUT /envelopes/{envelopeId}/recipients` (`recipients`): recipients to change
/// (matched by `recipientId`) or add, and whether DocuSign emails them again.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UpdateRecipients {
    recipients: RecipientList,
    resend: bool,
}

impl UpdateRecipients {
    /// No recipients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes (or adds) a signer.
    #[must_use]
    pub fn signer(mut self, signer: Signer) -> Self {
        self.recipients.signers.push(signer);
        self
    }

    /// Changes (or adds) a carbon copy.
    #[must_use]
    pub fn carbon_copy(mut self, cc: CarbonCopy) -> Self {
        self.recipients.carbon_copies.push(cc);
        self
    }

    /// Emails the changed recipients of the current routing order again
    /// (`resend_envelope=true`).
    #[must_use]
    pub fn resend_envelope(mut self, yes: bool) -> Self {
        self.resend = yes;
        self
    }
}

impl Serialize for UpdateRecipients {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.recipients.serialize(s)
    }
}

/// The recipient calls of one envelope; see [`crate::docusign::Envelopes::recipients`].
#[derive(Debug, Clone)]
pub struct Recipients {
    client: DocuSignClient,
    envelope: EnvelopeId,
}

impl Recipients {
    pub(crate) fn new(client: DocuSignClient, envelope: EnvelopeId) -> Self {
        Recipients { client, envelope }
    }

    /// `PUT /envelopes/{envelopeId}/recipients`: updates the recipients; each gets a result
    /// (with DocuSign's `errorCode` when it refused that one). Drops the envelope's entry in
    /// the status cache.
    pub fn update(&self, params: UpdateRecipients) -> Call<RecipientsUpdateSummary, DocuSignError> {
        let envelope = format!("/envelopes/{}", segment(self.envelope.as_str()));
        let invalidates = self.client.full_path(&envelope);
        let resend = params.resend;
        self.client
            .call_json(
                Method::PUT,
                &format!("{envelope}/recipients"),
                "envelopes.recipients.update",
                &params,
            )
            .map_request(move |mut r| {
                if let Ok(path) = invalidates {
                    r = r.invalidates(path);
                }
                if resend {
                    // Emails go out again: never repeated by a retry.
                    r = r.query(&[("resend_envelope", "true")]).side_effects(true);
                }
                r
            })
    }
}
