//! A verifier for the simplest common scheme: HMAC-SHA256 of the raw body, hex or base64, in
//! one header, with several active secrets for rotation (the scheme of DocuSign Connect's
//! `X-DocuSign-Signature-<n>` headers, among others).

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

use super::{reserialized_hint, Verified, WebhookError, WebhookRequest, WebhookVerifier};
use crate::error::ConfigError;

/// How the signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// Lower- or upper-case hex.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Verifies `header = encode(HMAC-SHA256(secret, raw body))` against any active secret.
///
/// # What it does not do, and where it differs from DocuSign's examples
///
/// There is no official SDK for this scheme; compared with DocuSign's own Connect HMAC examples
/// (`code-examples-python` `eg001_validate_webhook_message.py`, `code-examples-node`
/// `validateWebhookMessage.js`, `code-examples-php` `ConnectWebhookHMACValidation.php`):
///
/// - **One header**: DocuSign sends one `X-DocuSign-Signature-<n>` per active Connect key;
///   this verifier reads only the header it was built with and checks it against every secret.
///   A receiver that holds only the key behind `-2` must build its verifier on that header.
/// - **No timestamp and no id**: the scheme signs neither, so nothing bounds a replay in time
///   and [`Verified`] is empty; the [`super::router::WebhookRouter`] then de-duplicates on the
///   SHA-256 of the body.
/// - **Comparison**: the header is decoded (strict, padded base64; or hex of either case) and
///   compared as bytes in constant time, after trimming surrounding whitespace; the Node
///   example compares decoded bytes too, the Python and PHP examples leave the comparison to
///   the caller. The key is the secret's bytes as given (not base64-decoded), as in all three.
/// - **Secrets**: empty ones are ignored, and with none left every request fails with
///   [`WebhookError::SecretMissing`].
///
/// ```
/// use switchboard::webhook::{HmacBodyVerifier, SignatureEncoding, WebhookRequest, WebhookVerifier};
/// let verifier = HmacBodyVerifier::builder()
///     .header("X-DocuSign-Signature-1")
///     .encoding(SignatureEncoding::Base64)
///     .secret("current-key")
///     .secret("previous-key") // both accepted while rotating
///     .build()?;
/// let signature = verifier.sign(b"{}")?; // for a host's own tests
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-docusign-signature-1", signature.parse()?);
/// assert!(verifier.verify(&WebhookRequest::new(b"{}", &headers)).is_ok());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HmacBodyVerifier {
    header: &'static str,
    encoding: SignatureEncoding,
    secrets: Vec<SecretSlice<u8>>,
}

/// The header [`HmacBodyVerifier::new`] reads, unless [`HmacBodyVerifierBuilder::header`]
/// names another.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Signature";

/// Builds an [`HmacBodyVerifier`]; see [`HmacBodyVerifier::builder`].
#[must_use]
pub struct HmacBodyVerifierBuilder {
    header: &'static str,
    encoding: SignatureEncoding,
    secrets: Vec<SecretSlice<u8>>,
}

impl fmt::Debug for HmacBodyVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacBodyVerifierBuilder")
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

impl HmacBodyVerifierBuilder {
    /// The header the signature is read from (default [`DEFAULT_SIGNATURE_HEADER`]).
    pub fn header(mut self, header: &'static str) -> Self {
        self.header = header;
        self
    }

    /// How the signature is written (default [`SignatureEncoding::Hex`]).
    pub fn encoding(mut self, encoding: SignatureEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Adds an active secret (the key is the secret's bytes as given). The first one added
    /// signs in [`HmacBodyVerifier::sign`]. Empty secrets are ignored, so a blank setting
    /// cannot turn verification off: without a secret every request fails closed.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        let s = secret.as_ref();
        if !s.is_empty() {
            self.secrets.push(SecretSlice::from(s.to_vec()));
        }
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// A [`ConfigError`] (setting `webhook.header`) when the header is not a valid header name.
    pub fn build(self) -> Result<HmacBodyVerifier, ConfigError> {
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(ConfigError::new(
                "webhook.header",
                "is not a valid HTTP header name",
            ));
        }
        Ok(HmacBodyVerifier {
            header: self.header,
            encoding: self.encoding,
            secrets: self.secrets,
        })
    }
}

impl HmacBodyVerifier {
    /// A builder reading [`DEFAULT_SIGNATURE_HEADER`] in hex, with no secret yet.
    pub fn builder() -> HmacBodyVerifierBuilder {
        HmacBodyVerifierBuilder {
            header: DEFAULT_SIGNATURE_HEADER,
            encoding: SignatureEncoding::Hex,
            secrets: Vec::new(),
        }
    }

    /// A verifier with one secret reading a hex signature from [`DEFAULT_SIGNATURE_HEADER`];
    /// use [`Self::builder`] for another header or encoding.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        HmacBodyVerifier {
            header: DEFAULT_SIGNATURE_HEADER,
            encoding: SignatureEncoding::Hex,
            secrets: HmacBodyVerifier::builder().secret(secret).secrets,
        }
    }

    /// The header value for `body` under the first secret, for hosts' own tests.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] if no secret is configured.
    pub fn sign(&self, body: &[u8]) -> Result<String, WebhookError> {
        let key = self.secrets.first().ok_or(WebhookError::SecretMissing)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
            .map_err(|_| WebhookError::SecretMissing)?;
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        Ok(match self.encoding {
            SignatureEncoding::Hex => hex::encode(tag),
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        })
    }

    fn decode(&self, value: &str) -> Result<Vec<u8>, WebhookError> {
        let invalid = |reason: &str| WebhookError::InvalidHeader {
            header: self.header,
            reason: reason.to_string(),
        };
        match self.encoding {
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| invalid("not valid base64")),
            SignatureEncoding::Hex => {
                hex::decode(value.trim()).map_err(|_| invalid("not valid hex"))
            }
        }
    }
}

impl fmt::Debug for HmacBodyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacBodyVerifier")
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

impl WebhookVerifier for HmacBodyVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        if self.secrets.is_empty() {
            return Err(WebhookError::SecretMissing);
        }
        let raw = request
            .headers
            .get(self.header)
            .ok_or(WebhookError::MissingHeader {
                header: self.header,
            })?;
        let value = raw.to_str().map_err(|_| WebhookError::InvalidHeader {
            header: self.header,
            reason: "not visible ASCII".to_string(),
        })?;
        let signature = self.decode(value)?;
        for key in &self.secrets {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose_secret()) else {
                continue;
            };
            mac.update(request.body);
            // Constant-time comparison.
            if mac.verify_slice(&signature).is_ok() {
                return Ok(Verified::default());
            }
        }
        Err(WebhookError::NoSignatureMatched {
            header: self.header,
            hint: reserialized_hint(request.body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn headers(name: &'static str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, v.parse().unwrap());
        h
    }

    fn base64_verifier(secrets: &[&str]) -> HmacBodyVerifier {
        let mut b = HmacBodyVerifier::builder()
            .header("x-sig")
            .encoding(SignatureEncoding::Base64);
        for s in secrets {
            b = b.secret(s);
        }
        b.build().unwrap()
    }

    fn hex_verifier(secret: &str) -> HmacBodyVerifier {
        HmacBodyVerifier::builder()
            .header("x-sig")
            .secret(secret)
            .build()
            .unwrap()
    }

    #[test]
    fn new_reads_a_hex_x_signature_and_signs_what_it_verifies() {
        let v = HmacBodyVerifier::new("s");
        let sig = v.sign(b"body").unwrap();
        // HMAC-SHA256("s", "body"), lower-case hex.
        assert_eq!(sig.len(), 64);
        assert!(sig
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let h = headers("x-signature", &sig);
        assert!(v.verify(&WebhookRequest::new(b"body", &h)).is_ok());
        assert_eq!(sig, hex_verifier("s").sign(b"body").unwrap());
    }

    #[test]
    fn build_rejects_an_invalid_header_name() {
        let e = HmacBodyVerifier::builder()
            .header("bad header")
            .secret("s")
            .build()
            .unwrap_err();
        assert_eq!(e.setting, "webhook.header");
    }

    #[test]
    fn accepts_any_active_secret_and_rejects_others() {
        let old = base64_verifier(&["old"]);
        let both = base64_verifier(&["new", "old"]);
        let body = br#"{"a":1}"#;
        let sig = old.sign(body).unwrap();
        let h = headers("x-sig", &sig);
        assert!(both.verify(&WebhookRequest::new(body, &h)).is_ok());
        let only_new = base64_verifier(&["new"]);
        assert!(matches!(
            only_new.verify(&WebhookRequest::new(body, &h)),
            Err(WebhookError::NoSignatureMatched {
                header: "x-sig",
                ..
            })
        ));
    }

    #[test]
    fn fails_closed_without_secret_and_names_bad_header() {
        let v = hex_verifier("");
        let h = headers("x-sig", "00");
        assert_eq!(
            v.verify(&WebhookRequest::new(b"x", &h)),
            Err(WebhookError::SecretMissing)
        );
        assert_eq!(v.sign(b"x"), Err(WebhookError::SecretMissing));
        let v = hex_verifier("s");
        let h = headers("x-sig", "zz");
        assert!(matches!(
            v.verify(&WebhookRequest::new(b"x", &h)),
            Err(WebhookError::InvalidHeader {
                header: "x-sig",
                ..
            })
        ));
        assert_eq!(
            v.verify(&WebhookRequest::new(b"x", &HeaderMap::new())),
            Err(WebhookError::MissingHeader { header: "x-sig" })
        );
    }

    #[test]
    fn flags_reserialized_body() {
        let v = hex_verifier("s");
        let sig = v.sign(br#"{"a":1,"b":2}"#).unwrap();
        let h = headers("x-sig", &sig);
        let err = v
            .verify(&WebhookRequest::new(b"{\n  \"a\": 1,\n  \"b\": 2\n}", &h))
            .unwrap_err();
        assert!(err.to_string().contains("re-serialized"), "{err}");
    }

    #[test]
    fn debug_hides_secrets() {
        let v = hex_verifier("CANARY-whsec");
        assert!(!format!("{v:?}").contains("CANARY"));
    }
}
