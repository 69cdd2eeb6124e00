//! `/envelopes`: create and send (from documents or a server template), get (with recipients,
//! answered from the status cache), list status changes, void and resend.
//!
//! # Polling
//!
//! DocuSign allows one status read of an envelope per 15 minutes; reading more often gets an
//! account's API access suspended. [`Envelopes::get`] therefore answers from the
//! switchboard's response cache for `status_poll_interval_secs` (default 900 s) per tenant,
//! connection and envelope; [`Envelopes::void`], [`Envelopes::resend`] and a recipients
//! update through this client drop that envelope's entry. To hear about changes in between,
//! use Connect (an [`EventNotification`](crate::docusign::EventNotification) per envelope,
//! or an account-wide Connect configuration) rather than polling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::definition::{
    CarbonCopy, Document, EventNotification, RecipientList, Signer, TemplateRole,
};
use super::recipients::Recipients;
use crate::docusign::models::lenient_count;
use crate::docusign::{
    DocuSignClient, DocuSignError, Envelope, EnvelopeId, EnvelopeStatus, EnvelopeSummary,
    EnvelopeUpdateSummary,
};
use crate::toolkit::{segment, Call, Page, Pager, Pages};

/// The body of `POST /envelopes` (`envelopeDefinition`): an envelope made from documents
/// ([`CreateEnvelope::from_documents`]) or from a server template
/// ([`CreateEnvelope::from_template`]), sent ([`CreateEnvelope::send`]) or kept as a draft
/// ([`CreateEnvelope::draft`], DocuSign's default).
///
/// ```
/// use switchboard::docusign::{CarbonCopy, CreateEnvelope, Document, Signer, Tab};
/// let pdf = b"%PDF-1.4 ...".to_vec();
/// let envelope = CreateEnvelope::from_documents("Please sign the NDA")
///     .document(Document::pdf("1", "nda.pdf", pdf))
///     .signer(Signer::new("jane@example.com", "Jane Doe", "1").routing_order(1).tab(Tab::sign_here().anchor("/sn1/")))
///     .carbon_copy(CarbonCopy::new("legal@example.com", "Legal", "2").routing_order(2))
///     .send();
/// # let _ = envelope;
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateEnvelope {
    #[serde(skip_serializing_if = "Option::is_none")]
    email_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_blurb: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    documents: Vec<Document>,
    #[serde(skip_serializing_if = "RecipientList::is_empty")]
    recipients: RecipientList,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    template_roles: Vec<TemplateRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_notification: Option<EventNotification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<EnvelopeStatus>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl CreateEnvelope {
    fn empty() -> Self {
        CreateEnvelope {
            email_subject: None,
            email_blurb: None,
            documents: Vec::new(),
            recipients: RecipientList::default(),
            template_id: None,
            template_roles: Vec::new(),
            event_notification: None,
            status: None,
            extra: Map::new(),
        }
    }

    /// An envelope of documents ([`CreateEnvelope::document`]) whose email has `subject`.
    pub fn from_documents(subject: impl Into<String>) -> Self {
        CreateEnvelope {
            email_subject: Some(subject.into()),
            ..CreateEnvelope::empty()
        }
    }

    /// An envelope made from the server template `template_id`, its roles filled with
    /// [`CreateEnvelope::role`] (the subject is the template's unless set).
    pub fn from_template(template_id: impl Into<String>) -> Self {
        CreateEnvelope {
            template_id: Some(template_id.into()),
            ..CreateEnvelope::empty()
        }
    }

    /// The email subject (`emailSubject`).
    #[must_use]
    pub fn email_subject(mut self, subject: impl Into<String>) -> Self {
        self.email_subject = Some(subject.into());
        self
    }

    /// The email message (`emailBlurb`).
    #[must_use]
    pub fn email_blurb(mut self, blurb: impl Into<String>) -> Self {
        self.email_blurb = Some(blurb.into());
        self
    }

    /// Adds a document.
    #[must_use]
    pub fn document(mut self, document: Document) -> Self {
        self.documents.push(document);
        self
    }

    /// Adds a signer.
    #[must_use]
    pub fn signer(mut self, signer: Signer) -> Self {
        self.recipients.signers.push(signer);
        self
    }

    /// Adds a carbon copy.
    #[must_use]
    pub fn carbon_copy(mut self, cc: CarbonCopy) -> Self {
        self.recipients.carbon_copies.push(cc);
        self
    }

    /// Fills a role of the template (`templateRoles`).
    #[must_use]
    pub fn role(mut self, role: TemplateRole) -> Self {
        self.template_roles.push(role);
        self
    }

    /// A status webhook for this envelope (`eventNotification`).
    #[must_use]
    pub fn event_notification(mut self, notification: EventNotification) -> Self {
        self.event_notification = Some(notification);
        self
    }

    /// Sends the envelope when it is created (`status: "sent"`).
    #[must_use]
    pub fn send(mut self) -> Self {
        self.status = Some(EnvelopeStatus::Sent);
        self
    }

    /// Keeps it as a draft (`status: "created"`), to send later or through a sender view.
    #[must_use]
    pub fn draft(mut self) -> Self {
        self.status = Some(EnvelopeStatus::Created);
        self
    }

    /// Sets any `envelopeDefinition` field by its DocuSign name (`"brandId"`,
    /// `"customFields"`).
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

/// The query of `GET /envelopes` for envelopes whose status changed since a time
/// (`from_date`; DocuSign's `from_to_status` default `changed`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListEnvelopeStatusChanges {
    query: Vec<(String, String)>,
}

impl ListEnvelopeStatusChanges {
    /// Changes since `time`.
    pub fn since(time: SystemTime) -> Self {
        Self::since_rfc3339(rfc3339(time))
    }

    /// Changes since `time`, an RFC 3339 / ISO 8601 date-time (`"2024-05-01T00:00:00Z"`),
    /// sent as given.
    pub fn since_rfc3339(time: impl Into<String>) -> Self {
        ListEnvelopeStatusChanges {
            query: vec![("from_date".into(), time.into())],
        }
    }

    fn set(mut self, key: &str, value: String) -> Self {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_string(), value));
        self
    }

    /// Changes up to `time` (`to_date`; default now).
    #[must_use]
    pub fn until(self, time: SystemTime) -> Self {
        self.set("to_date", rfc3339(time))
    }

    /// Only envelopes now in one of `statuses` (`status`, comma-separated).
    #[must_use]
    pub fn statuses(self, statuses: impl IntoIterator<Item = EnvelopeStatus>) -> Self {
        let joined = statuses
            .into_iter()
            .map(|s| s.as_str().to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.set("status", joined)
    }

    /// Envelopes per page (`count`; DocuSign's default and maximum are 100).
    #[must_use]
    pub fn page_size(self, count: u32) -> Self {
        self.set("count", count.to_string())
    }

    /// Extra data per envelope (`include`, comma-separated: `recipients`, `documents`,
    /// `custom_fields`, ...).
    #[must_use]
    pub fn include(self, parts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let joined = parts
            .into_iter()
            .map(Into::into)
            .collect::<Vec<String>>()
            .join(",");
        self.set("include", joined)
    }

    /// Sets any query parameter of `GET /envelopes` by its DocuSign name.
    #[must_use]
    pub fn param(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.set(&key, value.into())
    }
}

/// One page of `GET /envelopes` (`envelopesInformation`). DocuSign sends the counts as
/// strings.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopesPage {
    #[serde(default)]
    envelopes: Vec<Envelope>,
    #[serde(default, deserialize_with = "lenient_count")]
    end_position: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    total_set_size: Option<u64>,
    #[serde(default)]
    next_uri: Option<String>,
}

impl EnvelopesPage {
    /// Whether another page follows: DocuSign's `nextUri`, or the counts when it left that
    /// out.
    fn more(&self) -> bool {
        let by_uri = self.next_uri.as_deref().is_some_and(|u| !u.is_empty());
        let by_count = matches!(
            (self.end_position, self.total_set_size),
            (Some(end), Some(total)) if end.saturating_add(1) < total
        );
        by_uri || by_count
    }

    fn split(self) -> Page<Envelope> {
        let more = self.more();
        Page::new(self.envelopes).more(more)
    }
}

/// The envelope calls; see [`DocuSignClient::envelopes`].
#[derive(Debug, Clone)]
pub struct Envelopes {
    client: DocuSignClient,
}

impl Envelopes {
    pub(crate) fn new(client: DocuSignClient) -> Self {
        Envelopes { client }
    }

    fn path(id: &EnvelopeId) -> String {
        format!("/envelopes/{}", segment(id.as_str()))
    }

    /// `POST /envelopes`: creates the envelope (and sends it, with
    /// [`CreateEnvelope::send`]). Not retried once it may have reached DocuSign, which has no
    /// idempotency key: a retry could send a second envelope.
    pub fn create(&self, params: CreateEnvelope) -> Call<EnvelopeSummary, DocuSignError> {
        self.client
            .call_json(Method::POST, "/envelopes", "envelopes.create", &params)
    }

    /// `GET /envelopes/{id}?include=recipients`: the envelope, its recipients and their
    /// statuses, from the status cache when this tenant's connection read it within
    /// `status_poll_interval_secs` (see the module docs on polling).
    pub fn get(&self, id: &EnvelopeId) -> Call<Envelope, DocuSignError> {
        let interval = self.client.status_poll_interval();
        self.read(id, |req| {
            if interval.is_zero() {
                req
            } else {
                req.cache_for(interval)
            }
        })
    }

    /// [`Envelopes::get`] from DocuSign, bypassing (and not refreshing) the status cache. Each
    /// call counts against DocuSign's polling rule of one status read per envelope per 15
    /// minutes: use it only after a Connect event said the envelope changed.
    pub fn get_fresh(&self, id: &EnvelopeId) -> Call<Envelope, DocuSignError> {
        self.read(id, |req| req)
    }

    fn read(
        &self,
        id: &EnvelopeId,
        cache: impl FnOnce(crate::RequestBuilder) -> crate::RequestBuilder,
    ) -> Call<Envelope, DocuSignError> {
        match self
            .client
            .request(Method::GET, &Self::path(id), "envelopes.get")
        {
            Ok(req) => Call::new(cache(req.query(&[("include", "recipients")]))),
            Err(e) => Call::failed(e, |r| Box::pin(r.json())),
        }
    }

    /// `GET /envelopes?from_date=...`: every envelope whose status changed in the window,
    /// fetched page by page (`start_position`) as the stream is polled.
    pub fn list_status_changes(
        &self,
        params: ListEnvelopeStatusChanges,
    ) -> Pages<Envelope, DocuSignError> {
        let path = match self.client.account_path("/envelopes") {
            Ok(p) => p,
            Err(e) => return Pages::failed(e),
        };
        Pager::new(self.client.connection().clone(), path)
            .query(&params.query)
            .endpoint("envelopes.list_status_changes")
            .offset("start_position", EnvelopesPage::split)
    }

    /// `PUT /envelopes/{id}` with `status: "voided"`: voids a sent envelope, telling its
    /// recipients `reason` (required by DocuSign, at most 200 characters).
    pub fn void(
        &self,
        id: &EnvelopeId,
        reason: impl Into<String>,
    ) -> Call<EnvelopeUpdateSummary, DocuSignError> {
        let body = json!({"status": EnvelopeStatus::Voided, "voidedReason": reason.into()});
        self.client
            .call_json(Method::PUT, &Self::path(id), "envelopes.void", &body)
    }

    /// `PUT /envelopes/{id}?resend_envelope=true`: sends the envelope's email again to the
    /// recipients of the current routing order. Marked as having side effects, so it is not
    /// retried once it may have reached DocuSign (a retry would email them twice).
    pub fn resend(&self, id: &EnvelopeId) -> Call<EnvelopeUpdateSummary, DocuSignError> {
        self.client
            .call_json(Method::PUT, &Self::path(id), "envelopes.resend", &json!({}))
            .map_request(|r| r.query(&[("resend_envelope", "true")]).side_effects(true))
    }

    /// The recipients of envelope `id`.
    pub fn recipients(&self, id: &EnvelopeId) -> Recipients {
        Recipients::new(self.client.clone(), id.clone())
    }
}

/// `time` as RFC 3339 in UTC, to the second (`2024-05-01T12:00:00Z`). A time before 1970 is
/// written as 1970-01-01 (DocuSign has nothing older).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's days-to-civil algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_714_564_800)), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(at(4_107_542_399)), "2100-02-28T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn a_page_says_more_by_next_uri_or_by_counts() {
        let page = |v: serde_json::Value| serde_json::from_value::<EnvelopesPage>(v).unwrap();
        let more = |p: EnvelopesPage| p.more();
        assert!(more(page(
            json!({"nextUri": "/envelopes?start_position=2"})
        )));
        assert!(more(page(
            json!({"endPosition": "1", "totalSetSize": "5", "nextUri": ""})
        )));
        assert!(!more(page(
            json!({"endPosition": "4", "totalSetSize": "5", "nextUri": ""})
        )));
        assert!(!more(page(json!({"resultSetSize": "0"}))));
    }

    #[test]
    fn the_definition_keeps_template_roles_and_status() {
        let v = serde_json::to_value(
            CreateEnvelope::from_template("tpl-1")
                .role(TemplateRole::new("Signer", "a@example.test", "A"))
                .draft()
                .param("brandId", "b-1"),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"templateId": "tpl-1", "templateRoles": [{"roleName": "Signer", "email": "a@example.test", "name": "A"}], "status": "created", "brandId": "b-1"})
        );
    }
}
