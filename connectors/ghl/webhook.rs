//! [`GhlVerifier`]: checks the signatures of GoHighLevel webhooks (`X-GHL-Signature`, Ed25519;
//! `X-WH-Signature`, RSA-SHA256, the fallback GoHighLevel deprecates on 2026-07-01), the delivery's
//! `timestamp` and `webhookId` in the body, and [`GhlSigner`]: signs test payloads with a
//! locally generated key for hosts' own tests.
//!
//! GoHighLevel signs the raw body with its own private keys and publishes the public keys
//! ([`PUBLISHED_ED25519_PUBLIC_KEY`], [`PUBLISHED_RSA_PUBLIC_KEY`]); every app's webhooks are
//! signed with the same keys, so there is no per-connection secret:
//!
//! - `X-GHL-Signature`: base64 of the Ed25519 signature of the raw body. Preferred: when it is
//!   present (and an Ed25519 key is configured) it alone decides.
//! - `X-WH-Signature`: base64 of the RSA-SHA256 (PKCS#1 v1.5) signature of the raw body,
//!   accepted while [`GhlVerifierBuilder::accept_rsa`] is on (the default).
//!
//! The body carries `timestamp` (ISO 8601) and `webhookId`: the timestamp is checked against
//! the clock ([`DEFAULT_TOLERANCE`], both ways) and the id becomes [`Verified::event_id`], which
//! the [`WebhookRouter`](crate::webhook::router::WebhookRouter) de-duplicates on.
//!
//! ```
//! use switchboard::ghl::{GhlEvent, GhlVerifier};
//! use switchboard::webhook::{WebhookRequest, WebhookVerifier};
//! # fn handle(body: &[u8], headers: &http::HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start-up: GoHighLevel's published keys.
//! let verifier = GhlVerifier::published();
//! // Per request: the raw body as received, and the headers.
//! let verified = verifier.verify(&WebhookRequest::new(body, headers))?;
//! let event = GhlEvent::from_slice(body)?; // only once the signature is good
//! println!("{} for {:?}, delivery {:?}", event.event_type(), event.location_id(), verified.event_id);
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::webhook::{
    check_timestamp, reserialized_hint, Verified, WebhookError, WebhookRequest, WebhookVerifier,
    DEFAULT_TOLERANCE,
};
use crate::Error;

mod keys;
mod signer;

use keys::{ed25519_public_key, rsa_public_key, same_pem};
pub use signer::GhlSigner;

/// The Ed25519 signature header, in lower case (so that it can be given to
/// `HeaderMap::insert` as is; header names are compared without regard to case).
pub const SIGNATURE_HEADER: &str = "x-ghl-signature";

/// The legacy RSA-SHA256 signature header, in lower case. GoHighLevel's Webhook Integration
/// Guide deprecates it on 2026-07-01.
pub const RSA_SIGNATURE_HEADER: &str = "x-wh-signature";

/// GoHighLevel's published Ed25519 public key for `X-GHL-Signature` (SPKI PEM), as integrations
/// quote it from GoHighLevel's Webhook Integration Guide
/// (`marketplace.gohighlevel.com/docs/webhook/WebhookIntegrationGuide`). No GoHighLevel
/// repository carries the key text (the SDKs read it from `WEBHOOK_SIGNATURE_PUBLIC_KEY`);
/// should GoHighLevel publish another, give it to [`GhlVerifierBuilder::ed25519_public_key_pem`].
pub const PUBLISHED_ED25519_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
";

/// GoHighLevel's published RSA public key (4096-bit, SPKI PEM) for `X-WH-Signature`, from the
/// Webhook Authentication Guide (`docs/oauth/WebhookAuthentication.md` of
/// GoHighLevel/highlevel-api-docs).
pub const PUBLISHED_RSA_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
";

/// How errors name the body's `timestamp` (a JSON pointer into the body).
const TIMESTAMP_FIELD: &str = "body /timestamp";
/// How errors name the body's `webhookId`.
const WEBHOOK_ID_FIELD: &str = "body /webhookId";
/// How errors name the body as a whole.
const BODY: &str = "body";
/// What errors about the body's `locationId` name.
const LOCATION_FIELD: &str = "body /locationId";

/// Verifies GoHighLevel webhooks: `X-GHL-Signature` (Ed25519), or `X-WH-Signature`
/// (RSA-SHA256) as a fallback, over the raw body; then the body's `timestamp` and `webhookId`.
///
/// Build it with [`GhlVerifier::published`] (GoHighLevel's published keys, what a host
/// normally wants) or [`GhlVerifier::builder`] (other keys: a rotation GoHighLevel announced,
/// or a locally generated key pair in tests, see [`GhlSigner`]). Cheap to clone.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use switchboard::ghl::{GhlSigner, GhlVerifier};
/// use switchboard::webhook::WebhookRequest;
/// // A host's test: a locally generated key pair (never GoHighLevel's).
/// const TEST_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
/// MC4CAQAwBQYDK2VwBCIEIBmkTnXyhkWW7G5rJnmF7D27wW0NHUmQrJ9F+IoRm3UT
/// -----END PRIVATE KEY-----";
/// const TEST_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
/// MCowBQYDK2VwAyEA+tZk6AcSnk65nKSWtS70mYNReYQr4L1xsPJ7V6NcFq0=
/// -----END PUBLIC KEY-----";
/// let verifier = GhlVerifier::builder().ed25519_public_key_pem(TEST_PUBLIC).build()?;
/// let signer = GhlSigner::ed25519(TEST_PRIVATE)?;
/// let body = br#"{"type":"ContactCreate","locationId":"loc1","id":"c1","timestamp":"2025-01-28T14:35:00Z","webhookId":"wh-1"}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(signer.header_name(), signer.sign(body)?.parse()?);
/// let now = UNIX_EPOCH + Duration::from_secs(1_738_075_000); // 2025-01-28T14:36:40Z
/// let verified = verifier.verify_at(&WebhookRequest::new(body, &headers), now)?;
/// assert_eq!(verified.event_id.as_deref(), Some("wh-1"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
///
/// # Which signature decides
///
/// As in GoHighLevel's SDKs: when `X-GHL-Signature` is present and an Ed25519 key is
/// configured, the Ed25519 signature alone decides (a bad one is rejected even when
/// `X-WH-Signature` would verify). Otherwise `X-WH-Signature` is checked with the RSA key,
/// while [`accept_rsa`](GhlVerifierBuilder::accept_rsa) is on. An empty header counts as
/// absent, as in the SDKs. Outcomes:
///
/// - neither header: [`WebhookError::MissingHeader`] naming `x-ghl-signature`;
/// - a signature that does not verify: [`WebhookError::NoSignatureMatched`] naming its header
///   (with a hint when the body looks re-serialized); one that is not base64, not 64 bytes
///   (Ed25519), or a header sent twice: [`WebhookError::InvalidHeader`];
/// - only `X-WH-Signature` while `accept_rsa` is off: [`WebhookError::InvalidHeader`] naming
///   `x-wh-signature` (the fallback is turned off);
/// - no key for the scheme present (only `X-GHL-Signature` and no Ed25519 key, or no key at
///   all): [`WebhookError::SecretMissing`]. It fails closed.
///
/// # Timestamp and webhook id
///
/// Once a signature verified, the body (a JSON object) is read for `timestamp` and `webhookId`,
/// as GoHighLevel's Webhook Authentication Guide asks ("ensure the timestamp is within an
/// acceptable time window (e.g., 5 minutes)"; "reject any requests with duplicate webhookId
/// values"):
///
/// - `timestamp`, an ISO 8601 / RFC 3339 date-time with an offset (`"2025-01-28T14:35:00Z"`,
///   `"2025-02-10T08:26:05.961Z"`), must be within the tolerance of our clock in both
///   directions ([`DEFAULT_TOLERANCE`], 300 s, unless
///   [`tolerance`](GhlVerifierBuilder::tolerance) says otherwise): else
///   [`WebhookError::TimestampOutsideTolerance`] naming `body /timestamp`. It is reported as
///   [`Verified::timestamp`]. A timestamp that is not a string, or not such a date-time, is
///   [`WebhookError::InvalidHeader`] naming `body /timestamp`.
/// - `webhookId`, a string, is reported as [`Verified::event_id`]; the router de-duplicates on
///   it. One that is not a string is [`WebhookError::InvalidHeader`] naming `body /webhookId`.
/// - **Absent (or `null`) fields are accepted**: many events GoHighLevel documents show
///   neither field, and the SDKs check neither. This gives nothing away: both fields are inside
///   the signed body, so an attacker cannot strip them from a delivery that had them; only a
///   body GoHighLevel itself signed without them passes without them. Such a delivery has no
///   replay window ([`Verified::timestamp`] is `None`) and no event id, so the router
///   de-duplicates it on the SHA-256 of the body instead. To refuse such bodies, set
///   [`require_timestamp`](GhlVerifierBuilder::require_timestamp) (then an absent timestamp is
///   [`WebhookError::MissingHeader`] naming `body /timestamp`).
/// - A body that is not a JSON object (or repeats `timestamp` or `webhookId`) is
///   [`WebhookError::InvalidHeader`] naming `body`: GoHighLevel always sends one object.
///
/// The signature is checked first, so an unsigned body is never read.
///
/// # Deliberate differences from GoHighLevel's SDKs
///
/// Compared with `WebhookManager` in GoHighLevel/highlevel-api-sdk 3.0.0
/// (`lib/webhook/webhook-manager.ts`) and GoHighLevel/highlevel-api-python
/// (`src/highlevel/webhook/webhook_manager.py`):
///
/// - **Fails closed.** Without a signature header, or without the key for it, the SDKs skip
///   verification (they log, set a `skippedSignatureVerification` flag and hand the request on
///   unprocessed); here the request is rejected.
/// - **Raw bytes.** The Node SDK verifies `JSON.stringify(req.body)` (the parsed body,
///   serialized again), the Python SDK the raw body decoded as UTF-8 with replacement
///   characters. Here the bytes as received are verified: GoHighLevel signs what it sends, so
///   its signatures verify; a body changed by a parser on the way (spacing, key order, number
///   or escape spelling, invalid UTF-8) does not.
/// - **Strict base64.** Signatures are decoded as standard, padded base64 (what GoHighLevel
///   sends) after trimming surrounding whitespace. Node's `Buffer.from(.., 'base64')` also
///   takes URL-safe or unpadded text and skips stray characters, Python's `b64decode` skips
///   characters outside the alphabet; those spellings are rejected here
///   ([`WebhookError::InvalidHeader`]). A signature header sent twice is rejected too.
/// - **Timestamp and webhook id** are checked and reported (see above); the SDKs read neither.
/// - **The RSA fallback can be turned off** ([`GhlVerifierBuilder::accept_rsa`]); the SDKs
///   use it whenever its key is set.
/// - **Keys** are PEM only: an SPKI `PUBLIC KEY` for Ed25519; an SPKI `PUBLIC KEY` or PKCS#1
///   `RSA PUBLIC KEY` of 2048 to 8192 bits for RSA (the Python SDK also takes a raw Ed25519
///   key as hex or base64; both SDKs take smaller RSA keys). A key that does not load is an
///   error of [`GhlVerifierBuilder::build`], not a failure of every request. Several keys per
///   scheme may be set, for a rotation; any one verifying passes (the SDKs take one).
/// - **Not here: the app id.** The SDKs ignore a webhook whose `appId` is not their app's
///   (`CLIENT_ID` up to its first `-`) before verifying. GoHighLevel signs every app's
///   webhooks with the same keys, so a signature proves the sender is GoHighLevel, not that
///   the event is for this app: the routing binds events to connections by `locationId`, and
///   a host acting on [`AppInstallEvent`](super::AppInstallEvent) or
///   [`AppUninstallEvent`](super::AppUninstallEvent) compares their `app_id` with its own.
#[derive(Clone)]
pub struct GhlVerifier {
    ed25519: Vec<PublicKey>,
    rsa: Vec<PublicKey>,
    accept_rsa: bool,
    tolerance: Duration,
    require_timestamp: bool,
    /// The one location whose events pass ([`GhlVerifier::bound_to_location`]).
    location_id: Option<Arc<str>>,
}

/// One loaded public key, and whether it is GoHighLevel's published one (for `Debug`).
#[derive(Clone)]
struct PublicKey {
    key: Arc<DecodingKey>,
    published: bool,
}

/// How `Debug` shows a set of keys: how many, and which are the published ones; never a key.
struct KeysShown<'a>(&'a [PublicKey]);

impl fmt::Debug for KeysShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|k| {
                if k.published {
                    "published"
                } else {
                    "configured"
                }
            }))
            .finish()
    }
}

impl fmt::Debug for GhlVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlVerifier")
            .field("ed25519_keys", &KeysShown(&self.ed25519))
            .field("rsa_keys", &KeysShown(&self.rsa))
            .field("accept_rsa", &self.accept_rsa)
            .field("tolerance", &self.tolerance)
            .field("require_timestamp", &self.require_timestamp)
            .field("location_id", &self.location_id)
            .finish()
    }
}

/// Builds a [`GhlVerifier`]; see [`GhlVerifier::builder`].
#[must_use]
#[derive(Clone)]
pub struct GhlVerifierBuilder {
    ed25519_pems: Vec<String>,
    rsa_pems: Vec<String>,
    accept_rsa: bool,
    tolerance: Duration,
    require_timestamp: bool,
}

impl Default for GhlVerifierBuilder {
    fn default() -> Self {
        GhlVerifierBuilder {
            ed25519_pems: Vec::new(),
            rsa_pems: Vec::new(),
            accept_rsa: true,
            tolerance: DEFAULT_TOLERANCE,
            require_timestamp: false,
        }
    }
}

impl fmt::Debug for GhlVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlVerifierBuilder")
            .field("ed25519_keys", &self.ed25519_pems.len())
            .field("rsa_keys", &self.rsa_pems.len())
            .field("accept_rsa", &self.accept_rsa)
            .field("tolerance", &self.tolerance)
            .field("require_timestamp", &self.require_timestamp)
            .finish()
    }
}

impl GhlVerifierBuilder {
    /// Adds an Ed25519 public key for `X-GHL-Signature`, as PEM (SPKI, `-----BEGIN PUBLIC
    /// KEY-----`). Add GoHighLevel's next key beside the current one while it rotates: any
    /// key verifying passes.
    pub fn ed25519_public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.ed25519_pems.push(pem.into());
        self
    }

    /// Adds an RSA public key for `X-WH-Signature`, as PEM (SPKI `PUBLIC KEY` or PKCS#1 `RSA
    /// PUBLIC KEY`, 2048 to 8192 bits).
    pub fn rsa_public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.rsa_pems.push(pem.into());
        self
    }

    /// Adds GoHighLevel's published keys ([`PUBLISHED_ED25519_PUBLIC_KEY`],
    /// [`PUBLISHED_RSA_PUBLIC_KEY`]), as [`GhlVerifier::published`] has.
    pub fn published_keys(self) -> Self {
        self.ed25519_public_key_pem(PUBLISHED_ED25519_PUBLIC_KEY)
            .rsa_public_key_pem(PUBLISHED_RSA_PUBLIC_KEY)
    }

    /// Whether `X-WH-Signature` (RSA-SHA256) is accepted when `X-GHL-Signature` cannot decide
    /// (default: on). GoHighLevel deprecates it on 2026-07-01; turn it off once every delivery
    /// carries `X-GHL-Signature`. Off, a request signed only with `X-WH-Signature` is rejected
    /// ([`WebhookError::InvalidHeader`] naming `x-wh-signature`).
    pub fn accept_rsa(mut self, accept: bool) -> Self {
        self.accept_rsa = accept;
        self
    }

    /// The accepted distance between the body's `timestamp` and our clock, in both directions
    /// (default [`DEFAULT_TOLERANCE`], 300 s). `Duration::ZERO` is a zero-second window, not
    /// "off".
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Whether a body without `timestamp` is rejected (default: off, see
    /// [Timestamp and webhook id](GhlVerifier#timestamp-and-webhook-id)).
    pub fn require_timestamp(mut self, require: bool) -> Self {
        self.require_timestamp = require;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the key at fault
    /// (`ghl.webhook.ed25519_public_key`, `ghl.webhook.rsa_public_key`) and never its text:
    /// a key that is not PEM, not of its kind, or (RSA) outside 2048 to 8192 bits; or
    /// (`ghl.webhook.ed25519_public_key`) no usable key at all: neither key set, or only an
    /// RSA key while [`accept_rsa`](Self::accept_rsa) is off.
    pub fn build(self) -> Result<GhlVerifier, Error> {
        let load = |pems: &[String], load: fn(&str) -> Result<DecodingKey, Error>, published| {
            pems.iter()
                .map(|pem| {
                    Ok(PublicKey {
                        key: Arc::new(load(pem)?),
                        published: same_pem(pem, published),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()
        };
        let ed25519 = load(
            &self.ed25519_pems,
            ed25519_public_key,
            PUBLISHED_ED25519_PUBLIC_KEY,
        )?;
        let rsa = load(&self.rsa_pems, rsa_public_key, PUBLISHED_RSA_PUBLIC_KEY)?;
        if ed25519.is_empty() && (rsa.is_empty() || !self.accept_rsa) {
            let reason = if rsa.is_empty() {
                "required: no public key is set (`GhlVerifier::published()` has GoHighLevel's)"
            } else {
                "required: the RSA fallback is off, so an Ed25519 key must be set"
            };
            return Err(Error::config(keys::ED25519_PUBLIC_SETTING, reason));
        }
        Ok(GhlVerifier {
            ed25519,
            rsa,
            accept_rsa: self.accept_rsa,
            tolerance: self.tolerance,
            require_timestamp: self.require_timestamp,
            location_id: None,
        })
    }
}

impl GhlVerifier {
    /// A verifier with GoHighLevel's published keys ([`PUBLISHED_ED25519_PUBLIC_KEY`],
    /// [`PUBLISHED_RSA_PUBLIC_KEY`]), the RSA fallback on and the default tolerance.
    pub fn published() -> GhlVerifier {
        GhlVerifier::builder()
            .published_keys()
            .build()
            // The published keys are constants a unit test loads; should they ever fail to,
            // every request fails closed rather than the host panicking.
            .unwrap_or_else(|_| GhlVerifier {
                ed25519: Vec::new(),
                rsa: Vec::new(),
                accept_rsa: false,
                tolerance: DEFAULT_TOLERANCE,
                require_timestamp: false,
                location_id: None,
            })
    }

    /// A builder with no key, the RSA fallback on and the default tolerance.
    pub fn builder() -> GhlVerifierBuilder {
        GhlVerifierBuilder::default()
    }

    /// The same verifier, passing only events whose body names `location_id` as its
    /// `locationId` (an event without one is refused): GoHighLevel signs every location's
    /// events with the same key, so a signature alone cannot tell one location's event from
    /// another's. The `ghl` template's verifier is bound to the connection's location, so an
    /// event posted to one connection's URL never reaches it on behalf of another location.
    #[must_use]
    pub fn bound_to_location(&self, location_id: &str) -> GhlVerifier {
        GhlVerifier {
            location_id: Some(Arc::from(location_id)),
            ..self.clone()
        }
    }

    /// The tolerance in force for the body's `timestamp`.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Whether `X-WH-Signature` can pass: the fallback is on and an RSA key is set.
    pub fn accepts_rsa(&self) -> bool {
        self.accept_rsa && !self.rsa.is_empty()
    }

    /// Verifies `request` against the clock `now` (tests pin it; [`WebhookVerifier::verify`]
    /// uses the system clock). See [the type's documentation](GhlVerifier) for the rules.
    ///
    /// # Errors
    /// `SecretMissing` without a key for the scheme present; `MissingHeader` without a
    /// signature header (or, with `require_timestamp`, without `body /timestamp`);
    /// `InvalidHeader` for a malformed signature, a header sent twice, `X-WH-Signature` while
    /// the fallback is off, or a malformed `body /timestamp`, `body /webhookId` or `body`;
    /// `NoSignatureMatched` for a signature that does not verify; `TimestampOutsideTolerance`
    /// naming `body /timestamp`.
    pub fn verify_at(
        &self,
        request: &WebhookRequest<'_>,
        now: SystemTime,
    ) -> Result<Verified, WebhookError> {
        if self.ed25519.is_empty() && !self.accepts_rsa() {
            return Err(WebhookError::SecretMissing);
        }
        let body = request.body;
        let ghl = single_header(request.headers, SIGNATURE_HEADER)?;
        match ghl {
            Some(signature) if !self.ed25519.is_empty() => {
                check_signature(&self.ed25519, Scheme::Ed25519, signature, body)?;
            }
            // No X-GHL-Signature, or no key for it: the SDKs then fall back to X-WH-Signature.
            _ => match single_header(request.headers, RSA_SIGNATURE_HEADER)? {
                // X-GHL-Signature alone, and no Ed25519 key to check it with.
                None if ghl.is_some() => return Err(WebhookError::SecretMissing),
                None => {
                    return Err(WebhookError::MissingHeader {
                        header: SIGNATURE_HEADER,
                    })
                }
                Some(_) if !self.accept_rsa => {
                    return Err(WebhookError::InvalidHeader {
                        header: RSA_SIGNATURE_HEADER,
                        reason: "the RSA-SHA256 fallback is turned off; only x-ghl-signature \
                                 (Ed25519) is accepted"
                            .to_string(),
                    })
                }
                Some(_) if self.rsa.is_empty() => return Err(WebhookError::SecretMissing),
                Some(signature) => check_signature(&self.rsa, Scheme::Rsa, signature, body)?,
            },
        }
        self.read_delivery_fields(body, now)
    }

    /// Reads `timestamp` and `webhookId` from the verified body and checks the timestamp.
    fn read_delivery_fields(&self, body: &[u8], now: SystemTime) -> Result<Verified, WebhookError> {
        // An object, never an array: serde would read a struct from a sequence by position.
        let is_object = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        let fields: DeliveryFields = is_object
            .then(|| serde_json::from_slice(body).ok())
            .flatten()
            .ok_or_else(|| WebhookError::InvalidHeader {
                header: BODY,
                reason: "not a JSON object (with at most one `timestamp` and `webhookId`)"
                    .to_string(),
            })?;
        let timestamp = match fields.timestamp {
            None if self.require_timestamp => {
                return Err(WebhookError::MissingHeader {
                    header: TIMESTAMP_FIELD,
                })
            }
            None => None,
            Some(Value::String(text)) => {
                let at = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
                    WebhookError::InvalidHeader {
                        header: TIMESTAMP_FIELD,
                        reason: "not an ISO 8601 date-time with an offset \
                                 (`2025-01-28T14:35:00Z`)"
                            .to_string(),
                    }
                })?;
                let now_secs = match now.duration_since(std::time::UNIX_EPOCH) {
                    Ok(d) => i128::from(d.as_secs()),
                    Err(e) => -i128::from(e.duration().as_secs()),
                };
                check_timestamp(
                    TIMESTAMP_FIELD,
                    i128::from(at.timestamp()),
                    now_secs,
                    self.tolerance,
                )?;
                Some(SystemTime::from(at))
            }
            Some(_) => {
                return Err(WebhookError::InvalidHeader {
                    header: TIMESTAMP_FIELD,
                    reason: "not a string".to_string(),
                })
            }
        };
        if let Some(want) = &self.location_id {
            match &fields.location_id {
                Some(Value::String(got)) if got.as_str() == &**want => {}
                Some(_) => {
                    return Err(WebhookError::InvalidHeader {
                        header: LOCATION_FIELD,
                        reason: "the event is for another location than this connection's"
                            .to_string(),
                    })
                }
                None => {
                    return Err(WebhookError::MissingHeader {
                        header: LOCATION_FIELD,
                    })
                }
            }
        }
        let event_id = match fields.webhook_id {
            None => None,
            Some(Value::String(id)) => Some(id).filter(|id| !id.is_empty()),
            Some(_) => {
                return Err(WebhookError::InvalidHeader {
                    header: WEBHOOK_ID_FIELD,
                    reason: "not a string".to_string(),
                })
            }
        };
        Ok(Verified {
            event_id,
            timestamp,
        })
    }
}

impl WebhookVerifier for GhlVerifier {
    /// [`GhlVerifier::verify_at`] with the system clock.
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        self.verify_at(request, SystemTime::now())
    }
}

/// The two fields of the body the verifier reads; every other field is skipped unparsed.
#[derive(Deserialize)]
struct DeliveryFields {
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(rename = "locationId", default)]
    location_id: Option<Value>,
    #[serde(rename = "webhookId", default)]
    webhook_id: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Ed25519,
    Rsa,
}

impl Scheme {
    fn header(self) -> &'static str {
        match self {
            Scheme::Ed25519 => SIGNATURE_HEADER,
            Scheme::Rsa => RSA_SIGNATURE_HEADER,
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Scheme::Ed25519 => Algorithm::EdDSA,
            Scheme::Rsa => Algorithm::RS256,
        }
    }
}

/// A header's one value, trimmed; `None` when absent or empty (the SDKs treat an empty
/// header as absent).
///
/// # Errors
/// `InvalidHeader` when it is sent more than once or is not visible ASCII.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::InvalidHeader {
            header: name,
            reason: "sent more than once".to_string(),
        });
    }
    let value = value
        .to_str()
        .map_err(|_| WebhookError::InvalidHeader {
            header: name,
            reason: "not visible ASCII".to_string(),
        })?
        .trim();
    Ok(Some(value).filter(|v| !v.is_empty()))
}

/// Checks `signature` (standard base64) over `body` with each key of `scheme` in turn.
fn check_signature(
    keys: &[PublicKey],
    scheme: Scheme,
    signature: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    let header = scheme.header();
    let bytes = STANDARD
        .decode(signature)
        .map_err(|_| WebhookError::InvalidHeader {
            header,
            reason: "not standard base64".to_string(),
        })?;
    if scheme == Scheme::Ed25519 && bytes.len() != 64 {
        return Err(WebhookError::InvalidHeader {
            header,
            reason: "not a 64-byte Ed25519 signature".to_string(),
        });
    }
    // jsonwebtoken takes JWT-style signatures: base64url without padding.
    let jwt_signature = URL_SAFE_NO_PAD.encode(&bytes);
    let verified = keys.iter().any(|k| {
        jsonwebtoken::crypto::verify(&jwt_signature, body, &k.key, scheme.algorithm())
            .unwrap_or(false)
    });
    if verified {
        Ok(())
    } else {
        Err(WebhookError::NoSignatureMatched {
            header,
            hint: reserialized_hint(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use http::{HeaderName, HeaderValue};
    use std::error::Error as _;
    use std::time::UNIX_EPOCH;

    /// Locally generated test keys (`openssl genpkey -algorithm ed25519`), never GoHighLevel's.
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBmkTnXyhkWW7G5rJnmF7D27wW0NHUmQrJ9F+IoRm3UT
-----END PRIVATE KEY-----
";
    const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA+tZk6AcSnk65nKSWtS70mYNReYQr4L1xsPJ7V6NcFq0=
-----END PUBLIC KEY-----
";
    /// A second, unrelated Ed25519 pair: "a foreign key".
    const OTHER_ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIC/DHi5jxLRlvuVN+XTiqtAB7x9K+yPqc6RWJ1yyEMg0
-----END PRIVATE KEY-----
";
    const OTHER_ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAtYqEP6hjdG0JOaIRV5MHOc5eQLXwHv/uZufWF0K2uqE=
-----END PUBLIC KEY-----
";
    /// The 2048-bit test pair of `tests/it/support/keys.rs` (public key derived with
    /// `openssl pkey -pubout`).
    const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC56MWL89su6TBG
hgke87kCfez2hGfoHHj91cwV1phNCzAwTupfu3iJiLN5Dqf9h2Msn1PDDZvMgnh8
T03ybLpcgcRNIdZC2KU9Go5uOQOCVGkz1kC7AaQiD+xh9x/naSlkGX2GweZ0BE45
z3pC/Tmnn8wLs5SA72NhAYiIn8r1juE+6vqnJq6U5xv84Xj0D4UXu8wloycdiLeZ
6yBwz4+E3GNL9ne7YkAr8y73/zL087hmC7S/va02ryD+DgG9/cfJPT3hNPLuh7bh
HJwdpjIytrMwCFPCYwIrvQcQ1NG4TgDGNNJtXM6pdGWeqm3EwXMqx8H/i4cybjwh
AgU19NBVAgMBAAECggEAB1PW5KcpNoyg+mHSRM+LaIwJEnnxuuYGzAGowejLtCgV
1dmbOeG8Pja1CDddKxkY5H6oWp6tmBGoAqvnh3+xZFY5cM09uJqSzLlAVhs8k0Vh
2u9903RQAVQXJF3AR3ecI4j9RLOQzA+jyHojUgLQ5AjG2v4D6bisKWJZ/M4uvdK6
9NozfavGMkyO1fCPggw91HcFXYdyP1JKaZ4IR53BLh5yyksyrqhbFYG8SmUvRrxL
wTHjYRsRlv4b6C2vNerpmG6+JNKGAcPLASXEDdDY+yM1dJcjvNieo10c3B5+KWcl
M3TMo8ML3GzdUaZTvQlyUlgj9eXYZG3NJeUr1o0R8wKBgQDjQanTU/uqY7AKEHEn
rGcqgAZJx8/eRcZn5ioiaZx40QWdWy0qYMlvfjyUYJpvNTUcTJ7s2CADP4Ssn+gu
1Z25rZJBZposPkKiwsOhovKksVDG+1Cehna+61IEyzCt3BlzZSeXfjThcZaVBcEg
IIZ6f2V4/a9XimxTI4h53qy4ewKBgQDRbFOVPuyXyHwVc7VhKm0rjnAF8bg7I8Jq
v1Cn/+HVDrdQ7qMMu0BACZefqZyX/egL/Zd/fSHFtYInPCpN9QnkLAbHwhU35e+D
hO9SWSdoXLNGgFDiCorxQ1s9Iz8LUnAOEVdFwqisMBgTICV9ymhJX0ZEe/e6hpl8
FUxCdNWJbwKBgQCRETqCT0sIYqheVE6XP8N/asgY0vcLcUkMy+07mGUs7mkCINC9
C5mqlU/Ae8Y5lSJ5FSQiFnig+iwMMet58hzECVuiageilH/e/Cr7hFQV86aXzpeR
Ck7E4tyxeK9zXFvWwMy8NPE2tFamfEzi4EBX8/jnejEy1Yb+r2EQQqfI/wKBgAaW
z/JsLmmAJ1dNcrGB8jlim+ez+UXzFBTjvBftFx/q/J2RRJQL+DOLmbeuUHz/wiNO
cUvTlhJwaY3ueK5HPW5ubDAwzRYbJ/QNZLJEl9bSw9k+BE14Y3K/2ckMqNkkWN44
cXSCcWgpgzhm1IcmrS1R0BYriFnYDlA3I1Ub8/QFAoGAd5bJimOI7c9EQMkgJ1za
F7dookcNOqHuPBCqyj17EPnYHY8/XDXxgum2/2snPHJ/0v3wquVe8NHmzhhn1BBE
I1ZL4+byFed4qqBEj0wtVxhTfb9inF3K2Tnf/qNBaTtItWtqlJC0RE660levZMp/
KS8AjJdtXqzd1PzV6NO9LBk=
-----END PRIVATE KEY-----
";
    const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuejFi/PbLukwRoYJHvO5
An3s9oRn6Bx4/dXMFdaYTQswME7qX7t4iYizeQ6n/YdjLJ9Tww2bzIJ4fE9N8my6
XIHETSHWQtilPRqObjkDglRpM9ZAuwGkIg/sYfcf52kpZBl9hsHmdAROOc96Qv05
p5/MC7OUgO9jYQGIiJ/K9Y7hPur6pyaulOcb/OF49A+FF7vMJaMnHYi3mesgcM+P
hNxjS/Z3u2JAK/Mu9/8y9PO4Zgu0v72tNq8g/g4Bvf3HyT094TTy7oe24RycHaYy
MrazMAhTwmMCK70HENTRuE4AxjTSbVzOqXRlnqptxMFzKsfB/4uHMm48IQIFNfTQ
VQIDAQAB
-----END PUBLIC KEY-----
";

    /// The body OpenSSL signed for the vectors below.
    const BODY: &str = r#"{"type":"ContactCreate","locationId":"loc1","id":"c1","timestamp":"2025-01-28T14:35:00Z","webhookId":"wh-1"}"#;
    /// `openssl pkeyutl -sign -inkey <ED_PRIVATE> -rawin -in body | base64`; verified also with
    /// the SDKs' own calls (Node `crypto.verify`, Python `cryptography`).
    const OPENSSL_ED_SIGNATURE: &str =
        "BxE4/3S8b1C/GNWaRDMA0RuiqSb44uxFXUQkQ2iBpLfIHTP2sQQVIHMZP1A0jHIqCKrI5WVZ4WoxOlWAZ2pZAQ==";
    /// `openssl dgst -sha256 -sign <RSA_PRIVATE> body | base64`.
    const OPENSSL_RSA_SIGNATURE: &str = "a/3uYcTj3pg2X8gfirxIMD0EfWkfrqzV2U1gKpIHw+FljlTm08pROKh/rKqVZLbkhto8IUJAR7V8xvaUw4fe71t62/VZKOjWfpLo/lcgLmWu7YFBZfdGmdFs01SDbc+XzMU4z+pSOJXBp5kQfaYrH8lchKvcd3pl4RJ5oXfMFZa+YBggBfC25pUoCBxIDpWFnue4qm95r75ksbDATgMdaaZ3GCunWlv77i+RQ1+NyHySGayNWqItlHkrMe8xDlHFvV0hht2rF48AEAfm8BPvNzaab5YlXm5E0AM/mGXchwytZaigk1OZRjTemausT/bey+bRy7PQabD288KNhWCbCA==";

    /// 100 s after the body's timestamp (2025-01-28T14:35:00Z = 1738074900).
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_738_075_000)
    }

    fn both() -> GhlVerifier {
        GhlVerifier::builder()
            .ed25519_public_key_pem(ED_PUBLIC)
            .rsa_public_key_pem(RSA_PUBLIC)
            .build()
            .unwrap()
    }

    fn ed() -> GhlSigner {
        GhlSigner::ed25519(ED_PRIVATE).unwrap()
    }

    fn rsa() -> GhlSigner {
        GhlSigner::rsa(RSA_PRIVATE).unwrap()
    }

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

    fn verify(v: &GhlVerifier, body: &str, h: &HeaderMap) -> Result<Verified, WebhookError> {
        v.verify_at(&WebhookRequest::new(body.as_bytes(), h), now())
    }

    /// `body` signed with `signer`, as headers.
    fn signed(signer: &GhlSigner, body: &str) -> HeaderMap {
        headers(&[(signer.header_name(), &signer.sign(body.as_bytes()).unwrap())])
    }

    #[test]
    fn a_verifier_bound_to_a_location_refuses_another_locations_events() {
        let bound = both().bound_to_location("loc1");
        assert!(verify(&bound, BODY, &signed(&ed(), BODY)).is_ok());
        let other = BODY.replace("loc1", "loc2");
        assert_eq!(
            verify(&bound, &other, &signed(&ed(), &other)).unwrap_err(),
            WebhookError::InvalidHeader {
                header: LOCATION_FIELD,
                reason: "the event is for another location than this connection's".into()
            }
        );
        let none = BODY.replace(r#""locationId":"loc1","#, "");
        assert_eq!(
            verify(&bound, &none, &signed(&ed(), &none)).unwrap_err(),
            WebhookError::MissingHeader {
                header: LOCATION_FIELD
            }
        );
        // Unbound, both pass (the router's payload routing picks the connection).
        assert!(verify(&both(), &other, &signed(&ed(), &other)).is_ok());
    }

    fn no_match(header: &'static str) -> WebhookError {
        WebhookError::NoSignatureMatched {
            header,
            hint: String::new(),
        }
    }

    fn config_setting(e: &Error) -> &'static str {
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        e.source()
            .and_then(|s| s.downcast_ref::<crate::ConfigError>())
            .map(|c| c.setting)
            .unwrap_or_else(|| panic!("no ConfigError source: {e}"))
    }

    #[test]
    fn signer_produces_what_openssl_produces() {
        // Both schemes are deterministic, so the bytes must be identical.
        assert_eq!(ed().sign(BODY.as_bytes()).unwrap(), OPENSSL_ED_SIGNATURE);
        assert_eq!(rsa().sign(BODY.as_bytes()).unwrap(), OPENSSL_RSA_SIGNATURE);
        assert_eq!(ed().header_name(), "x-ghl-signature");
        assert_eq!(rsa().header_name(), "x-wh-signature");
    }

    #[test]
    fn a_good_ed25519_signature_passes_and_reports_the_delivery() {
        let h = headers(&[(SIGNATURE_HEADER, OPENSSL_ED_SIGNATURE)]);
        let verified = verify(&both(), BODY, &h).unwrap();
        assert_eq!(verified.event_id.as_deref(), Some("wh-1"));
        assert_eq!(
            verified.timestamp,
            Some(UNIX_EPOCH + Duration::from_secs(1_738_074_900))
        );
        // Header names are matched without regard to case.
        let h = headers(&[("X-GHL-Signature", OPENSSL_ED_SIGNATURE)]);
        assert!(verify(&both(), BODY, &h).is_ok());
    }

    #[test]
    fn a_tampered_body_fails() {
        let h = headers(&[(SIGNATURE_HEADER, OPENSSL_ED_SIGNATURE)]);
        let tampered = BODY.replace("\"c1\"", "\"c2\"");
        assert_eq!(
            verify(&both(), &tampered, &h),
            Err(no_match(SIGNATURE_HEADER))
        );
        // Re-serialized by a framework: the error says so.
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        let err = verify(&both(), &pretty, &h).unwrap_err();
        assert!(err.to_string().contains("re-serialized"), "{err}");
        let h = headers(&[(RSA_SIGNATURE_HEADER, OPENSSL_RSA_SIGNATURE)]);
        assert_eq!(
            verify(&both(), &tampered, &h),
            Err(no_match(RSA_SIGNATURE_HEADER))
        );
    }

    #[test]
    fn a_foreign_key_fails() {
        let foreign = GhlSigner::ed25519(OTHER_ED_PRIVATE).unwrap();
        assert_eq!(
            verify(&both(), BODY, &signed(&foreign, BODY)),
            Err(no_match(SIGNATURE_HEADER))
        );
        // And the foreign key's own verifier does not take ours.
        let theirs = GhlVerifier::builder()
            .ed25519_public_key_pem(OTHER_ED_PUBLIC)
            .build()
            .unwrap();
        assert!(verify(&theirs, BODY, &signed(&foreign, BODY)).is_ok());
        assert_eq!(
            verify(&theirs, BODY, &signed(&ed(), BODY)),
            Err(no_match(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn the_published_keys_load_and_reject_a_local_signature() {
        let published = GhlVerifier::published();
        assert!(published.accepts_rsa());
        assert_eq!(published.tolerance(), DEFAULT_TOLERANCE);
        let shown = format!("{published:?}");
        assert!(
            shown.contains(r#"ed25519_keys: ["published"]"#)
                && shown.contains(r#"rsa_keys: ["published"]"#),
            "{shown}"
        );
        // The builder spelling, with CRLF line ends, is the same key.
        let crlf = GhlVerifier::builder()
            .ed25519_public_key_pem(PUBLISHED_ED25519_PUBLIC_KEY.replace('\n', "\r\n"))
            .build()
            .unwrap();
        assert!(format!("{crlf:?}").contains(r#"["published"]"#));
        // GoHighLevel keeps the private keys: a locally made signature never passes.
        assert_eq!(
            verify(&published, BODY, &signed(&ed(), BODY)),
            Err(no_match(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&published, BODY, &signed(&rsa(), BODY)),
            Err(no_match(RSA_SIGNATURE_HEADER))
        );
    }

    #[test]
    fn the_rsa_fallback_passes_only_while_accepted() {
        let h = headers(&[(RSA_SIGNATURE_HEADER, OPENSSL_RSA_SIGNATURE)]);
        let verified = verify(&both(), BODY, &h).unwrap();
        assert_eq!(verified.event_id.as_deref(), Some("wh-1"));
        let off = GhlVerifier::builder()
            .ed25519_public_key_pem(ED_PUBLIC)
            .rsa_public_key_pem(RSA_PUBLIC)
            .accept_rsa(false)
            .build()
            .unwrap();
        assert!(!off.accepts_rsa());
        let err = verify(&off, BODY, &h).unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::InvalidHeader {
                    header: RSA_SIGNATURE_HEADER,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("turned off"), "{err}");
        // Ed25519 still passes with the fallback off.
        assert!(verify(&off, BODY, &signed(&ed(), BODY)).is_ok());
        // An RSA-only verifier works while the fallback is on.
        let rsa_only = GhlVerifier::builder()
            .rsa_public_key_pem(RSA_PUBLIC)
            .build()
            .unwrap();
        assert!(verify(&rsa_only, BODY, &h).is_ok());
    }

    #[test]
    fn x_ghl_signature_decides_when_present() {
        let good_ed = ed().sign(BODY.as_bytes()).unwrap();
        let good_rsa = rsa().sign(BODY.as_bytes()).unwrap();
        let foreign_ed = GhlSigner::ed25519(OTHER_ED_PRIVATE)
            .unwrap()
            .sign(BODY.as_bytes())
            .unwrap();
        // A bad Ed25519 signature is rejected although X-WH-Signature would verify (the SDKs
        // do not fall back either).
        let h = headers(&[
            (SIGNATURE_HEADER, &foreign_ed),
            (RSA_SIGNATURE_HEADER, &good_rsa),
        ]);
        assert_eq!(verify(&both(), BODY, &h), Err(no_match(SIGNATURE_HEADER)));
        let h = headers(&[(SIGNATURE_HEADER, "!!"), (RSA_SIGNATURE_HEADER, &good_rsa)]);
        assert!(matches!(
            verify(&both(), BODY, &h),
            Err(WebhookError::InvalidHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
        // A good one passes whatever X-WH-Signature holds.
        let h = headers(&[(SIGNATURE_HEADER, &good_ed), (RSA_SIGNATURE_HEADER, "junk")]);
        assert!(verify(&both(), BODY, &h).is_ok());
        // An empty X-GHL-Signature counts as absent (as in the SDKs): RSA decides.
        let h = headers(&[(SIGNATURE_HEADER, ""), (RSA_SIGNATURE_HEADER, &good_rsa)]);
        assert!(verify(&both(), BODY, &h).is_ok());
        // Without an Ed25519 key the SDKs check X-WH-Signature; so does this.
        let rsa_only = GhlVerifier::builder()
            .rsa_public_key_pem(RSA_PUBLIC)
            .build()
            .unwrap();
        let h = headers(&[
            (SIGNATURE_HEADER, &good_ed),
            (RSA_SIGNATURE_HEADER, &good_rsa),
        ]);
        assert!(verify(&rsa_only, BODY, &h).is_ok());
        // ... and with only X-GHL-Signature it has no key for it: closed.
        let h = headers(&[(SIGNATURE_HEADER, &good_ed)]);
        assert_eq!(
            verify(&rsa_only, BODY, &h),
            Err(WebhookError::SecretMissing)
        );
    }

    #[test]
    fn missing_and_malformed_signatures_are_told_apart() {
        let v = both();
        assert_eq!(
            verify(&v, BODY, &HeaderMap::new()),
            Err(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER
            })
        );
        assert_eq!(
            verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, "  ")])),
            Err(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER
            })
        );
        let invalid = |h: &HeaderMap, header: &'static str| match verify(&v, BODY, h) {
            Err(WebhookError::InvalidHeader { header: got, .. }) => assert_eq!(got, header),
            other => panic!("{other:?}"),
        };
        invalid(
            &headers(&[(SIGNATURE_HEADER, "not base64!")]),
            SIGNATURE_HEADER,
        );
        // The right bytes in spellings GoHighLevel does not send: unpadded, URL-safe.
        let unpadded = OPENSSL_ED_SIGNATURE.trim_end_matches('=');
        invalid(&headers(&[(SIGNATURE_HEADER, unpadded)]), SIGNATURE_HEADER);
        let url_safe = OPENSSL_ED_SIGNATURE.replace('/', "_").replace('+', "-");
        invalid(&headers(&[(SIGNATURE_HEADER, &url_safe)]), SIGNATURE_HEADER);
        // Base64, but not 64 bytes.
        invalid(&headers(&[(SIGNATURE_HEADER, "AAAA")]), SIGNATURE_HEADER);
        invalid(
            &headers(&[(RSA_SIGNATURE_HEADER, "#")]),
            RSA_SIGNATURE_HEADER,
        );
        // Sent twice, even with the good value first.
        invalid(
            &headers(&[
                (SIGNATURE_HEADER, OPENSSL_ED_SIGNATURE),
                (SIGNATURE_HEADER, OPENSSL_ED_SIGNATURE),
            ]),
            SIGNATURE_HEADER,
        );
        // Surrounding whitespace is trimmed.
        let padded = format!(" {OPENSSL_ED_SIGNATURE} ");
        assert!(verify(&v, BODY, &headers(&[(SIGNATURE_HEADER, &padded)])).is_ok());
        // An RSA signature of the wrong length does not verify.
        assert_eq!(
            verify(&v, BODY, &headers(&[(RSA_SIGNATURE_HEADER, "AAAA")])),
            Err(no_match(RSA_SIGNATURE_HEADER))
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_rejected_both_ways() {
        let v = both();
        let at = |ts: &str| {
            let body = BODY.replace("2025-01-28T14:35:00Z", ts);
            verify(&v, &body, &signed(&ed(), &body))
        };
        // now() is 14:36:40Z; the tolerance is 300 s.
        assert!(at("2025-01-28T14:31:40Z").is_ok());
        assert!(at("2025-01-28T14:41:40Z").is_ok());
        assert!(at("2025-01-28T20:11:40+05:35").is_ok());
        assert_eq!(
            at("2025-01-28T14:31:39.999Z"),
            Err(WebhookError::TimestampOutsideTolerance {
                header: "body /timestamp",
                skew_secs: 301,
                tolerance_secs: 300,
            })
        );
        assert_eq!(
            at("2025-01-28T14:41:42Z"),
            Err(WebhookError::TimestampOutsideTolerance {
                header: "body /timestamp",
                skew_secs: -302,
                tolerance_secs: 300,
            })
        );
        // A replay a day later.
        assert!(matches!(
            at("2025-01-27T14:35:00Z"),
            Err(WebhookError::TimestampOutsideTolerance { .. })
        ));
        // A configured tolerance.
        let wide = GhlVerifier::builder()
            .ed25519_public_key_pem(ED_PUBLIC)
            .tolerance(Duration::from_secs(3600))
            .build()
            .unwrap();
        let body = BODY.replace("14:35:00Z", "14:00:00Z");
        assert!(verify(&wide, &body, &signed(&ed(), &body)).is_ok());
        assert!(verify(&v, &body, &signed(&ed(), &body)).is_err());
        // The fraction is kept in the reported time.
        let body = BODY.replace("14:35:00Z", "14:35:00.25Z");
        let verified = verify(&v, &body, &signed(&ed(), &body)).unwrap();
        assert_eq!(
            verified.timestamp,
            Some(UNIX_EPOCH + Duration::from_millis(1_738_074_900_250))
        );
    }

    #[test]
    fn malformed_delivery_fields_name_the_field() {
        let v = both();
        let check = |body: &str| verify(&v, body, &signed(&ed(), body));
        let invalid = |body: &str, field: &'static str| match check(body) {
            Err(WebhookError::InvalidHeader { header, .. }) => assert_eq!(header, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        };
        invalid(r#"{"timestamp":"yesterday"}"#, "body /timestamp");
        invalid(r#"{"timestamp":"2025-01-28 14:35:00"}"#, "body /timestamp");
        invalid(r#"{"timestamp":1738074900}"#, "body /timestamp");
        invalid(r#"{"webhookId":42}"#, "body /webhookId");
        invalid(
            r#"{"timestamp":"2025-01-28T14:35:00Z","timestamp":"2025-01-28T14:35:00Z"}"#,
            "body",
        );
        invalid(r#"["2025-01-28T14:35:00Z","wh"]"#, "body");
        invalid("not json", "body");
        invalid("", "body");
        // Errors never echo the value.
        let err = check(r#"{"timestamp":"SECRET-CANARY"}"#).unwrap_err();
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }

    #[test]
    fn absent_delivery_fields_are_accepted_unless_required() {
        let v = both();
        let body = r#"{"type":"InvoicePaid","_id":"i1"}"#;
        let verified = verify(&v, body, &signed(&ed(), body)).unwrap();
        assert_eq!(verified, Verified::default());
        let body = r#"{"type":"InvoicePaid","timestamp":null,"webhookId":""}"#;
        assert_eq!(
            verify(&v, body, &signed(&ed(), body)).unwrap(),
            Verified::default()
        );
        let strict = GhlVerifier::builder()
            .ed25519_public_key_pem(ED_PUBLIC)
            .require_timestamp(true)
            .build()
            .unwrap();
        assert_eq!(
            verify(&strict, body, &signed(&ed(), body)),
            Err(WebhookError::MissingHeader {
                header: "body /timestamp"
            })
        );
        assert!(verify(&strict, BODY, &signed(&ed(), BODY)).is_ok());
    }

    #[test]
    fn any_configured_key_may_verify_during_a_rotation() {
        let v = GhlVerifier::builder()
            .ed25519_public_key_pem(OTHER_ED_PUBLIC)
            .ed25519_public_key_pem(ED_PUBLIC)
            .build()
            .unwrap();
        assert!(verify(&v, BODY, &signed(&ed(), BODY)).is_ok());
        let other = GhlSigner::ed25519(OTHER_ED_PRIVATE).unwrap();
        assert!(verify(&v, BODY, &signed(&other, BODY)).is_ok());
        assert!(format!("{v:?}").contains(r#"["configured", "configured"]"#));
    }

    #[test]
    fn bad_keys_are_config_errors_naming_the_key_never_its_text() {
        let ed_err = |pem: &str| {
            GhlVerifier::builder()
                .ed25519_public_key_pem(pem)
                .build()
                .unwrap_err()
        };
        let rsa_err = |pem: &str| {
            GhlVerifier::builder()
                .rsa_public_key_pem(pem)
                .build()
                .unwrap_err()
        };
        for e in [
            ed_err(""),
            ed_err("MCowBQYDK2VwAyEA+tZk6AcSnk65nKSWtS70mYNReYQr4L1xsPJ7V6NcFq0="),
            ed_err(RSA_PUBLIC),
            ed_err(ED_PRIVATE),
            ed_err(&ED_PUBLIC.replace("-----END PUBLIC KEY-----", "")),
            ed_err(&ED_PUBLIC.replace("MCow", "MC*w")),
        ] {
            assert_eq!(config_setting(&e), "ghl.webhook.ed25519_public_key");
            assert!(!e.to_string().contains("MCow"), "{e}");
            assert!(!e.to_string().contains("MC4C"), "{e}");
        }
        assert!(ed_err(ED_PRIVATE).to_string().contains("private key"));
        for e in [
            rsa_err(ED_PUBLIC),
            rsa_err(RSA_PRIVATE),
            rsa_err(&RSA_PUBLIC.replace("PUBLIC KEY", "CERTIFICATE")),
        ] {
            assert_eq!(config_setting(&e), "ghl.webhook.rsa_public_key");
            assert!(!e.to_string().contains("MIIB"), "{e}");
        }
        // 1024 bits: below what the verifier can use, refused up front.
        let small = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDOmlLklXYjb009qnVkaIP4gKLv
1sZDi6kHTjYx5K7HaGisTYO+hmFncFWvEfiwUnHiRQOFOS9sv/UbP9QzNerSXyCG
L73cmyrbZyQwlVIJKpuCA7/K/Djnj3savlG+YDLQzb7Pfes/9NEj4GR2qivcgqeK
jbfiDcIAEe58A9v0TwIDAQAB
-----END PUBLIC KEY-----";
        let e = rsa_err(small);
        assert_eq!(config_setting(&e), "ghl.webhook.rsa_public_key");
        assert!(e.to_string().contains("1024-bit"), "{e}");
        // No usable key at all.
        let e = GhlVerifier::builder().build().unwrap_err();
        assert_eq!(config_setting(&e), "ghl.webhook.ed25519_public_key");
        let e = GhlVerifier::builder()
            .rsa_public_key_pem(RSA_PUBLIC)
            .accept_rsa(false)
            .build()
            .unwrap_err();
        assert_eq!(config_setting(&e), "ghl.webhook.ed25519_public_key");
        assert!(e.to_string().contains("RSA fallback is off"), "{e}");
    }

    #[test]
    fn a_pkcs1_rsa_public_key_loads_too() {
        let pkcs1 = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAuejFi/PbLukwRoYJHvO5An3s9oRn6Bx4/dXMFdaYTQswME7qX7t4
iYizeQ6n/YdjLJ9Tww2bzIJ4fE9N8my6XIHETSHWQtilPRqObjkDglRpM9ZAuwGk
Ig/sYfcf52kpZBl9hsHmdAROOc96Qv05p5/MC7OUgO9jYQGIiJ/K9Y7hPur6pyau
lOcb/OF49A+FF7vMJaMnHYi3mesgcM+PhNxjS/Z3u2JAK/Mu9/8y9PO4Zgu0v72t
Nq8g/g4Bvf3HyT094TTy7oe24RycHaYyMrazMAhTwmMCK70HENTRuE4AxjTSbVzO
qXRlnqptxMFzKsfB/4uHMm48IQIFNfTQVQIDAQAB
-----END RSA PUBLIC KEY-----";
        let v = GhlVerifier::builder()
            .rsa_public_key_pem(pkcs1)
            .build()
            .unwrap();
        let h = headers(&[(RSA_SIGNATURE_HEADER, OPENSSL_RSA_SIGNATURE)]);
        assert!(verify(&v, BODY, &h).is_ok());
    }

    #[test]
    fn signers_refuse_the_wrong_key() {
        for e in [
            GhlSigner::ed25519(RSA_PRIVATE).unwrap_err(),
            GhlSigner::ed25519(ED_PUBLIC).unwrap_err(),
            GhlSigner::ed25519("").unwrap_err(),
        ] {
            assert_eq!(config_setting(&e), "ghl.webhook.ed25519_private_key");
            assert!(!e.to_string().contains("MC4C"), "{e}");
        }
        for e in [
            GhlSigner::rsa(ED_PRIVATE).unwrap_err(),
            GhlSigner::rsa(RSA_PUBLIC).unwrap_err(),
        ] {
            assert_eq!(config_setting(&e), "ghl.webhook.rsa_private_key");
            assert!(!e.to_string().contains("MIIE"), "{e}");
        }
    }

    #[test]
    fn debug_shows_no_key() {
        let v = both();
        let b = GhlVerifier::builder()
            .ed25519_public_key_pem(ED_PUBLIC)
            .rsa_public_key_pem(RSA_PUBLIC);
        let shown = format!("{v:?} {b:?} {:?} {:?}", ed(), rsa());
        for key_text in ["MCow", "MIIB", "MC4C", "MIIE", "BEGIN"] {
            assert!(!shown.contains(key_text), "{shown}");
        }
        assert!(shown.contains("configured"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn a_verifier_is_usable_as_a_shared_trait_object() {
        let v: std::sync::Arc<dyn WebhookVerifier> = std::sync::Arc::new(GhlVerifier::published());
        // Through the trait (system clock): a missing header is reported before any clock use.
        assert_eq!(
            v.verify(&WebhookRequest::new(BODY.as_bytes(), &HeaderMap::new())),
            Err(WebhookError::MissingHeader {
                header: SIGNATURE_HEADER
            })
        );
    }
}
