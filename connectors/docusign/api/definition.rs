//! The parts of an envelope definition: [`Document`], [`Signer`], [`CarbonCopy`],
//! [`TemplateRole`], [`Tab`] and [`EventNotification`]. Each serializes to the object of the
//! same name in DocuSign's spec (`document`, `signer`, `carbonCopy`, `templateRole`, the
//! `tabs` lists, `eventNotification`), with numbers and booleans as the strings the spec
//! declares; each has `.param(key, value)` for a field not modelled here.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::docusign::{EnvelopeStatus, RecipientStatus};

fn flag(b: bool) -> Value {
    Value::String(if b { "true" } else { "false" }.to_string())
}

fn put(extra: &mut Map<String, Value>, key: impl Into<String>, value: impl Serialize) {
    // A value that cannot be JSON (a map with non-string keys) is sent as null rather than
    // panicking; DocuSign then refuses it with its own error.
    extra.insert(
        key.into(),
        serde_json::to_value(value).unwrap_or(Value::Null),
    );
}

/// A document of an envelope, its bytes sent base64 in the request (`document`).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Document {
    document_id: String,
    name: String,
    file_extension: String,
    document_base64: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The content is the tenant's document: its length is enough to debug with.
        f.debug_struct("Document")
            .field("document_id", &self.document_id)
            .field("name", &self.name)
            .field("file_extension", &self.file_extension)
            .field("base64_len", &self.document_base64.len())
            .finish_non_exhaustive()
    }
}

impl Document {
    /// A PDF document: `id` is its number within the envelope (`"1"`), which position tabs
    /// name.
    pub fn pdf(id: impl Into<String>, name: impl Into<String>, bytes: impl AsRef<[u8]>) -> Self {
        Document::new(id, name, "pdf", bytes)
    }

    /// A document of any type DocuSign converts (`docx`, `html`, ...), by file extension.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        file_extension: impl Into<String>,
        bytes: impl AsRef<[u8]>,
    ) -> Self {
        Document {
            document_id: id.into(),
            name: name.into(),
            file_extension: file_extension.into(),
            document_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            extra: Map::new(),
        }
    }

    /// The document's id within the envelope.
    pub fn id(&self) -> &str {
        &self.document_id
    }

    /// Sets any `document` field by its DocuSign name (`"order"`, `"transformPdfFields"`).
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.extra, key, value);
        self
    }
}

/// The kind of a [`Tab`], and the `tabs` list it goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TabKind {
    /// A signature (`signHereTabs`).
    SignHere,
    /// Initials (`initialHereTabs`).
    InitialHere,
    /// The date the recipient signed, filled in by DocuSign (`dateSignedTabs`).
    DateSigned,
    /// A text field (`textTabs`).
    Text,
    /// A checkbox (`checkboxTabs`).
    Checkbox,
}

impl TabKind {
    /// The `tabs` property that lists tabs of this kind.
    pub fn list_name(self) -> &'static str {
        match self {
            TabKind::SignHere => "signHereTabs",
            TabKind::InitialHere => "initialHereTabs",
            TabKind::DateSigned => "dateSignedTabs",
            TabKind::Text => "textTabs",
            TabKind::Checkbox => "checkboxTabs",
        }
    }
}

/// How [`Tab::anchor_offset`] is measured (`anchorUnits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorUnits {
    /// Pixels (DocuSign's default).
    Pixels,
    /// Inches.
    Inches,
    /// Millimetres.
    Millimetres,
    /// Centimetres.
    Centimetres,
}

impl AnchorUnits {
    fn as_str(self) -> &'static str {
        match self {
            AnchorUnits::Pixels => "pixels",
            AnchorUnits::Inches => "inches",
            AnchorUnits::Millimetres => "mms",
            AnchorUnits::Centimetres => "cms",
        }
    }
}

/// A field a recipient fills in or signs: placed by anchor text found in the documents
/// ([`Tab::anchor`]) or at a position on a page ([`Tab::position`]).
///
/// ```
/// use switchboard::docusign::{AnchorUnits, Tab};
/// let sign = Tab::sign_here().anchor("/sn1/").anchor_offset(20, 10).anchor_units(AnchorUnits::Pixels);
/// let company = Tab::text().position("1", 1, 100, 150).label("company").value("Acme").required(true);
/// # let _ = (sign, company);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Tab {
    kind: TabKind,
    fields: Map<String, Value>,
}

impl Tab {
    fn of(kind: TabKind) -> Self {
        Tab {
            kind,
            fields: Map::new(),
        }
    }

    /// A signature.
    pub fn sign_here() -> Self {
        Tab::of(TabKind::SignHere)
    }

    /// Initials.
    pub fn initial_here() -> Self {
        Tab::of(TabKind::InitialHere)
    }

    /// The date signed (DocuSign fills it in).
    pub fn date_signed() -> Self {
        Tab::of(TabKind::DateSigned)
    }

    /// A text field.
    pub fn text() -> Self {
        Tab::of(TabKind::Text)
    }

    /// A checkbox.
    pub fn checkbox() -> Self {
        Tab::of(TabKind::Checkbox)
    }

    /// The tab's kind.
    pub fn kind(&self) -> TabKind {
        self.kind
    }

    /// Placed at every occurrence of `text` in the envelope's documents (`anchorString`).
    #[must_use]
    pub fn anchor(mut self, text: impl Into<String>) -> Self {
        self.fields
            .insert("anchorString".into(), Value::String(text.into()));
        self
    }

    /// Offset from the anchor (`anchorXOffset`, `anchorYOffset`), in
    /// [`Tab::anchor_units`].
    #[must_use]
    pub fn anchor_offset(mut self, x: i32, y: i32) -> Self {
        self.fields
            .insert("anchorXOffset".into(), Value::String(x.to_string()));
        self.fields
            .insert("anchorYOffset".into(), Value::String(y.to_string()));
        self
    }

    /// The unit of [`Tab::anchor_offset`] (`anchorUnits`).
    #[must_use]
    pub fn anchor_units(mut self, units: AnchorUnits) -> Self {
        self.fields
            .insert("anchorUnits".into(), Value::String(units.as_str().into()));
        self
    }

    /// Whether a document without the anchor text is fine (`anchorIgnoreIfNotPresent`;
    /// DocuSign's default refuses the envelope).
    #[must_use]
    pub fn anchor_ignore_if_not_present(mut self, yes: bool) -> Self {
        self.fields
            .insert("anchorIgnoreIfNotPresent".into(), flag(yes));
        self
    }

    /// Placed on page `page` (from 1) of document `document_id`, `x` and `y` pixels from the
    /// page's top left corner (`documentId`, `pageNumber`, `xPosition`, `yPosition`).
    #[must_use]
    pub fn position(mut self, document_id: impl Into<String>, page: u32, x: u32, y: u32) -> Self {
        self.fields
            .insert("documentId".into(), Value::String(document_id.into()));
        self.fields
            .insert("pageNumber".into(), Value::String(page.to_string()));
        self.fields
            .insert("xPosition".into(), Value::String(x.to_string()));
        self.fields
            .insert("yPosition".into(), Value::String(y.to_string()));
        self
    }

    /// The tab's label (`tabLabel`): the name its value is reported under.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.fields
            .insert("tabLabel".into(), Value::String(label.into()));
        self
    }

    /// Whether the recipient must fill it in: `required` for text and checkbox tabs, the
    /// inverse `optional` for sign-here and initial-here tabs. A date-signed tab is always
    /// filled in by DocuSign, so this changes nothing on it.
    #[must_use]
    pub fn required(mut self, yes: bool) -> Self {
        match self.kind {
            TabKind::SignHere | TabKind::InitialHere => {
                self.fields.insert("optional".into(), flag(!yes));
            }
            TabKind::Text | TabKind::Checkbox => {
                self.fields.insert("required".into(), flag(yes));
            }
            TabKind::DateSigned => {}
        }
        self
    }

    /// The value a text tab starts with (`value`).
    #[must_use]
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.fields
            .insert("value".into(), Value::String(value.into()));
        self
    }

    /// Whether a checkbox starts ticked (`selected`); changes nothing on other kinds.
    #[must_use]
    pub fn selected(mut self, yes: bool) -> Self {
        if self.kind == TabKind::Checkbox {
            self.fields.insert("selected".into(), flag(yes));
        }
        self
    }

    /// Whether the recipient may not change a text or checkbox tab (`locked`); changes
    /// nothing on other kinds.
    #[must_use]
    pub fn locked(mut self, yes: bool) -> Self {
        if matches!(self.kind, TabKind::Text | TabKind::Checkbox) {
            self.fields.insert("locked".into(), flag(yes));
        }
        self
    }

    /// Sets any field of this tab kind by its DocuSign name (`"width"`, `"font"`).
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.fields, key, value);
        self
    }
}

/// A recipient's tabs, grouped into DocuSign's per-kind lists (`tabs`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub(crate) struct Tabs(BTreeMap<&'static str, Vec<Map<String, Value>>>);

impl Tabs {
    fn push(&mut self, tab: Tab) {
        self.0
            .entry(tab.kind.list_name())
            .or_default()
            .push(tab.fields);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A recipient who signs (`signer`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Signer {
    email: String,
    name: String,
    recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_user_id: Option<String>,
    #[serde(skip_serializing_if = "Tabs::is_empty")]
    tabs: Tabs,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl Signer {
    /// A signer: `recipient_id` is their number within the envelope (`"1"`), unique across
    /// all of its recipients.
    pub fn new(
        email: impl Into<String>,
        name: impl Into<String>,
        recipient_id: impl Into<String>,
    ) -> Self {
        Signer {
            email: email.into(),
            name: name.into(),
            recipient_id: recipient_id.into(),
            routing_order: None,
            client_user_id: None,
            tabs: Tabs::default(),
            extra: Map::new(),
        }
    }

    /// When they get the envelope: recipients of routing order 1 first, then 2, ...; equal
    /// orders in parallel (`routingOrder`, DocuSign's default 1).
    #[must_use]
    pub fn routing_order(mut self, order: u32) -> Self {
        self.routing_order = Some(order.to_string());
        self
    }

    /// Makes them an embedded signer (`clientUserId`): no email from DocuSign; the host
    /// opens a recipient view ([`crate::docusign::Views::recipient`]) with the same id.
    #[must_use]
    pub fn client_user_id(mut self, id: impl Into<String>) -> Self {
        self.client_user_id = Some(id.into());
        self
    }

    /// Adds a tab for them.
    #[must_use]
    pub fn tab(mut self, tab: Tab) -> Self {
        self.tabs.push(tab);
        self
    }

    /// Sets any `signer` field by its DocuSign name (`"note"`, `"accessCode"`).
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.extra, key, value);
        self
    }
}

/// A recipient who gets a copy once the envelope reaches their routing order, and signs
/// nothing (`carbonCopy`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CarbonCopy {
    email: String,
    name: String,
    recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_order: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl CarbonCopy {
    /// A carbon copy: `recipient_id` is unique across the envelope's recipients.
    pub fn new(
        email: impl Into<String>,
        name: impl Into<String>,
        recipient_id: impl Into<String>,
    ) -> Self {
        CarbonCopy {
            email: email.into(),
            name: name.into(),
            recipient_id: recipient_id.into(),
            routing_order: None,
            extra: Map::new(),
        }
    }

    /// When they get their copy (`routingOrder`); usually after the signers.
    #[must_use]
    pub fn routing_order(mut self, order: u32) -> Self {
        self.routing_order = Some(order.to_string());
        self
    }

    /// Sets any `carbonCopy` field by its DocuSign name.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.extra, key, value);
        self
    }
}

/// A person filling a role of a server template (`templateRole`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TemplateRole {
    role_name: String,
    email: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_user_id: Option<String>,
    #[serde(skip_serializing_if = "Tabs::is_empty")]
    tabs: Tabs,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl TemplateRole {
    /// `email` and `name` fill the template's role `role` (its `roleName`, exactly).
    pub fn new(role: impl Into<String>, email: impl Into<String>, name: impl Into<String>) -> Self {
        TemplateRole {
            role_name: role.into(),
            email: email.into(),
            name: name.into(),
            routing_order: None,
            client_user_id: None,
            tabs: Tabs::default(),
            extra: Map::new(),
        }
    }

    /// Overrides the role's routing order (`routingOrder`).
    #[must_use]
    pub fn routing_order(mut self, order: u32) -> Self {
        self.routing_order = Some(order.to_string());
        self
    }

    /// Makes them an embedded signer (`clientUserId`; see [`Signer::client_user_id`]).
    #[must_use]
    pub fn client_user_id(mut self, id: impl Into<String>) -> Self {
        self.client_user_id = Some(id.into());
        self
    }

    /// Adds a tab, or pre-fills the template's tab of the same `tabLabel` with a value.
    #[must_use]
    pub fn tab(mut self, tab: Tab) -> Self {
        self.tabs.push(tab);
        self
    }

    /// Sets any `templateRole` field by its DocuSign name.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.extra, key, value);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeEvent {
    envelope_event_status_code: EnvelopeStatus,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecipientEvent {
    recipient_event_status_code: RecipientStatus,
}

/// A status webhook for one envelope (`eventNotification`): DocuSign posts to `url` when the
/// envelope or a recipient reaches one of the listed statuses. Verify those posts with the
/// connection's Connect HMAC key (set [`EventNotification::include_hmac`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventNotification {
    url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    envelope_events: Vec<EnvelopeEvent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    recipient_events: Vec<RecipientEvent>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl EventNotification {
    /// Posts to `url` (https, reachable by DocuSign).
    pub fn new(url: impl Into<String>) -> Self {
        EventNotification {
            url: url.into(),
            envelope_events: Vec::new(),
            recipient_events: Vec::new(),
            extra: Map::new(),
        }
    }

    /// The envelope statuses to post on (`envelopeEvents`): `sent`, `delivered`,
    /// `completed`, `declined`, `voided`.
    #[must_use]
    pub fn envelope_events(mut self, events: impl IntoIterator<Item = EnvelopeStatus>) -> Self {
        self.envelope_events
            .extend(events.into_iter().map(|e| EnvelopeEvent {
                envelope_event_status_code: e,
            }));
        self
    }

    /// The recipient statuses to post on (`recipientEvents`): `sent`, `delivered`,
    /// `completed`, `declined`, `authenticationfailed`, `autoresponded`.
    #[must_use]
    pub fn recipient_events(mut self, events: impl IntoIterator<Item = RecipientStatus>) -> Self {
        self.recipient_events
            .extend(events.into_iter().map(|e| RecipientEvent {
                recipient_event_status_code: e,
            }));
        self
    }

    /// Whether each post carries an HMAC signature of the connection's Connect keys
    /// (`includeHMAC`).
    #[must_use]
    pub fn include_hmac(mut self, yes: bool) -> Self {
        self.extra.insert("includeHMAC".into(), flag(yes));
        self
    }

    /// Whether each post carries the documents (`includeDocuments`; large).
    #[must_use]
    pub fn include_documents(mut self, yes: bool) -> Self {
        self.extra.insert("includeDocuments".into(), flag(yes));
        self
    }

    /// Whether DocuSign retries a post the host did not acknowledge with a 200
    /// (`requireAcknowledgment`).
    #[must_use]
    pub fn require_acknowledgment(mut self, yes: bool) -> Self {
        self.extra.insert("requireAcknowledgment".into(), flag(yes));
        self
    }

    /// Whether DocuSign logs the posts, visible in its Connect logs (`loggingEnabled`).
    #[must_use]
    pub fn logging_enabled(mut self, yes: bool) -> Self {
        self.extra.insert("loggingEnabled".into(), flag(yes));
        self
    }

    /// Posts JSON in the REST v2.1 event format (`eventData` `{"version": "restv2.1",
    /// "format": "json"}`) instead of the legacy XML.
    #[must_use]
    pub fn json_events(mut self) -> Self {
        self.extra.insert(
            "eventData".into(),
            serde_json::json!({"version": "restv2.1", "format": "json"}),
        );
        self
    }

    /// Sets any `eventNotification` field by its DocuSign name.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        put(&mut self.extra, key, value);
        self
    }
}

/// The recipients of an envelope definition or of a recipients update (`recipients`: the
/// kinds this crate models).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecipientList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) signers: Vec<Signer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) carbon_copies: Vec<CarbonCopy>,
}

impl RecipientList {
    pub(crate) fn is_empty(&self) -> bool {
        self.signers.is_empty() && self.carbon_copies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tabs_group_by_kind_and_numbers_are_strings() {
        let s = Signer::new("a@example.test", "A", "1")
            .routing_order(2)
            .tab(Tab::sign_here().anchor("/sn1/").anchor_offset(-5, 10))
            .tab(Tab::sign_here().position("1", 2, 30, 40).required(false))
            .tab(Tab::checkbox().label("agree").selected(true).required(true))
            .tab(Tab::date_signed().required(true).value("x"));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["routingOrder"], "2");
        assert_eq!(v["tabs"]["signHereTabs"][0]["anchorXOffset"], "-5");
        assert_eq!(v["tabs"]["signHereTabs"][1]["pageNumber"], "2");
        assert_eq!(v["tabs"]["signHereTabs"][1]["optional"], "true");
        assert_eq!(
            v["tabs"]["checkboxTabs"][0],
            json!({"tabLabel": "agree", "selected": "true", "required": "true"})
        );
        assert_eq!(v["tabs"]["dateSignedTabs"][0], json!({"value": "x"}));
    }

    #[test]
    fn a_document_is_base64_and_its_debug_leaves_the_content_out() {
        let d = Document::pdf("1", "nda.pdf", b"%PDF-CANARY");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["documentBase64"], "JVBERi1DQU5BUlk=");
        assert_eq!(v["fileExtension"], "pdf");
        assert!(!format!("{d:?}").contains("JVBERi1DQU5BUlk"));
    }
}
