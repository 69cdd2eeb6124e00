//! A map from a string key to shared per-key state (retry budgets, circuit breakers), built
//! lazily and read without a write lock on the hot path.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug)]
pub(crate) struct Registry<V> {
    map: RwLock<HashMap<String, Arc<V>>>,
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
    pub(crate) fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> V) -> Arc<V> {
        // A panic elsewhere cannot leave the map half-updated (inserts are single calls), so a
        // poisoned lock is still safe to use.
        if let Some(v) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return v.clone();
        }
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// The value for `key`, if it exists.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<V>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Every key and value, in no particular order.
    pub(crate) fn snapshot(&self) -> Vec<(String, Arc<V>)> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The registry key for per-connection-and-host state.
pub(crate) fn connection_host_key(connection: &str, host: &str) -> String {
    let mut k = String::with_capacity(connection.len() + host.len() + 1);
    k.push_str(connection);
    k.push('\u{0}');
    k.push_str(host);
    k
}
