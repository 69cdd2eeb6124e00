//! The public origin providers post webhooks to, shared by the webhook router (which builds
//! the URL a scheme signs) and `Connections` (which gives each connection's URL to its
//! integration's activation), so both spell a connection's URL the same way.

use crate::error::{ConfigError, Error};

/// The scheme, authority and path prefix of the public origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicBase {
    pub(crate) scheme: String,
    pub(crate) authority: String,
    /// A path prefix a proxy strips (`""` for none; never ends with `/`).
    pub(crate) prefix: String,
}

impl PublicBase {
    /// Parses an http(s) URL without query, fragment or user; errors name `setting`.
    pub(crate) fn parse(raw: &str, setting: &'static str) -> Result<PublicBase, Error> {
        let bad = |reason: &str| -> Error { ConfigError::new(setting, reason.to_string()).into() };
        let u = url::Url::parse(raw).map_err(|_| bad("is not a URL"))?;
        let host = u
            .host_str()
            .filter(|_| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| bad("must be an http or https URL with a host"))?;
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            return Err(bad("must not have a query, fragment or user"));
        }
        Ok(PublicBase {
            scheme: u.scheme().to_string(),
            authority: match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            },
            prefix: u.path().trim_end_matches('/').to_string(),
        })
    }

    /// The origin and prefix, `{scheme}://{authority}{prefix}` (no trailing `/`).
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

/// A route prefix as the router keeps it: no trailing `/`, and empty or starting with `/`.
pub(crate) fn route_prefix(prefix: &str, setting: &'static str) -> Result<String, Error> {
    let prefix = prefix.trim_end_matches('/').to_string();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(ConfigError::new(setting, "must start with `/`").into());
    }
    Ok(prefix)
}
