//! An envelope's documents: the list, one document or the combined PDF as a stream of bytes
//! (never buffered whole), and the multipart envelope request that sends large documents as
//! their own parts instead of base64 in the JSON.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::docusign::models::{DocumentUpload, EnvelopeDocuments};
use crate::docusign::{DocuSignClient, DocuSignError};
use crate::toolkit::{segment, Call};
use crate::{Error, Response};

/// A document's bytes as they arrive: chunks in order, then the end. A failure while reading
/// (the connection dropped, the body cap passed) is a [`DocuSignError`] item, after which the
/// stream ends.
pub type DocumentStream = Pin<Box<dyn Stream<Item = Result<Bytes, DocuSignError>> + Send>>;

type Decoded<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;

/// The documents of one envelope, from
/// [`DocuSignClient::documents`]: list them, download one, or download the combined PDF.
///
/// ```no_run
/// # async fn demo(docusign: switchboard::docusign::DocuSignClient) -> Result<(), switchboard::docusign::DocuSignError> {
/// use futures_util::StreamExt;
///
/// let documents = docusign.documents(&switchboard::docusign::EnvelopeId::new("93be49ab-afa0-4adf-933c-f752070d71ec"));
/// let mut pdf = documents.combined().await?;
/// let mut size = 0;
/// while let Some(chunk) = pdf.next().await {
///     size += chunk?.len(); // write it to a file or an object store instead
/// }
/// # let _ = size; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Documents {
    client: DocuSignClient,
    envelope_id: String,
}

impl Documents {
    pub(crate) fn new(client: DocuSignClient, envelope_id: &str) -> Self {
        Documents {
            client,
            envelope_id: envelope_id.to_string(),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/envelopes/{}/documents{rest}", segment(&self.envelope_id))
    }

    /// `GET /envelopes/{envelopeId}/documents`: the envelope's documents.
    pub fn list(&self) -> Call<EnvelopeDocuments, DocuSignError> {
        self.client
            .call(Method::GET, &self.path(""), "envelopes.documents.list")
    }

    /// `GET /envelopes/{envelopeId}/documents/{documentId}`: one document (a PDF) as a stream.
    /// `document_id` is the document's id in the envelope (`"1"`), or `"certificate"` for the
    /// certificate of completion. Add DocuSign's query options with
    /// `.map_request(|r| r.query(&[("watermark", "true")]))`.
    ///
    /// The body is handed on chunk by chunk as it arrives, never held whole (the cache does
    /// not keep a streamed call); the switchboard's body cap still bounds its total size.
    pub fn download(&self, document_id: &str) -> Call<DocumentStream, DocuSignError> {
        self.stream(
            &self.path(&format!("/{}", segment(document_id))),
            "envelopes.documents.get",
        )
    }

    /// `GET /envelopes/{envelopeId}/documents/combined`: every document of the envelope as
    /// one PDF, streamed as [`Documents::download`] is. Add the certificate of completion with
    /// `.map_request(|r| r.query(&[("certificate", "true")]))`.
    pub fn combined(&self) -> Call<DocumentStream, DocuSignError> {
        self.stream(&self.path("/combined"), "envelopes.documents.combined")
    }

    fn stream(&self, rest: &str, endpoint: &'static str) -> Call<DocumentStream, DocuSignError> {
        match self.client.request(Method::GET, rest, endpoint) {
            Ok(req) => Call::with_decoder(
                req.header(http::header::ACCEPT, "application/pdf").stream(),
                into_document_stream,
            ),
            Err(e) => Call::failed(e, into_document_stream),
        }
    }
}

fn into_document_stream(resp: Response) -> Decoded<DocumentStream> {
    let stream: DocumentStream =
        Box::pin(resp.into_stream().map(|c| c.map_err(DocuSignError::from)));
    Box::pin(std::future::ready(Ok(stream)))
}

/// What the multipart body is sent as: DocuSign reads the envelope definition from the first
/// part and each document from a part whose `Content-Disposition` names its `documentid`.
const MULTIPART_FORM_DATA: &str = "multipart/form-data";

/// The parts of a multipart envelope request, in order, and its content type (with the
/// boundary). The documents' bytes are the callers' own `Bytes`, shared, never copied: only
/// the boundaries, the part headers and the JSON are new buffers.
///
/// DocuSign's format (its "send binary" guide): the JSON part is `Content-Type:
/// application/json` with `Content-Disposition: form-data`; a document part is its content
/// type with `Content-Disposition: file; filename="…"; documentid=N`. No multipart crate
/// writes that disposition (reqwest's `multipart::Form` always writes `form-data;
/// name="…"` and takes no disposition of the caller's), so the framing is written here.
pub(crate) fn multipart_parts(
    definition: &Value,
    documents: &[DocumentUpload],
) -> Result<(Vec<Bytes>, String), Error> {
    let declared = declared_document_ids(definition);
    for (i, doc) in documents.iter().enumerate() {
        if !is_document_id(&doc.document_id) {
            return Err(Error::config(
                "documents.document_id",
                format!("documents[{i}]: must be an integer from 1 to 2147483647"),
            ));
        }
        if !declared.iter().any(|d| d == &doc.document_id) {
            return Err(Error::config(
                "documents.document_id",
                format!(
                    "documents[{i}]: `{}` is not the documentId of an entry of the envelope definition's `documents`",
                    doc.document_id
                ),
            ));
        }
        if doc.file_name.is_empty()
            || doc
                .file_name
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(Error::config(
                "documents.file_name",
                format!("documents[{i}]: must be non-empty, without quotes, backslashes or control characters"),
            ));
        }
        if http::HeaderValue::from_str(&doc.content_type).is_err() || doc.content_type.is_empty() {
            return Err(Error::config(
                "documents.content_type",
                format!("documents[{i}]: is not a valid content type"),
            ));
        }
    }
    let json = serde_json::to_vec(definition)
        .map_err(|e| Error::config("envelope_definition", format!("cannot serialize: {e}")))?;
    // 122 random bits: the odds that a document holds this line are nil, which is how every
    // multipart writer picks its boundary (scanning each document would read it all once
    // more for nothing).
    let boundary = format!("switchboard-{}", uuid::Uuid::new_v4().simple());
    let mut parts = Vec::with_capacity(2 + documents.len() * 2);
    parts.push(Bytes::from(format!(
        "--{boundary}\r\nContent-Type: application/json\r\nContent-Disposition: form-data\r\n\r\n"
    )));
    parts.push(Bytes::from(json));
    for doc in documents {
        parts.push(Bytes::from(format!(
            "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Disposition: file; filename=\"{}\"; documentid={}\r\n\r\n",
            doc.content_type, doc.file_name, doc.document_id
        )));
        // The caller's buffer itself (a reference-count bump).
        parts.push(doc.bytes.clone());
    }
    parts.push(Bytes::from(format!("\r\n--{boundary}--\r\n")));
    Ok((parts, format!("{MULTIPART_FORM_DATA}; boundary={boundary}")))
}

/// DocuSign's document ids: an integer from 1 to 2,147,483,647 written without signs or
/// separators.
fn is_document_id(id: &str) -> bool {
    !id.starts_with('0')
        && id.bytes().all(|b| b.is_ascii_digit())
        && id
            .parse::<u32>()
            .is_ok_and(|n| (1..=2_147_483_647).contains(&n))
}

/// The `documentId`s of the definition's `documents` entries (strings, or numbers as a
/// hand-written definition may have them).
fn declared_document_ids(definition: &Value) -> Vec<String> {
    definition
        .get("documents")
        .and_then(Value::as_array)
        .map(|docs| {
            docs.iter()
                .filter_map(|d| match d.get("documentId")? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl DocuSignClient {
    /// `POST /envelopes` as `multipart/form-data`: the envelope definition as JSON in the
    /// first part, each document's bytes in a part of its own, for documents too large to
    /// send as base64 inside the JSON.
    ///
    /// `definition` is the envelope definition (any `Serialize`, such as the connector's
    /// envelope type or a `serde_json::Value`); its `documents` entries name each document's
    /// `documentId` (and `name`, `fileExtension`), without `documentBase64`. `T` is what to
    /// read the answer as (the envelope summary: `envelopeId`, `status`, ...).
    ///
    /// Memory: each document is sent from its own `Bytes` (no copy of it into a request
    /// body, on any attempt); only the part headers and the definition's JSON are new
    /// buffers. DocuSign has no idempotency key, so the pipeline resends this write only when
    /// it was certainly not received (a refused connection).
    ///
    /// # Errors
    /// Fails at send, sending nothing, with an [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// error naming `documents.document_id` (not an integer from 1 to 2147483647, or not
    /// among the definition's `documents`), `documents.file_name` or
    /// `documents.content_type` (with the document's index, `documents[i]`), or
    /// `envelope_definition`.
    pub(crate) fn create_envelope_multipart<T, D>(
        &self,
        definition: &D,
        documents: Vec<DocumentUpload>,
    ) -> Call<T, DocuSignError>
    where
        T: DeserializeOwned + Send + 'static,
        D: Serialize + ?Sized,
    {
        let failed = |e: DocuSignError| Call::failed(e, |r| Box::pin(r.json()));
        let definition = match serde_json::to_value(definition) {
            Ok(v) => v,
            Err(e) => {
                return failed(
                    Error::config("envelope_definition", format!("cannot serialize: {e}")).into(),
                )
            }
        };
        let (parts, content_type) = match multipart_parts(&definition, &documents) {
            Ok(p) => p,
            Err(e) => return failed(e.into()),
        };
        match self.request(Method::POST, "/envelopes", "envelopes.create_multipart") {
            Ok(req) => Call::new(req.body_parts(parts, &content_type)),
            Err(e) => failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn the_body_is_docusigns_multipart_with_the_documents_own_buffers() {
        let pdf = Bytes::from_static(b"%PDF-1.7 one");
        let definition = json!({"emailSubject": "Sign", "documents": [{"documentId": "1", "name": "a.pdf"}, {"documentId": 2, "name": "b"}]});
        let docs = vec![
            DocumentUpload::pdf("1", "a.pdf", pdf.clone()),
            DocumentUpload::pdf("2", "b.docx", &b"docx"[..])
                .with_content_type("application/msword"),
        ];
        let (parts, content_type) = multipart_parts(&definition, &docs).unwrap();
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        // The document part is the caller's buffer, not a copy of it.
        assert!(parts
            .iter()
            .any(|p| p.as_ptr() == pdf.as_ptr() && p.len() == pdf.len()));
        let text = String::from_utf8(body(&parts)).unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Type: application/json\r\nContent-Disposition: form-data\r\n\r\n{}\
             \r\n--{boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: file; filename=\"a.pdf\"; documentid=1\r\n\r\n%PDF-1.7 one\
             \r\n--{boundary}\r\nContent-Type: application/msword\r\nContent-Disposition: file; filename=\"b.docx\"; documentid=2\r\n\r\ndocx\
             \r\n--{boundary}--\r\n",
            serde_json::to_string(&definition).unwrap()
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn bad_documents_are_refused_naming_the_field() {
        let definition = json!({"documents": [{"documentId": "1"}]});
        for (doc, field) in [
            (
                DocumentUpload::pdf("0", "a.pdf", &b"x"[..]),
                "documents.document_id",
            ),
            (
                DocumentUpload::pdf("01", "a.pdf", &b"x"[..]),
                "documents.document_id",
            ),
            (
                DocumentUpload::pdf("2147483648", "a.pdf", &b"x"[..]),
                "documents.document_id",
            ),
            (
                DocumentUpload::pdf("2", "a.pdf", &b"x"[..]),
                "documents.document_id",
            ),
            (
                DocumentUpload::pdf("1", "a\".pdf", &b"x"[..]),
                "documents.file_name",
            ),
            (
                DocumentUpload::pdf("1", "a\r\n.pdf", &b"x"[..]),
                "documents.file_name",
            ),
            (
                DocumentUpload::pdf("1", "", &b"x"[..]),
                "documents.file_name",
            ),
            (
                DocumentUpload::pdf("1", "a.pdf", &b"x"[..]).with_content_type("a\nb"),
                "documents.content_type",
            ),
        ] {
            let err = multipart_parts(&definition, &[doc]).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config);
            assert!(err.to_string().contains(field), "{field}: {err}");
            assert!(err.to_string().contains("documents[0]"), "{err}");
        }
        assert!(is_document_id("2147483647"));
    }
}
