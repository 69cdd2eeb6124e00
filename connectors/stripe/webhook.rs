//! [`StripeVerifier`]: checks `Stripe-Signature` on inbound webhooks, parses the verified body
//! as an [`Event`] ([`StripeVerifier::construct_event`]), and signs test payloads for hosts'
//! own tests ([`StripeVerifier::sign`], [`test_header`]).
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`; each `v1` is
//! `hex(HMAC-SHA256(key = the endpoint secret's bytes, "whsec_" included,
//! msg = "<t>.<raw body>"))`, `<t>` written in plain decimal. Every `v1` is checked against
//! every configured secret, so both sides can rotate. Other schemes (`v0`) are ignored, as the
//! official SDKs do.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::models::Event;
use crate::webhook::{Verified, WebhookError, WebhookRequest, WebhookVerifier, DEFAULT_TOLERANCE};
use crate::DecodeError;

type HmacSha256 = Hmac<Sha256>;

/// The header Stripe signs with.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

static SIGNATURE_KEY: HeaderName = HeaderName::from_static("stripe-signature");

/// Verifies `Stripe-Signature` webhooks.
///
/// Several secrets may be active (rotation); any `v1` signature matching any of them passes.
/// Without a secret it fails closed ([`WebhookError::SecretMissing`]). The timestamp must be
/// within the tolerance of our clock in both directions (the SDKs check only the past; a
/// timestamp far in the future is as suspicious as an old one), unless the tolerance is
/// switched off for replays. Every difference from the official SDKs is listed below.
///
/// ```
/// use switchboard::stripe::StripeVerifier;
/// use switchboard::webhook::{WebhookRequest, WebhookVerifier};
/// # fn demo(body: &[u8], headers: &http::HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = StripeVerifier::new("whsec_...");
/// let verified = verifier.verify(&WebhookRequest::new(body, headers))?;
/// let event = switchboard::stripe::Event::from_slice(body)?;
/// # Ok(()) }
/// ```
///
/// # Tolerance
///
/// By default the signed timestamp must be within five minutes of our clock, as in the SDKs'
/// `constructEvent` / `construct_event` / `ConstructEvent`. To replay stored events (whose
/// timestamps are old by design), switch it off with
/// [`StripeVerifierBuilder::ignore_tolerance`], as the SDKs' low-level verify allows
/// (stripe-node `signature.verifyHeader` with no tolerance, stripe-python
/// `WebhookSignature.verify_header(..., tolerance=None)`, stripe-go
/// `ValidatePayloadIgnoringTolerance`). The signature is still checked, and
/// [`Verified::timestamp`] still reports the signed time.
///
/// # Deliberate differences from the official SDKs
///
/// Compared with stripe-node 22.5 (`src/Webhooks.ts`), stripe-python 15.3 (`stripe/_webhook.py`)
/// and stripe-go v86 (`webhook/client.go`):
///
/// - **Future timestamps are rejected** beyond the tolerance; the SDKs only reject old ones
///   (`now - t > tolerance`). A timestamp far ahead is as suspicious as an old one, and
///   Stripe's clock is not ahead of ours by minutes.
/// - **`tolerance(Duration::ZERO)` is a zero-second window**, not "off" as a tolerance of `0`
///   is in stripe-node's and stripe-python's low-level verify: switching the check off takes
///   the explicit [`StripeVerifierBuilder::ignore_tolerance`], so a zero read from a setting
///   cannot turn it off by accident.
/// - **Secrets are trimmed** of surrounding whitespace, and blank ones ignored (then every
///   request fails with [`WebhookError::SecretMissing`]). The SDKs use the secret as given (an
///   extra newline makes every signature fail; stripe-node only mentions it in its message).
///   Several secrets may be active; the SDKs take one.
/// - **The header is parsed leniently where it is harmless**: spaces around items, keys and
///   values are ignored (the SDKs match `t` and `v1` exactly, so ` v1=...` is not a
///   signature to them); the first `t` wins (stripe-python; stripe-node and stripe-go take the
///   last); items without `=` are skipped (stripe-go rejects the header).
/// - **The timestamp must be whole, non-negative seconds** (`t=12abc` and `t=-5` are
///   `InvalidHeader`; stripe-node reads `12abc` as 12, and all three accept a negative number).
///   It is signed in plain decimal, as all three SDKs do, so `t=0012` is checked as `12`.
/// - **`v1` hex is compared as bytes**, so upper-case hex matches (as in stripe-go, which
///   decodes it; stripe-node and stripe-python compare lower-case text).
/// - **The timestamp is checked before the HMAC** (as stripe-go; stripe-node and stripe-python
///   check the signature first): a stale request with a bad signature is reported as
///   `TimestampOutsideTolerance`, not `NoSignatureMatched`.
/// - **An empty body is verified like any other** (stripe-node refuses it before checking).
/// - **Parsing the event** ([`StripeVerifier::construct_event`], [`Event::from_slice`]) reports
///   a body that is not JSON, or not an event, as a typed [`DecodeError`] with the place it
///   failed (a JSON pointer, and line and column), never the content; a thin event
///   (`v2.core.event`) is refused as in the SDKs. The event's `api_version` is not compared
///   with ours (stripe-go does, unless told not to): unknown fields are kept, not dropped.
#[derive(Clone)]
pub struct StripeVerifier {
    // Keyed HMAC states, one per secret: cloning one skips re-deriving the key pads. As
    // sensitive as the secrets and never printed.
    keys: Vec<HmacSha256>,
    /// `None`: not checked (replays).
    tolerance: Option<Duration>,
}

impl fmt::Debug for StripeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeVerifier")
            .field("secrets", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// Builds a [`StripeVerifier`]; see [`StripeVerifier::builder`].
#[must_use]
pub struct StripeVerifierBuilder {
    secrets: Vec<SecretString>,
    tolerance: Option<Duration>,
}

impl fmt::Debug for StripeVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeVerifierBuilder")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl StripeVerifierBuilder {
    /// Adds an endpoint secret (`whsec_...`), used as written apart from surrounding
    /// whitespace, which is trimmed (a stray newline from a secret file would otherwise fail
    /// every request). The first one added signs in [`StripeVerifier::sign`]. Blank secrets
    /// are ignored, so an empty setting cannot turn verification off.
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The accepted distance between the signed timestamp and our clock, in both directions
    /// (default 300 s). `Duration::ZERO` is a zero-second window, not "off": see
    /// [`ignore_tolerance`](Self::ignore_tolerance).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Does not check the signed timestamp at all, for replaying stored events (the SDKs'
    /// low-level verify without a tolerance; stripe-go's `...IgnoringTolerance`). The
    /// signature is still required. Do not use it on a live endpoint: a captured request could
    /// then be replayed forever, and only de-duplication on the event id would stop it.
    pub fn ignore_tolerance(mut self) -> Self {
        self.tolerance = None;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> StripeVerifier {
        let keys = self
            .secrets
            .iter()
            .map(|s| s.expose_secret().trim())
            .filter(|s| !s.is_empty())
            .filter_map(|s| HmacSha256::new_from_slice(s.as_bytes()).ok())
            .collect();
        StripeVerifier {
            keys,
            tolerance: self.tolerance,
        }
    }
}

impl StripeVerifier {
    /// A builder with no secret and the default tolerance.
    pub fn builder() -> StripeVerifierBuilder {
        StripeVerifierBuilder {
            secrets: Vec::new(),
            tolerance: Some(DEFAULT_TOLERANCE),
        }
    }

    /// A verifier with one secret and the default tolerance.
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self::builder().secret(secret).build()
    }

    /// The tolerance in force; `None` when it is switched off
    /// ([`StripeVerifierBuilder::ignore_tolerance`]).
    pub fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    /// Verifies `request` against the clock `now` (tests pin it; [`WebhookVerifier::verify`]
    /// uses the system clock). On success, `event_id` is the payload's top-level `id`, read
    /// only once the signature is good. It is read cheaply from a leading `"id"` key without
    /// parsing the rest, so a signed body that is not valid JSON may still give one; parse the
    /// body ([`construct_event`](Self::construct_event)) to know it is an event.
    ///
    /// # Errors
    /// `SecretMissing` without a secret; `MissingHeader` without a (non-empty)
    /// `Stripe-Signature`; `InvalidHeader` when it has no timestamp or no `v1` signature;
    /// `TimestampOutsideTolerance` (unless the tolerance is off); `NoSignatureMatched`
    /// otherwise. All name the header.
    pub fn verify_at(
        &self,
        request: &WebhookRequest<'_>,
        now: SystemTime,
    ) -> Result<Verified, WebhookError> {
        if self.keys.is_empty() {
            return Err(WebhookError::SecretMissing);
        }
        let header = request
            .headers
            .get(&SIGNATURE_KEY)
            .ok_or(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER,
            })?
            .to_str()
            .map_err(|_| invalid("not visible ASCII"))?
            // Visible ASCII and tabs only, so the ASCII trim is `trim` (and cheaper).
            .trim_ascii();
        if header.is_empty() {
            return Err(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER,
            });
        }
        // One pass over the header: the first `t`, and the `v1` signatures (a malformed `v1`
        // cannot match, so it is dropped, as the SDKs' string compare would). The first usable
        // one is kept decoded; more than one (rare: rotation) are decoded again when compared,
        // so nothing is allocated.
        let mut t_raw: Option<&str> = None;
        let mut any_v1 = false;
        let mut usable = 0usize;
        let mut first = [0u8; 32];
        for (k, v) in items(header) {
            match k {
                "t" if t_raw.is_none() => t_raw = Some(v),
                "v1" => {
                    any_v1 = true;
                    if let Some(sig) = decode_hex32(v.as_bytes()) {
                        if usable == 0 {
                            first = sig;
                        }
                        usable += 1;
                    }
                }
                _ => {}
            }
        }
        let t_raw = t_raw.ok_or_else(|| invalid("no timestamp (`t=`)"))?;
        let t: u64 = t_raw
            .parse()
            .map_err(|_| invalid("the timestamp is not whole Unix seconds"))?;
        if !any_v1 {
            return Err(invalid("no signature with the expected scheme `v1`"));
        }
        if let Some(tolerance) = self.tolerance {
            let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            crate::webhook::check_timestamp(
                SIGNATURE_HEADER,
                i128::from(t),
                i128::from(now_secs),
                tolerance,
            )?;
        }
        // The SDKs sign the number they parsed, in plain decimal (`t=0012` is signed as `12`);
        // the common, already plain header is used as is.
        let plain;
        let t_signed = if (t_raw.len() > 1 && t_raw.starts_with('0')) || t_raw.starts_with('+') {
            plain = t.to_string();
            plain.as_str()
        } else {
            t_raw
        };
        if usable == 0 {
            // Only malformed `v1` values: none can match, so no HMAC is computed.
            return Err(no_match());
        }
        for key in &self.keys {
            // HMAC of "<t>.<body>" fed in pieces: the payload is never copied. Computed once
            // per secret, whatever the number of signatures.
            let mut mac = key.clone();
            mac.update(t_signed.as_bytes());
            mac.update(b".");
            mac.update(request.body);
            // Constant-time compares (`verify_slice`). It consumes the state: the common case,
            // one signature, uses it directly; several need a clone per candidate.
            let matched = if usable == 1 {
                mac.verify_slice(&first).is_ok()
            } else {
                items(header)
                    .filter(|&(k, _)| k == "v1")
                    .filter_map(|(_, v)| decode_hex32(v.as_bytes()))
                    .any(|sig| mac.clone().verify_slice(&sig).is_ok())
            };
            if matched {
                return Ok(Verified {
                    event_id: event_id(request.body),
                    timestamp: UNIX_EPOCH.checked_add(Duration::from_secs(t)),
                });
            }
        }
        Err(no_match())
    }

    /// Verifies `request` (as [`WebhookVerifier::verify`]) and parses its body as an [`Event`],
    /// like the SDKs' `constructEvent`.
    ///
    /// # Errors
    /// [`ConstructEventError::Signature`] as for [`verify_at`](Self::verify_at);
    /// [`ConstructEventError::Json`] when the signed body is not JSON or not an event, with a
    /// JSON pointer and the line and column where it went wrong (never the content).
    pub fn construct_event(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Event, ConstructEventError> {
        self.construct_event_at(request, SystemTime::now())
    }

    /// [`construct_event`](Self::construct_event) against the clock `now`.
    ///
    /// # Errors
    /// As for [`construct_event`](Self::construct_event).
    pub fn construct_event_at(
        &self,
        request: &WebhookRequest<'_>,
        now: SystemTime,
    ) -> Result<Event, ConstructEventError> {
        self.verify_at(request, now)?;
        Ok(Event::from_slice(request.body)?)
    }

    /// The `Stripe-Signature` value (`t=<t>,v1=<hex>`) for `payload` at `timestamp` under the
    /// first secret, for hosts' tests of their webhook handlers.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] without a secret.
    pub fn sign(&self, payload: &[u8], timestamp: u64) -> Result<String, WebhookError> {
        let key = self.keys.first().ok_or(WebhookError::SecretMissing)?;
        Ok(sign_with(key.clone(), payload, timestamp))
    }
}

impl WebhookVerifier for StripeVerifier {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        self.verify_at(request, SystemTime::now())
    }
}

/// Why [`StripeVerifier::construct_event`] gave no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConstructEventError {
    /// The request did not verify; nothing in the body was read.
    #[error(transparent)]
    Signature(#[from] WebhookError),
    /// The request verified, but its body is not JSON, or not a Stripe event.
    #[error("signed webhook body is not a Stripe event: {0}")]
    Json(#[from] DecodeError),
}

/// The `Stripe-Signature` value for `payload` signed with `secret` at `timestamp` (like
/// stripe-node's `generateTestHeaderString`), for hosts' own tests.
pub fn test_header(payload: &[u8], secret: &str, timestamp: u64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let key = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    sign_with(key, payload, timestamp)
}

fn sign_with(mut mac: HmacSha256, payload: &[u8], timestamp: u64) -> String {
    let t = timestamp.to_string();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(payload);
    let sig = mac.finalize().into_bytes();
    let mut out = String::with_capacity(t.len() + 6 + 64);
    out.push_str("t=");
    out.push_str(&t);
    out.push_str(",v1=");
    out.push_str(&hex::encode(sig));
    out
}

fn no_match() -> WebhookError {
    WebhookError::NoSignatureMatched {
        header: SIGNATURE_HEADER,
        // Stripe itself sends pretty-printed JSON, so a re-serialization hint would mislead.
        hint: String::new(),
    }
}

fn invalid(reason: &str) -> WebhookError {
    WebhookError::InvalidHeader {
        header: SIGNATURE_HEADER,
        reason: reason.to_string(),
    }
}

/// The `key=value` items of the header; items without `=` are skipped, as the SDKs do.
/// Split on bytes (the header is visible ASCII): `str::split` with a `char` pattern cost
/// more than the rest of the parsing.
fn items(header: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = header;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = rest.bytes().position(|b| b == b',').unwrap_or(rest.len());
        let item = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if let Some(eq) = item.bytes().position(|b| b == b'=') {
            // The header is visible ASCII: the ASCII trim is `trim`, without decoding chars.
            return Some((item[..eq].trim_ascii(), item[eq + 1..].trim_ascii()));
        }
    })
}

/// 64 hex digits (either case) to 32 bytes; anything else is not a signature (and just does
/// not match). A table lookup per digit: `hex::decode_to_slice` checked each digit through a
/// chain of branches and was a third of the work besides the HMAC.
fn decode_hex32(s: &[u8]) -> Option<[u8; 32]> {
    const BAD: u8 = 0xff;
    static DIGIT: [u8; 256] = {
        let mut t = [BAD; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (h, l) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
        bad |= h | l;
        *o = (h << 4) | l;
    }
    // Every valid digit is below 16, `BAD` is not.
    (bad < 16).then_some(out)
}

/// The event id, read cheaply: Stripe writes `"id"` as the first key, so look there first and
/// fall back to a full (non-allocating) parse for any other layout.
fn event_id(body: &[u8]) -> Option<String> {
    fast_first_id(body).or_else(|| {
        #[derive(serde::Deserialize)]
        struct Id {
            id: Option<String>,
        }
        serde_json::from_slice::<Id>(body).ok()?.id
    })
}

fn fast_first_id(body: &[u8]) -> Option<String> {
    // Works on bytes: only the id itself is checked as UTF-8.
    let skip_ws = <[u8]>::trim_ascii_start;
    let rest = skip_ws(body).strip_prefix(b"{")?;
    let rest = skip_ws(rest).strip_prefix(b"\"id\"")?;
    let rest = skip_ws(rest).strip_prefix(b":")?;
    let rest = skip_ws(rest).strip_prefix(b"\"")?;
    let end = rest.iter().take(255).position(|&c| c == b'"')?;
    let id = &rest[..end];
    // An escape would need the full parser.
    if id.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(id).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn req<'a>(body: &'a [u8], headers: &'a HeaderMap) -> WebhookRequest<'a> {
        WebhookRequest::new(body, headers)
    }

    #[test]
    fn sign_then_verify_round_trips_and_reads_the_event_id() {
        let v = StripeVerifier::new("whsec_test");
        let body = br#"{"id": "evt_1", "object": "event"}"#;
        let mut h = HeaderMap::new();
        h.insert(
            "stripe-signature",
            HeaderValue::from_str(&v.sign(body, 1000).unwrap()).unwrap(),
        );
        let ok = v
            .verify_at(&req(body, &h), UNIX_EPOCH + Duration::from_secs(1010))
            .unwrap();
        assert_eq!(ok.event_id.as_deref(), Some("evt_1"));
        assert_eq!(
            test_header(body, "whsec_test", 1000),
            v.sign(body, 1000).unwrap()
        );
    }

    #[test]
    fn event_id_falls_back_to_a_full_parse() {
        assert_eq!(
            event_id(br#"{"object":"event","id":"evt_2"}"#).as_deref(),
            Some("evt_2")
        );
        assert_eq!(event_id(br#"{"id":"ev\"t"}"#).as_deref(), Some("ev\"t"));
        assert_eq!(event_id(b"not json"), None);
    }

    #[test]
    fn hex_decoding_rejects_bad_input() {
        assert!(decode_hex32("0".repeat(63).as_bytes()).is_none());
        assert!(decode_hex32("0".repeat(65).as_bytes()).is_none());
        assert!(decode_hex32("g".repeat(64).as_bytes()).is_none());
        assert_eq!(decode_hex32("ff".repeat(32).as_bytes()), Some([0xff; 32]));
        // Every byte value, in every position of a pair, as `hex` decodes it.
        for b in 0..=255u8 {
            for at in [0, 1, 62, 63] {
                let mut s = [b'a'; 64];
                s[at] = b;
                let mut want = [0u8; 32];
                let want = hex::decode_to_slice(s, &mut want).ok().map(|()| want);
                assert_eq!(decode_hex32(&s), want, "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn items_split_like_the_str_api() {
        for h in [
            "t=1,v1=a",
            " t = 1 , v1=a,,=,x,v0=b=c,",
            "",
            ",",
            "t=",
            "a=b",
        ] {
            let want: Vec<(&str, &str)> = h
                .split(',')
                .filter_map(|item| {
                    let (k, v) = item.split_once('=')?;
                    Some((k.trim(), v.trim()))
                })
                .collect();
            assert_eq!(items(h).collect::<Vec<_>>(), want, "{h:?}");
        }
    }

    #[test]
    fn blank_secrets_fail_closed() {
        let v = StripeVerifier::builder().secret("  ").build();
        let h = HeaderMap::new();
        assert_eq!(
            v.verify_at(&req(b"{}", &h), SystemTime::now()),
            Err(WebhookError::SecretMissing)
        );
        assert!(v.sign(b"{}", 1).is_err());
    }
}
