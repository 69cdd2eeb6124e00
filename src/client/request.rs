//! [`RequestBuilder`], one call: built up, then sent through the pipeline by
//! [`RequestBuilder::send`], which is where a call starts. It builds the [`CallContext`], opens
//! the call span, and runs the request through the pipeline
//! (see [`crate::pipeline`] for the order).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use tracing::Instrument;

use super::connection::{Connection, ConnectionInner};
use crate::error::{ConfigError, Error};
use crate::observe;
use crate::pipeline::cache::CacheKey;
use crate::pipeline::{CacheStatus, CallContext, Idempotency, PipelineRequest, PipelineResponse};
use crate::response::Response;

/// One call, built up and then sent with [`RequestBuilder::send`]. Settings are checked at
/// `send`, and a bad one returns an [`ErrorKind::Config`](crate::ErrorKind::Config) error naming it.
#[must_use]
pub struct RequestBuilder {
    pub(super) connection: Connection,
    pub(super) method: Method,
    pub(super) path: String,
    /// The query pairs added so far, already form-encoded (`a=1&b=2`): one buffer a call,
    /// not two strings a pair.
    pub(super) query: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) endpoint: Option<Arc<str>>,
    pub(super) bucket: Option<Arc<str>>,
    pub(super) idempotency: Idempotency,
    pub(super) side_effects: Option<bool>,
    pub(super) cache_ttl: Option<Duration>,
    pub(super) invalidates: Vec<String>,
    pub(super) stream: bool,
    pub(super) accept_status: Option<http::StatusCode>,
    /// A body sent as these shared chunks in order (see [`RequestBuilder::body_parts`]); the
    /// `body` is then empty.
    pub(super) body_parts: Option<Arc<[Bytes]>>,
    pub(super) deadline: Option<Duration>,
    pub(super) error: Option<ConfigError>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    /// Adds query parameters.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let mut ser =
            url::form_urlencoded::Serializer::for_suffix(std::mem::take(&mut self.query), 0);
        for (k, v) in pairs {
            ser.append_pair(k.as_ref(), v.as_ref());
        }
        self.query = ser.finish();
        self
    }

    /// Adds a header: the name as a [`HeaderName`] or text, the value as a [`HeaderValue`] or
    /// text (as reqwest's `header`). An invalid name or value is reported at `send`, as an
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) error naming `request.header` (and the header, when its name is
    /// valid; never the value).
    ///
    /// ```
    /// # fn demo(conn: switchboard::Connection) {
    /// use http::header::{HeaderValue, ACCEPT_LANGUAGE};
    /// let call = conn
    ///     .get("/v1/things")
    ///     .header(ACCEPT_LANGUAGE, "en")
    ///     .header("x-trace", HeaderValue::from_static("abc"));
    /// # let _ = call; }
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            (Ok(n), Err(_)) => {
                self.error.get_or_insert(ConfigError::new(
                    "request.header",
                    format!("header `{n}` has an invalid value"),
                ));
            }
            (Err(_), _) => {
                self.error.get_or_insert(ConfigError::new(
                    "request.header",
                    "a header name is invalid",
                ));
            }
        }
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = body.into();
        self.body_parts = None;
        self.content_type(content_type)
    }

    /// A body made of `parts` sent one after the other, with its content type: for a large
    /// body assembled from pieces (a multipart upload whose documents are `Bytes` the caller
    /// already holds), sent without first copying the pieces into one buffer.
    ///
    /// Each part is a reference-counted [`Bytes`], so neither this call nor a retry copies
    /// the data: every attempt streams the same parts, with a `Content-Length` of their total.
    /// The pipeline request's own body (`http::Request<Bytes>`, what a host's attempt layer
    /// or [`Authenticator`](crate::auth::Authenticator) sees) is then empty; the parts are in
    /// [`CallContext::body_parts`].
    pub fn body_parts(mut self, parts: Vec<Bytes>, content_type: &str) -> Self {
        self.body = Bytes::new();
        self.body_parts = Some(Arc::from(parts));
        self.content_type(content_type)
    }

    fn content_type(mut self, content_type: &str) -> Self {
        match HeaderValue::from_str(content_type) {
            Ok(v) => {
                self.headers.insert(CONTENT_TYPE, v);
            }
            Err(_) => {
                self.error.get_or_insert(ConfigError::new(
                    "request.content_type",
                    "is not a valid header value",
                ));
            }
        }
        self
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => self.body(v, "application/json"),
            Err(e) => {
                let mut s = self;
                s.error.get_or_insert(ConfigError::new(
                    "request.json",
                    format!("cannot serialize: {e}"),
                ));
                s
            }
        }
    }

    /// An `application/x-www-form-urlencoded` body from ordered pairs.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k.as_ref(), v.as_ref());
        }
        self.body(ser.finish(), "application/x-www-form-urlencoded")
    }

    /// A label for metrics and spans (default: the method).
    pub fn endpoint(mut self, label: &str) -> Self {
        self.endpoint = Some(Arc::from(label));
        self
    }

    /// The provider rate-limit bucket this call spends (default `"default"`).
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = Some(Arc::from(bucket));
        self
    }

    /// Uses the caller's idempotency key (at most 255 characters) on every attempt.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency = Idempotency::Key(key.into());
        self
    }

    /// Sends no idempotency key even for a call with side effects; such a call is then retried
    /// only when nothing was sent.
    pub fn without_idempotency_key(mut self) -> Self {
        self.idempotency = Idempotency::None;
        self
    }

    /// Marks whether the call has side effects (default: POST and PATCH do).
    pub fn side_effects(mut self, yes: bool) -> Self {
        self.side_effects = Some(yes);
        self
    }

    /// Caches a successful GET for `ttl` (opt-in per endpoint).
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// On success, drops cached entries under `path` (for example the resource this write
    /// changed, or its collection).
    pub fn invalidates(mut self, path: impl Into<String>) -> Self {
        self.invalidates.push(path.into());
        self
    }

    /// Hands a successful response body on as a stream instead of buffering it.
    pub fn stream(mut self) -> Self {
        self.stream = true;
        self
    }

    /// Takes `status` (a non-success status such as 401) as this call's answer: the response
    /// comes back as a [`Response`] with that status instead of an error, is not retried, and
    /// does not count as a failure of the connection (its lifecycle, its circuit breaker). For
    /// protocols where a failure status is a step of the exchange: HTTP Digest's first request
    /// is answered by a 401 carrying the challenge.
    pub fn accept_status(mut self, status: http::StatusCode) -> Self {
        self.accept_status = Some(status);
        self
    }

    /// This call's overall deadline (default: the switchboard's `call_deadline`).
    /// `Duration::MAX` leaves the call bounded only by its attempts' timeouts (the deadline is
    /// then about thirty years away).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// The request and its context; the call's deadline counts from `started`.
    fn build_request(
        self,
        started: tokio::time::Instant,
    ) -> Result<(PipelineRequest, Arc<CallContext>), Error> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let c = &self.connection.inner;
        let sb = &c.switchboard.inner;
        let uri = request_uri(c, &self.path, &self.query)?;
        let side_effects = self
            .side_effects
            .unwrap_or(matches!(self.method, Method::POST | Method::PATCH));
        let idempotency = match self.idempotency {
            Idempotency::Key(k) => {
                if k.is_empty() || k.len() > 255 {
                    return Err(
                        ConfigError::new("idempotency_key", "must be 1 to 255 characters").into(),
                    );
                }
                Idempotency::Key(k)
            }
            // Generated here, once per logical call, so every attempt and every error carry it.
            Idempotency::Auto if side_effects && c.shared.idempotency_header.is_some() => {
                Idempotency::Key(uuid::Uuid::new_v4().to_string())
            }
            other => other,
        };
        let deadline = self.deadline.unwrap_or(sb.call_deadline);
        if deadline.is_zero() {
            return Err(ConfigError::new("request.deadline", "must be greater than zero").into());
        }
        let mut headers = self.headers;
        // Put on once, here, so every attempt of the call carries the same key.
        if let (Some(header), Idempotency::Key(key)) = (&c.shared.idempotency_header, &idempotency)
        {
            let value = HeaderValue::from_str(key).map_err(|_| {
                ConfigError::new(
                    "idempotency_key",
                    "must be visible ASCII without control characters",
                )
            })?;
            headers.insert(header.clone(), value);
        }
        for (name, value) in &c.default_headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        // Made here, from the request as the caller built it: the auth layer has not added
        // credentials yet, and they must never be part of a key.
        let cache_key = match self.cache_ttl {
            Some(_) if self.method == Method::GET && !self.stream => Some(CacheKey::new(
                &c.shared.tenant,
                &c.shared.connection,
                &self.method,
                &uri,
                &headers,
                c.shared.connector.secret_query_params(),
                &c.vary_headers,
            )),
            _ => None,
        };
        let ctx = Arc::new(CallContext {
            conn: c.shared.clone(),
            endpoint: self.endpoint.unwrap_or_else(|| method_label(&self.method)),
            bucket: self.bucket.unwrap_or_else(default_bucket),
            idempotency,
            side_effects,
            cache_ttl: self.cache_ttl,
            cache_key,
            invalidates: self.invalidates,
            stream: self.stream,
            accept_status: self.accept_status,
            body_parts: self.body_parts,
            deadline: crate::clock::later(started, deadline),
            uri: uri.clone(),
            redacted_url: OnceLock::new(),
        });
        let mut req = http::Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        // Only where something reads it: the map, its table and the boxed value are three
        // allocations per call that a plain call with a built-in authenticator never uses.
        let read_by_auth = c
            .shared
            .auth
            .as_ref()
            .is_some_and(|a| a.reads_call_context());
        if read_by_auth || sb.pipeline.attempt.is_layered() {
            req.extensions_mut().insert(ctx.clone());
        }
        Ok((req, ctx))
    }

    /// Sends the call through the pipeline.
    ///
    /// # Errors
    /// An [`Error`]; ask it [`Error::is_retryable`], [`Error::status`],
    /// [`Error::retry_after`] and [`Error::may_have_been_sent`]. A non-success status after
    /// retries is an error of kind [`ErrorKind::Status`](crate::ErrorKind::Status) (or [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited) for 429)
    /// with the body in [`Error::body`].
    ///
    /// Nothing is checked or sent until the returned future is first polled.
    // Not an `async fn`, which would keep the builder twice in the caller's future.
    #[allow(clippy::manual_async_fn)]
    pub fn send(self) -> impl Future<Output = Result<Response, Error>> + Send + 'static {
        async move {
            match self.start() {
                Started::Answered(result) => result,
                Started::Running(call) => call.await,
            }
        }
    }

    /// Starts the call: the admission check, the request, then either the answer at once (a
    /// refusal, or a cached answer that needed no waiting) or the call as a boxed future.
    ///
    /// The boxed future is made by a plain function: the pipeline's state machine is then
    /// compiled once, in this library, rather than in every crate that awaits `send` (a host's
    /// crate, rebuilt on each of its edits, or a connector's module). One allocation per call
    /// that goes past the cache. The builder (hundreds of bytes) is used up here, so it is not
    /// part of that future, which every call copies.
    fn start(self) -> Started {
        let connection = self.connection.clone();
        // Checked first, so a refused call (a disconnected connection) sends nothing.
        if let Some(o) = &connection.inner.observer {
            if let Err(e) = o.admit() {
                return Started::Answered(Err(with_call_context(e, None, &connection)));
            }
        }
        // One clock reading for both the deadline and the call's elapsed time.
        let started = tokio::time::Instant::now();
        let (mut req, ctx) = match self.build_request(started) {
            Ok(built) => built,
            Err(e) => return Started::Answered(Err(with_call_context(e, None, &connection))),
        };
        // With spans on, every call goes through `run`, which makes the call's span.
        if !observe::spans_enabled(tracing::Level::INFO) {
            let pipeline = &connection.inner.switchboard.inner.pipeline;
            if let Some(result) = pipeline.answer_now(&ctx, &mut req) {
                let elapsed = started.elapsed();
                let span = tracing::Span::none();
                return Started::Answered(finish(&connection, &ctx, &span, result, elapsed));
            }
        }
        Started::Running(Box::pin(run(connection, req, ctx, started)))
    }
}

/// A call as [`RequestBuilder::start`] leaves it.
enum Started {
    /// Answered without waiting.
    Answered(Result<Response, Error>),
    /// Under way through the pipeline.
    Running(Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>),
}

/// Runs a built call through the pipeline, under its span, and records how it ended.
///
/// A plain function returning an `async` block, not an `async fn`: an `async fn` keeps each
/// argument twice (as passed, and as the local it is moved into), and this future is copied
/// on every call.
#[allow(clippy::manual_async_fn)]
fn run(
    connection: Connection,
    mut req: PipelineRequest,
    ctx: Arc<CallContext>,
    started: tokio::time::Instant,
) -> impl Future<Output = Result<Response, Error>> + Send {
    async move {
        let sb = &connection.inner.switchboard.inner;
        let span = if observe::spans_enabled(tracing::Level::INFO) {
            tracing::info_span!(
                "switchboard.call",
                connector = %ctx.conn.connector_name,
                tenant = %ctx.conn.tenant,
                connection = %ctx.conn.connection,
                endpoint = %ctx.endpoint,
                method = %req.method(),
                url = %ctx.redacted_url(),
                status = tracing::field::Empty,
                outcome = tracing::field::Empty,
                elapsed_ms = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        // Made inside each branch: a future held in a local first is copied once more.
        let result = if span.is_none() {
            sb.pipeline.call(&ctx, &mut req).await
        } else {
            sb.pipeline
                .call(&ctx, &mut req)
                .instrument(span.clone())
                .await
        };
        finish(&connection, &ctx, &span, result, started.elapsed())
    }
}

/// Records how a call ended (its span's fields, the connection's metrics, the lifecycle
/// observer) and makes the caller's answer.
fn finish(
    connection: &Connection,
    ctx: &CallContext,
    span: &tracing::Span,
    result: Result<(PipelineResponse, CacheStatus), Error>,
    elapsed: Duration,
) -> Result<Response, Error> {
    span.record("elapsed_ms", elapsed.as_millis() as u64);
    match result {
        Ok((resp, cache)) => {
            span.record("status", resp.status().as_u16());
            span.record("outcome", "ok");
            ctx.conn.metrics.call_finished(&ctx.endpoint, "ok", elapsed);
            if let Some(o) = &connection.inner.observer {
                o.observe(Ok(()));
            }
            let body_cap = connection.inner.switchboard.inner.body_cap;
            Ok(Response::new(resp, cache, body_cap))
        }
        Err(e) => {
            let e = with_call_context(e, Some(ctx), connection);
            span.record("outcome", e.kind().as_str());
            if let Some(s) = e.status() {
                span.record("status", s.as_u16());
            }
            ctx.conn
                .metrics
                .call_finished(&ctx.endpoint, e.kind().as_str(), elapsed);
            if let Some(o) = &connection.inner.observer {
                o.observe(Err(&e));
            }
            Err(e)
        }
    }
}

/// Builds the request URI over the connection's parsed base: the path and query are assembled
/// directly, and only a path that needs percent-encoding takes the slower full URL parse.
fn request_uri(c: &ConnectionInner, path: &str, query: &str) -> Result<http::Uri, Error> {
    let path = path.trim_start_matches('/');
    let mut pq = String::with_capacity(c.base_path.len() + path.len() + 2 + query.len());
    pq.push_str(&c.base_path);
    pq.push('/');
    pq.push_str(path);
    if !query.is_empty() {
        pq.push('?');
        pq.push_str(query);
    }
    let fast = http::uri::PathAndQuery::try_from(pq).ok().and_then(|pq| {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(c.scheme.clone());
        parts.authority = Some(c.shared.authority.clone());
        parts.path_and_query = Some(pq);
        http::Uri::from_parts(parts).ok()
    });
    if let Some(uri) = fast {
        return Ok(uri);
    }
    // Characters that need encoding (spaces, non-ASCII): let the URL parser encode them. The
    // query is form-encoded already, which a URL's query keeps as it is.
    let base = c.shared.base_url.as_str().trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/{path}"))
        .map_err(|e| ConfigError::new("request.path", format!("does not form a URL: {e}")))?;
    if !query.is_empty() {
        url.set_query(Some(query));
    }
    url.as_str()
        .parse()
        .map_err(|_| ConfigError::new("request.path", "does not form a valid URI").into())
}

/// The default endpoint label: the method, without allocating for the common ones.
fn method_label(m: &Method) -> Arc<str> {
    use std::sync::LazyLock;
    static LABELS: LazyLock<[Arc<str>; 5]> =
        LazyLock::new(|| ["GET", "POST", "PUT", "PATCH", "DELETE"].map(Arc::from));
    match *m {
        Method::GET => LABELS[0].clone(),
        Method::POST => LABELS[1].clone(),
        Method::PUT => LABELS[2].clone(),
        Method::PATCH => LABELS[3].clone(),
        Method::DELETE => LABELS[4].clone(),
        _ => Arc::from(m.as_str()),
    }
}

/// The bucket of a call that names none.
pub(super) fn default_bucket() -> Arc<str> {
    use std::sync::LazyLock;
    static DEFAULT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("default"));
    DEFAULT.clone()
}

/// Adds what the call knows (connector, redacted URL, key) to an error that lacks it.
fn with_call_context(e: Error, ctx: Option<&CallContext>, connection: &Connection) -> Error {
    let e = e.with_connector(connection.inner.shared.connector_name.clone());
    let Some(ctx) = ctx else { return e };
    let mut p = e.into_parts();
    if p.url.is_none() {
        p.url = Some(ctx.redacted_url().to_owned());
    }
    if p.idempotency_key.is_none() {
        if let Idempotency::Key(k) = &ctx.idempotency {
            p.idempotency_key = Some(k.clone());
        }
    }
    p.idempotent = !ctx.side_effects;
    p.build()
}

#[cfg(test)]
mod tests {
    use crate::pipeline::orchestrator::Attempt;
    use crate::{Connector, Switchboard};

    #[derive(Debug)]
    struct Plain;

    impl Connector for Plain {
        fn name(&self) -> &str {
            "plain"
        }
    }

    /// Every call moves the pipeline's future a few times, so its size is paid per call. With
    /// moka's entry future inline it was 56 KiB in a debug build (and most of a plain call's
    /// instructions went to copying it); boxed, the whole call is a few times the transport's
    /// own future. The futures are made from a real connection and dropped unpolled.
    #[test]
    fn the_pipeline_future_stays_small() {
        let sb = Switchboard::builder().build().expect("switchboard");
        let conn = sb
            .connection(Plain)
            .tenant("t1")
            .id("c1")
            .base_url("https://api.example.com")
            .build()
            .expect("connection");
        let (req, ctx) = conn
            .get("/item")
            .build_request(tokio::time::Instant::now())
            .expect("request");
        let pipeline = &sb.inner.pipeline;
        let Attempt::Direct { transport, .. } = &pipeline.attempt else {
            panic!("a switchboard without attempt layers calls the transport directly");
        };
        let transport = std::mem::size_of_val(&transport.send(&ctx, &req));
        let mut req = req;
        let call = std::mem::size_of_val(&pipeline.call(&ctx, &mut req));
        assert!(
            call <= 4 * transport.max(1024),
            "the pipeline's future is {call} bytes (the transport's alone: {transport})"
        );
    }
}
