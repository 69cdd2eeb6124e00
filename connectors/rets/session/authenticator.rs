//! [`RetsAuthenticator`]: the pipeline's auth step for RETS. It adds `User-Agent`,
//! `RETS-Version`, the Digest or Basic `Authorization` (Digest is computed per request, for
//! its method and URI), `RETS-UA-Authorization` and the session's cookies.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, COOKIE, USER_AGENT};
use http::Request;
use secrecy::ExposeSecret;

use super::ua_auth::{ua_authorization, ua_product};
use super::SessionState;
use crate::auth::Authenticator;
use crate::rets::config::HttpAuth;
use crate::Error;

/// Adds a RETS session's headers to every request of its connection.
pub(crate) struct RetsAuthenticator {
    state: Arc<SessionState>,
    /// `RETS-Request-ID` of the next request (sent only with `RETS-UA-Authorization`).
    request_id: AtomicU64,
}

impl fmt::Debug for RetsAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetsAuthenticator")
            .field("session", &self.state)
            .finish()
    }
}

impl RetsAuthenticator {
    pub(crate) fn new(state: Arc<SessionState>) -> Self {
        RetsAuthenticator {
            state,
            request_id: AtomicU64::new(1),
        }
    }
}

fn header(value: &str, what: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value)
        .map_err(|_| Error::auth(format!("the RETS {what} is not a valid header value")))
}

fn secret_header(value: &str, what: &str) -> Result<HeaderValue, Error> {
    let mut v = header(value, what)?;
    v.set_sensitive(true);
    Ok(v)
}

#[async_trait]
impl Authenticator for RetsAuthenticator {
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        let state = &self.state;
        let settings = &state.settings;
        let creds = &state.credentials;
        let uri = request
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let method = request.method().clone();
        let mut auth = state.auth();
        let basic =
            creds.http_auth == HttpAuth::Basic || (creds.http_auth == HttpAuth::Auto && auth.basic);
        let authorization = if basic {
            let raw = zeroize::Zeroizing::new(format!(
                "{}:{}",
                creds.username,
                creds.password.expose_secret()
            ));
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
            ))
        } else if let Some(digest) = auth.digest.as_mut() {
            Some(
                digest
                    .authorization(
                        &method,
                        &uri,
                        &creds.username,
                        creds.password.expose_secret(),
                    )
                    .map_err(|e| Error::auth(format!("RETS Digest: {}", e.reason())))?,
            )
        } else {
            // Digest before the server's challenge: the first request goes without.
            None
        };
        let cookies = (!auth.cookies.is_empty()).then(|| {
            auth.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let session_id = auth.session_id.clone().unwrap_or_default();
        drop(auth);

        let headers = request.headers_mut();
        headers.insert(USER_AGENT, header(&settings.user_agent, "user agent")?);
        headers.insert("RETS-Version", header(&settings.version, "version")?);
        if let Some(a) = authorization {
            headers.insert(AUTHORIZATION, secret_header(&a, "authorization")?);
        }
        if let Some(c) = cookies {
            headers.insert(COOKIE, secret_header(&c, "session cookie")?);
        }
        if let Some(ua_password) = &creds.ua_password {
            let request_id = self.request_id.fetch_add(1, Ordering::Relaxed).to_string();
            let value = ua_authorization(
                ua_product(&settings.user_agent, false),
                ua_password.expose_secret(),
                &request_id,
                &session_id,
                &settings.version,
            );
            headers.insert("RETS-Request-ID", header(&request_id, "request id")?);
            headers.insert(
                "RETS-UA-Authorization",
                secret_header(&value, "UA authorization")?,
            );
        }
        Ok(())
    }

    fn reads_call_context(&self) -> bool {
        false
    }
}
