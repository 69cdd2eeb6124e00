//! Keys and the key ring: ids, the primary key, active and retired keys, encryption counters.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox};

use super::{VaultError, MAX_ENCRYPTIONS_PER_KEY};
use crate::error::ConfigError;

/// A 256-bit master key. Never printed; zeroized on drop.
pub struct MasterKey(SecretBox<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A key from exactly 32 bytes.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `vault.master_key` when the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            ConfigError::new(
                "vault.master_key",
                format!("must be 32 bytes, got {}", bytes.len()),
            )
        })?;
        Ok(MasterKey(SecretBox::new(Box::new(arr))))
    }

    /// A key from standard base64 in the environment variable `var`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `vault.master_key` when the variable is missing, not base64, or
    /// not 32 bytes. The value is never echoed.
    pub fn from_env(var: &str) -> Result<Self, ConfigError> {
        let raw = std::env::var(var).map_err(|_| {
            ConfigError::new(
                "vault.master_key",
                format!("environment variable `{var}` is not set"),
            )
        })?;
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .map_err(|_| {
                    ConfigError::new("vault.master_key", format!("`{var}` is not valid base64"))
                })?,
        );
        Self::from_bytes(&bytes)
    }
}

/// A key's id, as written into every record it seals (1 to 255 bytes of visible ASCII).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// A key id.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `vault.key_id` when empty, too long or not visible ASCII.
    pub fn new(id: impl Into<String>) -> Result<Self, ConfigError> {
        let id = id.into();
        if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "vault.key_id",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(KeyId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

struct Entry {
    cipher: Aes256Gcm,
    retired: bool,
    sealed: AtomicU64,
}

/// The keys a vault knows: one primary (seals and opens), other active keys (open only) and
/// retired keys (refuse, with a typed error).
pub struct KeyRing {
    primary: KeyId,
    keys: HashMap<KeyId, Entry>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self
            .keys
            .iter()
            .map(|(id, e)| {
                format!(
                    "{}{}",
                    id.as_str(),
                    if e.retired { " (retired)" } else { "" }
                )
            })
            .collect();
        ids.sort();
        f.debug_struct("KeyRing")
            .field("primary", &self.primary.as_str())
            .field("keys", &ids)
            .finish()
    }
}

fn entry(key: &MasterKey, retired: bool) -> Entry {
    Entry {
        cipher: Aes256Gcm::new(key.0.expose_secret().into()),
        retired,
        sealed: AtomicU64::new(0),
    }
}

impl KeyRing {
    /// A ring whose primary key is `key`, named `id`.
    pub fn new(id: KeyId, key: MasterKey) -> Self {
        let mut keys = HashMap::new();
        keys.insert(id.clone(), entry(&key, false));
        KeyRing { primary: id, keys }
    }

    /// Adds an active key: records under it open; new records are sealed under the primary.
    #[must_use]
    pub fn with_active(mut self, id: KeyId, key: MasterKey) -> Self {
        self.keys.entry(id).or_insert_with(|| entry(&key, false));
        self
    }

    /// Adds a retired key: records under it refuse to open with [`VaultError::RetiredKey`].
    #[must_use]
    pub fn with_retired(mut self, id: KeyId, key: MasterKey) -> Self {
        if id != self.primary {
            self.keys.insert(id, entry(&key, true));
        }
        self
    }

    /// The primary key's id.
    pub fn primary_id(&self) -> &KeyId {
        &self.primary
    }

    pub(super) fn primary_for_sealing(&self) -> Result<(&KeyId, &Aes256Gcm), VaultError> {
        let e = &self.keys[&self.primary];
        // fetch_add first so concurrent sealers can never both take the last slot.
        if e.sealed.fetch_add(1, Ordering::Relaxed) >= MAX_ENCRYPTIONS_PER_KEY {
            e.sealed.fetch_sub(1, Ordering::Relaxed);
            return Err(VaultError::KeyExhausted {
                key_id: self.primary.as_str().to_string(),
            });
        }
        Ok((&self.primary, &e.cipher))
    }

    pub(super) fn cipher_for_opening(&self, id: &str) -> Result<&Aes256Gcm, VaultError> {
        let e = self
            .keys
            .get(&KeyId(id.to_string()))
            .ok_or_else(|| VaultError::UnknownKey {
                key_id: id.to_string(),
            })?;
        if e.retired {
            return Err(VaultError::RetiredKey {
                key_id: id.to_string(),
            });
        }
        Ok(&e.cipher)
    }

    /// How many records the primary key has sealed in this process.
    pub fn primary_seal_count(&self) -> u64 {
        self.keys[&self.primary].sealed.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn set_count_for_tests(&self, n: u64) {
        self.keys[&self.primary].sealed.store(n, Ordering::Relaxed);
    }
}
