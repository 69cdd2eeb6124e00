//! [`Call`]: the typed call builder every connector endpoint returns.
//!
//! A connector makes the [`RequestBuilder`] (method, path, body, endpoint label) and hands it
//! to [`Call::new`]; the caller adds per-call options and awaits it. Options a provider has
//! and others do not (Stripe's `expand`) are added by the connector on top, through an
//! extension trait that stores them in [`Call::extensions_mut`] and a finishing step
//! ([`Call::finish_with`]) that reads them just before the request is sent.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Extensions;
use serde::de::DeserializeOwned;

use crate::{ConfigError, Error, RequestBuilder, Response};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Finish<E> =
    Box<dyn FnOnce(RequestBuilder, &mut Extensions) -> Result<RequestBuilder, E> + Send>;

/// Turns a successful [`Response`] into a call's output: JSON for [`Call::new`], nothing for
/// [`Call::no_content`], anything else with [`Call::with_decoder`].
pub type Decoder<T> = fn(Response) -> BoxFuture<Result<T, Error>>;

/// One typed call: a request with per-call options, sent when awaited (or with
/// [`Call::send`]). `E` is the connector's error (`StripeError`); every failure, including a
/// setting refused at send, reaches the caller as an `E`.
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::Error> {
/// use std::time::Duration;
/// use switchboard::toolkit::Call;
///
/// #[derive(serde::Deserialize)]
/// struct Contact { id: String }
///
/// let call: Call<Contact, switchboard::Error> = Call::new(
///     connection.post("/v1/contacts").json(&serde_json::json!({"name": "Jenny"})).endpoint("contacts.create"),
/// );
/// let contact = call
///     .idempotency_key("import-42")
///     .header("x-request-source", "import")
///     .timeout(Duration::from_secs(5))
///     .await?;
/// # let _ = contact.id; Ok(()) }
/// ```
#[must_use = "a call does nothing until awaited"]
pub struct Call<T, E> {
    request: Result<RequestBuilder, E>,
    invalid: Option<Error>,
    finish: Option<Finish<E>>,
    extensions: Extensions,
    decode: Decoder<T>,
    _out: PhantomData<fn() -> T>,
}

impl<T, E> fmt::Debug for Call<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Call");
        match &self.request {
            Ok(r) => d.field("request", r),
            Err(_) => d.field("request", &"<failed>"),
        };
        d.finish_non_exhaustive()
    }
}

fn json<T: DeserializeOwned + Send + 'static>(resp: Response) -> BoxFuture<Result<T, Error>> {
    Box::pin(resp.json::<T>())
}

fn nothing(resp: Response) -> BoxFuture<Result<(), Error>> {
    // The body is dropped unread: a 204 has none, and any other is of no interest.
    drop(resp);
    Box::pin(std::future::ready(Ok(())))
}

impl<T: DeserializeOwned + Send + 'static, E> Call<T, E> {
    /// A call that sends `request` and decodes a JSON answer into `T` (a body of the wrong
    /// shape is an [`crate::ErrorKind::Decode`] error naming where).
    pub fn new(request: RequestBuilder) -> Self {
        Self::with_decoder(request, json::<T>)
    }
}

impl<E> Call<(), E> {
    /// A call whose answer has no content worth reading (`204 No Content`): a success is `()`.
    pub fn no_content(request: RequestBuilder) -> Self {
        Self::with_decoder(request, nothing)
    }
}

impl<T, E> Call<T, E> {
    /// A call whose successful response is turned into `T` by `decode` (for a body that is not
    /// JSON).
    pub fn with_decoder(request: RequestBuilder, decode: Decoder<T>) -> Self {
        Call {
            request: Ok(request),
            invalid: None,
            finish: None,
            extensions: Extensions::new(),
            decode,
            _out: PhantomData,
        }
    }

    /// A call that fails with `error` when sent, sending nothing: for an endpoint whose
    /// parameters could not be encoded, so that its signature stays a plain `Call`.
    pub fn failed(error: E, decode: Decoder<T>) -> Self {
        Call {
            request: Err(error),
            invalid: None,
            finish: None,
            extensions: Extensions::new(),
            decode,
            _out: PhantomData,
        }
    }

    /// Uses `key` (1 to 255 characters) as the idempotency key on every attempt, instead of
    /// the one generated per call for a write. Pass the same key when you retry a call
    /// yourself; it is the connector's idempotency header that carries it.
    pub fn idempotency_key(self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.map_request(|r| r.idempotency_key(key))
    }

    /// Adds a header to this call. `name` is a [`HeaderName`] or a `&str`; an invalid name or
    /// value fails the call at send with an [`crate::ErrorKind::Config`] error naming
    /// `call.header` (and never the value).
    pub fn header<N, V>(self, name: N, value: V) -> Self
    where
        N: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let parsed = match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => v.to_str().ok().map(|v| (n, v.to_owned())),
            _ => None,
        };
        match parsed {
            Some((n, v)) => self.map_request(|r| r.header(n.as_str(), &v)),
            None => {
                let mut call = self;
                // Reported at send, like every other invalid setting; the first one wins.
                call.invalid.get_or_insert_with(|| {
                    ConfigError::new("call.header", "has an invalid name or value").into()
                });
                call
            }
        }
    }

    /// This call's overall deadline, retries and waits included (default: the switchboard's
    /// `call_deadline`).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map_request(|r| r.deadline(timeout))
    }

    /// Changes the underlying request now (for a connector: an option that maps straight onto
    /// the [`RequestBuilder`]).
    pub fn map_request(mut self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        self.request = self.request.map(f);
        self
    }

    /// Runs `finish` just before the call is sent, with the options a connector stored in
    /// [`Call::extensions_mut`]: how a connector adds per-call options of its own without a
    /// builder of its own. Calling it again replaces the earlier step.
    pub fn finish_with(
        mut self,
        finish: impl FnOnce(RequestBuilder, &mut Extensions) -> Result<RequestBuilder, E>
            + Send
            + 'static,
    ) -> Self {
        self.finish = Some(Box::new(finish));
        self
    }

    /// The connector options stored on this call.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The connector options stored on this call, to add one (a connector's extension trait
    /// does this; see [`Call::finish_with`]).
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}

impl<T, E> Call<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    /// Sends the call and decodes the answer.
    ///
    /// # Errors
    /// The connector's error `E`, made from the core [`Error`]: the provider's error status,
    /// a transport failure, a deadline, a body that does not decode, or a setting refused at
    /// send ([`crate::ErrorKind::Config`]).
    pub async fn send(self) -> Result<T, E> {
        let Call {
            request,
            invalid,
            finish,
            mut extensions,
            decode,
            _out,
        } = self;
        let mut request = request?;
        if let Some(e) = invalid {
            return Err(E::from(e));
        }
        if let Some(finish) = finish {
            request = finish(request, &mut extensions)?;
        }
        let response = request.send().await.map_err(E::from)?;
        decode(response).await.map_err(E::from)
    }
}

impl<T, E> IntoFuture for Call<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    type Output = Result<T, E>;
    type IntoFuture = BoxFuture<Result<T, E>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::{Connection, Connector, ErrorKind, ProviderError, Switchboard};

    #[derive(Debug)]
    struct Keyed;
    impl Connector for Keyed {
        fn name(&self) -> &str {
            "keyed"
        }
        fn idempotency_header(&self) -> Option<&str> {
            Some("Idempotency-Key")
        }
    }

    fn connection(base_url: &str) -> Connection {
        Switchboard::builder()
            .build()
            .unwrap()
            .connection(Arc::new(Keyed))
            .tenant("t1")
            .id("c1")
            .base_url(base_url)
            .build()
            .unwrap()
    }

    /// A connector's own error, as `StripeError` is.
    #[derive(Debug)]
    struct AcmeError(Error);

    impl From<Error> for AcmeError {
        fn from(e: Error) -> Self {
            AcmeError(e)
        }
    }

    impl ProviderError for AcmeError {
        fn core(&self) -> &Error {
            &self.0
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Thing {
        id: String,
    }

    async fn requests(server: &MockServer) -> usize {
        server.received_requests().await.map_or(0, |r| r.len())
    }

    #[tokio::test]
    async fn decodes_json_and_carries_the_per_call_options() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/things"))
            .and(header("idempotency-key", "order-42"))
            .and(header("x-by-name", "1"))
            .and(header("x-by-str", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "t_1"})))
            .expect(1)
            .mount(&server)
            .await;
        let conn = connection(&server.uri());
        let thing = Call::<Thing, AcmeError>::new(conn.post("/things").form(&[("a", "b")]))
            .idempotency_key("order-42")
            .header(HeaderName::from_static("x-by-name"), "1")
            .header("x-by-str", String::from("2"))
            .timeout(Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(thing, Thing { id: "t_1".into() });
    }

    #[tokio::test]
    async fn send_and_await_are_the_same_call() {
        let server = MockServer::start().await;
        Mock::given(path("/things/1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
            .expect(2)
            .mount(&server)
            .await;
        let conn = connection(&server.uri());
        let a = Call::<Thing, Error>::new(conn.get("/things/1"))
            .send()
            .await
            .unwrap();
        let b = Call::<Thing, Error>::new(conn.get("/things/1"))
            .await
            .unwrap();
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn no_content_accepts_an_empty_answer() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let conn = connection(&server.uri());
        Call::<(), AcmeError>::no_content(conn.delete("/things/1"))
            .await
            .unwrap();
        // The JSON call would have refused the empty body.
        let err = Call::<Thing, AcmeError>::new(conn.delete("/things/1"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
    }

    #[tokio::test]
    async fn errors_reach_the_caller_as_the_connectors_error() {
        let server = MockServer::start().await;
        Mock::given(path("/things/404"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "no"})))
            .mount(&server)
            .await;
        let err = Call::<Thing, AcmeError>::new(connection(&server.uri()).get("/things/404"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status);
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    }

    #[tokio::test]
    async fn an_invalid_header_fails_at_send_without_sending_or_echoing_it() {
        let server = MockServer::start().await;
        let conn = connection(&server.uri());
        for call in [
            Call::<Thing, AcmeError>::new(conn.get("/t")).header("bad name", "v"),
            Call::<Thing, AcmeError>::new(conn.get("/t")).header("x-ok", "CANARY\nvalue"),
        ] {
            let err = call.await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.0.to_string().contains("call.header"), "{}", err.0);
            assert!(!format!("{:?}", err.0).contains("CANARY"), "{:?}", err.0);
        }
        assert_eq!(requests(&server).await, 0);
    }

    #[tokio::test]
    async fn timeout_is_the_calls_deadline() {
        let server = MockServer::start().await;
        Mock::given(path("/slow"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "1"}))
                    .set_delay(Duration::from_secs(30)),
            )
            .mount(&server)
            .await;
        let err = Call::<Thing, AcmeError>::new(connection(&server.uri()).get("/slow"))
            .timeout(Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Deadline);
    }

    #[tokio::test]
    async fn a_failed_call_sends_nothing() {
        let server = MockServer::start().await;
        let err = Call::<Thing, AcmeError>::failed(
            AcmeError(Error::new(ErrorKind::Config, "params")),
            |r| Box::pin(r.json::<Thing>()),
        )
        .idempotency_key("k")
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(requests(&server).await, 0);
    }

    /// What a connector's extension trait does: store an option, read it when finishing.
    #[derive(Clone, Default)]
    struct Expand(Vec<String>);

    trait ExpandExt {
        fn expand(self, field: &str) -> Self;
    }

    impl<T> ExpandExt for Call<T, AcmeError> {
        fn expand(mut self, field: &str) -> Self {
            let opts = self.extensions_mut().get_or_insert_default::<Expand>();
            opts.0.push(field.to_string());
            self
        }
    }

    #[tokio::test]
    async fn a_connector_adds_its_own_options_on_top() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string("name=x&expand%5B0%5D=a&expand%5B1%5D=b"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
            .expect(1)
            .mount(&server)
            .await;
        let conn = connection(&server.uri());
        let params = "name=x".to_string();
        let call =
            Call::<Thing, AcmeError>::new(conn.post("/things")).finish_with(move |req, ext| {
                let mut body = params;
                for (i, f) in ext
                    .get::<Expand>()
                    .cloned()
                    .unwrap_or_default()
                    .0
                    .iter()
                    .enumerate()
                {
                    body.push_str(&format!("&expand%5B{i}%5D={f}"));
                }
                Ok(req.body(body, "application/x-www-form-urlencoded"))
            });
        call.expand("a")
            .idempotency_key("k1")
            .expand("b")
            .await
            .unwrap();
    }

    #[test]
    fn a_call_is_send() {
        fn check<S: Send>() {}
        check::<Call<Thing, AcmeError>>();
        check::<<Call<Thing, AcmeError> as IntoFuture>::IntoFuture>();
    }
}
