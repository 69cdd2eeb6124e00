//! A verifier for the simplest common scheme: HMAC-SHA256 of the raw body, hex or base64, in
//! one header or in a numbered family of headers, with several active secrets for rotation
//! (the scheme of DocuSign Connect's `X-DocuSign-Signature-<n>` headers, among others).

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
/// - **One header, or a numbered family**: by default only the header the verifier was built
///   with is read. DocuSign sends one `X-DocuSign-Signature-<n>` per active Connect key;
///   [`HmacBodyVerifierBuilder::numbered_headers`] reads every header of such a family (up to
///   a limit) and accepts the request when any of them matches any secret. The
///   `switchboard::docusign::DocuSignVerifier` is built that way.
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
    /// The header read, or in numbered mode the family's pattern (`X-Sig-<n>`): errors name it.
    header: &'static str,
    numbered: Option<Numbered>,
    encoding: SignatureEncoding,
    secrets: Vec<SecretSlice<u8>>,
}

/// A numbered header family: `<prefix><n>` for `n` in `1..=max`.
#[derive(Debug, Clone)]
struct Numbered {
    /// The prefix in lower case, as `http::HeaderName::as_str` spells every name.
    prefix: String,
    max: usize,
}

/// The placeholder that ends a numbered header pattern.
const NUMBER_PLACEHOLDER: &str = "<n>";

/// The header [`HmacBodyVerifier::new`] reads, unless [`HmacBodyVerifierBuilder::header`]
/// names another.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Signature";

/// Builds an [`HmacBodyVerifier`]; see [`HmacBodyVerifier::builder`].
#[must_use]
pub struct HmacBodyVerifierBuilder {
    header: &'static str,
    /// `Some(max)`: `header` is a numbered pattern.
    numbered_max: Option<usize>,
    encoding: SignatureEncoding,
    secrets: Vec<SecretSlice<u8>>,
}

impl fmt::Debug for HmacBodyVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacBodyVerifierBuilder")
            .field("header", &self.header)
            .field("numbered_max", &self.numbered_max)
            .field("encoding", &self.encoding)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

impl HmacBodyVerifierBuilder {
    /// The header the signature is read from (default [`DEFAULT_SIGNATURE_HEADER`]). Replaces
    /// an earlier [`numbered_headers`](Self::numbered_headers).
    pub fn header(mut self, header: &'static str) -> Self {
        self.header = header;
        self.numbered_max = None;
        self
    }

    /// Reads a numbered family of headers instead of one: `pattern` ends in `<n>`
    /// (`"X-DocuSign-Signature-<n>"`), and every header named like it with `<n>` a decimal
    /// number from 1 to `max` (no leading zero; names compared without regard to case) is
    /// checked against every secret. Any one matching any secret passes, so a sender that
    /// signs with each of its active keys (one header per key) and a receiver holding any of
    /// them agree through a rotation on either side.
    ///
    /// `max` also bounds the work a request can cause: at most `max` header values are
    /// examined (repeated values of one name count one each); headers numbered above `max`,
    /// and values beyond the first `max`, are ignored. Each secret costs one HMAC of the body
    /// however many headers there are; each examined value one constant-time comparison per
    /// secret. Errors name the pattern (``missing header `X-DocuSign-Signature-<n>` ``).
    /// A malformed value cannot match and is skipped; the request is
    /// [`WebhookError::InvalidHeader`] only when every examined value is malformed.
    /// Replaces an earlier [`header`](Self::header).
    pub fn numbered_headers(mut self, pattern: &'static str, max: usize) -> Self {
        self.header = pattern;
        self.numbered_max = Some(max);
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
    /// A [`ConfigError`] (setting `webhook.header`) when the header is not a valid header name,
    /// or a numbered pattern does not end in `<n>` after a valid header name; (setting
    /// `webhook.max_headers`) when a numbered family allows no header (`max` of 0).
    pub fn build(self) -> Result<HmacBodyVerifier, ConfigError> {
        let (name, numbered) = match self.numbered_max {
            None => (self.header, None),
            Some(max) => {
                let prefix = self
                    .header
                    .strip_suffix(NUMBER_PLACEHOLDER)
                    .ok_or_else(|| {
                        ConfigError::new(
                            "webhook.header",
                            "a numbered header pattern ends in `<n>`",
                        )
                    })?;
                if max == 0 {
                    return Err(ConfigError::new(
                        "webhook.max_headers",
                        "must allow at least one header",
                    ));
                }
                let numbered = Numbered {
                    prefix: prefix.to_ascii_lowercase(),
                    max,
                };
                (prefix, Some(numbered))
            }
        };
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::new(
                "webhook.header",
                "is not a valid HTTP header name",
            ));
        }
        Ok(HmacBodyVerifier {
            header: self.header,
            numbered,
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
            numbered_max: None,
            encoding: SignatureEncoding::Hex,
            secrets: Vec::new(),
        }
    }

    /// A verifier with one secret reading a hex signature from [`DEFAULT_SIGNATURE_HEADER`];
    /// use [`Self::builder`] for another header or encoding.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        HmacBodyVerifier {
            header: DEFAULT_SIGNATURE_HEADER,
            numbered: None,
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

    /// The header values to check: the one header's (first) value, or the numbered family's
    /// values up to the limit.
    fn candidates<'h>(&self, headers: &'h http::HeaderMap) -> Vec<&'h http::HeaderValue> {
        let Some(numbered) = &self.numbered else {
            return headers.get(self.header).into_iter().collect();
        };
        headers
            .iter()
            .filter(|(name, _)| numbered.matches(name.as_str()))
            .take(numbered.max)
            .map(|(_, value)| value)
            .collect()
    }

    fn decode(&self, raw: &http::HeaderValue) -> Result<Vec<u8>, WebhookError> {
        let invalid = |reason: &str| WebhookError::InvalidHeader {
            header: self.header,
            reason: reason.to_string(),
        };
        let value = raw.to_str().map_err(|_| invalid("not visible ASCII"))?;
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

impl Numbered {
    /// Whether a (lower-case) header name is `<prefix><n>` with `n` in `1..=max`.
    fn matches(&self, name: &str) -> bool {
        let Some(digits) = name.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        // Checked before parsing so that a long run of digits is not parsed at all.
        if digits.is_empty()
            || digits.len() > 20
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return false;
        }
        digits
            .parse::<usize>()
            .is_ok_and(|n| (1..=self.max).contains(&n))
    }
}

impl fmt::Debug for HmacBodyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacBodyVerifier")
            .field("header", &self.header)
            .field("max_headers", &self.numbered.as_ref().map(|n| n.max))
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
        let candidates = self.candidates(request.headers);
        if candidates.is_empty() {
            return Err(WebhookError::MissingHeader {
                header: self.header,
            });
        }
        let mut signatures = Vec::with_capacity(candidates.len());
        let mut first_invalid = None;
        for raw in candidates {
            match self.decode(raw) {
                Ok(signature) => signatures.push(signature),
                // A malformed value cannot match; it decides the answer only when no other
                // value is left to check (always so with one header).
                Err(e) => {
                    first_invalid.get_or_insert(e);
                }
            }
        }
        if signatures.is_empty() {
            if let Some(e) = first_invalid {
                return Err(e);
            }
        }
        for key in &self.secrets {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose_secret()) else {
                continue;
            };
            // The body is hashed once per secret; each signature costs only the finalisation
            // of a clone of that state.
            mac.update(request.body);
            for signature in &signatures {
                // Constant-time comparison.
                if mac.clone().verify_slice(signature).is_ok() {
                    return Ok(Verified::default());
                }
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

    fn numbered(secrets: &[&str], max: usize) -> HmacBodyVerifier {
        let mut b = HmacBodyVerifier::builder()
            .numbered_headers("X-Sig-<n>", max)
            .encoding(SignatureEncoding::Base64);
        for s in secrets {
            b = b.secret(s);
        }
        b.build().unwrap()
    }

    #[test]
    fn numbered_headers_accept_any_header_with_any_secret() {
        let body = br#"{"a":1}"#;
        let by_old = numbered(&["old"], 10).sign(body).unwrap();
        let by_other = numbered(&["other"], 10).sign(body).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-sig-1", by_other.parse().unwrap());
        h.insert("x-sig-7", by_old.parse().unwrap());
        assert!(numbered(&["new", "old"], 10)
            .verify(&WebhookRequest::new(body, &h))
            .is_ok());
        let err = numbered(&["new"], 10)
            .verify(&WebhookRequest::new(body, &h))
            .unwrap_err();
        assert_eq!(
            err,
            WebhookError::NoSignatureMatched {
                header: "X-Sig-<n>",
                hint: String::new()
            }
        );
        // Above the limit, with a leading zero, or not a number: not part of the family.
        for name in [
            "x-sig-11", "x-sig-07", "x-sig-0", "x-sig-", "x-sig-1a", "x-sig",
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                by_old.parse().unwrap(),
            );
            assert_eq!(
                numbered(&["old"], 10).verify(&WebhookRequest::new(body, &h)),
                Err(WebhookError::MissingHeader {
                    header: "X-Sig-<n>"
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn numbered_headers_examine_at_most_max_values() {
        let body = b"x";
        let good = numbered(&["k"], 3).sign(body).unwrap();
        let mut h = HeaderMap::new();
        for _ in 0..3 {
            h.append("x-sig-1", "AAAA".parse().unwrap());
        }
        h.append("x-sig-2", good.parse().unwrap());
        // The fourth value is beyond the limit of three.
        assert!(matches!(
            numbered(&["k"], 3).verify(&WebhookRequest::new(body, &h)),
            Err(WebhookError::NoSignatureMatched { .. })
        ));
        assert!(numbered(&["k"], 4)
            .verify(&WebhookRequest::new(body, &h))
            .is_ok());
    }

    #[test]
    fn numbered_headers_skip_malformed_values_unless_all_are() {
        let body = b"x";
        let v = numbered(&["k"], 5);
        let mut h = HeaderMap::new();
        h.insert("x-sig-1", "not base64!".parse().unwrap());
        assert!(matches!(
            v.verify(&WebhookRequest::new(body, &h)),
            Err(WebhookError::InvalidHeader {
                header: "X-Sig-<n>",
                ..
            })
        ));
        h.insert("x-sig-2", v.sign(body).unwrap().parse().unwrap());
        assert!(v.verify(&WebhookRequest::new(body, &h)).is_ok());
    }

    #[test]
    fn numbered_pattern_is_checked_at_build() {
        let build = |pattern: &'static str, max| {
            HmacBodyVerifier::builder()
                .numbered_headers(pattern, max)
                .secret("s")
                .build()
                .map(|_| ())
                .map_err(|e| e.setting)
        };
        assert_eq!(build("X-Sig-<n>", 1), Ok(()));
        assert_eq!(build("X-Sig-", 5), Err("webhook.header"));
        assert_eq!(build("bad sig <n>", 5), Err("webhook.header"));
        assert_eq!(build("X-Sig-<n>", 0), Err("webhook.max_headers"));
        // `header` after `numbered_headers` reads one header again.
        let v = HmacBodyVerifier::builder()
            .numbered_headers("X-Sig-<n>", 5)
            .header("x-one")
            .secret("s")
            .build()
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-sig-1", v.sign(b"b").unwrap().parse().unwrap());
        assert_eq!(
            v.verify(&WebhookRequest::new(b"b", &h)),
            Err(WebhookError::MissingHeader { header: "x-one" })
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let v = hex_verifier("CANARY-whsec");
        assert!(!format!("{v:?}").contains("CANARY"));
    }
}
