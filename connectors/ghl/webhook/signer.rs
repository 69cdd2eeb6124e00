//! [`GhlSigner`]: signs webhook bodies as GoHighLevel does, with a locally generated key, for
//! hosts' own tests of their webhook handling.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::EncodingKey;

use super::Scheme;
use crate::webhook::WebhookError;
use crate::Error;

const ED25519_PRIVATE_SETTING: &str = "ghl.webhook.ed25519_private_key";
const RSA_PRIVATE_SETTING: &str = "ghl.webhook.rsa_private_key";

/// Signs webhook bodies the way GoHighLevel does, with a locally generated private key: for
/// hosts' own tests (GoHighLevel keeps its private keys, so a test cannot produce a signature
/// [`GhlVerifier::published`](super::GhlVerifier::published) accepts; build the verifier under test with the matching public
/// key instead).
///
/// [`GhlSigner::ed25519`] gives `X-GHL-Signature` values, [`GhlSigner::rsa`] `X-WH-Signature`
/// values; [`GhlSigner::header_name`] says which. See [`GhlVerifier`](super::GhlVerifier) for an example.
#[derive(Clone)]
pub struct GhlSigner {
    key: EncodingKey,
    scheme: Scheme,
}

impl fmt::Debug for GhlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlSigner")
            .field("header", &self.scheme.header())
            .field("private_key", &format_args!("[redacted]"))
            .finish()
    }
}

impl GhlSigner {
    /// A signer for `X-GHL-Signature` with an Ed25519 private key in PEM (PKCS#8 `PRIVATE
    /// KEY`, as `openssl genpkey -algorithm ed25519` writes it).
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming
    /// `ghl.webhook.ed25519_private_key` (never the key) when it does not load.
    pub fn ed25519(private_key_pem: &str) -> Result<GhlSigner, Error> {
        let bad = || {
            Error::config(
                ED25519_PRIVATE_SETTING,
                "not an Ed25519 private key in PEM (PKCS#8 `PRIVATE KEY`)",
            )
        };
        let key = EncodingKey::from_ed_pem(private_key_pem.as_bytes()).map_err(|_| bad())?;
        Self::checked(key, Scheme::Ed25519).ok_or_else(bad)
    }

    /// A signer for `X-WH-Signature` with an RSA private key in PEM (PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`, 2048 bits or more, as `openssl genrsa 2048` writes it).
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming
    /// `ghl.webhook.rsa_private_key` (never the key) when it does not load.
    pub fn rsa(private_key_pem: &str) -> Result<GhlSigner, Error> {
        let bad = || {
            Error::config(
                RSA_PRIVATE_SETTING,
                "not an RSA private key of 2048 bits or more in PEM (PKCS#8 `PRIVATE KEY` or \
                 PKCS#1 `RSA PRIVATE KEY`)",
            )
        };
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| bad())?;
        Self::checked(key, Scheme::Rsa).ok_or_else(bad)
    }

    /// The signer, once it signed something: the PEM parser accepts keys the signing code
    /// then refuses.
    fn checked(key: EncodingKey, scheme: Scheme) -> Option<GhlSigner> {
        let signer = GhlSigner { key, scheme };
        signer.sign(b"").ok().map(|_| signer)
    }

    /// The header the signature goes in: [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) (`x-ghl-signature`) for
    /// Ed25519, [`RSA_SIGNATURE_HEADER`](super::RSA_SIGNATURE_HEADER) (`x-wh-signature`) for RSA; lower case, so it can be
    /// given to `HeaderMap::insert` as is.
    pub fn header_name(&self) -> &'static str {
        self.scheme.header()
    }

    /// The header value for `body`: the base64 (standard, padded) signature of the raw bytes.
    ///
    /// # Errors
    /// [`WebhookError::SecretMissing`] if the key cannot sign (not expected: the constructors
    /// sign once to check the key).
    pub fn sign(&self, body: &[u8]) -> Result<String, WebhookError> {
        let jwt_signature = jsonwebtoken::crypto::sign(body, &self.key, self.scheme.algorithm())
            .map_err(|_| WebhookError::SecretMissing)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(jwt_signature)
            .map_err(|_| WebhookError::SecretMissing)?;
        Ok(STANDARD.encode(bytes))
    }
}
