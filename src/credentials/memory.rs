//! The in-memory [`CredentialStore`]: for tests and single-process hosts that keep nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{version_conflict, CredentialKey, CredentialStore, SealedCredential, Versioned};
use crate::error::Error;

/// A [`CredentialStore`] in a mutex-guarded map. Cheap operations; nothing survives a restart.
#[derive(Debug, Default)]
pub struct InMemoryCredentialStore {
    records: Mutex<HashMap<CredentialKey, Versioned<SealedCredential>>>,
}

impl InMemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CredentialKey, Versioned<SealedCredential>>> {
        // A panic while holding this lock cannot leave a half-written record (each write is
        // one insert), so a poisoned lock is safe to keep using.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl CredentialStore for InMemoryCredentialStore {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, Error> {
        Ok(self.records().get(key).cloned())
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, Error> {
        let mut records = self.records();
        let found = records.get(key).map(|r| r.version);
        if found != expected {
            return Err(version_conflict(key, expected, found));
        }
        let version = found.unwrap_or(0) + 1;
        records.insert(key.clone(), Versioned { version, value });
        Ok(version)
    }

    async fn list_keys(&self) -> Result<Vec<CredentialKey>, Error> {
        Ok(self.records().keys().cloned().collect())
    }

    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), Error> {
        let mut records = self.records();
        let found = records.get(key).map(|r| r.version);
        if found != Some(expected) {
            return Err(version_conflict(key, Some(expected), found));
        }
        records.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn key() -> CredentialKey {
        CredentialKey::new("t1".into(), "c1".into(), "config")
    }

    #[tokio::test]
    async fn compare_and_swap_rejects_stale_writers() {
        let s = InMemoryCredentialStore::new();
        let v1 = s
            .save(&key(), SealedCredential::new(&b"a"[..]), None)
            .await
            .unwrap();
        assert_eq!(v1, 1);
        let v2 = s
            .save(&key(), SealedCredential::new(&b"b"[..]), Some(1))
            .await
            .unwrap();
        assert_eq!(v2, 2);
        let err = s
            .save(&key(), SealedCredential::new(&b"c"[..]), Some(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("expected 1, found 2"), "{err}");
        let got = s.load(&key()).await.unwrap().unwrap();
        assert_eq!((got.version, got.value.as_bytes()), (2, &b"b"[..]));
        assert!(s.delete(&key(), 1).await.is_err());
        s.delete(&key(), 2).await.unwrap();
        assert!(s.load(&key()).await.unwrap().is_none());
    }
}
