//! [`Pager`]: the one pagination helper, and [`Pages`], the stream every list returns.
//!
//! A connector says where the first page is ([`Pager::new`], query, endpoint label, what every
//! page's request needs), how a page splits into items and what comes next (a function
//! returning a [`Page`]), and which style moves from page to page:
//!
//! | style | next request | ends when |
//! | --- | --- | --- |
//! | [`Pager::cursor`] | the first request with `param` = the page's cursor (Stripe `starting_after`, search `page`) | no cursor |
//! | [`Pager::page_number`] | `param` = 1, 2, 3, ... | `more` is false or a page is empty |
//! | [`Pager::next_url`] | a GET to the page's next URL (Twilio `next_page_uri`), on the connection's host only | no URL |
//! | [`Pager::offset`] | `param` = items seen so far | `more` is false or a page is empty |
//!
//! A page is fetched only when the stream is polled past the last item of the one before. An
//! error is the stream's last item. A cursor or URL that was already followed ends the stream
//! with an error instead of looping forever; a next URL on another host is never fetched (the
//! request would carry the connection's credentials there).

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{self, FusedStream, Stream};
use http::Method;
use serde::de::DeserializeOwned;

use crate::{Connection, Error, ErrorKind, RequestBuilder};

/// The stream every list returns: items in order, pages fetched as it is polled, an error as
/// its last item. `Unpin`, so `stream.next().await` (with `futures_util::StreamExt`) works
/// without pinning; `try_next`, `try_collect` and the other `TryStreamExt` methods work too.
#[must_use = "a stream does nothing unless polled"]
pub struct Pages<T, E> {
    inner: Pin<Box<dyn Stream<Item = Result<T, E>> + Send>>,
    done: bool,
}

impl<T, E> fmt::Debug for Pages<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

impl<T, E> Pages<T, E> {
    /// Wraps any stream (a connector with paging no [`Pager`] style covers). Once it has
    /// ended, polling it again answers `None` again.
    pub fn new(stream: impl Stream<Item = Result<T, E>> + Send + 'static) -> Self {
        Pages {
            inner: Box::pin(stream),
            done: false,
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Pages<T, E> {
    /// A stream whose only item is `error` (a list whose parameters could not be encoded).
    pub fn failed(error: E) -> Self {
        Pages::new(stream::once(std::future::ready(Err(error))))
    }
}

impl<T, E> FusedStream for Pages<T, E> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T, E> Stream for Pages<T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.done = true;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            self.inner.size_hint()
        }
    }
}

/// One decoded page: its items, and what says whether another follows (a cursor or URL for
/// [`Pager::cursor`] and [`Pager::next_url`], `more` for [`Pager::page_number`] and
/// [`Pager::offset`]). A page made with [`Page::new`] alone is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
    more: bool,
}

impl<T> Page<T> {
    /// A page of `items` after which nothing follows (unless [`Page::next`] or [`Page::more`]
    /// say otherwise).
    pub fn new(items: Vec<T>) -> Self {
        Page {
            items,
            next: None,
            more: false,
        }
    }

    /// The cursor (cursor style) or URL (next-URL style) of the next page; `None` on the last.
    #[must_use]
    pub fn next(mut self, next: Option<String>) -> Self {
        self.next = next.filter(|n| !n.is_empty());
        self
    }

    /// Whether another page follows (page-number and offset styles).
    #[must_use]
    pub fn more(mut self, more: bool) -> Self {
        self.more = more;
        self
    }
}

type Prepare = Arc<dyn Fn(RequestBuilder) -> RequestBuilder + Send + Sync>;

/// Builds the [`Pages`] of one list: a GET of `path` on a connection, then one of the four
/// styles.
///
/// ```no_run
/// # fn demo(connection: switchboard::Connection) {
/// use switchboard::toolkit::{Page, Pager, Pages};
///
/// #[derive(serde::Deserialize)]
/// struct Contact { id: String }
/// #[derive(serde::Deserialize)]
/// struct List { data: Vec<Contact>, has_more: bool }
///
/// let contacts: Pages<Contact, switchboard::Error> = Pager::new(connection, "/v1/contacts")
///     .query(&[("limit", "100")])
///     .endpoint("contacts.list")
///     .cursor("starting_after", |page: List| {
///         let next = page.has_more.then(|| page.data.last().map(|c| c.id.clone())).flatten();
///         Page::new(page.data).next(next)
///     });
/// # }
/// ```
#[must_use]
pub struct Pager {
    connection: Connection,
    path: String,
    query: Vec<(String, String)>,
    endpoint: Option<String>,
    prepare: Option<Prepare>,
    /// A JSON body: every page is then a POST of it (search endpoints).
    body: Option<serde_json::Value>,
}

impl fmt::Debug for Pager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("connection", &self.connection)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Pager {
    /// A list whose first page is `GET path` on `connection`.
    pub fn new(connection: Connection, path: impl Into<String>) -> Self {
        Pager {
            connection,
            path: path.into(),
            query: Vec::new(),
            endpoint: None,
            prepare: None,
            body: None,
        }
    }

    /// Makes every page a `POST` of `body` as JSON instead of a `GET` (search endpoints that
    /// take their filters in the body: GoHighLevel's `POST /contacts/search`). Pair it with
    /// [`Pager::body_cursor`] when the cursor travels in the body too.
    pub fn json_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds query parameters to the first page's request (and, for every style but next URL,
    /// to every later one).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
        );
        self
    }

    /// The endpoint label of every page's request (`"customers.list"`).
    pub fn endpoint(mut self, label: &str) -> Self {
        self.endpoint = Some(label.to_string());
        self
    }

    /// Applied to every page's request (a header every page needs, a rate-limit bucket).
    pub fn prepare(
        mut self,
        prepare: impl Fn(RequestBuilder) -> RequestBuilder + Send + Sync + 'static,
    ) -> Self {
        self.prepare = Some(Arc::new(prepare));
        self
    }

    /// Cursor style: each later page repeats the first request with `param` set to the cursor
    /// the page before gave ([`Page::next`]); the list ends on a page without one.
    pub fn cursor<P, T, E>(
        self,
        param: &str,
        split: impl Fn(P) -> Page<T> + Send + Sync + 'static,
    ) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(Style::Cursor(param.to_string()), split)
    }

    /// Cursor style with the cursor in the JSON body ([`Pager::json_body`]): each later page
    /// repeats the first request with the body's top-level `field` set to the cursor the page
    /// before gave ([`Page::next`]), read as JSON text (`[1700000000000,"abc"]`; text that is
    /// not JSON is sent as a string). The list ends on a page without one; a cursor already
    /// followed ends it with an error, as in [`Pager::cursor`].
    pub fn body_cursor<P, T, E>(
        self,
        field: &str,
        split: impl Fn(P) -> Page<T> + Send + Sync + 'static,
    ) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(Style::BodyCursor(field.to_string()), split)
    }

    /// Page-number style: `param` = `first`, `first + 1`, ... (or, when the query already
    /// holds `param`, from its value on); the list ends on a page with `more` false or no
    /// items.
    pub fn page_number<P, T, E>(
        self,
        param: &str,
        first: u64,
        split: impl Fn(P) -> Page<T> + Send + Sync + 'static,
    ) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(
            Style::Counted {
                param: param.to_string(),
                by_items: false,
                first,
            },
            split,
        )
    }

    /// Offset style: `param` = the number of items already seen (from the query's own value,
    /// or 0); the list ends on a page with `more` false or no items.
    pub fn offset<P, T, E>(
        self,
        param: &str,
        split: impl Fn(P) -> Page<T> + Send + Sync + 'static,
    ) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(
            Style::Counted {
                param: param.to_string(),
                by_items: true,
                first: 0,
            },
            split,
        )
    }

    /// Next-URL style: each later page is a GET of the URL the page before gave
    /// ([`Page::next`]): a path and query on the connection's host, or an absolute URL on that
    /// same host (reduced to its path and query). A URL on any other host is never fetched:
    /// the stream ends with an [`ErrorKind::Decode`] error, since the request would carry the
    /// connection's credentials there.
    pub fn next_url<P, T, E>(
        self,
        split: impl Fn(P) -> Page<T> + Send + Sync + 'static,
    ) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(Style::NextUrl, split)
    }

    fn run<P, T, E, S>(self, style: Style, split: S) -> Pages<T, E>
    where
        P: DeserializeOwned + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        S: Fn(P) -> Page<T> + Send + Sync + 'static,
    {
        // Everything that does not depend on the page and item types lives in `Walk`, so it is
        // compiled once instead of once per list a connector offers.
        let walk = Walk::new(self, style);
        let state = State {
            walk,
            split,
            buffer: VecDeque::new(),
            _page: std::marker::PhantomData::<fn(P)>,
        };
        Pages::new(stream::unfold(state, |mut s| async move {
            loop {
                if let Some(item) = s.buffer.pop_front() {
                    return Some((Ok(item), s));
                }
                let request = match s.walk.next_request() {
                    Ok(Some(request)) => request,
                    Ok(None) => return None,
                    Err(e) => return Some((Err(E::from(e)), s)),
                };
                let page = match fetch::<P>(request).await {
                    Ok(page) => (s.split)(page),
                    Err(e) => return Some((Err(E::from(e)), s)),
                };
                s.walk
                    .after(page.next.as_deref(), page.more, page.items.len());
                s.buffer.extend(page.items);
            }
        }))
    }

    fn request(&self, path: String) -> RequestBuilder {
        self.request_with_body(path, self.body.as_ref())
    }

    fn request_with_body(&self, path: String, body: Option<&serde_json::Value>) -> RequestBuilder {
        let mut req = match body {
            Some(body) => self.connection.request(Method::POST, path).json(body),
            None => self.connection.request(Method::GET, path),
        };
        if let Some(label) = &self.endpoint {
            req = req.endpoint(label);
        }
        match &self.prepare {
            Some(prepare) => prepare(req),
            None => req,
        }
    }

    fn describe(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(&self.path)
    }
}

enum Style {
    Cursor(String),
    /// A cursor in the JSON body's top-level field.
    BodyCursor(String),
    /// Page number (`by_items: false`) or offset (`by_items: true`).
    Counted {
        param: String,
        by_items: bool,
        first: u64,
    },
    NextUrl,
}

enum Next {
    /// The first request, with the style's parameter set to this value (when there is one).
    Query(Option<String>),
    /// A path and query on the connection's host.
    Url(String),
    /// The error to end with (after the items already fetched).
    Fail(Error),
    Done,
}

/// Where a list stands: the pager, the style, what comes next, the cursors and URLs already
/// followed. Not generic: one copy serves every list.
struct Walk {
    pager: Pager,
    style: Style,
    next: Next,
    /// Cursors and URLs already followed.
    seen: HashSet<String>,
    /// The page number or offset of the last request (counted styles).
    counter: u64,
}

/// A list's state between polls: the walk, the connector's split function and the items of
/// the current page not yet handed out.
struct State<P, T, S> {
    walk: Walk,
    split: S,
    buffer: VecDeque<T>,
    _page: std::marker::PhantomData<fn(P)>,
}

impl Walk {
    fn new(pager: Pager, style: Style) -> Walk {
        let mut seen = HashSet::new();
        let mut counter = 0;
        let next = match &style {
            Style::Cursor(param) => {
                // A cursor the caller started from counts as followed: a provider that hands
                // it back would otherwise be asked for the same page forever.
                if let Some((_, v)) = pager.query.iter().find(|(k, _)| k == param) {
                    seen.insert(v.clone());
                }
                Next::Query(None)
            }
            Style::Counted { param, first, .. } => {
                let start = pager
                    .query
                    .iter()
                    .find(|(k, _)| k == param)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(*first);
                counter = start;
                Next::Query(Some(start.to_string()))
            }
            Style::NextUrl | Style::BodyCursor(_) => Next::Query(None),
        };
        Walk {
            pager,
            style,
            next,
            seen,
            counter,
        }
    }

    /// The request of the next page; `Ok(None)` when the list is over, the error to end with
    /// when it failed.
    fn next_request(&mut self) -> Result<Option<RequestBuilder>, Error> {
        match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => Ok(None),
            Next::Fail(e) => Err(e),
            Next::Query(value) => Ok(Some(self.query_request(value.as_deref()))),
            Next::Url(path) => Ok(Some(self.pager.request(path))),
        }
    }

    fn query_request(&self, value: Option<&str>) -> RequestBuilder {
        let param = match &self.style {
            Style::Cursor(p) | Style::Counted { param: p, .. } => Some(p.as_str()),
            Style::NextUrl => None,
            Style::BodyCursor(field) => {
                let path = self.pager.path.clone();
                let Some(value) = value else {
                    return self.pager.request(path);
                };
                let mut body = self
                    .pager
                    .body
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({}));
                if let Some(map) = body.as_object_mut() {
                    let cursor = serde_json::from_str(value)
                        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
                    map.insert(field.clone(), cursor);
                }
                let req = self.pager.request_with_body(path, Some(&body));
                return if self.pager.query.is_empty() {
                    req
                } else {
                    req.query(&self.pager.query)
                };
            }
        };
        let mut query = self.pager.query.clone();
        if let (Some(param), Some(value)) = (param, value) {
            query.retain(|(k, _)| k != param);
            query.push((param.to_string(), value.to_string()));
        }
        let path = self.pager.path.clone();
        let req = self.pager.request(path);
        if query.is_empty() {
            req
        } else {
            req.query(&query)
        }
    }

    /// Sets what follows a page, from the style and the page's `next`, `more` and number of
    /// items.
    fn after(&mut self, next: Option<&str>, more: bool, items: usize) {
        self.next = match &self.style {
            Style::Cursor(_) | Style::BodyCursor(_) => match next {
                None => Next::Done,
                Some(c) if !self.seen.insert(c.to_string()) => {
                    Next::Fail(repeated(self.pager.describe(), "cursor"))
                }
                Some(c) => Next::Query(Some(c.to_string())),
            },
            Style::Counted { by_items, .. } => {
                if !more || items == 0 {
                    Next::Done
                } else {
                    let step = if *by_items { items as u64 } else { 1 };
                    self.counter = self.counter.saturating_add(step);
                    Next::Query(Some(self.counter.to_string()))
                }
            }
            Style::NextUrl => match next {
                None => Next::Done,
                Some(url) => match same_host_path(&self.pager.connection, url) {
                    None => Next::Fail(Error::new(
                        ErrorKind::Decode,
                        format!(
                            "{}: the next page's URL is not on the connection's host; not followed",
                            self.pager.describe()
                        ),
                    )),
                    Some(path) if !self.seen.insert(path.clone()) => {
                        Next::Fail(repeated(self.pager.describe(), "URL"))
                    }
                    Some(path) => Next::Url(path),
                },
            },
        };
    }
}

/// One page, decoded. What `Response::json` does, with the sending and reading in a plain
/// function so that only the decoding is compiled once per page type.
async fn fetch<P: DeserializeOwned>(request: RequestBuilder) -> Result<P, Error> {
    let body = fetch_body(request).await?;
    crate::decode_json::<P>(&body).map_err(Error::from)
}

async fn fetch_body(request: RequestBuilder) -> Result<bytes::Bytes, Error> {
    request.send().await?.bytes().await
}

fn repeated(list: &str, what: &str) -> Error {
    // The cursor itself is left out: it is the provider's data, not ours to print.
    Error::new(
        ErrorKind::Decode,
        format!("{list}: the provider gave a {what} already followed; stopped instead of looping"),
    )
}

/// The path and query of `next` when it is on `connection`'s host: a path (`/...`) as given,
/// an absolute URL only when its host and port are the connection's. A path that starts with
/// the base URL's own path loses that prefix, since every request path is joined to it.
fn same_host_path(connection: &Connection, next: &str) -> Option<String> {
    let base = url::Url::parse(connection.base_url()).ok()?;
    let path_and_query = if next.starts_with('/') && !next.starts_with("//") {
        // Parsed against the base only to split off a fragment and normalize; a path cannot
        // change the host.
        let url = base.join(next).ok()?;
        (url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default())
        .then(|| with_query(&url))?
    } else {
        let url = url::Url::parse(next).ok()?;
        let same = matches!(url.scheme(), "http" | "https")
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none();
        same.then(|| with_query(&url))?
    };
    let prefix = base.path().trim_end_matches('/');
    match path_and_query.strip_prefix(prefix) {
        Some(rest) if !prefix.is_empty() && (rest.starts_with('/') || rest.starts_with('?')) => {
            Some(rest.to_string())
        }
        _ => Some(path_and_query),
    }
}

fn with_query(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use futures_util::StreamExt;
    use serde_json::{json, Value};
    use wiremock::matchers::{method, path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::{Connector, Switchboard};

    /// A connector with the core's defaults, for toolkit tests.
    #[derive(Debug)]
    pub(crate) struct Plain;
    impl Connector for Plain {
        fn name(&self) -> &str {
            "plain"
        }
    }

    pub(crate) fn connection(base_url: &str) -> Connection {
        Switchboard::builder()
            .build()
            .unwrap()
            .connection(Arc::new(Plain))
            .tenant("t1")
            .id("c1")
            .base_url(base_url)
            .build()
            .unwrap()
    }

    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<String>,
        #[serde(default)]
        next: Option<String>,
        #[serde(default)]
        more: bool,
    }

    fn ok(body: Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(body)
    }

    async fn requests(server: &MockServer) -> usize {
        server.received_requests().await.map_or(0, |r| r.len())
    }

    fn by_cursor(page: List) -> Page<String> {
        Page::new(page.data).next(page.next)
    }

    fn by_more(page: List) -> Page<String> {
        Page::new(page.data).more(page.more)
    }

    #[tokio::test]
    async fn cursor_fetches_a_page_only_when_polled_past_the_last_item() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/items"))
            .and(query_param_is_missing("after"))
            .respond_with(ok(json!({"data": ["a", "b"], "next": "b"})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/items"))
            .and(query_param("after", "b"))
            .and(query_param("limit", "2"))
            .respond_with(ok(json!({"data": ["c"]})))
            .mount(&server)
            .await;
        let mut items: Pages<String, Error> = Pager::new(connection(&server.uri()), "/v1/items")
            .query(&[("limit", "2")])
            .endpoint("items.list")
            .cursor("after", by_cursor);
        assert_eq!(
            requests(&server).await,
            0,
            "nothing is fetched before the first poll"
        );
        assert_eq!(items.next().await.unwrap().unwrap(), "a");
        assert_eq!(requests(&server).await, 1);
        assert_eq!(items.next().await.unwrap().unwrap(), "b");
        assert_eq!(
            requests(&server).await,
            1,
            "the second page waits for a poll past `b`"
        );
        assert_eq!(items.next().await.unwrap().unwrap(), "c");
        assert_eq!(requests(&server).await, 2);
        assert!(items.next().await.is_none());
        assert!(items.next().await.is_none());
        assert_eq!(
            requests(&server).await,
            2,
            "no page after one without a cursor"
        );
    }

    #[tokio::test]
    async fn a_body_cursor_posts_the_search_again_with_the_cursor_in_the_body() {
        use wiremock::matchers::body_json;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/search"))
            .and(body_json(json!({"q": "x", "limit": 2})))
            .respond_with(ok(json!({"data": ["a", "b"], "next": "[7,\"b\"]"})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/search"))
            .and(body_json(json!({"q": "x", "limit": 2, "after": [7, "b"]})))
            .respond_with(ok(json!({"data": ["c"], "next": "[7,\"b\"]"})))
            .mount(&server)
            .await;
        let items: Vec<Result<String, Error>> = Pager::new(connection(&server.uri()), "/v1/search")
            .json_body(json!({"q": "x", "limit": 2}))
            .body_cursor("after", by_cursor)
            .collect()
            .await;
        // The second page hands back the cursor it was asked with: an error, not a loop.
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(items[2].as_ref().unwrap(), "c");
        assert_eq!(items[3].as_ref().unwrap_err().kind(), ErrorKind::Decode);
        assert_eq!(requests(&server).await, 2);
    }

    #[tokio::test]
    async fn an_error_is_the_last_item() {
        let server = MockServer::start().await;
        Mock::given(path("/v1/items"))
            .and(query_param_is_missing("after"))
            .respond_with(ok(json!({"data": ["a"], "next": "a"})))
            .mount(&server)
            .await;
        Mock::given(path("/v1/items"))
            .and(query_param("after", "a"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": "bad"})))
            .mount(&server)
            .await;
        let mut items: Pages<String, Error> =
            Pager::new(connection(&server.uri()), "/v1/items").cursor("after", by_cursor);
        assert_eq!(items.next().await.unwrap().unwrap(), "a");
        let err = items.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status);
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
        assert!(items.next().await.is_none());
        assert_eq!(requests(&server).await, 2);
    }

    #[tokio::test]
    async fn a_body_of_the_wrong_shape_is_a_decode_error_and_ends_the_stream() {
        let server = MockServer::start().await;
        Mock::given(path("/v1/items"))
            .respond_with(ok(json!({"data": "not a list"})))
            .mount(&server)
            .await;
        let mut items: Pages<String, Error> =
            Pager::new(connection(&server.uri()), "/v1/items").cursor("after", by_cursor);
        let err = items.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(items.next().await.is_none());
    }

    #[tokio::test]
    async fn a_repeated_cursor_ends_with_an_error_instead_of_looping() {
        let server = MockServer::start().await;
        // Every page hands back the same cursor, as a buggy provider might.
        Mock::given(path("/v1/items"))
            .respond_with(ok(json!({"data": ["a"], "next": "same"})))
            .mount(&server)
            .await;
        let items: Vec<Result<String, Error>> = Pager::new(connection(&server.uri()), "/v1/items")
            .cursor("after", by_cursor)
            .take(10)
            .collect()
            .await;
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(items[0].is_ok() && items[1].is_ok());
        let err = items[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(!err.to_string().contains("same"), "{err}");
        assert_eq!(requests(&server).await, 2);
    }

    #[tokio::test]
    async fn a_cursor_the_caller_started_from_is_not_followed_again() {
        let server = MockServer::start().await;
        Mock::given(path("/v1/items"))
            .respond_with(ok(json!({"data": ["a"], "next": "start"})))
            .mount(&server)
            .await;
        let items: Vec<Result<String, Error>> = Pager::new(connection(&server.uri()), "/v1/items")
            .query(&[("after", "start")])
            .cursor("after", by_cursor)
            .take(10)
            .collect()
            .await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[1].is_err());
        assert_eq!(requests(&server).await, 1);
    }

    #[tokio::test]
    async fn page_number_counts_up_until_a_page_says_no_more() {
        let server = MockServer::start().await;
        for (n, body) in [
            ("1", json!({"data": ["a", "b"], "more": true})),
            ("2", json!({"data": ["c"], "more": true})),
            ("3", json!({"data": ["d"], "more": false})),
        ] {
            Mock::given(path("/items"))
                .and(query_param("page", n))
                .respond_with(ok(body))
                .expect(1)
                .mount(&server)
                .await;
        }
        let items: Vec<String> = Pager::new(connection(&server.uri()), "/items")
            .page_number("page", 1, by_more)
            .map(|r: Result<String, Error>| r.unwrap())
            .collect()
            .await;
        assert_eq!(items, ["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn page_number_stops_at_an_empty_page_even_when_told_more() {
        let server = MockServer::start().await;
        Mock::given(path("/items"))
            .and(query_param("page", "0"))
            .respond_with(ok(json!({"data": ["a"], "more": true})))
            .mount(&server)
            .await;
        Mock::given(path("/items"))
            .and(query_param("page", "1"))
            .respond_with(ok(json!({"data": [], "more": true})))
            .mount(&server)
            .await;
        let items: Vec<Result<String, Error>> = Pager::new(connection(&server.uri()), "/items")
            .page_number("page", 0, by_more)
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        assert_eq!(requests(&server).await, 2);
    }

    #[tokio::test]
    async fn offset_advances_by_the_items_seen() {
        let server = MockServer::start().await;
        for (n, body) in [
            ("0", json!({"data": ["a", "b"], "more": true})),
            ("2", json!({"data": ["c", "d"], "more": true})),
            ("4", json!({"data": ["e"], "more": false})),
        ] {
            Mock::given(path("/items"))
                .and(query_param("offset", n))
                .and(query_param("limit", "2"))
                .respond_with(ok(body))
                .expect(1)
                .mount(&server)
                .await;
        }
        let items: Vec<String> = Pager::new(connection(&server.uri()), "/items")
            .query(&[("limit", "2")])
            .offset("offset", by_more)
            .map(|r: Result<String, Error>| r.unwrap())
            .collect()
            .await;
        assert_eq!(items, ["a", "b", "c", "d", "e"]);
    }

    #[tokio::test]
    async fn next_url_follows_paths_and_same_host_urls() {
        let server = MockServer::start().await;
        let absolute = format!("{}/api/items?page=3#frag", server.uri());
        Mock::given(path("/api/items"))
            .and(query_param_is_missing("page"))
            .respond_with(ok(json!({"data": ["a"], "next": "/api/items?page=2"})))
            .mount(&server)
            .await;
        Mock::given(path("/api/items"))
            .and(query_param("page", "2"))
            .respond_with(ok(json!({"data": ["b"], "next": absolute})))
            .mount(&server)
            .await;
        Mock::given(path("/api/items"))
            .and(query_param("page", "3"))
            .respond_with(ok(json!({"data": ["c"]})))
            .mount(&server)
            .await;
        // The base URL has a path: a next URL that repeats it is not prefixed twice.
        let base = format!("{}/api", server.uri());
        let items: Vec<String> = Pager::new(connection(&base), "/items")
            .next_url(by_cursor)
            .map(|r: Result<String, Error>| r.unwrap())
            .collect()
            .await;
        assert_eq!(items, ["a", "b", "c"]);
        assert_eq!(requests(&server).await, 3);
    }

    #[tokio::test]
    async fn next_url_on_another_host_is_never_fetched() {
        let ours = MockServer::start().await;
        let theirs = MockServer::start().await;
        Mock::given(path("/items"))
            .respond_with(ok(
                json!({"data": ["a"], "next": format!("{}/items?page=2", theirs.uri())}),
            ))
            .mount(&ours)
            .await;
        Mock::given(path("/items"))
            .respond_with(ok(json!({"data": ["stolen"]})))
            .mount(&theirs)
            .await;
        for next in [
            format!("{}/items?page=2", theirs.uri()),
            format!("//{}/items?page=2", theirs.address()),
        ] {
            ours.reset().await;
            Mock::given(path("/items"))
                .respond_with(ok(json!({"data": ["a"], "next": next})))
                .mount(&ours)
                .await;
            let items: Vec<Result<String, Error>> = Pager::new(connection(&ours.uri()), "/items")
                .next_url(by_cursor)
                .collect()
                .await;
            assert_eq!(items.len(), 2, "{next}: {items:?}");
            assert_eq!(items[0].as_ref().unwrap(), "a");
            let err = items[1].as_ref().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
            assert!(!err.to_string().contains(&theirs.uri()), "{err}");
        }
        assert_eq!(
            requests(&theirs).await,
            0,
            "credentials never went to another host"
        );
    }

    #[tokio::test]
    async fn every_page_request_is_prepared() {
        let server = MockServer::start().await;
        Mock::given(path("/items"))
            .and(query_param_is_missing("after"))
            .and(wiremock::matchers::header("x-scope", "acct_1"))
            .respond_with(ok(json!({"data": ["a"], "next": "a"})))
            .mount(&server)
            .await;
        Mock::given(path("/items"))
            .and(query_param("after", "a"))
            .and(wiremock::matchers::header("x-scope", "acct_1"))
            .respond_with(ok(json!({"data": ["b"]})))
            .mount(&server)
            .await;
        let items: Vec<String> = Pager::new(connection(&server.uri()), "/items")
            .prepare(|r| r.header("x-scope", "acct_1"))
            .cursor("after", by_cursor)
            .map(|r: Result<String, Error>| r.unwrap())
            .collect()
            .await;
        assert_eq!(items, ["a", "b"]);
    }

    #[tokio::test]
    async fn failed_yields_its_error_once() {
        let mut p: Pages<String, Error> = Pages::failed(Error::new(ErrorKind::Config, "bad"));
        assert!(p.next().await.unwrap().is_err());
        assert!(p.next().await.is_none());
    }

    #[test]
    fn pages_is_send_and_unpin() {
        fn check<S: Send + Unpin>() {}
        check::<Pages<String, Error>>();
    }
}
