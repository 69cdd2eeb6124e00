//! What the SQL backends share: how a record becomes column values and back, and how a
//! backend failure becomes an [`Error`] that names the operation and nothing it carried.

use std::time::{Duration, SystemTime};

use crate::connections::{ConnectionRecord, ConnectionStatus};
use crate::credentials::CredentialKey;
use crate::error::{BoxError, Error, ErrorKind, ErrorParts};
use crate::store::time::{from_micros, from_millis, to_millis};

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
    /// Validates the row; a value this build cannot read is an [`ErrorKind::Store`] error
    /// naming the table and column.
    pub(crate) fn into_record(self) -> Result<ConnectionRecord, Error> {
        let row = StoredRow::tenant(CONNECTIONS, "connection", &self.tenant, &self.id);
        let status =
            ConnectionStatus::parse(&self.status).map_err(|e| row.corrupt_because("status", e))?;
        let config =
            serde_json::from_str(&self.config).map_err(|e| row.corrupt_because("config", e))?;
        let consecutive_failures = row.count("consecutive_failures", self.consecutive_failures)?;
        let version = row.version("version", self.version)?;
        Ok(ConnectionRecord {
            last_check: row.opt_time("last_check_ms", self.last_check_ms)?,
            last_success: row.opt_time("last_success_ms", self.last_success_ms)?,
            last_sync: row.opt_time("last_sync_ms", self.last_sync_ms)?,
            last_event: row.opt_time("last_event_ms", self.last_event_ms)?,
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

const CONNECTIONS: &str = "switchboard_connections";

/// Which stored row a value came from, for errors that name the table, the column and the
/// row's key, and never the stored value itself (it may be a token or a config).
#[derive(Clone, Copy)]
pub(crate) struct StoredRow<'a> {
    table: &'static str,
    what: &'static str,
    id: &'a str,
    tenant: Option<&'a str>,
}

impl<'a> StoredRow<'a> {
    /// A row of `table` holding the `what` named `id` (`"message"`, `"msg_1"`).
    pub(crate) fn new(table: &'static str, what: &'static str, id: &'a str) -> Self {
        StoredRow {
            table,
            what,
            id,
            tenant: None,
        }
    }

    /// A row of `table` holding tenant `tenant`'s `what` named `id`.
    pub(crate) fn tenant(
        table: &'static str,
        what: &'static str,
        tenant: &'a str,
        id: &'a str,
    ) -> Self {
        StoredRow {
            table,
            what,
            id,
            tenant: Some(tenant),
        }
    }

    fn message(&self, column: &str) -> String {
        let (table, what, id) = (self.table, self.what, self.id);
        match self.tenant {
            Some(t) => {
                format!("stored {what} `{id}` of tenant `{t}` has an invalid `{table}.{column}`")
            }
            None => format!("stored {what} `{id}` has an invalid `{table}.{column}`"),
        }
    }

    /// `column` of this row holds a value this build cannot read.
    pub(crate) fn corrupt(&self, column: &str) -> Error {
        Error::new(ErrorKind::Store, self.message(column))
    }

    /// As [`StoredRow::corrupt`], saying why (the reason is shown, and kept as the source).
    pub(crate) fn corrupt_because(
        &self,
        column: &str,
        why: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        ErrorParts::new(ErrorKind::Store, format!("{}: {why}", self.message(column)))
            .source(why)
            .build()
    }

    /// A stored counter (attempts, failures), which is never negative.
    pub(crate) fn count(&self, column: &str, v: i64) -> Result<u32, Error> {
        u32::try_from(v).map_err(|_| self.corrupt(column))
    }

    /// A stored version, which is always at least 1.
    pub(crate) fn version(&self, column: &str, v: i64) -> Result<u64, Error> {
        stored_version(v).ok_or_else(|| self.corrupt(column))
    }

    /// A stored time in Unix milliseconds.
    pub(crate) fn time(&self, column: &str, ms: i64) -> Result<SystemTime, Error> {
        from_millis(ms).ok_or_else(|| self.corrupt(column))
    }

    /// A stored time in Unix microseconds.
    pub(crate) fn time_us(&self, column: &str, us: i64) -> Result<SystemTime, Error> {
        from_micros(us).ok_or_else(|| self.corrupt(column))
    }

    /// A stored time in Unix milliseconds, or none.
    pub(crate) fn opt_time(
        &self,
        column: &str,
        ms: Option<i64>,
    ) -> Result<Option<SystemTime>, Error> {
        ms.map(|ms| self.time(column, ms)).transpose()
    }

    /// A stored duration in microseconds.
    pub(crate) fn micros(&self, column: &str, us: i64) -> Result<Duration, Error> {
        u64::try_from(us)
            .map(Duration::from_micros)
            .map_err(|_| self.corrupt(column))
    }
}

/// A stored version, which is always at least 1.
pub(crate) fn stored_version(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// Reads a stored credential version.
pub(crate) fn credential_version(key: &CredentialKey, v: i64) -> Result<u64, Error> {
    StoredRow::tenant(
        "switchboard_credentials",
        "credential",
        key.tenant.as_str(),
        key.connection.as_str(),
    )
    .version("version", v)
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
        sqlx::Error::ColumnDecode { index, .. } => format!(
            "the stored value in column `{}` has the wrong type",
            index.trim_matches('"')
        ),
        sqlx::Error::Decode(_) => "a stored value has the wrong type".to_string(),
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
        let status = bad(|r| r.status = "zombie".into());
        assert!(
            status.contains("`switchboard_connections.status`"),
            "{status}"
        );
        assert!(status.contains("zombie"), "{status}");
        assert!(bad(|r| r.config = "{nope".into()).contains("`switchboard_connections.config`"));
        assert!(bad(|r| r.consecutive_failures = -1)
            .contains("`switchboard_connections.consecutive_failures`"));
        assert!(bad(|r| r.version = 0).contains("`switchboard_connections.version`"));
        let whole = bad(|r| r.consecutive_failures = -1);
        assert_eq!(
            whole,
            "stored connection `c` of tenant `t` has an invalid \
             `switchboard_connections.consecutive_failures`"
        );
    }
}
