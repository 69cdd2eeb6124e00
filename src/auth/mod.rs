//! How a request gets its credentials: the [`Authenticator`] trait and the common schemes.
//!
//! The auth layer is the first in the pipeline: it asks the connection's authenticator to add
//! headers (marked sensitive, so `Debug` of the request hides them) or query parameters (which
//! the connector then lists in [`crate::Connector::secret_query_params`] so they are redacted).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::Request;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// Adds credentials to an outgoing request.
///
/// The request is the pipeline's own (`http::Request<Bytes>`, which
/// [`crate::pipeline::PipelineRequest`] names), taken as the plain `http` type so this trait
/// sits below the pipeline and imports nothing from it.
#[async_trait]
pub trait Authenticator: Send + Sync + Debug {
    /// Adds credentials to `request`.
    ///
    /// # Errors
    /// An [`ErrorKind::Auth`](crate::ErrorKind::Auth) error when credentials are missing or cannot be obtained.
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error>;

    /// Adds credentials at once when this authenticator holds them in memory (a key, a
    /// token); `None` says it must wait for them, and the pipeline then awaits
    /// [`Authenticator::authenticate`]. The pipeline asks this first, so a static credential
    /// costs no boxed future per call. The default is `None`.
    ///
    /// An implementation that answers `Some` must add the same credentials `authenticate`
    /// would; one that answers `None` must leave the request as it was (the pipeline may ask
    /// again, or await `authenticate`, afterwards).
    fn authenticate_now(&self, request: &mut Request<Bytes>) -> Option<Result<(), Error>> {
        let _ = request;
        None
    }

    /// Whether this authenticator reads the call's [`CallContext`](crate::pipeline::CallContext)
    /// from the request's extensions (as `Arc<CallContext>`), for example to check that the
    /// call is made for the tenant whose credentials it holds. The default is `true`.
    ///
    /// The pipeline puts the context into the extensions only when something will read it:
    /// an authenticator that answers `true`, or a host's attempt layer. Inserting it costs a
    /// call three small allocations (the extension map, its table, the boxed value), so the
    /// built-in schemes, which read only their own credentials, answer `false`. An
    /// authenticator that answers `false` finds no context in the request.
    fn reads_call_context(&self) -> bool {
        true
    }
}

/// What [`ConnectionBuilder::auth`](crate::ConnectionBuilder::auth) accepts: an authenticator
/// by value (`.auth(BearerToken::new(token))`), so a host never wraps it in an `Arc` itself, or
/// one already shared (an `Arc<A>`, or the `Arc<dyn Authenticator>` an integration's binding
/// holds), taken as it is. A conversion rather than `impl Authenticator for Arc<A>`, for the
/// reason given on [`crate::connector::IntoConnector`].
pub trait IntoAuthenticator {
    /// The authenticator, shared.
    fn into_authenticator(self) -> Arc<dyn Authenticator>;
}

impl<A: Authenticator + 'static> IntoAuthenticator for A {
    fn into_authenticator(self) -> Arc<dyn Authenticator> {
        Arc::new(self)
    }
}

impl<A: Authenticator + 'static> IntoAuthenticator for Arc<A> {
    fn into_authenticator(self) -> Arc<dyn Authenticator> {
        self
    }
}

impl IntoAuthenticator for Arc<dyn Authenticator> {
    fn into_authenticator(self) -> Arc<dyn Authenticator> {
        self
    }
}

/// `Authorization: Bearer <token>`.
pub struct BearerToken {
    // Built once: cloning a `HeaderValue` per call is a reference-count bump. `HeaderValue`'s
    // Debug prints `Sensitive` for values marked sensitive, and we print nothing of it anyway.
    value: Result<HeaderValue, Error>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl BearerToken {
    /// A fixed bearer token. A token with characters not allowed in a header fails at the
    /// first call, with an [`ErrorKind::Auth`](crate::ErrorKind::Auth) error that does not echo it.
    pub fn new(token: impl Into<SecretString>) -> Self {
        let token: SecretString = token.into();
        BearerToken {
            value: sensitive_value(&format!("Bearer {}", token.expose_secret())),
        }
    }
}

#[async_trait]
impl Authenticator for BearerToken {
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        self.add(request)
    }

    fn authenticate_now(&self, request: &mut Request<Bytes>) -> Option<Result<(), Error>> {
        Some(self.add(request))
    }

    fn reads_call_context(&self) -> bool {
        false
    }
}

impl BearerToken {
    fn add(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.value.clone()?);
        Ok(())
    }
}

/// `Authorization: Basic base64(user:password)` (Twilio, Stripe secret keys).
pub struct BasicAuth {
    username: String,
    // Encoded once; see `BearerToken`.
    value: Result<HeaderValue, Error>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl BasicAuth {
    /// Basic credentials. The user name is not secret (an account SID, a key id).
    pub fn new(username: impl Into<String>, password: impl Into<SecretString>) -> Self {
        let username = username.into();
        let password: SecretString = password.into();
        let raw = zeroize::Zeroizing::new(format!("{username}:{}", password.expose_secret()));
        let encoded = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()),
        );
        BasicAuth {
            value: sensitive_value(&format!("Basic {}", encoded.as_str())),
            username,
        }
    }
}

#[async_trait]
impl Authenticator for BasicAuth {
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        self.add(request)
    }

    fn authenticate_now(&self, request: &mut Request<Bytes>) -> Option<Result<(), Error>> {
        Some(self.add(request))
    }

    fn reads_call_context(&self) -> bool {
        false
    }
}

impl BasicAuth {
    fn add(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.value.clone()?);
        Ok(())
    }
}

/// A secret in a named header (for example `X-Api-Key`).
#[derive(Debug)]
pub struct HeaderKey {
    name: HeaderName,
    value: SecretString,
}

impl HeaderKey {
    /// A secret sent in header `name`.
    pub fn new(name: HeaderName, value: impl Into<SecretString>) -> Self {
        HeaderKey {
            name,
            value: value.into(),
        }
    }
}

#[async_trait]
impl Authenticator for HeaderKey {
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        self.add(request)
    }

    fn authenticate_now(&self, request: &mut Request<Bytes>) -> Option<Result<(), Error>> {
        Some(self.add(request))
    }

    fn reads_call_context(&self) -> bool {
        false
    }
}

impl HeaderKey {
    fn add(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        let value = sensitive_value(self.value.expose_secret())?;
        request.headers_mut().insert(self.name.clone(), value);
        Ok(())
    }
}

/// A secret in a query parameter (Google Maps' `key`). The parameter name must be listed by
/// the connector's [`crate::Connector::secret_query_params`] unless it is a default one.
#[derive(Debug)]
pub struct QueryKey {
    param: String,
    value: SecretString,
}

impl QueryKey {
    /// A secret sent as query parameter `param`.
    pub fn new(param: impl Into<String>, value: impl Into<SecretString>) -> Self {
        QueryKey {
            param: param.into(),
            value: value.into(),
        }
    }
}

#[async_trait]
impl Authenticator for QueryKey {
    async fn authenticate(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        self.add(request)
    }

    fn authenticate_now(&self, request: &mut Request<Bytes>) -> Option<Result<(), Error>> {
        Some(self.add(request))
    }

    fn reads_call_context(&self) -> bool {
        false
    }
}

impl QueryKey {
    fn add(&self, request: &mut Request<Bytes>) -> Result<(), Error> {
        let pair = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(&self.param, self.value.expose_secret())
            .finish();
        let uri = request.uri();
        let path_and_query = match uri.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}&{pair}", uri.path()),
            _ => format!("{}?{pair}", uri.path()),
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|_| Error::auth("query credential does not form a valid URL"))?,
        );
        *request.uri_mut() = http::Uri::from_parts(parts)
            .map_err(|_| Error::auth("query credential does not form a valid URL"))?;
        Ok(())
    }
}

/// A header value marked sensitive, with an error that never echoes the secret.
fn sensitive_value(s: &str) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(s)
        .map_err(|_| Error::auth("credential contains characters not allowed in an HTTP header"))?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use bytes::Bytes;

    fn req(uri: &str) -> Request<Bytes> {
        http::Request::builder()
            .uri(uri)
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn basic_auth_encodes_and_hides() {
        let mut r = req("https://api.example.com/x");
        BasicAuth::new("AC123", "CANARY-token")
            .authenticate(&mut r)
            .await
            .unwrap();
        let v = r.headers().get(AUTHORIZATION).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Basic QUMxMjM6Q0FOQVJZLXRva2Vu");
        assert!(!format!("{r:?}").contains("QUMxMjM6Q0FOQVJZLXRva2Vu"));
    }

    #[tokio::test]
    async fn query_key_appends_to_existing_query() {
        let mut r = req("https://maps.example.com/geo?address=a%20b");
        QueryKey::new("key", "K&1")
            .authenticate(&mut r)
            .await
            .unwrap();
        assert_eq!(r.uri().query(), Some("address=a%20b&key=K%261"));
    }

    #[tokio::test]
    async fn header_with_newline_is_a_typed_error_without_the_secret() {
        let mut r = req("https://api.example.com/x");
        let err = BearerToken::new("bad\nCANARY")
            .authenticate(&mut r)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(!format!("{err} {err:?}").contains("CANARY"));
    }

    #[test]
    fn debug_hides_secrets() {
        let a = BasicAuth::new("AC1", "CANARY-pw");
        let b = QueryKey::new("key", "CANARY-key");
        let s = format!("{a:?}{b:?}");
        assert!(!s.contains("CANARY"), "{s}");
    }
}
