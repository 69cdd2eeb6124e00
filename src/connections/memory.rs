//! The in-memory [`ConnectionStore`].

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{connection_conflict, webhook_key_conflict, ConnectionRecord, ConnectionStore};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

type Key = (TenantId, ConnectionId);

/// A [`ConnectionStore`] in a mutex-guarded map; nothing survives a restart.
#[derive(Debug, Default)]
pub struct InMemoryConnectionStore {
    inner: Mutex<Records>,
}

/// The records and the two unique indexes the SQL backends keep as unique columns, so a
/// webhook lookup or a write costs the same with ten connections or a hundred thousand.
#[derive(Debug, Default)]
struct Records {
    by_key: HashMap<Key, ConnectionRecord>,
    by_token: HashMap<String, Key>,
    by_routing: HashMap<(String, String), Key>,
}

fn routing_of(r: &ConnectionRecord) -> Option<(String, String)> {
    r.webhook_routing_key
        .as_ref()
        .map(|k| (r.template.clone(), k.clone()))
}

impl Records {
    fn unindex(&mut self, r: &ConnectionRecord) {
        if let Some(t) = &r.webhook_token {
            self.by_token.remove(t);
        }
        if let Some(k) = routing_of(r) {
            self.by_routing.remove(&k);
        }
    }
}

impl InMemoryConnectionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        // Each write updates the map and its indexes without an await or a panic between, so a
        // poisoned lock still holds whole, consistent records.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ConnectionStore for InMemoryConnectionStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        Ok(self
            .records()
            .by_key
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error> {
        let mut records = self.records();
        let k = (record.tenant.clone(), record.id.clone());
        let found = records.by_key.get(&k).map(|r| r.version);
        if found.unwrap_or(0) != record.version || (found.is_none() && record.version != 0) {
            return Err(connection_conflict(
                &record.tenant,
                &record.id,
                record.version,
                found,
            ));
        }
        // The same uniqueness the SQL backends enforce with their unique indexes.
        let token_taken = record
            .webhook_token
            .as_ref()
            .and_then(|t| records.by_token.get(t))
            .is_some_and(|owner| *owner != k);
        let routing_taken = routing_of(record)
            .and_then(|r| records.by_routing.get(&r))
            .is_some_and(|owner| *owner != k);
        if token_taken || routing_taken {
            return Err(webhook_key_conflict(record));
        }
        let mut stored = record.clone();
        stored.version = record.version + 1;
        if let Some(old) = records.by_key.remove(&k) {
            records.unindex(&old);
        }
        if let Some(t) = &stored.webhook_token {
            records.by_token.insert(t.clone(), k.clone());
        }
        if let Some(r) = routing_of(&stored) {
            records.by_routing.insert(r, k.clone());
        }
        records.by_key.insert(k, stored);
        Ok(record.version + 1)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        let mut out: Vec<_> = self
            .records()
            .by_key
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
        let found = records.by_key.get(&k).map(|r| r.version);
        if found != Some(version) {
            return Err(connection_conflict(tenant, id, version, found));
        }
        if let Some(old) = records.by_key.remove(&k) {
            records.unindex(&old);
        }
        Ok(())
    }

    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error> {
        let records = self.records();
        Ok(records
            .by_token
            .get(token)
            .and_then(|k| records.by_key.get(k))
            .cloned())
    }

    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        let records = self.records();
        Ok(records
            .by_routing
            .get(&(template.to_string(), key.to_string()))
            .and_then(|k| records.by_key.get(k))
            .cloned())
    }
}
