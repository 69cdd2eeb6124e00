//! The in-memory [`ConnectionStore`].

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{connection_conflict, webhook_key_conflict, ConnectionRecord, ConnectionStore};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// A [`ConnectionStore`] in a mutex-guarded map; nothing survives a restart.
#[derive(Debug, Default)]
pub struct InMemoryConnectionStore {
    records: Mutex<HashMap<(TenantId, ConnectionId), ConnectionRecord>>,
}

impl InMemoryConnectionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(TenantId, ConnectionId), ConnectionRecord>> {
        // Each write is one insert or remove, so a poisoned lock still holds whole records.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ConnectionStore for InMemoryConnectionStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        Ok(self.records().get(&(tenant.clone(), id.clone())).cloned())
    }

    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error> {
        let mut records = self.records();
        let k = (record.tenant.clone(), record.id.clone());
        let found = records.get(&k).map(|r| r.version);
        if found.unwrap_or(0) != record.version || (found.is_none() && record.version != 0) {
            return Err(connection_conflict(
                &record.tenant,
                &record.id,
                record.version,
                found,
            ));
        }
        // The same uniqueness the SQL backends enforce with their unique indexes.
        let taken = records.iter().any(|(key, r)| {
            *key != k
                && ((record.webhook_token.is_some() && r.webhook_token == record.webhook_token)
                    || (record.webhook_routing_key.is_some()
                        && r.template == record.template
                        && r.webhook_routing_key == record.webhook_routing_key))
        });
        if taken {
            return Err(webhook_key_conflict(record));
        }
        let mut stored = record.clone();
        stored.version = record.version + 1;
        records.insert(k, stored);
        Ok(record.version + 1)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        let mut out: Vec<_> = self
            .records()
            .values()
            .filter(|r| &r.tenant == tenant)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        version: u64,
    ) -> Result<(), Error> {
        let mut records = self.records();
        let k = (tenant.clone(), id.clone());
        let found = records.get(&k).map(|r| r.version);
        if found != Some(version) {
            return Err(connection_conflict(tenant, id, version, found));
        }
        records.remove(&k);
        Ok(())
    }

    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error> {
        Ok(self
            .records()
            .values()
            .find(|r| r.webhook_token.as_deref() == Some(token))
            .cloned())
    }

    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        Ok(self
            .records()
            .values()
            .find(|r| r.template == template && r.webhook_routing_key.as_deref() == Some(key))
            .cloned())
    }
}
