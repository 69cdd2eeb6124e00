//! A map from a [`ConnectionKey`] to shared per-connection state (retry budgets, circuit
//! breakers), built lazily and read without a write lock on the hot path.
//!
//! The key is a struct of (tenant, connection, host), not a joined string: connection ids are
//! unique only within a tenant, so state keyed without the tenant would let one tenant's
//! failures open another tenant's breaker, and a joined string could make two different
//! triples collide when an id holds the separator.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ids::{ConnectionId, TenantId};

/// Which connection (of which tenant) and which provider host a piece of state belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConnectionKey {
    pub(crate) tenant: TenantId,
    pub(crate) connection: ConnectionId,
    pub(crate) host: Arc<str>,
}

impl ConnectionKey {
    pub(crate) fn new(tenant: &TenantId, connection: &ConnectionId, host: &str) -> Self {
        ConnectionKey {
            tenant: tenant.clone(),
            connection: connection.clone(),
            host: Arc::from(host),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Registry<V> {
    map: RwLock<HashMap<ConnectionKey, Arc<V>>>,
}

impl<V> Default for Registry<V> {
    fn default() -> Self {
        Registry {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<V> Registry<V> {
    /// The value for `key`, created with `make` on first use.
    pub(crate) fn get_or_insert_with(
        &self,
        key: &ConnectionKey,
        make: impl FnOnce() -> V,
    ) -> Arc<V> {
        // A panic elsewhere cannot leave the map half-updated (inserts are single calls), so a
        // poisoned lock is still safe to use.
        if let Some(v) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return v.clone();
        }
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// The value for `key`, if it exists.
    pub(crate) fn get(&self, key: &ConnectionKey) -> Option<Arc<V>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Every key and value, in no particular order.
    pub(crate) fn snapshot(&self) -> Vec<(ConnectionKey, Arc<V>)> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_separators_in_ids_never_collide() {
        let r: Registry<u8> = Registry::default();
        let a = ConnectionKey::new(&"a\0b".into(), &"c".into(), "h");
        let b = ConnectionKey::new(&"a".into(), &"b\0c".into(), "h");
        r.get_or_insert_with(&a, || 1);
        assert_eq!(*r.get_or_insert_with(&b, || 2), 2);
        assert_eq!(r.get(&a).map(|v| *v), Some(1));
    }
}
