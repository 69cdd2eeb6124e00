//! [Standard Webhooks](https://www.standardwebhooks.com/) (and Svix, which sends the same scheme
//! under `svix-*` header names): a verifier for inbound webhooks and a signer for outbound ones.
//!
//! The sender puts three headers on each request: `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature`, a space-separated list of `v1,<base64>` entries (several
//! entries while the sender rotates its secret). Each `v1` signature is
//! `base64(HMAC-SHA256(key, "{id}.{timestamp}.{raw body}"))`, where the key is the secret with
//! its `whsec_` prefix removed, base64-decoded, and the timestamp is written in plain decimal.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{
    reserialized_hint, Verified, WebhookError, WebhookRequest, WebhookVerifier, DEFAULT_TOLERANCE,
};
use crate::error::ConfigError;

type HmacSha256 = Hmac<Sha256>;

const SECRET_PREFIX: &str = "whsec_";

/// The three header names of one branding of the scheme, as text (for errors) and as
/// pre-parsed [`HeaderName`]s (lookups then skip parsing the name).
struct HeaderNames {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
    id_key: HeaderName,
    timestamp_key: HeaderName,
    signature_key: HeaderName,
}

static UNBRANDED: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
    id_key: HeaderName::from_static("webhook-id"),
    timestamp_key: HeaderName::from_static("webhook-timestamp"),
    signature_key: HeaderName::from_static("webhook-signature"),
};

static SVIX: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
    id_key: HeaderName::from_static("svix-id"),
    timestamp_key: HeaderName::from_static("svix-timestamp"),
    signature_key: HeaderName::from_static("svix-signature"),
};

// Secrets are written with or without `=` padding (the official libraries accept both, and
// generated secrets often have non-zero trailing bits), so decode them leniently. Signatures
// are always 32 bytes in standard padded base64 and are decoded strictly.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Verifies and signs [Standard Webhooks](https://www.standardwebhooks.com/) requests.
///
/// Accepts `webhook-*` headers, or Svix's `svix-*` headers when no `webhook-*` header is
/// present. Several secrets may be active at once (rotation on our side), and several
/// signatures may be sent (rotation on the sender's side): any match passes. With no secret the
/// verifier fails closed with [`WebhookError::SecretMissing`].
///
/// ```
/// use switchboard::webhook::{StandardWebhooks, WebhookRequest, WebhookVerifier};
/// # fn demo(body: &[u8], headers: &http::HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = StandardWebhooks::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let verified = verifier.verify(&WebhookRequest::new(body, headers))?;
/// println!("event {:?}", verified.event_id);
/// # Ok(()) }
/// ```
///
/// # Deliberate differences from the official libraries
///
/// Compared with the Standard Webhooks libraries (`libraries/python/standardwebhooks/webhooks.py`
/// and `libraries/javascript/src/index.ts` @ b2fa7b87) and Svix's Rust crate (`svix` 2.9,
/// `src/webhooks.rs`):
///
/// - **Timestamps too far ahead are rejected**, as all of them do; the tolerance (five minutes
///   in all of them) is configurable here, and can be switched off for replays with
///   [`StandardWebhooksBuilder::ignore_tolerance`] (Svix's `verify_ignoring_timestamp`; the
///   Standard Webhooks libraries have no such switch).
/// - **The timestamp must be ASCII digits** (at most 19). Python reads it with `float()`
///   (`1.5e9`, ` 1614265330 `), JavaScript with `parseInt` (`1614265330abc`), Svix as an
///   `i64` (`+1614265330`, negative numbers); we answer `InvalidHeader`. Like all of them, we
///   sign the number in plain decimal, so `01614265330` is checked as `1614265330`.
/// - **Header names**: `webhook-*`, or Svix's `svix-*` when no `webhook-*` header is present.
///   The Standard Webhooks libraries read only `webhook-*`; Svix reads each header separately,
///   `svix-*` first, so it also accepts a mix we refuse.
/// - **A malformed signature entry does not hide a valid one**: entries are skipped like
///   entries of other versions, and an `InvalidHeader` is returned only when nothing matched.
///   JavaScript and Svix also skip them; Python raises on the first one (a raw
///   `binascii.Error` or `ValueError`, not its own error type).
/// - **Signatures are compared as decoded bytes** (strict, padded base64 of 32 bytes); the
///   libraries compare the base64 text. Header values are trimmed of surrounding whitespace.
/// - **Secrets**: surrounding whitespace is trimmed and base64 is read with or without padding
///   and with non-zero trailing bits, as the Python library (which adds `==`) accepts; a
///   character outside the base64 alphabet is a [`ConfigError`] (Python drops it silently,
///   JavaScript throws). A blank secret is ignored rather than refused at construction, and
///   with no secret left every request fails with [`WebhookError::SecretMissing`]. Several
///   secrets may be active; the libraries take one. The libraries' "raw" (not base64) key
///   format is not offered.
/// - **The body is verified as bytes**: Python decodes it as UTF-8 first (and fails on invalid
///   UTF-8), and the two Standard Webhooks libraries parse it as JSON on success (Svix does
///   not); we neither decode nor parse.
/// - **Error classes**: an empty `webhook-id` is `InvalidHeader` (the Standard Webhooks
///   libraries say "Missing required headers"); every error names the header at fault.
#[derive(Clone)]
pub struct StandardWebhooks {
    // Keyed HMAC states, one per active secret: cloning one skips re-deriving the key pads.
    // They are as sensitive as the secrets themselves and never printed.
    keys: Vec<HmacSha256>,
    /// `None`: not checked (replays).
    tolerance: Option<Duration>,
}

/// Builds a [`StandardWebhooks`]; see [`StandardWebhooks::builder`].
#[must_use]
pub struct StandardWebhooksBuilder {
    secrets: Vec<SecretString>,
    tolerance: Option<Duration>,
}

impl StandardWebhooksBuilder {
    /// Adds an active secret (`whsec_<base64>` or bare base64, padding optional). The first one
    /// added is the one [`StandardWebhooks::sign`] uses. Empty secrets (`""`, `"whsec_"`) are
    /// ignored, so a blank setting cannot turn verification off.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(SecretString::from(secret.into()));
        self
    }

    /// Sets the accepted distance between the signed timestamp and our clock, in both
    /// directions (default five minutes).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Does not check the signed timestamp at all, for replaying stored messages (Svix's
    /// `verify_ignoring_timestamp`). The signature is still required. Not for a live
    /// endpoint: a captured request could be replayed forever, stopped only by
    /// de-duplication on its `webhook-id`.
    pub fn ignore_tolerance(mut self) -> Self {
        self.tolerance = None;
        self
    }

    /// Decodes the secrets.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `standard_webhooks.secret` if a secret is not valid base64
    /// (the message never contains the secret).
    pub fn build(self) -> Result<StandardWebhooks, ConfigError> {
        let mut keys = Vec::with_capacity(self.secrets.len());
        for (i, secret) in self.secrets.iter().enumerate() {
            let s = secret.expose_secret().trim();
            let s = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
            if s.is_empty() {
                continue;
            }
            let key = zeroize::Zeroizing::new(LENIENT.decode(s).map_err(|_| {
                ConfigError::new(
                    "standard_webhooks.secret",
                    format!("secret #{} is not valid base64", i + 1),
                )
            })?);
            if key.is_empty() {
                continue;
            }
            keys.push(
                HmacSha256::new_from_slice(&key)
                    .map_err(|_| ConfigError::new("standard_webhooks.secret", "unusable key"))?,
            );
        }
        Ok(StandardWebhooks {
            keys,
            tolerance: self.tolerance,
        })
    }
}

impl fmt::Debug for StandardWebhooksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooksBuilder")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl StandardWebhooks {
    /// A builder with no secret and the default tolerance of five minutes.
    pub fn builder() -> StandardWebhooksBuilder {
        StandardWebhooksBuilder {
            secrets: Vec::new(),
            tolerance: Some(DEFAULT_TOLERANCE),
        }
    }

    /// A verifier with one secret and the default tolerance.
    ///
    /// # Errors
    /// A [`ConfigError`] if the secret is not valid base64.
    pub fn new(secret: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder().secret(secret).build()
    }

    /// The tolerance in force; `None` when it is switched off
    /// ([`StandardWebhooksBuilder::ignore_tolerance`]).
    pub fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    /// Verifies `request` against the clock `now` (tests and replays pin it; [`verify`] uses
    /// the system clock).
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] without a usable secret; `MissingHeader` or
    /// `InvalidHeader` naming the header at fault; `TimestampOutsideTolerance` for a signed
    /// timestamp too old or too far in the future; `NoSignatureMatched` otherwise.
    ///
    /// [`verify`]: WebhookVerifier::verify
    pub fn verify_at(
        &self,
        request: &WebhookRequest<'_>,
        now: SystemTime,
    ) -> Result<Verified, WebhookError> {
        if self.keys.is_empty() {
            return Err(WebhookError::SecretMissing);
        }
        let headers = request.headers;
        // `webhook-*` unless only Svix's `svix-*` names are present. One lookup in the common case.
        let (names, id) = match headers.get(&UNBRANDED.id_key) {
            Some(id) => (&UNBRANDED, Some(id)),
            None if !headers.contains_key(&UNBRANDED.timestamp_key)
                && !headers.contains_key(&UNBRANDED.signature_key)
                && [&SVIX.id_key, &SVIX.timestamp_key, &SVIX.signature_key]
                    .into_iter()
                    .any(|h| headers.contains_key(h)) =>
            {
                (&SVIX, None)
            }
            None => (&UNBRANDED, None),
        };
        let id = match id {
            Some(v) => header_value_str(v, names.id)?,
            None => header_str(request, &names.id_key, names.id)?,
        };
        if id.is_empty() {
            return Err(invalid(names.id, "empty"));
        }
        let ts_raw = header_str(request, &names.timestamp_key, names.timestamp)?;
        let signatures = header_str(request, &names.signature_key, names.signature)?;

        let ts = parse_timestamp(ts_raw).ok_or_else(|| {
            invalid(
                names.timestamp,
                "not a whole number of seconds since the Unix epoch",
            )
        })?;
        if let Some(tolerance) = self.tolerance {
            let now_secs = unix_secs(now);
            super::check_timestamp(
                names.timestamp,
                i128::from(ts),
                i128::from(now_secs),
                tolerance,
            )?;
        }
        // Every official library signs the number it parsed, in plain decimal: only leading
        // zeros (the one other spelling `parse_timestamp` lets through) need rewriting.
        let plain;
        let ts_signed = if ts_raw.len() > 1 && ts_raw.starts_with('0') {
            plain = ts.to_string();
            plain.as_str()
        } else {
            ts_raw
        };

        // Check the header's shape before any HMAC work: other versions are skipped, malformed
        // entries are remembered (a valid entry next to them still passes, as during rotation).
        let mut malformed: Option<String> = None;
        let mut usable = 0usize;
        let mut first = [0u8; 32];
        for entry in v1_signatures(signatures) {
            match entry {
                Ok(sig) => {
                    if usable == 0 {
                        first = sig;
                    }
                    usable += 1;
                }
                Err(reason) => {
                    malformed.get_or_insert(reason);
                }
            }
        }
        if usable == 0 {
            return Err(invalid(
                names.signature,
                malformed.as_deref().unwrap_or("no v1 signature"),
            ));
        }

        for key in &self.keys {
            // HMAC of `{id}.{timestamp}.{body}`, fed in pieces: no copy of the body, no String.
            let mut mac = key.clone();
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(ts_signed.as_bytes());
            mac.update(b".");
            mac.update(request.body);
            // Constant-time comparisons (`verify_slice`). The common case, one signature, skips
            // decoding the header a second time.
            let matched = if usable == 1 {
                mac.verify_slice(&first).is_ok()
            } else {
                // `verify_slice` consumes the state, hence the clone per candidate.
                v1_signatures(signatures)
                    .flatten()
                    .any(|sig| mac.clone().verify_slice(&sig).is_ok())
            };
            if matched {
                return Ok(Verified {
                    event_id: Some(id.to_owned()),
                    timestamp: UNIX_EPOCH.checked_add(Duration::from_secs(ts)),
                });
            }
        }
        if let Some(reason) = malformed {
            return Err(WebhookError::InvalidHeader {
                header: names.signature,
                reason,
            });
        }
        Err(WebhookError::NoSignatureMatched {
            header: names.signature,
            hint: reserialized_hint(request.body),
        })
    }

    /// The `webhook-signature` header value (`v1,<base64>`) for a message, under the first
    /// secret. Pair it with `webhook-id: {id}` and `webhook-timestamp: {timestamp}`.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] if no secret is configured.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<String, WebhookError> {
        let key = self.keys.first().ok_or(WebhookError::SecretMissing)?;
        let mut out = String::with_capacity(3 + 44);
        push_signature(&mut out, key, id, timestamp, body);
        Ok(out)
    }

    /// The header value signed under every secret (`v1,<a> v1,<b>`), as a sender does while
    /// it rotates secrets so receivers holding either one accept the message.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] if no secret is configured.
    pub fn sign_all(&self, id: &str, timestamp: u64, body: &[u8]) -> Result<String, WebhookError> {
        if self.keys.is_empty() {
            return Err(WebhookError::SecretMissing);
        }
        let mut out = String::with_capacity(self.keys.len() * 48);
        for key in &self.keys {
            if !out.is_empty() {
                out.push(' ');
            }
            push_signature(&mut out, key, id, timestamp, body);
        }
        Ok(out)
    }
}

/// Appends `v1,<base64 HMAC>` of `{id}.{timestamp}.{body}` under a pre-keyed MAC state.
fn push_signature(out: &mut String, key: &Hmac<Sha256>, id: &str, timestamp: u64, body: &[u8]) {
    let mut mac = key.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    out.push_str("v1,");
    STANDARD.encode_string(mac.finalize().into_bytes(), out);
}

impl fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("secrets", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier for StandardWebhooks {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        self.verify_at(request, SystemTime::now())
    }
}

fn invalid(header: &'static str, reason: &str) -> WebhookError {
    WebhookError::InvalidHeader {
        header,
        reason: reason.to_string(),
    }
}

fn header_str<'a>(
    request: &WebhookRequest<'a>,
    key: &HeaderName,
    header: &'static str,
) -> Result<&'a str, WebhookError> {
    let value = request
        .headers
        .get(key)
        .ok_or(WebhookError::MissingHeader { header })?;
    header_value_str(value, header)
}

fn header_value_str<'a>(
    value: &'a http::HeaderValue,
    header: &'static str,
) -> Result<&'a str, WebhookError> {
    // `to_str` lets only visible ASCII and tabs through, so the ASCII trim is `trim` (and
    // does not decode chars).
    value
        .to_str()
        .map(str::trim_ascii)
        .map_err(|_| invalid(header, "not visible ASCII"))
}

/// The `v1` entries of a signature header, decoded (32 bytes each) or with the reason they
/// cannot be; entries of other versions are skipped.
fn v1_signatures(value: &str) -> impl Iterator<Item = Result<[u8; 32], String>> + '_ {
    // Split on bytes (the value is visible ASCII): `str::split` with a `char` pattern cost
    // more than the rest of the parsing.
    value
        .as_bytes()
        .split(|&b| b == b' ')
        .filter(|e| !e.is_empty())
        .filter_map(|entry| {
            let Some(comma) = entry.iter().position(|&b| b == b',') else {
                return Some(Err("an entry is not `<version>,<signature>`".to_string()));
            };
            let (version, encoded) = (&entry[..comma], &entry[comma + 1..]);
            if version != b"v1" {
                return None;
            }
            let mut buf = [0u8; 48];
            Some(match STANDARD.decode_slice(encoded, &mut buf) {
                Ok(32) => {
                    let mut sig = [0u8; 32];
                    sig.copy_from_slice(&buf[..32]);
                    Ok(sig)
                }
                Ok(n) => Err(format!("a v1 signature is {n} bytes, not 32")),
                Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                    Err("a v1 signature is longer than 32 bytes".to_string())
                }
                Err(base64::DecodeSliceError::DecodeError(_)) => {
                    Err("a v1 signature is not valid base64".to_string())
                }
            })
        })
}

/// Unix seconds: ASCII digits only (no sign, no spaces, no fraction), so the bytes that were
/// signed are exactly the number we check.
fn parse_timestamp(raw: &str) -> Option<u64> {
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", ts.parse().unwrap());
        h.insert("webhook-signature", sig.parse().unwrap());
        h
    }

    fn other_secret() -> String {
        format!("whsec_{}", STANDARD.encode(b"another secret of 24 byte"))
    }

    #[test]
    fn signs_the_official_vector() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        assert_eq!(v.sign(ID, TS, BODY).unwrap(), SIG);
    }

    #[test]
    fn sign_then_verify_round_trips_and_reports_id_and_time() {
        let v = StandardWebhooks::new(other_secret()).unwrap();
        let sig = v.sign("msg_1", TS, b"hello").unwrap();
        let h = headers("msg_1", &TS.to_string(), &sig);
        let ok = v
            .verify_at(&WebhookRequest::new(b"hello", &h), at(TS))
            .unwrap();
        assert_eq!(ok.event_id.as_deref(), Some("msg_1"));
        assert_eq!(ok.timestamp, Some(at(TS)));
    }

    #[test]
    fn accepts_any_of_several_signatures() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let sig = format!(
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v2,xyz {SIG} v1,{}",
            STANDARD.encode([7u8; 32])
        );
        let h = headers(ID, &TS.to_string(), &sig);
        assert!(v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)).is_ok());
    }

    #[test]
    fn accepts_any_active_secret_and_signs_with_the_first() {
        let both = StandardWebhooks::builder()
            .secret(other_secret())
            .secret(SECRET)
            .build()
            .unwrap();
        let h = headers(ID, &TS.to_string(), SIG);
        assert!(both
            .verify_at(&WebhookRequest::new(BODY, &h), at(TS))
            .is_ok());
        let only_other = StandardWebhooks::new(other_secret()).unwrap();
        assert_eq!(
            both.sign(ID, TS, BODY).unwrap(),
            only_other.sign(ID, TS, BODY).unwrap()
        );
        assert!(matches!(
            only_other.verify_at(&WebhookRequest::new(BODY, &h), at(TS)),
            Err(WebhookError::NoSignatureMatched {
                header: "webhook-signature",
                ..
            })
        ));
    }

    #[test]
    fn rejects_timestamps_outside_tolerance_in_both_directions() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let h = headers(ID, &TS.to_string(), SIG);
        let req = WebhookRequest::new(BODY, &h);
        assert!(v.verify_at(&req, at(TS - 300)).is_ok());
        assert!(v.verify_at(&req, at(TS + 300)).is_ok());
        assert_eq!(
            v.verify_at(&req, at(TS - 301)),
            Err(WebhookError::TimestampOutsideTolerance {
                header: "webhook-timestamp",
                skew_secs: -301,
                tolerance_secs: 300,
            })
        );
        assert_eq!(
            v.verify_at(&req, at(TS + 301)),
            Err(WebhookError::TimestampOutsideTolerance {
                header: "webhook-timestamp",
                skew_secs: 301,
                tolerance_secs: 300,
            })
        );
        let strict = StandardWebhooks::builder()
            .secret(SECRET)
            .tolerance(Duration::from_secs(10))
            .build()
            .unwrap();
        assert!(strict.verify_at(&req, at(TS - 11)).is_err());
    }

    #[test]
    fn the_tolerance_can_be_switched_off_for_replays() {
        let replay = StandardWebhooks::builder()
            .secret(SECRET)
            .ignore_tolerance()
            .build()
            .unwrap();
        assert_eq!(replay.tolerance(), None);
        let h = headers(ID, &TS.to_string(), SIG);
        let req = WebhookRequest::new(BODY, &h);
        for now in [0, TS - 10_000_000, TS + 10_000_000] {
            let ok = replay.verify_at(&req, at(now)).unwrap();
            assert_eq!(ok.timestamp, Some(at(TS)));
        }
        // The signature still counts.
        let other = headers(ID, &(TS + 1).to_string(), SIG);
        assert!(matches!(
            replay.verify_at(&WebhookRequest::new(BODY, &other), at(0)),
            Err(WebhookError::NoSignatureMatched { .. })
        ));
    }

    #[test]
    fn the_timestamp_is_signed_in_plain_decimal_like_every_library() {
        // The official vector, with the timestamp written with leading zeros: the Python
        // (`float` then `floor`), JavaScript (`parseInt`) and Svix (`i64`) libraries all sign
        // `1614265330`, and so do we.
        let v = StandardWebhooks::new(SECRET).unwrap();
        let h = headers(ID, &format!("00{TS}"), SIG);
        assert!(v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)).is_ok());
        let zero = headers(ID, "0", &v.sign(ID, 0, BODY).unwrap());
        assert!(v
            .verify_at(&WebhookRequest::new(BODY, &zero), at(100))
            .is_ok());
    }

    #[test]
    fn fails_closed_without_a_secret() {
        for v in [
            StandardWebhooks::builder().build().unwrap(),
            StandardWebhooks::new("").unwrap(),
            StandardWebhooks::new("whsec_").unwrap(),
        ] {
            let h = headers(ID, &TS.to_string(), SIG);
            assert_eq!(
                v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)),
                Err(WebhookError::SecretMissing)
            );
            assert_eq!(v.sign(ID, TS, BODY), Err(WebhookError::SecretMissing));
        }
    }

    #[test]
    fn rejects_a_secret_that_is_not_base64_at_construction() {
        let err = StandardWebhooks::new("whsec_not*base64!CANARY").unwrap_err();
        assert_eq!(err.setting, "standard_webhooks.secret");
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }

    #[test]
    fn debug_never_prints_secrets() {
        let secret = format!("whsec_{}", STANDARD.encode(b"CANARY-CANARY-CANARY"));
        let b = StandardWebhooks::builder().secret(secret.clone());
        let dbg = format!("{b:?}");
        let v = b.build().unwrap();
        let dbg = format!("{dbg} {v:?} {v:#?}");
        assert!(!dbg.contains("CANARY"), "{dbg}");
        assert!(!dbg.contains(&secret[6..]), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
    }

    #[test]
    fn flags_a_reserialized_body() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let body = br#"{"a":1,"b":2}"#;
        let sig = v.sign(ID, TS, body).unwrap();
        let pretty =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
                .unwrap();
        let h = headers(ID, &TS.to_string(), &sig);
        let err = v
            .verify_at(&WebhookRequest::new(&pretty, &h), at(TS))
            .unwrap_err();
        assert!(
            matches!(&err, WebhookError::NoSignatureMatched { header: "webhook-signature", hint } if hint.contains("re-serialized")),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let ts = TS.to_string();
        let cases = [
            (headers(ID, "hello", SIG), "webhook-timestamp"),
            (headers(ID, "-5", SIG), "webhook-timestamp"),
            (headers(ID, "1e9", SIG), "webhook-timestamp"),
            (
                headers(ID, &ts, "v1,dawfeoifkpqwoekfpqoekf"),
                "webhook-signature",
            ),
            (headers(ID, &ts, "v1,g0hM9"), "webhook-signature"),
            (headers(ID, &ts, "v1,AAAA"), "webhook-signature"),
            (headers(ID, &ts, "garbage"), "webhook-signature"),
            (
                headers(ID, &ts, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
                "webhook-signature",
            ),
            (headers("", &ts, SIG), "webhook-id"),
        ];
        for (h, want) in cases {
            match v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)) {
                Err(WebhookError::InvalidHeader { header, .. }) => assert_eq!(header, want),
                other => panic!("{h:?}: {other:?}"),
            }
        }
        let mut h = headers(ID, &ts, SIG);
        h.remove("webhook-timestamp");
        assert_eq!(
            v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)),
            Err(WebhookError::MissingHeader {
                header: "webhook-timestamp"
            })
        );
        assert_eq!(
            v.verify_at(&WebhookRequest::new(BODY, &HeaderMap::new()), at(TS)),
            Err(WebhookError::MissingHeader {
                header: "webhook-id"
            })
        );
    }

    #[test]
    fn extreme_timestamps_never_panic() {
        let v = StandardWebhooks::builder()
            .secret(SECRET)
            .tolerance(Duration::MAX)
            .build()
            .unwrap();
        let ts = u64::MAX / 2;
        let sig = v.sign(ID, ts, BODY).unwrap();
        let h = headers(ID, &ts.to_string(), &sig);
        let ok = v.verify_at(&WebhookRequest::new(BODY, &h), at(0)).unwrap();
        assert_eq!(ok.event_id.as_deref(), Some(ID));
        let h = headers(ID, "99999999999999999999999", &sig);
        assert!(matches!(
            v.verify_at(&WebhookRequest::new(BODY, &h), at(0)),
            Err(WebhookError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn accepts_svix_branded_headers() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let mut h = HeaderMap::new();
        h.insert("svix-id", ID.parse().unwrap());
        h.insert("svix-timestamp", TS.to_string().parse().unwrap());
        h.insert("svix-signature", SIG.parse().unwrap());
        assert!(v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)).is_ok());
        h.insert("svix-timestamp", "x".parse().unwrap());
        assert!(matches!(
            v.verify_at(&WebhookRequest::new(BODY, &h), at(TS)),
            Err(WebhookError::InvalidHeader {
                header: "svix-timestamp",
                ..
            })
        ));
    }

    #[test]
    fn verify_uses_the_system_clock() {
        let v = StandardWebhooks::new(SECRET).unwrap();
        let now = unix_secs(SystemTime::now()) as u64;
        let sig = v.sign(ID, now, BODY).unwrap();
        let h = headers(ID, &now.to_string(), &sig);
        assert!(v.verify(&WebhookRequest::new(BODY, &h)).is_ok());
        let h = headers(ID, &TS.to_string(), SIG);
        assert!(matches!(
            v.verify(&WebhookRequest::new(BODY, &h)),
            Err(WebhookError::TimestampOutsideTolerance { .. })
        ));
    }
}
