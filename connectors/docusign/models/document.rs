//! An envelope's documents: the list (`GET /envelopes/{id}/documents`, the spec's
//! `envelopeDocumentsResult`), and a document to upload as one part of a multipart envelope
//! request.

use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

/// `GET /restapi/v2.1/accounts/{accountId}/envelopes/{envelopeId}/documents`: the envelope's
/// documents (the spec's `envelopeDocumentsResult`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeDocuments {
    /// The envelope.
    #[serde(default)]
    pub envelope_id: Option<String>,
    /// Its documents, in order (the certificate of completion among them once the envelope
    /// is complete, with `documentId` `"certificate"`).
    #[serde(default)]
    pub envelope_documents: Vec<EnvelopeDocument>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One document of an envelope (the spec's `envelopeDocument`). DocuSign sends its numbers
/// (`order`, `sizeBytes`) as strings; they are kept as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeDocument {
    /// The document's id in the envelope (`"1"`, or `"certificate"`): what
    /// [`Documents::download`](crate::docusign::Documents::download) takes.
    #[serde(default)]
    pub document_id: Option<String>,
    /// The document's GUID.
    #[serde(default)]
    pub document_id_guid: Option<String>,
    /// The document's name.
    #[serde(default)]
    pub name: Option<String>,
    /// `content` or `summary` (the certificate).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The document's URI under the envelope.
    #[serde(default)]
    pub uri: Option<String>,
    /// The document's place in the envelope.
    #[serde(default)]
    pub order: Option<String>,
    /// The document's size, in bytes.
    #[serde(default)]
    pub size_bytes: Option<String>,
    /// Whether the document is part of a download (`"true"`/`"false"`).
    #[serde(default)]
    pub include_in_download: Option<String>,
    /// Fields not named above (`pages`, `availableDocumentTypes`, `errorDetails`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One document sent as its own part of a multipart envelope request
/// (`DocuSignClient::create_envelope_multipart`):
/// the bytes as they are, not base64 in the JSON.
///
/// The bytes are a reference-counted [`Bytes`]: the request sends this buffer itself (no copy
/// into a request body), so a document read once into memory is held once.
#[derive(Clone)]
pub struct DocumentUpload {
    pub(crate) document_id: String,
    pub(crate) file_name: String,
    pub(crate) content_type: String,
    pub(crate) bytes: Bytes,
}

impl fmt::Debug for DocumentUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes are a tenant's document: their length only.
        f.debug_struct("DocumentUpload")
            .field("document_id", &self.document_id)
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl DocumentUpload {
    /// A PDF document: `document_id` is the `documentId` the envelope definition's
    /// `documents` entry (and its tabs) use; `file_name` its file name (`contract.pdf`).
    pub fn pdf(
        document_id: impl Into<String>,
        file_name: impl Into<String>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        DocumentUpload {
            document_id: document_id.into(),
            file_name: file_name.into(),
            content_type: "application/pdf".to_string(),
            bytes: bytes.into(),
        }
    }

    /// The same document with another content type (`application/vnd.openxmlformats-officedocument.wordprocessingml.document`
    /// for a `.docx`, which DocuSign converts).
    #[must_use]
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// The document's id in the envelope.
    pub fn document_id(&self) -> &str {
        &self.document_id
    }

    /// The document's size, in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the document is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_numbers_as_sent_and_unknown_fields() {
        let list: EnvelopeDocuments = serde_json::from_str(
            r#"{"envelopeId":"e1","envelopeDocuments":[
                {"documentId":"1","name":"contract.pdf","type":"content","order":"1","sizeBytes":"1024","pages":[{"pageId":"p"}]},
                {"documentId":"certificate","name":"Summary","type":"summary"}]}"#,
        )
        .unwrap();
        assert_eq!(list.envelope_id.as_deref(), Some("e1"));
        assert_eq!(list.envelope_documents.len(), 2);
        let first = &list.envelope_documents[0];
        assert_eq!(first.size_bytes.as_deref(), Some("1024"));
        assert_eq!(first.kind.as_deref(), Some("content"));
        assert!(first.extra.contains_key("pages"));
        let empty: EnvelopeDocuments = serde_json::from_str("{}").unwrap();
        assert!(empty.envelope_documents.is_empty());
    }

    #[test]
    fn an_upload_never_shows_its_bytes() {
        let doc = DocumentUpload::pdf("1", "a.pdf", &b"%PDF-CANARY"[..]);
        let shown = format!("{doc:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("len: 11"), "{shown}");
    }
}
