//! Typed tenant configs: a [`ConnectionConfig`] (plain JSON plus sealed secrets) read into a
//! connector's own `serde` type (`TwilioConfig`, `StripeConfig`, ...), so a connector's `bind`
//! works with fields instead of string look-ups.
//!
//! Every connector's `bind` goes through [`typed_config`]; a host that keeps its tenants'
//! configs elsewhere reads them with [`typed_config_from_json`]. Either way a config that does
//! not fit the type is an [`ErrorKind::Config`] error whose [`ConfigFieldError`] names the JSON
//! pointer of the field at fault and never its value: the value may be a secret a tenant
//! pasted into the wrong field.

use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroize;

use super::{escape_pointer, ConnectionConfig};
use crate::error::{Error, ErrorKind, ErrorParts};

/// A config field that is missing, unknown or malformed: where (a JSON pointer, `""` for the
/// whole config) and what is wrong, in words that never quote the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config field `{}`: {reason}", if .pointer.is_empty() { "(root)" } else { .pointer.as_str() })]
#[non_exhaustive]
pub struct ConfigFieldError {
    /// A JSON pointer to the field at fault (`/account_sid`, `/oauth/client_id`).
    pub pointer: String,
    /// What is wrong (`is required`, `is not a field of this config`, ...). Never the value.
    pub reason: String,
}

impl ConfigFieldError {
    /// The field at `pointer` is wrong for `reason`. Write `reason` without the value.
    pub fn new(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigFieldError {
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

impl From<ConfigFieldError> for Error {
    fn from(e: ConfigFieldError) -> Self {
        ErrorParts::new(ErrorKind::Config, e.to_string())
            .source(e)
            .build()
    }
}

/// Reads a connection's config (plain fields and secrets together) into `T`.
///
/// Secrets are put back at their JSON pointers only for the time it takes to deserialize, and
/// the merged copy is wiped afterwards; declare them as [`secrecy::SecretString`] in `T`.
/// Declare `T` with `#[serde(deny_unknown_fields)]` so a misspelt field is reported rather
/// than ignored.
///
/// ```
/// use serde::Deserialize;
/// use switchboard::templates::{typed_config, ConnectionConfig};
/// use switchboard::SecretString;
///
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct CrmConfig {
///     location_id: String,
///     api_key: SecretString,
/// }
///
/// let mut secrets = std::collections::BTreeMap::new();
/// secrets.insert("api_key".to_string(), SecretString::from("k"));
/// let config = ConnectionConfig::new(serde_json::json!({"location_id": "loc_1"}), secrets);
/// let crm: CrmConfig = typed_config(&config)?;
/// assert_eq!(crm.location_id, "loc_1");
///
/// let missing = ConnectionConfig::new(serde_json::json!({}), Default::default());
/// let err = typed_config::<CrmConfig>(&missing).err().unwrap();
/// assert_eq!(err.kind(), switchboard::ErrorKind::Config);
/// assert!(err.to_string().contains("/location_id"), "{err}");
/// # Ok::<_, switchboard::Error>(())
/// ```
///
/// # Errors
/// An [`ErrorKind::Config`] error with a [`ConfigFieldError`] source naming the first field
/// that does not fit `T` (missing, unknown, or of the wrong type or value).
pub fn typed_config<T: DeserializeOwned>(config: &ConnectionConfig) -> Result<T, Error> {
    let mut merged = match config.plain() {
        Value::Object(_) => config.plain().clone(),
        _ => Value::Object(serde_json::Map::new()),
    };
    for (pointer, secret) in &config.secrets {
        put(
            &mut merged,
            pointer,
            Value::String(secrecy::ExposeSecret::expose_secret(secret).to_string()),
        );
    }
    let result = typed_config_from_json(&merged);
    for pointer in config.secrets.keys() {
        if let Some(Value::String(s)) = merged.pointer_mut(pointer) {
            s.zeroize();
        }
    }
    result
}

/// Reads a config given as one JSON value (plain fields and secrets together) into `T`, for
/// hosts that keep their tenants' configs themselves. Errors as for [`typed_config`].
///
/// # Errors
/// An [`ErrorKind::Config`] error with a [`ConfigFieldError`] source naming the field at fault.
pub fn typed_config_from_json<T: DeserializeOwned>(config: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let pointer = to_pointer(e.path());
        let message = e.into_inner().to_string();
        Error::from(describe(pointer, &message))
    })
}

/// The field names a config type declares (its top-level struct's fields, as serde names
/// them), for the test that holds a template's JSON Schema and its Rust type together: every
/// schema property is a field and every field a property. Empty when `T` is not a struct.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct CrmConfig { location_id: String, #[serde(rename = "apiKey")] api_key: String }
/// assert_eq!(
///     switchboard::templates::config_fields::<CrmConfig>(),
///     ["location_id", "apiKey"]
/// );
/// ```
pub fn config_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The derive names its fields to `deserialize_struct` before reading anything; the
    // probe keeps them and stops there, so the error it ends with is expected.
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

/// A deserializer that records the fields a struct asks for and deserializes nothing.
struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Puts `value` at `pointer` below `root`, making the objects on the way; a step into
/// something that is neither (a secret under a plain string) is skipped, and the
/// deserializer then reports the plain field's shape.
fn put(root: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, path)) = tokens.split_last() else {
        return;
    };
    let mut at = root;
    for t in path {
        at = match at {
            Value::Object(map) => map
                .entry(t.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new())),
            Value::Array(items) => match t.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
        if at.is_null() {
            *at = Value::Object(serde_json::Map::new());
        }
    }
    match at {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

/// serde_path_to_error's path as a JSON pointer.
fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        let part = match seg {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => escape_pointer(key),
            Segment::Enum { variant } => escape_pointer(variant),
            Segment::Unknown => break,
        };
        out.push('/');
        out.push_str(&part);
    }
    out
}

/// A serde message turned into a reason that never quotes a value. serde's messages quote
/// strings (`invalid type: string "sk_live_...", expected u32`) and unknown enum variants, so
/// only the message's kind and serde's `expected ...` (written by the type, not the input) are
/// kept.
fn describe(pointer: String, message: &str) -> ConfigFieldError {
    let expected = message
        .split_once(", expected ")
        .map(|(_, e)| e.trim_end_matches('.'))
        .filter(|e| !e.contains('"'));
    let with_expected = |what: &str| match expected {
        Some(e) => format!("{what} (expected {e})"),
        None => what.to_string(),
    };
    if let Some(field) = quoted_field(message, "missing field `") {
        return ConfigFieldError::new(
            format!("{pointer}/{}", escape_pointer(field)),
            "is required",
        );
    }
    if message.starts_with("unknown field `") {
        // The path already ends at the unknown key.
        return ConfigFieldError::new(pointer, "is not a field of this config");
    }
    if let Some(field) = quoted_field(message, "duplicate field `") {
        return ConfigFieldError::new(
            format!("{pointer}/{}", escape_pointer(field)),
            "is given more than once",
        );
    }
    let reason = if message.starts_with("invalid type:") {
        with_expected("has the wrong type")
    } else if message.starts_with("invalid value:") {
        with_expected("has an invalid value")
    } else if message.starts_with("invalid length") {
        with_expected("has the wrong length")
    } else if message.starts_with("unknown variant") {
        // The variant is the tenant's input: leave it out, keep the accepted ones.
        with_expected("is not one of the accepted values")
    } else {
        "is invalid".to_string()
    };
    ConfigFieldError::new(pointer, reason)
}

/// The name between `prefix` and the next backtick, when `message` starts with `prefix`.
fn quoted_field<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secrecy::{ExposeSecret, SecretString};
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Oauth {
        client_id: String,
        client_secret: SecretString,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Mode {
        Live,
        Test,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        account: String,
        api_key: SecretString,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        oauth: Option<Oauth>,
        #[serde(default)]
        tokens: Vec<SecretString>,
    }

    fn config(plain: Value, secrets: &[(&str, &str)]) -> ConnectionConfig {
        let secrets: BTreeMap<String, SecretString> = secrets
            .iter()
            .map(|(k, v)| ((*k).to_string(), SecretString::from(*v)))
            .collect();
        ConnectionConfig::new(plain, secrets)
    }

    fn field_error(r: Result<Cfg, Error>) -> ConfigFieldError {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("CANARY"), "a value was echoed: {text}");
        std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<ConfigFieldError>())
            .cloned()
            .unwrap_or_else(|| panic!("a ConfigFieldError source: {e:?}"))
    }

    #[test]
    fn secrets_go_back_at_their_pointers_top_level_nested_and_in_arrays() {
        let c = config(
            json!({"account": "a1", "oauth": {"client_id": "id"}, "tokens": [null, null]}),
            &[
                ("api_key", "k"),
                ("/oauth/client_secret", "s"),
                ("/tokens/0", "t0"),
                ("/tokens/1", "t1"),
            ],
        );
        let cfg: Cfg = typed_config(&c).unwrap();
        assert_eq!(cfg.account, "a1");
        assert_eq!(cfg.api_key.expose_secret(), "k");
        assert_eq!(cfg.oauth.unwrap().client_secret.expose_secret(), "s");
        let tokens: Vec<&str> = cfg.tokens.iter().map(|t| t.expose_secret()).collect();
        assert_eq!(tokens, ["t0", "t1"]);
    }

    #[test]
    fn a_secret_under_an_absent_object_makes_the_object() {
        let c = config(
            json!({"account": "a1", "oauth": null}),
            &[("api_key", "k"), ("/oauth/client_secret", "s")],
        );
        let e = field_error(typed_config(&c));
        assert_eq!(
            e,
            ConfigFieldError::new("/oauth/client_id", "is required"),
            "the object was made; its plain field is missing"
        );
    }

    #[test]
    fn errors_name_the_pointer_and_never_the_value() {
        let e = field_error(typed_config(&config(json!({"account": "a"}), &[])));
        assert_eq!(e, ConfigFieldError::new("/api_key", "is required"));

        let e = field_error(typed_config(&config(
            json!({"account": "a", "acount": "CANARY-typo"}),
            &[("api_key", "k")],
        )));
        assert_eq!(
            e,
            ConfigFieldError::new("/acount", "is not a field of this config")
        );

        let e = field_error(typed_config(&config(
            json!({"account": "a", "retries": "CANARY-3"}),
            &[("api_key", "k")],
        )));
        assert_eq!(e.pointer, "/retries");
        assert_eq!(e.reason, "has the wrong type (expected u32)");

        let e = field_error(typed_config(&config(
            json!({"account": 7}),
            &[("api_key", "CANARY-key")],
        )));
        assert_eq!(e.pointer, "/account");
        assert_eq!(e.reason, "has the wrong type (expected a string)");

        let e = field_error(typed_config(&config(
            json!({"account": "a", "mode": "CANARY-mode"}),
            &[("api_key", "k")],
        )));
        assert_eq!(e.pointer, "/mode");
        assert!(
            e.reason.starts_with("is not one of the accepted values"),
            "{e}"
        );

        let e = field_error(typed_config(&config(
            json!({"account": "a", "oauth": {"client_id": "i", "extra": 1}}),
            &[("api_key", "k"), ("/oauth/client_secret", "CANARY-s")],
        )));
        assert_eq!(e.pointer, "/oauth/extra");

        let e = field_error(typed_config(&config(
            json!({"account": "a", "retries": -1}),
            &[("api_key", "k")],
        )));
        assert_eq!(e.reason, "has an invalid value (expected u32)");
    }

    #[test]
    fn a_config_that_is_not_an_object_reads_as_an_empty_one() {
        let e = field_error(typed_config(&config(json!("CANARY"), &[])));
        assert_eq!(e.reason, "is required");
    }

    #[test]
    fn config_fields_lists_a_structs_fields_and_nothing_for_other_types() {
        assert_eq!(
            config_fields::<Cfg>(),
            ["account", "api_key", "retries", "mode", "oauth", "tokens"]
        );
        assert!(config_fields::<String>().is_empty());
        assert!(config_fields::<Mode>().is_empty());
    }

    #[test]
    fn display_shows_the_pointer() {
        let e = ConfigFieldError::new("/a~1b", "is required");
        assert_eq!(e.to_string(), "invalid config field `/a~1b`: is required");
        assert_eq!(
            ConfigFieldError::new("", "is invalid").to_string(),
            "invalid config field `(root)`: is invalid"
        );
    }
}
