//! [`connector_of`] and [`settings_of`]: how every typed client's `from_connection` checks the
//! connection it is given, so a connection of another connector (or one made without the
//! connector's settings) is the same typed error in every connector.

use std::any::Any;

use crate::{Connection, Connector, Error};

/// The connection's connector as `C`, the connector type the typed client expects.
///
/// `field` names the typed client's connection in the error (`"stripe.connection"`); its part
/// before the first `.` is the connector's name in the message. `C` must answer
/// [`Connector::as_any`] with `Some(self)`.
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `field` and the connector the
/// connection belongs to, when it is not a `C`.
pub fn connector_of<'c, C: Connector + Any>(
    connection: &'c Connection,
    field: &'static str,
) -> Result<&'c C, Error> {
    connection
        .connector()
        .as_any()
        .and_then(|a| a.downcast_ref::<C>())
        .ok_or_else(|| {
            let expected = field.split('.').next().unwrap_or(field);
            Error::config(
                field,
                format!(
                    "belongs to the `{}` connector, not `{expected}`",
                    connection.connector().name()
                ),
            )
        })
}

/// The connection's per-connection settings as `S` (see
/// [`ConnectionSettings`](crate::ConnectionSettings)), for a connector whose typed client
/// needs tenant data (an account SID).
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `field` when the connection carries
/// no `S` (it was built by hand without the connector's settings).
pub fn settings_of<'c, S: Any + Send + Sync>(
    connection: &'c Connection,
    field: &'static str,
) -> Result<&'c S, Error> {
    connection.settings::<S>().ok_or_else(|| {
        Error::config(
            field,
            "carries none of this connector's settings: make it from the connector's config \
             or through the connection service",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Switchboard};

    #[derive(Debug)]
    struct Mine;
    impl Connector for Mine {
        fn name(&self) -> &str {
            "mine"
        }
        fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
            Some(self)
        }
    }

    #[derive(Debug)]
    struct Theirs;
    impl Connector for Theirs {
        fn name(&self) -> &str {
            // Same name on purpose: the check is by type, never by a name a host can reuse.
            "mine"
        }
    }

    #[derive(Debug, PartialEq)]
    struct MySettings(u8);

    fn conn(connector: impl crate::connector::IntoConnector, settings: bool) -> Connection {
        let sb = Switchboard::builder().build().unwrap();
        let mut b = sb
            .connection(connector)
            .tenant("t")
            .id("c")
            .base_url("https://example.com");
        if settings {
            b = b.settings(MySettings(7));
        }
        b.build().unwrap()
    }

    #[test]
    fn the_connector_is_checked_by_type_and_the_error_names_the_field() {
        assert!(connector_of::<Mine>(&conn(Mine, false), "mine.connection").is_ok());
        let err = connector_of::<Mine>(&conn(Theirs, false), "mine.connection").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("mine.connection"), "{err}");
    }

    #[test]
    fn settings_are_read_back_or_refused_with_a_typed_error() {
        let with = conn(Mine, true);
        assert_eq!(
            settings_of::<MySettings>(&with, "mine.connection").unwrap(),
            &MySettings(7)
        );
        let err = settings_of::<MySettings>(&conn(Mine, false), "mine.connection").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("mine.connection"), "{err}");
    }
}
