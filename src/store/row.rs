//! What the SQL backends share: how a record becomes column values and back, and how a
//! backend failure becomes an [`Error`] that names the operation and nothing it carried.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::connections::{ConnectionRecord, ConnectionStatus};
use crate::credentials::CredentialKey;
use crate::error::{BoxError, Error};

/// A [`ConnectionRecord`]'s columns, ready to bind (same order in every backend's SQL).
pub(crate) struct ConnectionColumns<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) id: &'a str,
    pub(crate) template: &'a str,
    pub(crate) name: &'a str,
    pub(crate) status: &'static str,
    pub(crate) config: String,
    pub(crate) last_check_ms: Option<i64>,
    pub(crate) last_success_ms: Option<i64>,
    pub(crate) last_sync_ms: Option<i64>,
    pub(crate) last_event_ms: Option<i64>,
    pub(crate) last_error: Option<&'a str>,
    pub(crate) consecutive_failures: i64,
    pub(crate) webhook_token: Option<&'a str>,
    pub(crate) webhook_routing_key: Option<&'a str>,
    pub(crate) config_generation: Option<&'a str>,
}

impl<'a> ConnectionColumns<'a> {
    pub(crate) fn new(r: &'a ConnectionRecord) -> Result<Self, Error> {
        let config = serde_json::to_string(&r.config).map_err(|e| {
            Error::store(format!("cannot encode the config of connection `{}`", r.id))
                .with_source(e)
        })?;
        Ok(ConnectionColumns {
            tenant: r.tenant.as_str(),
            id: r.id.as_str(),
            template: &r.template,
            name: &r.name,
            status: r.status.as_str(),
            config,
            last_check_ms: to_millis(r.last_check, "last_check")?,
            last_success_ms: to_millis(r.last_success, "last_success")?,
            last_sync_ms: to_millis(r.last_sync, "last_sync")?,
            last_event_ms: to_millis(r.last_event, "last_event")?,
            last_error: r.last_error.as_deref(),
            consecutive_failures: i64::from(r.consecutive_failures),
            webhook_token: r.webhook_token.as_deref(),
            webhook_routing_key: r.webhook_routing_key.as_deref(),
            config_generation: r.config_generation.as_deref(),
        })
    }
}

/// One stored connection row as read, before validation.
#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    tenant: String,
    id: String,
    template: String,
    name: String,
    status: String,
    config: String,
    last_check_ms: Option<i64>,
    last_success_ms: Option<i64>,
    last_sync_ms: Option<i64>,
    last_event_ms: Option<i64>,
    last_error: Option<String>,
    consecutive_failures: i64,
    webhook_token: Option<String>,
    webhook_routing_key: Option<String>,
    config_generation: Option<String>,
    version: i64,
}

impl ConnectionRow {
    /// Validates the row; a value this build cannot read is an [`ErrorKind::Store`] error.
    pub(crate) fn into_record(self) -> Result<ConnectionRecord, Error> {
        let corrupt = |what: &str| {
            Error::store(format!(
                "stored connection `{}` of tenant `{}` has an invalid {what}",
                self.id, self.tenant
            ))
        };
        let status = ConnectionStatus::parse(&self.status)?;
        let config = serde_json::from_str(&self.config).map_err(|e| {
            Error::store(format!(
                "stored config of connection `{}` of tenant `{}` is not valid JSON",
                self.id, self.tenant
            ))
            .with_source(e)
        })?;
        let consecutive_failures = u32::try_from(self.consecutive_failures)
            .map_err(|_| corrupt("consecutive_failures"))?;
        let version = stored_version(self.version).ok_or_else(|| corrupt("version"))?;
        let time = |ms: Option<i64>, field: &str| match ms {
            None => Ok(None),
            Some(ms) => from_millis(ms).map(Some).ok_or_else(|| corrupt(field)),
        };
        Ok(ConnectionRecord {
            last_check: time(self.last_check_ms, "last_check")?,
            last_success: time(self.last_success_ms, "last_success")?,
            last_sync: time(self.last_sync_ms, "last_sync")?,
            last_event: time(self.last_event_ms, "last_event")?,
            tenant: self.tenant.into(),
            id: self.id.into(),
            template: self.template,
            name: self.name,
            status,
            config,
            last_error: self.last_error,
            consecutive_failures,
            webhook_token: self.webhook_token,
            webhook_routing_key: self.webhook_routing_key,
            config_generation: self.config_generation,
            version,
        })
    }
}

/// A stored version, which is always at least 1.
pub(crate) fn stored_version(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// Reads a stored credential version.
pub(crate) fn credential_version(key: &CredentialKey, v: i64) -> Result<u64, Error> {
    stored_version(v).ok_or_else(|| {
        Error::store(format!(
            "stored credential `{}` of connection `{}` has an invalid version",
            key.kind, key.connection
        ))
    })
}

/// Milliseconds since the Unix epoch, rounded down (negative before 1970).
pub(crate) fn to_millis(t: Option<SystemTime>, field: &str) -> Result<Option<i64>, Error> {
    let Some(t) = t else { return Ok(None) };
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok(),
        Err(before) => {
            let d = before.duration();
            let up = u128::from(d.subsec_nanos() % 1_000_000 != 0);
            i64::try_from(d.as_millis() + up).ok().map(|ms| -ms)
        }
    };
    ms.map(Some).ok_or_else(|| {
        Error::store(format!(
            "`{field}` is too far from 1970 to store in milliseconds"
        ))
    })
}

/// The time `ms` milliseconds after the Unix epoch, if this platform can hold it.
pub(crate) fn from_millis(ms: i64) -> Option<SystemTime> {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// A backend failure while doing `op`. The message names the operation and a short,
/// content-free reason; the driver's own error is kept only as the source, since a database
/// message can quote the values it was given.
pub(crate) fn backend_error(backend: &str, op: &str, e: sqlx::Error) -> Error {
    let reason = match &e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("database error {code}"),
            None => "database error".to_string(),
        },
        sqlx::Error::Io(_) => "I/O error".to_string(),
        sqlx::Error::Tls(_) => "TLS error".to_string(),
        sqlx::Error::Protocol(_) => "protocol error".to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a pooled connection".to_string(),
        sqlx::Error::PoolClosed => "the store was closed".to_string(),
        sqlx::Error::WorkerCrashed => "the database worker stopped".to_string(),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            "a stored value has the wrong type".to_string()
        }
        _ => "backend error".to_string(),
    };
    with_source(
        format!("{backend} store: cannot {op} ({reason})"),
        Box::new(e),
    )
}

/// Whether `e` is a unique-index violation (a webhook token or routing key another record
/// holds).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A [`ErrorKind::Store`] error with `message` and `source`.
pub(crate) fn with_source(message: String, source: BoxError) -> Error {
    Error::store(message).with_source(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn store_millis_round_down_and_round_trip() {
        let at = |ms: i64| from_millis(ms).unwrap();
        for ms in [
            0,
            1,
            1_700_000_000_123,
            -1,
            -1_500,
            i64::from(i32::MAX) * 1000,
        ] {
            assert_eq!(to_millis(Some(at(ms)), "t").unwrap(), Some(ms), "{ms}");
        }
        let sub_ms = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_999);
        assert_eq!(
            to_millis(Some(sub_ms), "t").unwrap(),
            Some(1_700_000_000_123)
        );
        let before = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(to_millis(Some(before), "t").unwrap(), Some(-2));
        assert_eq!(to_millis(None, "t").unwrap(), None);
    }

    fn row() -> ConnectionRow {
        ConnectionRow {
            tenant: "t".into(),
            id: "c".into(),
            template: "x".into(),
            name: "n".into(),
            status: "active".into(),
            config: "{}".into(),
            last_check_ms: None,
            last_success_ms: None,
            last_sync_ms: None,
            last_event_ms: None,
            last_error: None,
            consecutive_failures: 0,
            webhook_token: None,
            webhook_routing_key: None,
            config_generation: None,
            version: 1,
        }
    }

    #[test]
    fn store_rejects_impossible_stored_values() {
        assert_eq!(stored_version(0), None);
        assert_eq!(stored_version(-3), None);
        assert_eq!(stored_version(7), Some(7));
        assert_eq!(
            row().into_record().unwrap().status,
            ConnectionStatus::Active
        );

        let bad = |f: fn(&mut ConnectionRow)| {
            let mut r = row();
            f(&mut r);
            let e = r.into_record().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Store, "{e}");
            e.to_string()
        };
        assert!(bad(|r| r.status = "zombie".into()).contains("zombie"));
        assert!(bad(|r| r.config = "{nope".into()).contains("not valid JSON"));
        assert!(bad(|r| r.consecutive_failures = -1).contains("consecutive_failures"));
        assert!(bad(|r| r.version = 0).contains("invalid version"));
    }
}
