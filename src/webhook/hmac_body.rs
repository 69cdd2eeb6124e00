//! A verifier for the simplest common scheme: HMAC-SHA256 of the raw body, hex or base64, in
//! one header, with several active secrets for rotation (the scheme of DocuSign Connect's
//! `X-DocuSign-Signature-<n>` headers, among others).

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

use super::{reserialized_hint, Verified, WebhookError, WebhookRequest, WebhookVerifier};

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
pub struct HmacBodyVerifier {
    header: &'static str,
    encoding: SignatureEncoding,
    secrets: Vec<SecretSlice<u8>>,
}

impl HmacBodyVerifier {
    /// A verifier reading `header`, with no secret yet (it fails closed until one is added).
    pub fn new(header: &'static str, encoding: SignatureEncoding) -> Self {
        HmacBodyVerifier {
            header,
            encoding,
            secrets: Vec::new(),
        }
    }

    /// Adds an active secret (the key is the secret's bytes as given). Empty secrets are
    /// ignored, so a blank setting cannot turn verification off.
    #[must_use]
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        let s = secret.as_ref();
        if !s.is_empty() {
            self.secrets.push(SecretSlice::from(s.to_vec()));
        }
        self
    }

    /// Computes the header value for `body` under the first secret (for hosts' own tests).
    pub fn sign(&self, body: &[u8]) -> Option<String> {
        let key = self.secrets.first()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret()).ok()?;
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        Some(match self.encoding {
            SignatureEncoding::Hex => tag.iter().map(|b| format!("{b:02x}")).collect(),
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

    #[test]
    fn accepts_any_active_secret_and_rejects_others() {
        let old = HmacBodyVerifier::new("x-sig", SignatureEncoding::Base64).secret("old");
        let both = HmacBodyVerifier::new("x-sig", SignatureEncoding::Base64)
            .secret("new")
            .secret("old");
        let body = br#"{"a":1}"#;
        let sig = old.sign(body).unwrap();
        let h = headers("x-sig", &sig);
        assert!(both.verify(&WebhookRequest::new(body, &h)).is_ok());
        let only_new = HmacBodyVerifier::new("x-sig", SignatureEncoding::Base64).secret("new");
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
        let v = HmacBodyVerifier::new("x-sig", SignatureEncoding::Hex).secret("");
        let h = headers("x-sig", "00");
        assert_eq!(
            v.verify(&WebhookRequest::new(b"x", &h)),
            Err(WebhookError::SecretMissing)
        );
        let v = v.secret("s");
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
        let v = HmacBodyVerifier::new("x-sig", SignatureEncoding::Hex).secret("s");
        let sig = v.sign(br#"{"a":1,"b":2}"#).unwrap();
        let h = headers("x-sig", &sig);
        let err = v
            .verify(&WebhookRequest::new(b"{\n  \"a\": 1,\n  \"b\": 2\n}", &h))
            .unwrap_err();
        assert!(err.to_string().contains("re-serialized"), "{err}");
    }

    #[test]
    fn debug_hides_secrets() {
        let v = HmacBodyVerifier::new("x-sig", SignatureEncoding::Hex).secret("CANARY-whsec");
        assert!(!format!("{v:?}").contains("CANARY"));
    }
}
