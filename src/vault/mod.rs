//! The credential vault: AES-256-GCM sealing of credential records, bound to where they live.
//!
//! Every record is sealed with a fresh random 96-bit nonce under the key ring's primary key.
//! The associated data binds the format version, tenant, connection, credential kind and key
//! id, so a ciphertext copied onto another tenant's row (or relabelled with another key id)
//! fails to open. Keys have ids: records open under any active key, [`Vault::rotate`] re-seals
//! every record under the primary online (compare-and-swap, so concurrent writers win), and a
//! record under a retired key gives a typed error. Each key counts its encryptions and refuses
//! to seal past 2^31, which forces a rotation long before nonce reuse becomes a risk.
//!
//! Sealed layout: `version (1) | key id length (1) | key id | nonce (12) | ciphertext + tag (16)`.

mod keyring;

pub use keyring::{KeyId, KeyRing, MasterKey};

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use secrecy::SecretSlice;

use crate::credentials::{CredentialKey, CredentialStore, SealedCredential};
use crate::error::{Error, ErrorKind};

/// The sealed-format version this build writes.
pub const FORMAT_VERSION: u8 = 1;
/// Encryptions one key may perform before it refuses and asks for rotation.
pub const MAX_ENCRYPTIONS_PER_KEY: u64 = 1 << 31;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a record could not be sealed or opened. Never holds plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The bytes are not a sealed record of a known format.
    #[error("sealed record is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The record names a key id the ring does not hold.
    #[error("sealed record uses unknown key `{key_id}`")]
    UnknownKey {
        /// The key id.
        key_id: String,
    },
    /// The record is under a retired key; it must be re-sealed by a rotation that still had it.
    #[error("sealed record uses retired key `{key_id}`")]
    RetiredKey {
        /// The key id.
        key_id: String,
    },
    /// Authentication failed: the record was altered, or belongs to another tenant,
    /// connection or kind.
    #[error("sealed record failed authentication (tampered, or copied from another tenant, connection or kind)")]
    Tampered,
    /// The key has sealed [`MAX_ENCRYPTIONS_PER_KEY`] records; add a new primary and rotate.
    #[error("key `{key_id}` reached its encryption limit; rotate to a new primary key")]
    KeyExhausted {
        /// The key id.
        key_id: String,
    },
}

impl From<VaultError> for Error {
    fn from(e: VaultError) -> Self {
        Error::vault(e.to_string()).with_source(e)
    }
}

/// Seals and opens credential records. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    ring: Arc<KeyRing>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("ring", &self.ring).finish()
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// Records re-sealed under the primary key.
    pub resealed: usize,
    /// Records already under the primary key.
    pub current: usize,
    /// Records that changed under us and were re-read (another writer won a race).
    pub retried: usize,
}

impl Vault {
    /// A vault over `ring`.
    pub fn new(ring: KeyRing) -> Self {
        Vault {
            ring: Arc::new(ring),
        }
    }

    /// The key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Seals `plaintext` for `key` under the primary key.
    ///
    /// # Errors
    /// [`VaultError::KeyExhausted`] when the primary key reached its limit.
    pub fn seal(
        &self,
        key: &CredentialKey,
        plaintext: &[u8],
    ) -> Result<SealedCredential, VaultError> {
        let (id, cipher) = self.ring.primary_for_sealing()?;
        let nonce = Aes256Gcm::generate_nonce(&mut aes_gcm::aead::OsRng);
        let aad = associated_data(key, id.as_str());
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Encryption fails only for inputs over ~64 GiB; credentials are small.
            .map_err(|_| VaultError::Malformed {
                reason: "plaintext too large",
            })?;
        let id_bytes = id.as_str().as_bytes();
        let mut out = Vec::with_capacity(2 + id_bytes.len() + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_VERSION);
        out.push(id_bytes.len() as u8);
        out.extend_from_slice(id_bytes);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(SealedCredential::new(out))
    }

    /// Opens a record sealed for `key`.
    ///
    /// # Errors
    /// A [`VaultError`] saying whether the record is malformed, under an unknown or retired
    /// key, or fails authentication.
    pub fn open(
        &self,
        key: &CredentialKey,
        sealed: &SealedCredential,
    ) -> Result<SecretSlice<u8>, VaultError> {
        let parsed = parse(sealed.as_bytes())?;
        let cipher = self.ring.cipher_for_opening(parsed.key_id)?;
        let aad = associated_data(key, parsed.key_id);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(parsed.nonce),
                Payload {
                    msg: parsed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Tampered)?;
        Ok(SecretSlice::from(plain))
    }

    /// The key id a sealed record names, without opening it.
    ///
    /// # Errors
    /// [`VaultError::Malformed`].
    pub fn key_id_of(sealed: &SealedCredential) -> Result<String, VaultError> {
        parse(sealed.as_bytes()).map(|p| p.key_id.to_string())
    }

    /// Re-seals every record in `store` that is not under the primary key. Online: each write
    /// is a compare-and-swap, and a record changed meanwhile is re-read and tried again.
    ///
    /// # Errors
    /// The first store failure, or a [`VaultError`] for a record that cannot be opened (for
    /// example one under a retired key). Records re-sealed before the failure stay re-sealed.
    pub async fn rotate(&self, store: &dyn CredentialStore) -> Result<RotationReport, Error> {
        let primary = self.ring.primary_id().as_str().to_string();
        let mut report = RotationReport::default();
        for key in store.list_keys().await? {
            loop {
                let Some(record) = store.load(&key).await? else {
                    break; // Deleted meanwhile.
                };
                if Vault::key_id_of(&record.value)? == primary {
                    report.current += 1;
                    break;
                }
                let plain = self.open(&key, &record.value)?;
                let resealed = self.seal(&key, secrecy::ExposeSecret::expose_secret(&plain))?;
                match store.save(&key, resealed, Some(record.version)).await {
                    Ok(_) => {
                        report.resealed += 1;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Conflict => report.retried += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }
}

struct Parsed<'a> {
    key_id: &'a str,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, VaultError> {
    let malformed = |reason| VaultError::Malformed { reason };
    let (&version, rest) = bytes.split_first().ok_or(malformed("empty"))?;
    if version != FORMAT_VERSION {
        return Err(malformed("unknown format version"));
    }
    let (&id_len, rest) = rest
        .split_first()
        .ok_or(malformed("truncated before the key id"))?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + NONCE_LEN + TAG_LEN {
        return Err(malformed("truncated"));
    }
    let (id, rest) = rest.split_at(id_len);
    let key_id = std::str::from_utf8(id).map_err(|_| malformed("key id is not UTF-8"))?;
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Ok(Parsed {
        key_id,
        nonce,
        ciphertext,
    })
}

/// `"switchboard.vault"`, version, then each field length-prefixed so no two different
/// (tenant, connection, kind, key) tuples can produce the same bytes.
fn associated_data(key: &CredentialKey, key_id: &str) -> Vec<u8> {
    let fields = [
        key.tenant.as_str(),
        key.connection.as_str(),
        &*key.kind,
        key_id,
    ];
    let mut aad = Vec::with_capacity(32 + fields.iter().map(|f| f.len() + 4).sum::<usize>());
    aad.extend_from_slice(b"switchboard.vault");
    aad.push(FORMAT_VERSION);
    for f in fields {
        aad.extend_from_slice(&(f.len() as u32).to_be_bytes());
        aad.extend_from_slice(f.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vault() -> Vault {
        Vault::new(KeyRing::new(
            KeyId::new("k1").unwrap(),
            MasterKey::from_bytes(&[7u8; 32]).unwrap(),
        ))
    }

    fn key(tenant: &str) -> CredentialKey {
        CredentialKey::new(tenant.into(), "conn".into(), "config")
    }

    #[test]
    fn round_trips_and_uses_a_fresh_nonce_each_time() {
        let v = vault();
        let a = v.seal(&key("a"), b"secret").unwrap();
        let b = v.seal(&key("a"), b"secret").unwrap();
        assert_ne!(a, b);
        assert_eq!(v.open(&key("a"), &a).unwrap().expose_secret(), b"secret");
    }

    #[test]
    fn a_record_copied_to_another_tenant_connection_or_kind_fails() {
        let v = vault();
        let sealed = v.seal(&key("a"), b"secret").unwrap();
        assert_eq!(
            v.open(&key("b"), &sealed).unwrap_err(),
            VaultError::Tampered
        );
        let other_conn = CredentialKey::new("a".into(), "conn2".into(), "config");
        assert_eq!(
            v.open(&other_conn, &sealed).unwrap_err(),
            VaultError::Tampered
        );
        let other_kind = CredentialKey::new("a".into(), "conn".into(), "oauth_token");
        assert_eq!(
            v.open(&other_kind, &sealed).unwrap_err(),
            VaultError::Tampered
        );
    }

    #[test]
    fn every_single_byte_flip_after_the_header_fails() {
        let v = vault();
        let k = key("a");
        let sealed = v.seal(&k, b"a credential of some length").unwrap();
        let bytes = sealed.as_bytes().to_vec();
        let header = 2 + 2; // version, id length, "k1"
        for i in header..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let r = v.open(&k, &SealedCredential::new(b));
                assert_eq!(r.unwrap_err(), VaultError::Tampered, "byte {i} bit {bit}");
            }
        }
        // Header flips are caught too, as malformed or unknown key.
        let mut b = bytes.clone();
        b[0] ^= 1;
        assert!(matches!(
            v.open(&k, &SealedCredential::new(b)),
            Err(VaultError::Malformed { .. })
        ));
        let mut b = bytes.clone();
        b[3] ^= 1;
        assert!(matches!(
            v.open(&k, &SealedCredential::new(b)),
            Err(VaultError::UnknownKey { .. })
        ));
        assert!(matches!(
            v.open(&k, &SealedCredential::new(bytes[..10].to_vec())),
            Err(VaultError::Malformed { .. })
        ));
    }

    #[test]
    fn retired_keys_refuse_and_unknown_keys_are_named() {
        let ring = KeyRing::new(
            KeyId::new("old").unwrap(),
            MasterKey::from_bytes(&[1u8; 32]).unwrap(),
        );
        let v = Vault::new(ring);
        let sealed = v.seal(&key("a"), b"x").unwrap();
        let ring = KeyRing::new(
            KeyId::new("new").unwrap(),
            MasterKey::from_bytes(&[2u8; 32]).unwrap(),
        )
        .with_retired(
            KeyId::new("old").unwrap(),
            MasterKey::from_bytes(&[1u8; 32]).unwrap(),
        );
        let v2 = Vault::new(ring);
        assert_eq!(
            v2.open(&key("a"), &sealed).unwrap_err(),
            VaultError::RetiredKey {
                key_id: "old".into()
            }
        );
        let v3 = Vault::new(KeyRing::new(
            KeyId::new("new").unwrap(),
            MasterKey::from_bytes(&[2u8; 32]).unwrap(),
        ));
        assert_eq!(
            v3.open(&key("a"), &sealed).unwrap_err(),
            VaultError::UnknownKey {
                key_id: "old".into()
            }
        );
    }

    #[test]
    fn a_key_refuses_to_seal_past_its_limit() {
        let v = vault();
        v.key_ring()
            .set_count_for_tests(MAX_ENCRYPTIONS_PER_KEY - 1);
        assert!(v.seal(&key("a"), b"x").is_ok());
        assert_eq!(
            v.seal(&key("a"), b"x").unwrap_err(),
            VaultError::KeyExhausted {
                key_id: "k1".into()
            }
        );
    }
}
