//! [`typed_config`]: a tenant's validated [`ConnectionConfig`] (plain fields and sealed secrets)
//! as the connector's typed config (`StripeConfig`), and [`config_fields`], the field names a
//! typed config accepts, for the test that holds a template's JSON Schema and the Rust type to
//! each other.

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

use crate::templates::ConnectionConfig;
use crate::{decode_json, Error, ErrorKind, ExposeSecret};

/// Deserializes `config` into `T`, secrets included (each at its JSON pointer; give `T`'s
/// secret fields the type [`crate::SecretString`]).
///
/// # Errors
/// An [`ErrorKind::Config`] error naming the JSON pointer at fault and what was wrong there,
/// never the value.
pub fn typed_config<T: DeserializeOwned>(config: &ConnectionConfig) -> Result<T, Error> {
    let mut merged = match config.plain() {
        Value::Object(m) => Value::Object(m.clone()),
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    };
    for pointer in config.secret_pointers() {
        if let Some(secret) = config.secret(pointer) {
            insert_at(&mut merged, pointer, secret.expose_secret());
        }
    }
    // The merged document holds secrets: it lives only as long as this call, as bytes that are
    // zeroed when dropped.
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&merged).unwrap_or_default());
    wipe(merged);
    decode_json::<T>(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!(
                "invalid config at `{}`: {}",
                e.pointer,
                without_value(&e.reason)
            ),
        )
    })
}

/// serde's messages quote the offending value (`invalid type: string "sk_live_...", expected
/// u32`, ``unknown variant `x`, expected one of ...``); a config value may be a secret put in
/// the wrong field, so the value is cut and only its kind and what was expected remain. Field
/// names (`unknown field`, `missing field`) are keys, not values, and stay.
fn without_value(reason: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = reason.strip_prefix(prefix) else {
            continue;
        };
        let expected = rest.rfind(", expected ").map_or("", |i| &rest[i..]);
        // The kind is the words before the quoted value (`string`, `integer`, `floating point`).
        let kind: String = rest
            .split(['"', '`', '\''])
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_string();
        let head = format!("{} {kind}", prefix.trim_end());
        return format!("{}{expected}", head.trim_end());
    }
    reason.to_string()
}

/// Overwrites every string before the document is dropped (best effort: `serde_json` may have
/// copied them while building it).
fn wipe(mut v: Value) {
    fn walk(v: &mut Value) {
        match v {
            Value::String(s) => zeroize::Zeroize::zeroize(s),
            Value::Array(a) => a.iter_mut().for_each(walk),
            Value::Object(m) => m.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
}

/// Puts `value` at the JSON `pointer` in `doc`, making objects on the way.
fn insert_at(doc: &mut Value, pointer: &str, value: &str) {
    let mut at = doc;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = match at {
            Value::Object(m) => m.entry(part.clone()).or_insert_with(|| {
                if last {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                }
            }),
            Value::Array(a) => match part.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
        at = next;
    }
    *at = Value::String(value.to_string());
}

/// The field names the struct `T` deserializes (as serde sees them, after renames): what a
/// connector's test compares with its template schema's `properties`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[allow(dead_code)]
/// struct AcmeConfig { api_key: switchboard::SecretString, region: Option<String> }
/// assert_eq!(switchboard::toolkit::config_fields::<AcmeConfig>(), ["api_key", "region"]);
/// ```
pub fn config_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only notes the field list serde hands to `deserialize_struct`.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names only")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::SecretString;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Acme {
        api_key: SecretString,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        oauth: Option<OAuth>,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        plan: Option<Plan>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Plan {
        Basic,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct OAuth {
        client_secret: SecretString,
    }

    fn config(plain: Value, secrets: &[(&str, &str)]) -> ConnectionConfig {
        let secrets: BTreeMap<String, SecretString> = secrets
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
            .collect();
        ConnectionConfig::new(plain, secrets)
    }

    #[test]
    fn plain_fields_and_secrets_at_their_pointers_make_the_typed_config() {
        let c: Acme = typed_config(&config(
            json!({"region": "eu"}),
            &[("api_key", "k1"), ("/oauth/client_secret", "cs")],
        ))
        .unwrap();
        assert_eq!(c.api_key.expose_secret(), "k1");
        assert_eq!(c.region.as_deref(), Some("eu"));
        assert_eq!(c.oauth.unwrap().client_secret.expose_secret(), "cs");
    }

    #[test]
    fn a_value_in_the_wrong_field_is_never_echoed() {
        // Seen failing first: serde's own message carried `"CANARY_3"` and `` `CANARY_4` ``.
        let cases = [
            (
                json!({"retries": "CANARY_3"}),
                "/retries",
                "invalid type: string, expected u32",
            ),
            (
                json!({"plan": "CANARY_4"}),
                "/plan",
                "unknown variant, expected",
            ),
            (
                json!({"retries": 1.5}),
                "/retries",
                "invalid type: floating point, expected u32",
            ),
        ];
        for (plain, pointer, says) in cases {
            let err = typed_config::<Acme>(&config(plain, &[("api_key", "k")])).unwrap_err();
            for e in [err.to_string(), format!("{err:?}")] {
                assert!(!e.contains("CANARY") && !e.contains("1.5"), "{e}");
                assert!(e.contains(pointer) && e.contains(says), "{e}");
            }
        }
    }

    #[test]
    fn errors_name_the_pointer_and_never_the_value() {
        let err = typed_config::<Acme>(&config(json!({"region": 5}), &[("api_key", "CANARY_1")]))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("`/region`"), "{err}");
        let err = typed_config::<Acme>(&config(json!({"regoin": "CANARY_2"}), &[("api_key", "k")]))
            .unwrap_err();
        assert!(err.to_string().contains("regoin"), "{err}");
        let err = typed_config::<Acme>(&config(json!({}), &[])).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        for e in [err.to_string(), format!("{err:?}")] {
            assert!(!e.contains("CANARY"), "{e}");
        }
    }

    #[test]
    fn config_fields_lists_the_struct_fields() {
        assert_eq!(
            config_fields::<Acme>(),
            ["api_key", "region", "oauth", "retries", "plan"]
        );
    }
}
