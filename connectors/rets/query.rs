//! [`Dmql`]: a DMQL2 query builder (`(ModificationTimestamp=2026-01-01T00:00:00+)`), and raw
//! DMQL for what it does not cover.
//!
//! DMQL has no escaping: a value holding one of `( ) , | ~ * ? + -` at the wrong place changes
//! the query. The builder refuses such values (and field names that are not plain names)
//! with an error naming the field, raised when the search is sent.

use std::fmt;
use std::time::SystemTime;

use crate::ConfigError;

/// A DMQL2 query. Combine terms with [`Dmql::and`], [`Dmql::or`] and `!`.
#[derive(Clone, PartialEq, Eq)]
pub struct Dmql {
    text: Result<String, ConfigError>,
}

impl fmt::Debug for Dmql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Ok(t) => write!(f, "Dmql({t})"),
            Err(e) => write!(f, "Dmql(invalid: {e})"),
        }
    }
}

fn field_ok(field: &str) -> Result<(), ConfigError> {
    if !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        Ok(())
    } else {
        Err(ConfigError::new(
            "rets.query.field",
            "must be a field's SystemName or StandardName (letters, digits, _ and .)",
        ))
    }
}

fn value_ok(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.contains(['(', ')', ',', '|', '~', '*', '?', '\n', '\r']) {
        Err(ConfigError::new(
            "rets.query.value",
            format!("the value for {field} is empty or holds a DMQL operator character"),
        ))
    } else {
        Ok(())
    }
}

/// `A,B,C`: the values of a list term, each checked.
fn list<S: AsRef<str>>(field: &str, values: &[S]) -> Result<String, ConfigError> {
    if values.is_empty() {
        return Err(ConfigError::new(
            "rets.query.value",
            format!("no value given for {field}"),
        ));
    }
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        value_ok(field, v.as_ref())?;
        if i > 0 {
            out.push(',');
        }
        out.push_str(v.as_ref());
    }
    Ok(out)
}

/// A timestamp as DMQL writes it: `YYYY-MM-DDThh:mm:ss`, in UTC. An instant beyond the
/// calendar's range (about ±262,000 years) is written as that range's last (or first) second.
pub fn dmql_timestamp(at: SystemTime) -> String {
    crate::calendar::utc(at)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

impl Dmql {
    fn term(field: &str, value: impl FnOnce() -> Result<String, ConfigError>) -> Dmql {
        let text = field_ok(field)
            .and_then(|()| value())
            .map(|v| format!("({field}={v})"));
        Dmql { text }
    }

    /// A query written by hand, sent as it is.
    pub fn raw(query: impl Into<String>) -> Dmql {
        Dmql {
            text: Ok(query.into()),
        }
    }

    /// `(field=value)`: equal (for a lookup field, `value` is the lookup's value).
    pub fn eq(field: &str, value: &str) -> Dmql {
        Dmql::term(field, || value_ok(field, value).map(|()| value.to_string()))
    }

    /// `(field=value+)`: at least `value` (numbers, dates, timestamps).
    pub fn at_least(field: &str, value: &str) -> Dmql {
        Dmql::term(field, || {
            value_ok(field, value).map(|()| format!("{value}+"))
        })
    }

    /// `(field=value-)`: at most `value`.
    pub fn at_most(field: &str, value: &str) -> Dmql {
        Dmql::term(field, || {
            value_ok(field, value).map(|()| format!("{value}-"))
        })
    }

    /// `(field=low-high)`: between `low` and `high`, both included.
    pub fn between(field: &str, low: &str, high: &str) -> Dmql {
        Dmql::term(field, || {
            value_ok(field, low)?;
            value_ok(field, high)?;
            Ok(format!("{low}-{high}"))
        })
    }

    /// `(field=ts+)`: changed at or after `at` (the seed's
    /// `(ModificationTimestamp=2026-01-01T00:00:00+)`).
    pub fn since(field: &str, at: SystemTime) -> Dmql {
        Dmql::term(field, || Ok(format!("{}+", dmql_timestamp(at))))
    }

    /// `(field=from-until)` for two instants.
    pub fn changed_between(field: &str, from: SystemTime, until: SystemTime) -> Dmql {
        Dmql::term(field, || {
            Ok(format!(
                "{}-{}",
                dmql_timestamp(from),
                dmql_timestamp(until)
            ))
        })
    }

    /// `(field=|A,B)`: any of the lookup values.
    pub fn any_of<S: AsRef<str>>(field: &str, values: &[S]) -> Dmql {
        Dmql::term(field, || list(field, values).map(|l| format!("|{l}")))
    }

    /// `(field=A,B)`: a character field equal to any of `values` (listing keys by batch).
    pub fn one_of<S: AsRef<str>>(field: &str, values: &[S]) -> Dmql {
        Dmql::term(field, || list(field, values))
    }

    /// `(field=prefix*)`: a character field starting with `prefix`.
    pub fn starts_with(field: &str, prefix: &str) -> Dmql {
        Dmql::term(field, || {
            value_ok(field, prefix).map(|()| format!("{prefix}*"))
        })
    }

    /// Both queries (`A,B`).
    #[must_use]
    pub fn and(self, other: Dmql) -> Dmql {
        Dmql::join(self, other, ",")
    }

    /// Either query (`(A|B)`).
    #[must_use]
    pub fn or(self, other: Dmql) -> Dmql {
        let joined = Dmql::join(self, other, "|");
        Dmql {
            text: joined.text.map(|t| format!("({t})")),
        }
    }

    fn join(a: Dmql, b: Dmql, sep: &str) -> Dmql {
        let text = match (a.text, b.text) {
            (Ok(a), Ok(b)) => Ok(format!("{a}{sep}{b}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        Dmql { text }
    }

    /// The query's text, or the error of the first term that was refused.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `rets.query.field` or `rets.query.value`.
    pub fn to_query(&self) -> Result<&str, ConfigError> {
        self.text.as_deref().map_err(Clone::clone)
    }
}

/// Not this query (`~(A)`): `!Dmql::eq("PropertyType", "Land")`.
impl std::ops::Not for Dmql {
    type Output = Dmql;

    fn not(self) -> Dmql {
        Dmql {
            text: self.text.map(|t| format!("~({t})")),
        }
    }
}

impl fmt::Display for Dmql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Ok(t) => f.write_str(t),
            Err(_) => f.write_str("(invalid query)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_time_beyond_the_calendar_is_written_as_its_last_second_not_a_panic() {
        let far = UNIX_EPOCH + Duration::from_secs(1 << 52);
        assert_eq!(dmql_timestamp(far), "+262142-12-31T23:59:59");
        assert_eq!(
            dmql_timestamp(UNIX_EPOCH + Duration::from_secs(86_399)),
            "1970-01-01T23:59:59"
        );
    }

    #[test]
    fn builds_the_seed_query_and_combinations() {
        let jan1 = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(
            Dmql::since("ModificationTimestamp", jan1)
                .to_query()
                .unwrap(),
            "(ModificationTimestamp=2026-01-01T00:00:00+)"
        );
        let q = Dmql::any_of("StandardStatus", &["Active", "Pending"])
            .and(Dmql::between("ListPrice", "100000", "250000"))
            .and(Dmql::eq("City", "Springfield").or(Dmql::starts_with("PostalCode", "627")))
            .and(!Dmql::eq("PropertyType", "Land"));
        assert_eq!(
            q.to_query().unwrap(),
            "(StandardStatus=|Active,Pending),(ListPrice=100000-250000),((City=Springfield)|(PostalCode=627*)),~((PropertyType=Land))"
        );
        assert_eq!(
            Dmql::one_of("ListingKey", &["L1", "L2"]).to_string(),
            "(ListingKey=L1,L2)"
        );
    }

    #[test]
    fn refuses_operators_in_values_and_odd_field_names() {
        let e = Dmql::eq("City", "a),(ListPrice=0+").and(Dmql::eq("B", "c"));
        assert_eq!(e.to_query().unwrap_err().setting, "rets.query.value");
        assert!(Dmql::eq("Ci ty", "x").to_query().is_err());
        assert!(Dmql::one_of::<&str>("ListingKey", &[]).to_query().is_err());
        assert_eq!(Dmql::eq("", "x").to_string(), "(invalid query)");
    }
}
