//! Stage 7, transport: sends one attempt with reqwest (rustls) and reads the response under the
//! body cap, or hands a successful streamed response on as chunks.

use std::future::Future;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tower::Service;

use super::body::too_large;
use super::{context_of, Body, BoxFuture, CallContext, PipelineRequest, PipelineResponse};
use crate::error::{Error, ErrorKind};

/// The innermost service: one HTTP exchange.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) client: reqwest::Client,
    /// The same client with the SSRF guard as its resolver, for connections whose base URL
    /// came from tenant config: every address a name resolves to is checked before connecting.
    pub(crate) guarded: reqwest::Client,
    pub(crate) body_cap: usize,
}

impl Transport {
    /// Sends `req` once. The request is read, not consumed: the retry stage replays the same
    /// one, and nothing is copied for that but what reqwest must own (the headers).
    ///
    /// reqwest's request is made before the future (reqwest keeps it in its own boxed future),
    /// so the future here holds only the answer being read: it is copied with every layer
    /// above it.
    pub(crate) fn send<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a PipelineRequest,
    ) -> impl Future<Output = Result<PipelineResponse, Error>> + 'a {
        let pending = self.start(ctx, req);
        let (cap, stream) = (self.body_cap, ctx.stream);
        async move {
            let mut resp = pending?.await.map_err(transport_error)?;
            if let Some(len) = resp.content_length() {
                if len > cap as u64 {
                    return Err(too_large(cap));
                }
            }
            let status = resp.status();
            let version = resp.version();
            // Moved, not cloned: the body is read through `resp`, which needs no headers for it.
            let headers = std::mem::take(resp.headers_mut());
            let body = if stream && status.is_success() {
                Body::Stream(capped_stream(resp, cap))
            } else {
                Body::Full(read_capped(&mut resp, cap).await?)
            };
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.version_mut() = version;
            *out.headers_mut() = headers;
            Ok(out)
        }
    }

    /// reqwest's request for `req`, handed to the client (which sends nothing until polled).
    fn start(
        &self,
        ctx: &CallContext,
        req: &PipelineRequest,
    ) -> Result<impl Future<Output = reqwest::Result<reqwest::Response>>, Error> {
        let client = if ctx.conn.guarded {
            &self.guarded
        } else {
            &self.client
        };
        let mut request = reqwest::Request::new(req.method().clone(), url_of(ctx, req.uri())?);
        *request.version_mut() = req.version();
        *request.headers_mut() = headers_for_reqwest(req.headers());
        if let Some(parts) = &ctx.body_parts {
            send_parts(&mut request, parts);
        } else if !req.body().is_empty() {
            *request.body_mut() = Some(reqwest::Body::from(req.body().clone()));
        }
        Ok(client.execute(request))
    }
}

/// Headers a request may gain after it is copied for reqwest: the client's defaults
/// (`User-Agent`, `Accept`) and a chunked body's `Content-Length` ([`send_parts`]).
const ADDED_BY_REQWEST: usize = 3;

/// A copy of `headers` with room for what reqwest adds, for reqwest to own.
///
/// Not `HeaderMap::clone`: a clone's entries are exactly as long as the map, so reqwest's first
/// default header regrows them (a reallocation and a copy of every entry, on every attempt).
/// A map too large to be given that room (tens of thousands of values) is cloned instead.
fn headers_for_reqwest(headers: &http::HeaderMap) -> http::HeaderMap {
    let room = headers.len().saturating_add(ADDED_BY_REQWEST);
    let Ok(mut copy) = http::HeaderMap::try_with_capacity(room) else {
        return headers.clone();
    };
    for (name, value) in headers {
        copy.append(name.clone(), value.clone());
    }
    copy
}

/// The request's URL for reqwest. A URI on the connection's own scheme and host (every call
/// unless a host layer rewrote it) reuses the connection's parsed base and sets only the path
/// and query, which are already encoded: the host is never parsed again.
fn url_of(ctx: &CallContext, uri: &http::Uri) -> Result<url::Url, Error> {
    let base = &ctx.conn.base_url;
    let same_origin = uri.scheme_str() == Some(base.scheme())
        && uri.authority().map(|a| a.as_str()) == Some(ctx.conn.authority.as_str());
    if same_origin {
        let mut url = base.clone();
        url.set_path(uri.path());
        url.set_query(uri.query());
        return Ok(url);
    }
    url::Url::parse(&uri.to_string()).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "request cannot be sent: its URI is not a URL",
        )
    })
}

/// The transport as a tower service, for the host's attempt layers to wrap.
impl Service<PipelineRequest> for Transport {
    type Response = PipelineResponse;
    type Error = Error;
    type Future = BoxFuture<PipelineResponse>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: PipelineRequest) -> Self::Future {
        let transport = self.clone();
        Box::pin(async move {
            let ctx = context_of(&req)?;
            transport.send(&ctx, &req).await
        })
    }
}

/// Makes `parts` the request's body: streamed chunk by chunk (each a reference-count bump of
/// the caller's `Bytes`, never a copy into one buffer), with their total as `Content-Length`
/// so the body is not sent chunked.
fn send_parts(request: &mut reqwest::Request, parts: &[Bytes]) {
    let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let chunks: Vec<Bytes> = parts.to_vec();
    *request.body_mut() = Some(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::convert::Infallible>),
    )));
    request
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(total));
}

async fn read_capped(resp: &mut reqwest::Response, cap: usize) -> Result<Bytes, Error> {
    let expected = resp.content_length().unwrap_or(0).min(cap as u64) as usize;
    let Some(first) = resp.chunk().await.map_err(body_error)? else {
        return Ok(Bytes::new());
    };
    if first.len() > cap {
        return Err(too_large(cap));
    }
    // Most API responses arrive in one chunk: hand it on without copying.
    let Some(second) = resp.chunk().await.map_err(body_error)? else {
        return Ok(first);
    };
    let mut buf = BytesMut::with_capacity(expected.max(first.len() + second.len()));
    buf.extend_from_slice(&first);
    if buf.len() + second.len() > cap {
        return Err(too_large(cap));
    }
    buf.extend_from_slice(&second);
    while let Some(chunk) = resp.chunk().await.map_err(body_error)? {
        if buf.len() + chunk.len() > cap {
            return Err(too_large(cap));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn capped_stream(resp: reqwest::Response, cap: usize) -> super::body::ByteStream {
    let mut seen = 0usize;
    Box::pin(resp.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(body_error)?;
        seen += chunk.len();
        if seen > cap {
            return Err(too_large(cap));
        }
        Ok(chunk)
    }))
}

/// Maps a reqwest failure to our error, without its URL (which may hold a secret).
fn transport_error(e: reqwest::Error) -> Error {
    if let Some(refused) = crate::outbound::ssrf::find_ssrf(&e) {
        // The guard refused every address before a socket was opened: nothing was sent, and
        // it is a setting to fix (the endpoint), not an outage to retry.
        return Error::new(
            ErrorKind::Config,
            format!("endpoint refused by the SSRF guard: {refused}"),
        );
    }
    let err = if e.is_connect() {
        Error::connect("could not connect to the provider")
    } else if e.is_timeout() {
        Error::timeout("the provider did not answer in time")
    } else {
        Error::transport(
            "the connection failed while the request was in flight",
            true,
        )
    };
    err.with_source(e.without_url())
}

fn body_error(e: reqwest::Error) -> Error {
    Error::transport(
        "the connection failed while reading the response body",
        true,
    )
    .with_source(e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_for_reqwest_keeps_every_value_in_order_with_room_to_spare() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-multi", http::HeaderValue::from_static("one"));
        headers.append("x-other", http::HeaderValue::from_static("1"));
        headers.append("x-multi", http::HeaderValue::from_static("two"));
        let copy = headers_for_reqwest(&headers);
        assert_eq!(copy, headers);
        let multi: Vec<_> = copy.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["one", "two"]);
        assert!(copy.capacity() >= headers.len() + ADDED_BY_REQWEST);
    }

    #[test]
    fn a_map_too_large_for_room_is_copied_whole_not_a_panic() {
        // More values than any map can be made with room for (`with_capacity` panics there).
        let mut headers = http::HeaderMap::new();
        for i in 0..30_000u32 {
            headers.append("x-many", http::HeaderValue::from(i));
        }
        let copy = headers_for_reqwest(&headers);
        assert_eq!(copy.len(), 30_000);
        assert_eq!(copy, headers);
    }
}
