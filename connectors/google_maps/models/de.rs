//! Pieces for the hand-written `Deserialize` impls of the Distance Matrix path.
//!
//! A derived `Deserialize` with `#[serde(flatten)]` buffers every object into serde's private
//! `Content` tree before it picks fields out. The matrix types (hundreds of small objects per
//! answer) read their maps directly instead: a key enum with no allocation for a known key,
//! seeds that name the field in a type error, and every unknown key's value kept as a `Value`
//! in `extra`. Measured on a 25 x 25 answer (`benches/google_maps.rs`), both parse in about
//! half the time of a `Value`; what the hand-written path adds is its errors.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

/// Declares the keys one object knows: an enum with a variant per key and `Other(String)` for
/// every other key, read from the key string (a known key allocates nothing).
macro_rules! keys {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $key:literal),* $(,)? }) => {
        $(#[$m])*
        enum $name {
            $($variant,)*
            Other(String),
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl serde::de::Visitor<'_> for KeyVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok(match v {
                            $($key => $name::$variant,)*
                            other => $name::Other(other.to_owned()),
                        })
                    }
                    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<$name, E> {
                        Ok(match v.as_str() {
                            $($key => $name::$variant,)*
                            _ => $name::Other(v),
                        })
                    }
                }
                d.deserialize_identifier(KeyVisitor)
            }
        }
    };
}
pub(super) use keys;

/// Stores the value of a key seen once; a second sighting is serde's `duplicate field` error.
pub(super) fn once<T, E: de::Error>(
    slot: &mut Option<T>,
    field: &'static str,
    value: T,
) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

/// Keeps an unknown key's value in `extra`; a key sent twice is an error, as for known keys.
pub(super) fn keep<E: de::Error>(
    extra: &mut Map<String, Value>,
    key: String,
    value: Value,
) -> Result<(), E> {
    if extra.contains_key(&key) {
        return Err(E::custom(format_args!("duplicate field `{key}`")));
    }
    extra.insert(key, value);
    Ok(())
}

/// An integer field (`i64`), named in the error when the value is not one. An integral float
/// (`3600.0`) is accepted: the spec types these fields as JSON numbers.
#[derive(Clone, Copy)]
pub(super) struct Int(pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for Int {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_i64(self)
    }
}

impl Visitor<'_> for Int {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer for `{}`", self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // 2^63 is exact as an f64; every integral float in [-2^63, 2^63) converts exactly.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// A number field (`f64`), named in the error when the value is not one.
#[derive(Clone, Copy)]
pub(super) struct Float(pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for Float {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_f64(self)
    }
}

impl Visitor<'_> for Float {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a number for `{}`", self.0)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// A string field, named in the error when the value is not one.
#[derive(Clone, Copy)]
pub(super) struct Str(pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for Str {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(self)
    }
}

impl Visitor<'_> for Str {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string for `{}`", self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

/// An optional field: `null` is `None`, anything else goes through the inner seed.
pub(super) struct Opt<S>(pub(super) S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Opt<S> {
    type Value = Option<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Opt<S> {
    type Value = Option<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// `deserialize_with` for an optional integer that may arrive as an integral float.
pub(super) fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Opt(Int("offset")).deserialize(d)
}

/// `deserialize_with` for an integer that may arrive as an integral float.
pub(super) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Int("value").deserialize(d)
}
