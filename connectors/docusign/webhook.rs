//! [`DocuSignVerifier`]: checks the HMAC signatures of DocuSign Connect webhooks
//! (`X-DocuSign-Signature-<n>`), derives the event id that de-duplicates DocuSign's retries,
//! and signs test payloads for hosts' own tests ([`DocuSignVerifier::sign`]).
//!
//! Each `X-DocuSign-Signature-<n>` is `base64(HMAC-SHA256(key = the UTF-8 bytes of one
//! Connect HMAC key as DocuSign shows it, msg = the raw request body))`; DocuSign sends one
//! header per active key of the account (`-1`, `-2`, ...; up to 100 keys), and names the
//! algorithm in `X-Authorization-Digest: HMACSHA256`. The HMAC work is the core's
//! [`HmacBodyVerifier`] reading the numbered header family
//! ([`HmacBodyVerifierBuilder::numbered_headers`](crate::webhook::HmacBodyVerifierBuilder::numbered_headers));
//! this module adds DocuSign's names and limits, the event id and the account binding.

use std::borrow::Cow;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::webhook::{
    HmacBodyVerifier, SignatureEncoding, Verified, WebhookError, WebhookRequest, WebhookVerifier,
};
use crate::ConfigError;

/// The signature header family, as errors name it: `X-DocuSign-Signature-1`,
/// `X-DocuSign-Signature-2`, ... (names are compared without regard to case).
pub const SIGNATURE_HEADER_PATTERN: &str = "X-DocuSign-Signature-<n>";

/// The first signature header (`X-DocuSign-Signature-1`): the one [`DocuSignVerifier::sign`]
/// computes the value of. In lower case, so that it can be given to `HeaderMap::insert` as is.
pub const SIGNATURE_HEADER: &str = "x-docusign-signature-1";

/// How many `X-DocuSign-Signature-<n>` values are examined at most: DocuSign allows up to
/// 100 Connect HMAC keys per account and sends one header per key, so a genuine request never
/// has more. Headers numbered above it are ignored.
pub const MAX_SIGNATURE_HEADERS: usize = 100;

/// The prefix of every derived [`Verified::event_id`].
const EVENT_ID_PREFIX: &str = "dsconnect_";

/// Verifies DocuSign Connect HMAC signatures.
///
/// Every `X-DocuSign-Signature-<n>` present (`n` from 1 to [`MAX_SIGNATURE_HEADERS`]) is
/// checked against every configured key, in constant time; any one matching passes, so both
/// sides can rotate keys (add the new key here before activating it in DocuSign, remove the
/// old one after DocuSign stopped using it). No signature header gives
/// [`WebhookError::MissingHeader`], none matching [`WebhookError::NoSignatureMatched`] (with a
/// hint when the body looks re-serialized), and a verifier without a key
/// [`WebhookError::SecretMissing`] for every request: it fails closed. Errors name
/// [`SIGNATURE_HEADER_PATTERN`] and never a key.
///
/// ```
/// use switchboard::docusign::{ConnectEvent, DocuSignVerifier, SIGNATURE_HEADER};
/// use switchboard::webhook::{WebhookRequest, WebhookVerifier};
/// let verifier = DocuSignVerifier::builder()
///     .key("current-connect-key")
///     .key("previous-connect-key") // both accepted while rotating
///     .build()?;
/// let body = br#"{"event":"envelope-completed","generatedDateTime":"2024-01-02T03:04:05Z","data":{"envelopeId":"e1"}}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(SIGNATURE_HEADER, verifier.sign(body)?.parse()?); // a host's own test
/// let verified = verifier.verify(&WebhookRequest::new(body, &headers))?;
/// assert!(verified.event_id.is_some());
/// let event = ConnectEvent::from_slice(body)?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
///
/// # Event id
///
/// The JSON SIM payload has no event id, so [`Verified::event_id`] is derived from the
/// verified body: `dsconnect_` and the hex SHA-256 of `event`, `data.envelopeId`,
/// `data.recipientId` (when present) and `generatedDateTime`. `retryCount` is left out on
/// purpose: DocuSign's retries of one message differ only in it, so they get the same id and
/// the [`WebhookRouter`](crate::webhook::router::WebhookRouter) processes the event once. Two
/// recipients' events of one envelope, or two events of one kind generated at different times,
/// get different ids. When the body is not JSON, or lacks `event`, `generatedDateTime` or
/// `data.envelopeId` (events not about an envelope), the id is `None` and the router
/// de-duplicates on the SHA-256 of the body instead: a retry with another `retryCount` is then
/// processed again, which is safer than dropping a distinct event under a guessed id.
///
/// # Account binding
///
/// The keys are the connection's own, so a webhook verifies only for the connection whose
/// keys signed it. When one key signs several accounts' events (a partner's integrator-managed
/// HMAC key), set [`DocuSignVerifierBuilder::account_id`] as well: a verified body whose
/// `data.accountId` is missing or another account's is then rejected
/// ([`WebhookError::NoSignatureMatched`], with a hint saying so).
///
/// # Deliberate differences from DocuSign's examples
///
/// There is no SDK verifier; compared with DocuSign's own HMAC examples
/// (`code-examples-python` `app/connect/examples/eg001_validate_webhook_message.py`,
/// `code-examples-node` `lib/connect/examples/validateWebhookMessage.js`, `code-examples-php`
/// `src/ConnectWebhookHMACValidation.php`), which compute the base64 HMAC-SHA256 of the payload
/// under one secret (the secret's UTF-8 bytes, not base64-decoded) and compare it with one
/// header value:
///
/// - **Every header against every key** (up to [`MAX_SIGNATURE_HEADERS`] values, headers
///   numbered above it ignored), where the examples check one header with one secret. A
///   signature an example accepts for one of our keys is accepted here too.
/// - **Raw bytes**: the body is hashed exactly as received; the examples take the payload as
///   a string (Python and PHP encode it again, so a body that is not UTF-8 cannot be checked
///   there).
/// - **Comparison**: the header is decoded from standard, padded base64 (what DocuSign sends)
///   after trimming surrounding whitespace, and compared as bytes in constant time, like the
///   Node example's `timingSafeEqual`. The Node example's `Buffer.from(.., 'base64')` would
///   also take unpadded or URL-safe base64 and skip stray characters; we reject those
///   spellings, as the PHP example's `hash_equals` on the text does. A malformed value simply
///   does not match; only when every value is malformed is the error
///   [`WebhookError::InvalidHeader`].
/// - **Keys** are used exactly as given (no trimming, as in the examples), as UTF-8. PHP's
///   `utf8_encode` would re-encode a non-ASCII key as if it were Latin-1; DocuSign's keys are
///   base64 text, so this never differs in practice. Empty keys are ignored;
///   [`DocuSignVerifierBuilder::build`] refuses a verifier without a usable key, and
///   [`DocuSignVerifier::new`] with an empty key fails closed.
/// - **No replay window**: Connect signs no timestamp (`generatedDateTime` is in the body, and
///   DocuSign retries a message for a long time), so nothing is checked against the clock;
///   de-duplication on the event id is what stops a replay.
/// - **The event id and the account binding** are ours (the examples only compare).
#[derive(Clone)]
pub struct DocuSignVerifier {
    /// `None`: no usable key; every request fails closed.
    inner: Option<HmacBodyVerifier>,
    keys: usize,
    account_id: Option<String>,
}

impl fmt::Debug for DocuSignVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignVerifier")
            .field("keys", &format_args!("[{} redacted]", self.keys))
            .field("account_id", &self.account_id)
            .field("max_headers", &MAX_SIGNATURE_HEADERS)
            .finish()
    }
}

/// Builds a [`DocuSignVerifier`]; see [`DocuSignVerifier::builder`].
#[must_use]
#[derive(Default)]
pub struct DocuSignVerifierBuilder {
    keys: Vec<SecretString>,
    account_id: Option<String>,
}

impl fmt::Debug for DocuSignVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignVerifierBuilder")
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("account_id", &self.account_id)
            .finish()
    }
}

impl DocuSignVerifierBuilder {
    /// Adds a Connect HMAC key, as DocuSign shows it (its UTF-8 text is the HMAC key; it is
    /// not base64-decoded). Add every key that may sign while rotating. The first one added
    /// signs in [`DocuSignVerifier::sign`]. Empty keys are ignored, so a blank setting cannot
    /// turn verification off.
    pub fn key(mut self, key: impl Into<SecretString>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Accepts only events of this DocuSign account (the account GUID, DocuSign's "API
    /// Account ID", compared without regard to case with the body's `data.accountId`). For
    /// keys that sign several accounts' events; see
    /// [Account binding](DocuSignVerifier#account-binding).
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `docusign.webhook.key`) when no non-empty key was given, or
    /// (`docusign.webhook.account_id`) when the account id is blank.
    pub fn build(self) -> Result<DocuSignVerifier, ConfigError> {
        if self
            .account_id
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(ConfigError::new(
                "docusign.webhook.account_id",
                "must not be empty",
            ));
        }
        let verifier = self.build_lenient()?;
        if verifier.inner.is_none() {
            return Err(ConfigError::new(
                "docusign.webhook.key",
                "at least one non-empty Connect HMAC key is required",
            ));
        }
        Ok(verifier)
    }

    /// The verifier, failing closed (`inner: None`) rather than refusing when no key is
    /// usable.
    fn build_lenient(self) -> Result<DocuSignVerifier, ConfigError> {
        let usable: Vec<&SecretString> = self
            .keys
            .iter()
            .filter(|k| !k.expose_secret().is_empty())
            .collect();
        let inner = if usable.is_empty() {
            None
        } else {
            let mut b = HmacBodyVerifier::builder()
                .numbered_headers(SIGNATURE_HEADER_PATTERN, MAX_SIGNATURE_HEADERS)
                .encoding(SignatureEncoding::Base64);
            for key in &usable {
                b = b.secret(key.expose_secret().as_bytes());
            }
            Some(b.build()?)
        };
        Ok(DocuSignVerifier {
            inner,
            keys: usable.len(),
            account_id: self.account_id.map(|a| a.trim().to_string()),
        })
    }
}

impl DocuSignVerifier {
    /// A builder with no key.
    pub fn builder() -> DocuSignVerifierBuilder {
        DocuSignVerifierBuilder::default()
    }

    /// A verifier with one key. An empty key gives a verifier that refuses every request with
    /// [`WebhookError::SecretMissing`]; use [`Self::builder`] to have that refused up front.
    pub fn new(key: impl Into<SecretString>) -> Self {
        Self::builder()
            .key(key)
            .build_lenient()
            // Only the core builder's header-name check can fail, and the pattern is a
            // constant it accepts (a unit test builds it); fail closed all the same.
            .unwrap_or(DocuSignVerifier {
                inner: None,
                keys: 0,
                account_id: None,
            })
    }

    /// The value of [`SIGNATURE_HEADER`] for `body` under the first key, for hosts' own tests.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] without a usable key.
    pub fn sign(&self, body: &[u8]) -> Result<String, WebhookError> {
        self.inner
            .as_ref()
            .ok_or(WebhookError::SecretMissing)?
            .sign(body)
    }
}

impl WebhookVerifier for DocuSignVerifier {
    /// Verifies `request`'s `X-DocuSign-Signature-<n>` headers against every key. On success,
    /// [`Verified::event_id`] is derived from the body (see
    /// [Event id](DocuSignVerifier#event-id)); there is no signed timestamp.
    ///
    /// # Errors
    /// `SecretMissing` without a usable key; `MissingHeader` without any signature header;
    /// `InvalidHeader` when every signature value is malformed; `NoSignatureMatched` when none
    /// matches any key, or (with an account binding) the body is another account's. All name
    /// [`SIGNATURE_HEADER_PATTERN`].
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        let inner = self.inner.as_ref().ok_or(WebhookError::SecretMissing)?;
        inner.verify(request)?;
        // Read only once the signature is good: the body is DocuSign's from here on.
        let fields = IdFields::read(request.body);
        if let Some(account) = &self.account_id {
            let theirs = fields
                .as_ref()
                .and_then(|f| f.data.as_ref())
                .and_then(|d| d.account_id.as_deref());
            if !theirs.is_some_and(|t| t.eq_ignore_ascii_case(account)) {
                return Err(WebhookError::NoSignatureMatched {
                    header: SIGNATURE_HEADER_PATTERN,
                    hint: " for this connection's DocuSign account (the signed body's \
                           `data.accountId` is missing or another account's)"
                        .to_string(),
                });
            }
        }
        Ok(Verified {
            event_id: fields.as_ref().and_then(IdFields::event_id),
            ..Verified::default()
        })
    }
}

/// The few body fields the event id and the account binding need; everything else is
/// skipped unparsed into memory.
#[derive(Deserialize)]
struct IdFields<'a> {
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(rename = "generatedDateTime", borrow, default)]
    generated_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<IdData<'a>>,
}

#[derive(Deserialize)]
struct IdData<'a> {
    #[serde(rename = "accountId", borrow, default)]
    account_id: Option<Cow<'a, str>>,
    #[serde(rename = "envelopeId", borrow, default)]
    envelope_id: Option<Cow<'a, str>>,
    /// A string in the SIM format; a number is accepted too and read as its decimal text.
    #[serde(rename = "recipientId", default)]
    recipient_id: Option<IdText>,
}

/// A string, or a number read as its text.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Text(String),
    Number(serde_json::Number),
}

impl<'a> IdFields<'a> {
    /// `None` when the body is not a JSON object of this shape (the fields, where present, of
    /// the wrong type, or given twice).
    fn read(body: &'a [u8]) -> Option<IdFields<'a>> {
        serde_json::from_slice(body).ok()
    }

    /// `dsconnect_` and the hex SHA-256 of the parts, each length-prefixed (so no two
    /// different sets of parts hash the same input); `None` without an event, a generation
    /// time or an envelope id.
    fn event_id(&self) -> Option<String> {
        let event = present(&self.event)?;
        let generated = present(&self.generated_date_time)?;
        let data = self.data.as_ref()?;
        let envelope = present(&data.envelope_id)?;
        let recipient = data
            .recipient_id
            .as_ref()
            .map(|r| match r {
                IdText::Text(s) => Cow::Borrowed(s.as_str()),
                IdText::Number(n) => Cow::Owned(n.to_string()),
            })
            .filter(|r| !r.is_empty());
        let mut h = Sha256::new();
        h.update(b"switchboard/docusign/connect-event/v1\0");
        for part in [
            Some(event),
            Some(envelope),
            recipient.as_deref(),
            Some(generated),
        ] {
            match part {
                Some(p) => {
                    h.update([1u8]);
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p.as_bytes());
                }
                None => h.update([0u8]),
            }
        }
        let mut id = String::with_capacity(EVENT_ID_PREFIX.len() + 64);
        id.push_str(EVENT_ID_PREFIX);
        id.push_str(&hex::encode(h.finalize()));
        Some(id)
    }
}

/// A part of the event id: present and not empty.
fn present<'s>(s: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
    s.as_deref().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// The shared vector `single_key_valid`: key, body and DocuSign's signature.
    const KEY: &str = "4pFgkZ8n0HnAL7KnU2m3yqL1kq3sXW4V0mEexample0=";
    const BODY: &str = r#"{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/00000000-0000-0000-0000-000000000001/envelopes/11111111-2222-3333-4444-555555555555","retryCount":0,"configurationId":10000001,"generatedDateTime":"2024-01-02T03:04:05.6789012Z","data":{"accountId":"00000000-0000-0000-0000-000000000001","userId":"99999999-8888-7777-6666-555555555555","envelopeId":"11111111-2222-3333-4444-555555555555"}}"#;
    const SIGNATURE: &str = "WAJRGPbkpwsAjrro0D3uPhYFQ9rH5/UgvdQkJGhNLwk=";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn verify(v: &DocuSignVerifier, body: &str, h: &HeaderMap) -> Result<Verified, WebhookError> {
        v.verify(&WebhookRequest::new(body.as_bytes(), h))
    }

    #[test]
    fn signs_like_docusign_and_verifies_its_signature() {
        let v = DocuSignVerifier::new(KEY);
        assert_eq!(v.sign(BODY.as_bytes()).unwrap(), SIGNATURE);
        let verified = verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, SIGNATURE)])).unwrap();
        assert!(verified.event_id.unwrap().starts_with(EVENT_ID_PREFIX));
        assert_eq!(verified.timestamp, None);
    }

    #[test]
    fn any_header_may_match_any_key() {
        let v = DocuSignVerifier::builder()
            .key("unrelated")
            .key(KEY)
            .build()
            .unwrap();
        let h = headers(&[
            (
                "X-DocuSign-Signature-1",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            ("x-docusign-signature-2", SIGNATURE),
        ]);
        assert!(verify(&v, BODY, &h).is_ok());
        let other = DocuSignVerifier::new("unrelated");
        assert_eq!(
            verify(&other, BODY, &h),
            Err(WebhookError::NoSignatureMatched {
                header: SIGNATURE_HEADER_PATTERN,
                hint: String::new(),
            })
        );
    }

    #[test]
    fn missing_malformed_and_reserialized_are_told_apart() {
        let v = DocuSignVerifier::new(KEY);
        assert_eq!(
            verify(
                &v,
                BODY,
                &headers(&[("x-authorization-digest", "HMACSHA256")])
            ),
            Err(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER_PATTERN
            })
        );
        assert!(matches!(
            verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, "not base64!")])),
            Err(WebhookError::InvalidHeader {
                header: SIGNATURE_HEADER_PATTERN,
                ..
            })
        ));
        // Unpadded or URL-safe spellings of the right bytes are not DocuSign's: rejected.
        let unpadded = SIGNATURE.trim_end_matches('=');
        assert!(verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, unpadded)])).is_err());
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        let err = verify(&v, &pretty, &headers(&[(SIGNATURE_HEADER, SIGNATURE)])).unwrap_err();
        assert!(err.to_string().contains("re-serialized"), "{err}");
    }

    #[test]
    fn fails_closed_without_a_usable_key() {
        let v = DocuSignVerifier::new("");
        let h = headers(&[(SIGNATURE_HEADER, SIGNATURE)]);
        assert_eq!(verify(&v, BODY, &h), Err(WebhookError::SecretMissing));
        assert_eq!(v.sign(b"x"), Err(WebhookError::SecretMissing));
        let e = DocuSignVerifier::builder().key("").build().unwrap_err();
        assert_eq!(e.setting, "docusign.webhook.key");
        let e = DocuSignVerifier::builder().build().unwrap_err();
        assert_eq!(e.setting, "docusign.webhook.key");
        let e = DocuSignVerifier::builder()
            .key(KEY)
            .account_id(" ")
            .build()
            .unwrap_err();
        assert_eq!(e.setting, "docusign.webhook.account_id");
    }

    #[test]
    fn keys_are_used_as_given() {
        // A key with a stray newline is another key, as in DocuSign's examples.
        let v = DocuSignVerifier::new(format!("{KEY}\n"));
        assert!(verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, SIGNATURE)])).is_err());
    }

    #[test]
    fn event_id_ignores_retry_count_and_tells_events_apart() {
        let v = DocuSignVerifier::new(KEY);
        let id = |body: &str| {
            let sig = v.sign(body.as_bytes()).unwrap();
            verify(&v, body, &headers(&[(SIGNATURE_HEADER, &sig)]))
                .unwrap()
                .event_id
        };
        let first = id(BODY).unwrap();
        assert_eq!(
            id(&BODY.replace(r#""retryCount":0"#, r#""retryCount":3"#)),
            Some(first.clone())
        );
        for other in [
            BODY.replace("envelope-completed", "envelope-sent"),
            BODY.replace("05.6789012Z", "06.6789012Z"),
            BODY.replace(
                r#""envelopeId":"11111111-2222-3333-4444-555555555555"}"#,
                r#""envelopeId":"11111111-2222-3333-4444-555555555555","recipientId":"1"}"#,
            ),
        ] {
            let other_id = id(&other).unwrap();
            assert_ne!(other_id, first, "{other}");
        }
        // A recipient id as a number or as text is the same recipient.
        let with = |r: &str| {
            BODY.replace(
                r#""envelopeId":"11111111-2222-3333-4444-555555555555"}"#,
                &format!(
                    r#""envelopeId":"11111111-2222-3333-4444-555555555555","recipientId":{r}}}"#
                ),
            )
        };
        assert_eq!(id(&with("2")), id(&with(r#""2""#)));
        assert_ne!(id(&with("2")), id(&with(r#""3""#)));
        // Not JSON, or no envelope: verified, de-duplicated on the body by the router.
        assert_eq!(id("not json"), None);
        assert_eq!(
            id(
                r#"{"event":"template-created","generatedDateTime":"2024-01-02T03:04:05Z","data":{"templateId":"t"}}"#
            ),
            None
        );
        assert_eq!(
            id(r#"{"event":"envelope-sent","data":{"envelopeId":"e"}}"#),
            None
        );
    }

    #[test]
    fn account_binding_refuses_another_accounts_event() {
        let bound = |account: &str| {
            DocuSignVerifier::builder()
                .key(KEY)
                .account_id(account)
                .build()
                .unwrap()
        };
        let h = headers(&[(SIGNATURE_HEADER, SIGNATURE)]);
        assert!(verify(&bound("00000000-0000-0000-0000-000000000001"), BODY, &h).is_ok());
        // GUIDs compare without regard to case.
        let upper = bound(
            "00000000-0000-0000-0000-000000000001"
                .to_ascii_uppercase()
                .as_str(),
        );
        assert!(verify(&upper, BODY, &h).is_ok());
        let err = verify(&bound("00000000-0000-0000-0000-000000000002"), BODY, &h).unwrap_err();
        assert!(matches!(err, WebhookError::NoSignatureMatched { .. }));
        assert!(err.to_string().contains("data.accountId"), "{err}");
        // A bad signature is still a bad signature, bound or not.
        let wrong = headers(&[(
            SIGNATURE_HEADER,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )]);
        assert_eq!(
            verify(&bound("00000000-0000-0000-0000-000000000001"), BODY, &wrong),
            Err(WebhookError::NoSignatureMatched {
                header: SIGNATURE_HEADER_PATTERN,
                hint: String::new()
            })
        );
    }

    #[test]
    fn at_most_the_limit_of_headers_is_examined() {
        let v = DocuSignVerifier::new(KEY);
        let junk = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let mut h = HeaderMap::new();
        for n in 1..=MAX_SIGNATURE_HEADERS {
            h.insert(
                HeaderName::from_bytes(format!("x-docusign-signature-{n}").as_bytes()).unwrap(),
                HeaderValue::from_static(junk),
            );
        }
        // Numbered beyond the limit: never looked at, even with the right signature.
        h.insert(
            "x-docusign-signature-101",
            HeaderValue::from_static(SIGNATURE),
        );
        assert!(matches!(
            verify(&v, BODY, &h),
            Err(WebhookError::NoSignatureMatched { .. })
        ));
        h.insert(
            "x-docusign-signature-100",
            HeaderValue::from_static(SIGNATURE),
        );
        assert!(verify(&v, BODY, &h).is_ok());
    }

    #[test]
    fn debug_shows_no_key() {
        let v = DocuSignVerifier::builder()
            .key("CANARY-connect-key")
            .build()
            .unwrap();
        let b = DocuSignVerifier::builder().key("CANARY-connect-key");
        let shown = format!("{v:?} {b:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("1 redacted"), "{shown}");
    }
}
