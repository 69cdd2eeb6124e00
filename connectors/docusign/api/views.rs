//! `/envelopes/{envelopeId}/views`: the URLs of embedded signing (recipient view) and of the
//! sending page for a draft (sender view).

use http::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::docusign::{DocuSignClient, DocuSignError, EnvelopeId, ViewUrl};
use crate::toolkit::{segment, Call};

/// The body of `POST /envelopes/{envelopeId}/views/recipient` (`recipientViewRequest`): who
/// signs (the signer's `userName`, `email` and `clientUserId`, exactly as in the envelope)
/// and where DocuSign sends them afterwards.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateRecipientView {
    return_url: String,
    user_name: String,
    email: String,
    client_user_id: String,
    authentication_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    frame_ancestors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    message_origins: Vec<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl CreateRecipientView {
    /// The embedded signer `user_name` / `email` / `client_user_id` (as set with
    /// [`crate::docusign::Signer::client_user_id`]), sent to `return_url` when done (with
    /// `?event=signing_complete`, `decline`, ...). The authentication method defaults to
    /// `"none"`: the host authenticated the user itself.
    pub fn new(
        return_url: impl Into<String>,
        user_name: impl Into<String>,
        email: impl Into<String>,
        client_user_id: impl Into<String>,
    ) -> Self {
        CreateRecipientView {
            return_url: return_url.into(),
            user_name: user_name.into(),
            email: email.into(),
            client_user_id: client_user_id.into(),
            authentication_method: "none".into(),
            recipient_id: None,
            frame_ancestors: Vec::new(),
            message_origins: Vec::new(),
            extra: Map::new(),
        }
    }

    /// How the host authenticated the user (`authenticationMethod`: `"password"`,
    /// `"email"`, `"SingleSignOn_SAML"`, ...), recorded in the audit trail.
    #[must_use]
    pub fn authentication_method(mut self, method: impl Into<String>) -> Self {
        self.authentication_method = method.into();
        self
    }

    /// The recipient's id, when two recipients share a name and email (`recipientId`).
    #[must_use]
    pub fn recipient_id(mut self, id: impl Into<String>) -> Self {
        self.recipient_id = Some(id.into());
        self
    }

    /// The origins allowed to frame the view (`frameAncestors`, for focused view in an
    /// iframe; with [`CreateRecipientView::message_origins`]).
    #[must_use]
    pub fn frame_ancestors(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.frame_ancestors
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// The origins the view posts its messages to (`messageOrigins`).
    #[must_use]
    pub fn message_origins(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.message_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Sets any `recipientViewRequest` field by its DocuSign name (`"pingUrl"`,
    /// `"securityDomain"`).
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        // A value that cannot be JSON is sent as null; DocuSign refuses it with its own error.
        self.extra.insert(
            key.into(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// The body of `POST /envelopes/{envelopeId}/views/sender` (`returnUrlRequest`): where
/// DocuSign sends the sender after the sending page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateSenderView {
    return_url: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl CreateSenderView {
    /// Back to `return_url` when the sender is done (with `?event=Send`, `Save`, ...).
    pub fn new(return_url: impl Into<String>) -> Self {
        CreateSenderView {
            return_url: return_url.into(),
            extra: Map::new(),
        }
    }

    /// Sets any field of the request by its DocuSign name.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        // As for CreateRecipientView::param.
        self.extra.insert(
            key.into(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// The view calls; see [`DocuSignClient::views`]. A view URL is a short-lived bearer link:
/// hand it to the user, never log or store it.
#[derive(Debug, Clone)]
pub struct Views {
    client: DocuSignClient,
}

impl Views {
    pub(crate) fn new(client: DocuSignClient) -> Self {
        Views { client }
    }

    /// `POST /envelopes/{id}/views/recipient`: the embedded signing URL of a signer with a
    /// `clientUserId`.
    pub fn recipient(
        &self,
        envelope: &EnvelopeId,
        params: CreateRecipientView,
    ) -> Call<ViewUrl, DocuSignError> {
        self.client.call_json(
            Method::POST,
            &format!("/envelopes/{}/views/recipient", segment(envelope.as_str())),
            "envelopes.views.recipient",
            &params,
        )
    }

    /// `POST /envelopes/{id}/views/sender`: the URL of the sending page of a draft envelope
    /// (to add tabs and send it).
    pub fn sender(
        &self,
        envelope: &EnvelopeId,
        params: CreateSenderView,
    ) -> Call<ViewUrl, DocuSignError> {
        self.client.call_json(
            Method::POST,
            &format!("/envelopes/{}/views/sender", segment(envelope.as_str())),
            "envelopes.views.sender",
            &params,
        )
    }
}
