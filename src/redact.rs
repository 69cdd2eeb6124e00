//! Removing secrets from URLs before they reach a log line or an error. (Cache keys keep
//! secret values only as a keyed hash instead: see [`crate::pipeline::cache`].)
//!
//! Values of query parameters that carry credentials are replaced by `REDACTED`, and any
//! user-info (`user:password@`) is dropped. The list of secret parameter names is the union of
//! [`DEFAULT_SECRET_PARAMS`] and what the connector declares for its own API.

use std::borrow::Cow;

/// Query parameter names that are always treated as secret, compared case-insensitively.
pub const DEFAULT_SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig",
    "auth",
    "authorization",
    "code",
];

/// What stands in place of a redacted value.
pub const REDACTED: &str = "REDACTED";

/// Whether the (raw, possibly percent-encoded) query parameter `name` carries a secret: one of
/// [`DEFAULT_SECRET_PARAMS`] or `extra`, compared case-insensitively after decoding.
pub(crate) fn is_secret_param(name: &str, extra: &[&str]) -> bool {
    let name = percent_decode_lossy(name);
    DEFAULT_SECRET_PARAMS
        .iter()
        .chain(extra.iter())
        .any(|s| s.eq_ignore_ascii_case(&name))
}

/// Returns `uri` as a string with user-info removed and the values of secret query parameters
/// replaced by [`REDACTED`]. `extra` names the connector's own secret parameters.
pub fn redact_uri(uri: &http::Uri, extra: &[&str]) -> String {
    let mut out = String::with_capacity(
        uri.authority().map_or(0, |a| a.as_str().len())
            + uri.path_and_query().map_or(0, |p| p.as_str().len())
            + 8,
    );
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(auth) = uri.authority() {
        // Authority may hold `user:pass@host`; keep only the host and port.
        let a = auth.as_str();
        out.push_str(a.rsplit_once('@').map_or(a, |(_, host)| host));
    }
    out.push_str(uri.path());
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(&redact_query(q, extra));
    }
    out
}

/// Replaces the values of secret parameters in a raw query string.
pub fn redact_query<'a>(query: &'a str, extra: &[&str]) -> Cow<'a, str> {
    let needs = query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        is_secret_param(name, extra)
    });
    if !needs {
        return Cow::Borrowed(query);
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if is_secret_param(n, extra) => {
                format!("{n}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect();
    Cow::Owned(parts.join("&"))
}

fn percent_decode_lossy(s: &str) -> Cow<'_, str> {
    if !s.contains('%') && !s.contains('+') {
        return Cow::Borrowed(s);
    }
    let decoded: String = url::form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default();
    Cow::Owned(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_key_and_user_info() {
        let uri: http::Uri = "https://user:pw@maps.example.com/geo?address=1+Main&key=CANARY123"
            .parse()
            .unwrap();
        let r = redact_uri(&uri, &[]);
        assert_eq!(
            r,
            "https://maps.example.com/geo?address=1+Main&key=REDACTED"
        );
    }

    #[test]
    fn redacts_connector_params_case_insensitively_and_encoded_names() {
        let q = "AccessKey=CANARY&a=1&%6Bey=CANARY2";
        let r = redact_query(q, &["accesskey"]);
        assert!(!r.contains("CANARY"), "{r}");
        assert!(r.contains("a=1"));
    }

    #[test]
    fn leaves_plain_queries_borrowed() {
        assert!(matches!(redact_query("a=1&b=2", &[]), Cow::Borrowed(_)));
    }
}
