//! A map from a [`ConnectionKey`] to shared per-connection state (retry budgets, circuit
//! breakers), built lazily and read without a write lock on the hot path.
//!
//! The key is a struct of (tenant, connection, host), not a joined string: connection ids are
//! unique only within a tenant, so state keyed without the tenant would let one tenant's
//! failures open another tenant's breaker, and a joined string could make two different
//! triples collide when an id holds the separator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// The size at which [`Registry::get_or_insert_pruning`] next drops unused values;
    /// doubles with the live size, so pruning costs amortized O(1) per insert.
    prune_at: AtomicUsize,
}

impl<V> Default for Registry<V> {
    fn default() -> Self {
        Registry {
            map: RwLock::new(HashMap::new()),
            prune_at: AtomicUsize::new(MIN_PRUNE),
        }
    }
}

/// The least size at which [`Registry::get_or_insert_pruning`] prunes.
const MIN_PRUNE: usize = 64;

impl<V> Registry<V> {
    /// The value for `key`, created with `make` on first use.
    pub(crate) fn get_or_insert_with(
        &self,
        key: &ConnectionKey,
        make: impl FnOnce() -> V,
    ) -> Arc<V> {
        self.get_or_insert(key, make, false)
    }

    /// As [`Self::get_or_insert_with`], and an insert that finds the map at its pruning size
    /// first drops every value nobody else holds. Only for state that may start over once no
    /// connection holds it (a breaker's or a budget's must not: a host may make a connection
    /// for each call).
    pub(crate) fn get_or_insert_pruning(
        &self,
        key: &ConnectionKey,
        make: impl FnOnce() -> V,
    ) -> Arc<V> {
        self.get_or_insert(key, make, true)
    }

    fn get_or_insert(&self, key: &ConnectionKey, make: impl FnOnce() -> V, prune: bool) -> Arc<V> {
        // A panic elsewhere cannot leave the map half-updated (inserts and the pruning's
        // `retain` are single calls), so a poisoned lock is still safe to use.
        if let Some(v) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return v.clone();
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if prune && !map.contains_key(key) && map.len() >= self.prune_at.load(Ordering::Relaxed) {
            // Under the write lock nobody can take a new reference from the map, so a count
            // of one (the map's own) stays one until the value is gone.
            map.retain(|_, v| Arc::strong_count(v) > 1);
            self.prune_at
                .store((map.len() * 2).max(MIN_PRUNE), Ordering::Relaxed);
        }
        map.entry(key.clone())
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// How many values the map holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
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

    #[test]
    fn pruning_drops_only_the_values_nobody_holds() {
        let r: Registry<u8> = Registry::default();
        let key = |i: usize| ConnectionKey::new(&"t".into(), &format!("c{i}").as_str().into(), "");
        let held: Vec<Arc<u8>> = (0..10)
            .map(|i| r.get_or_insert_pruning(&key(i), || 1))
            .collect();
        for i in 10..MIN_PRUNE {
            drop(r.get_or_insert_pruning(&key(i), || 2));
        }
        assert_eq!(
            r.len(),
            MIN_PRUNE,
            "nothing is pruned below the pruning size"
        );
        let new = r.get_or_insert_pruning(&key(1000), || 3);
        assert_eq!(r.len(), 11, "the ten held values and the new one");
        for (i, v) in held.iter().enumerate() {
            assert!(Arc::ptr_eq(v, &r.get(&key(i)).expect("held value kept")));
        }
        assert_eq!(*new, 3);
        // The next pruning waits for twice the live size (at least `MIN_PRUNE`), not for
        // every insert.
        for i in 2000..2010 {
            drop(r.get_or_insert_pruning(&key(i), || 4));
        }
        assert_eq!(r.len(), 21);
    }
}
