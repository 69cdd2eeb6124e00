//! What an integration's activation hooks see and return: [`ActivationContext`] (the bound
//! connection, its config and its public webhook URL) and [`ConfigChanges`] (config fields to
//! set, seal or remove, written by [`Connections`](crate::connections::Connections) through
//! its sealed merge-patch path in one compare-and-swap write).
//!
//! See [`Integration::activate`](super::Integration::activate) for when the hooks run and
//! what happens when they fail.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{escape_pointer, ConnectionConfig};
use crate::client::Connection;
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// What [`Integration::activate`](super::Integration::activate) and
/// [`Integration::deactivate`](super::Integration::deactivate) are given: one connection of
/// one tenant.
#[derive(Debug, Clone, Copy)]
pub struct ActivationContext<'a> {
    tenant: &'a TenantId,
    connection_id: &'a ConnectionId,
    connection: Result<&'a Connection, &'a Error>,
    config: &'a ConnectionConfig,
    webhook_url: Option<&'a str>,
}

impl<'a> ActivationContext<'a> {
    /// A context, for hosts that test their own integration's hooks.
    pub fn new(
        tenant: &'a TenantId,
        connection_id: &'a ConnectionId,
        connection: &'a Connection,
        config: &'a ConnectionConfig,
        webhook_url: Option<&'a str>,
    ) -> Self {
        ActivationContext {
            tenant,
            connection_id,
            connection: Ok(connection),
            config,
            webhook_url,
        }
    }

    /// A context whose connection could not be bound (a deactivation still runs: it may have
    /// nothing to remove).
    pub(crate) fn unbound(
        tenant: &'a TenantId,
        connection_id: &'a ConnectionId,
        bind_error: &'a Error,
        config: &'a ConnectionConfig,
        webhook_url: Option<&'a str>,
    ) -> Self {
        ActivationContext {
            tenant,
            connection_id,
            connection: Err(bind_error),
            config,
            webhook_url,
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &'a TenantId {
        self.tenant
    }

    /// The connection's id.
    pub fn connection_id(&self) -> &'a ConnectionId {
        self.connection_id
    }

    /// A client bound to the connection's current config. Its calls go through the pipeline
    /// and are not refused while the connection is `disconnected`, so a deactivation can run
    /// after the disconnect.
    ///
    /// # Errors
    /// Why the connection could not be bound (only ever for a deactivation: an activation runs
    /// after a check through this very client). A hook that has something to remove reports
    /// it; one with nothing to do never asks.
    pub fn connection(&self) -> Result<&'a Connection, Error> {
        self.connection.map_err(Clone::clone)
    }

    /// The connection's config as stored, secrets opened.
    pub fn config(&self) -> &'a ConnectionConfig {
        self.config
    }

    /// The connection's public webhook URL, `{public_base_url}{prefix}/{template}/{token}`,
    /// when the host told [`Connections`](crate::connections::Connections) where it serves
    /// webhooks ([`Connections::with_webhook_base_url`](crate::connections::Connections::with_webhook_base_url));
    /// `None` otherwise (then there is nothing to register with the provider).
    pub fn webhook_url(&self) -> Option<&'a str> {
        self.webhook_url
    }
}

/// Config fields an activation hook asks to change: plain values to set, secrets to seal,
/// fields to remove. A field is a top-level name (`"webhook_secret"`) or a JSON pointer to an
/// object property (`"/webhook/id"`; array items are not addressed).
///
/// The changes are merged into the connection's config as a JSON merge patch and validated
/// against the template, so every field must be one the template's schema allows. A field set
/// with [`Self::set_secret`] must be one the schema marks secret: otherwise the write is
/// refused, so a secret can never land in the plain part of the record. `Debug` shows the
/// secret fields' names only.
#[derive(Clone, Default)]
#[must_use]
pub struct ConfigChanges {
    plain: BTreeMap<String, Option<Value>>,
    secrets: BTreeMap<String, SecretString>,
}

impl fmt::Debug for ConfigChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigChanges")
            .field("plain", &self.plain)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A field as a JSON pointer: a pointer as is, a bare name as the pointer to that top-level
/// field.
fn pointer_of(field: &str) -> String {
    if field.starts_with('/') {
        field.to_string()
    } else {
        format!("/{}", escape_pointer(field))
    }
}

impl ConfigChanges {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a plain (non-secret) field.
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Self {
        let p = pointer_of(field);
        self.secrets.remove(&p);
        self.plain.insert(p, Some(value.into()));
        self
    }

    /// Seals a secret field (one the template marks secret).
    pub fn set_secret(mut self, field: &str, value: SecretString) -> Self {
        let p = pointer_of(field);
        self.plain.remove(&p);
        self.secrets.insert(p, value);
        self
    }

    /// Removes a field, plain or secret.
    pub fn remove(mut self, field: &str) -> Self {
        let p = pointer_of(field);
        self.secrets.remove(&p);
        self.plain.insert(p, None);
        self
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.secrets.is_empty()
    }

    /// The JSON pointers of every changed field (never a value).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.plain
            .keys()
            .chain(self.secrets.keys())
            .map(String::as_str)
    }

    /// The JSON pointers of the secrets to seal.
    pub(crate) fn secret_fields(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// The changes as a JSON merge patch (secrets in the clear: it lives only as long as the
    /// write takes).
    pub(crate) fn merge_patch(&self) -> Value {
        let mut patch = Value::Object(Default::default());
        for (p, v) in &self.plain {
            put_patch(&mut patch, p, v.clone().unwrap_or(Value::Null));
        }
        for (p, s) in &self.secrets {
            put_patch(&mut patch, p, Value::String(s.expose_secret().to_string()));
        }
        patch
    }

    /// `config` with these changes applied in memory, unvalidated: what the provider knows
    /// about once a hook succeeded, for undoing it when the write fails.
    pub(crate) fn applied_to(&self, config: &ConnectionConfig) -> ConnectionConfig {
        let mut plain = config.plain().clone();
        let mut secrets: BTreeMap<String, SecretString> = config
            .secret_pointers()
            .filter_map(|p| config.secret(p).map(|s| (p.to_string(), s.clone())))
            .collect();
        for (p, v) in &self.plain {
            secrets.remove(p);
            match v {
                Some(v) => put_patch(&mut plain, p, v.clone()),
                None => remove_at(&mut plain, p),
            }
        }
        for (p, s) in &self.secrets {
            remove_at(&mut plain, p);
            secrets.insert(p.clone(), s.clone());
        }
        ConnectionConfig::new(plain, secrets)
    }
}

fn tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Sets `value` at `pointer` in `target`, making (or replacing non-objects by) objects on the
/// way.
fn put_patch(target: &mut Value, pointer: &str, value: Value) {
    let tokens = tokens(pointer);
    let Some((last, path)) = tokens.split_last() else {
        return;
    };
    let mut at = target;
    for t in path {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let Value::Object(map) = at else { return };
        at = map
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if !at.is_object() {
        *at = Value::Object(Default::default());
    }
    if let Value::Object(map) = at {
        map.insert(last.clone(), value);
    }
}

/// Removes the object property at `pointer`, if there.
fn remove_at(target: &mut Value, pointer: &str) {
    let tokens = tokens(pointer);
    let Some((last, path)) = tokens.split_last() else {
        return;
    };
    let mut at = target;
    for t in path {
        match at.get_mut(t.as_str()) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Value::Object(map) = at {
        map.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_become_a_merge_patch_and_apply_in_memory() {
        let changes = ConfigChanges::new()
            .set("webhook_endpoint_id", "we_1")
            .set_secret("webhook_secret", SecretString::from("whsec_CANARY"))
            .set("/nested/id", 7)
            .remove("old");
        assert_eq!(
            changes.merge_patch(),
            json!({"webhook_endpoint_id": "we_1", "webhook_secret": "whsec_CANARY",
                   "nested": {"id": 7}, "old": null})
        );
        assert!(!format!("{changes:?}").contains("CANARY"));
        let mut secrets = BTreeMap::new();
        secrets.insert("key".to_string(), SecretString::from("k"));
        let before = ConnectionConfig::new(json!({"old": 1, "keep": 2}), secrets);
        let after = changes.applied_to(&before);
        assert_eq!(
            after.plain(),
            &json!({"keep": 2, "webhook_endpoint_id": "we_1", "nested": {"id": 7}})
        );
        assert_eq!(
            after.secret("webhook_secret").unwrap().expose_secret(),
            "whsec_CANARY"
        );
        assert!(after.secret("key").is_some());
        let fields: Vec<&str> = changes.fields().collect();
        assert_eq!(fields.len(), 4);
        assert!(ConfigChanges::new().is_empty());
    }
}
