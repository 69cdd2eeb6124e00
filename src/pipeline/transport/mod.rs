//! Stage 7, transport: sends one attempt on hyper's client (rustls; reqwest through a proxy,
//! see [`wire`]) and reads the response under the body cap, or hands a successful streamed
//! response on as chunks.

mod request_body;
mod wire;

use std::future::Future;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{HeaderValue, ACCEPT, USER_AGENT};
use http_body::Body as _;
use http_body_util::BodyExt;
use tower::Service;

use super::body::too_large;
use super::{context_of, Body, BoxFuture, CallContext, PipelineRequest, PipelineResponse};
use crate::error::{Error, ErrorKind};
use request_body::RequestBody;
use wire::WireBody;
pub(crate) use wire::{Wire, WireSettings};

/// The innermost service: one HTTP exchange.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) client: Wire,
    /// The same client with the SSRF guard as its resolver, for connections whose base URL
    /// came from tenant config: every address a name resolves to is checked before connecting.
    pub(crate) guarded: Wire,
    /// Sent with every request that does not set its own.
    pub(crate) user_agent: HeaderValue,
    pub(crate) body_cap: usize,
}

impl Transport {
    /// Sends `req` once. The request is read, not consumed: the retry stage replays the same
    /// one, and nothing is copied for that but what the client must own (the headers).
    ///
    /// The client's request is made before the future (hyper keeps it in its own boxed
    /// future), so the future here holds only the answer being read: it is copied with every
    /// layer above it.
    pub(crate) fn send<'a>(
        &'a self,
        ctx: &'a CallContext,
        req: &'a PipelineRequest,
    ) -> impl Future<Output = Result<PipelineResponse, Error>> + 'a {
        let pending = self.start(ctx, req);
        let (cap, stream) = (self.body_cap, ctx.stream);
        async move {
            let (parts, mut body) = pending?.await?.into_parts();
            if let Some(len) = body.size_hint().exact() {
                if len > cap as u64 {
                    return Err(too_large(cap));
                }
            }
            let body = if stream && parts.status.is_success() {
                Body::Stream(capped_stream(body, cap))
            } else {
                Body::Full(read_capped(&mut body, cap).await?)
            };
            // Not `from_parts`: the client's extensions stay behind.
            let mut out = http::Response::new(body);
            *out.status_mut() = parts.status;
            *out.version_mut() = parts.version;
            *out.headers_mut() = parts.headers;
            Ok(out)
        }
    }

    /// The client's request for `req`, handed to the client (which sends nothing until polled).
    fn start(
        &self,
        ctx: &CallContext,
        req: &PipelineRequest,
    ) -> Result<impl Future<Output = Result<wire::WireResponse, Error>>, Error> {
        let wire = if ctx.conn.guarded {
            &self.guarded
        } else {
            &self.client
        };
        let uri = req.uri();
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(Error::new(
                ErrorKind::Config,
                "request cannot be sent: its URI is not an http or https URL",
            ));
        }
        let body = match &ctx.body_parts {
            Some(parts) => RequestBody::parts(parts),
            None => RequestBody::full(req.body().clone()),
        };
        // The body's length is exact, so hyper sends it as `Content-Length`, never chunked.
        let headers = headers_for_wire(req.headers(), &self.user_agent);
        let mut request = http::Request::new(body);
        *request.method_mut() = req.method().clone();
        *request.uri_mut() = uri.clone();
        *request.version_mut() = req.version();
        *request.headers_mut() = headers;
        Ok(wire.send(request))
    }
}

/// Headers a request may gain after it is copied for the client: the defaults
/// (`User-Agent`, `Accept`), hyper's `Host` and a body's `Content-Length`.
const ADDED_ON_THE_WIRE: usize = 4;

/// The `Accept` sent when a request sets none (as reqwest did).
const ACCEPT_ANY: HeaderValue = HeaderValue::from_static("*/*");

/// A copy of `headers` for the client to own, with the defaults a request does not set
/// itself, and room for what hyper adds.
///
/// Not `HeaderMap::clone`: a clone's entries are exactly as long as the map, so the first
/// header added regrows them (a reallocation and a copy of every entry, on every attempt).
/// A map too large to be given that room (tens of thousands of values) is cloned instead.
fn headers_for_wire(headers: &http::HeaderMap, user_agent: &HeaderValue) -> http::HeaderMap {
    let room = headers.len().saturating_add(ADDED_ON_THE_WIRE);
    let mut copy = match http::HeaderMap::try_with_capacity(room) {
        Ok(mut copy) => {
            for (name, value) in headers {
                copy.append(name.clone(), value.clone());
            }
            copy
        }
        Err(_) => headers.clone(),
    };
    // `try_insert`: a map already at `HeaderMap`'s limit goes without the defaults, not a panic.
    if !copy.contains_key(USER_AGENT) {
        let _ = copy.try_insert(USER_AGENT, user_agent.clone());
    }
    if !copy.contains_key(ACCEPT) {
        let _ = copy.try_insert(ACCEPT, ACCEPT_ANY);
    }
    copy
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

/// The body's data frames, one after another (trailers are skipped).
async fn next_chunk(body: &mut WireBody) -> Result<Option<Bytes>, Error> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(body_error)?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

async fn read_capped(body: &mut WireBody, cap: usize) -> Result<Bytes, Error> {
    let expected = body.size_hint().exact().unwrap_or(0).min(cap as u64) as usize;
    let Some(first) = next_chunk(body).await? else {
        return Ok(Bytes::new());
    };
    if first.len() > cap {
        return Err(too_large(cap));
    }
    // Most API responses arrive in one chunk: hand it on without copying.
    let Some(second) = next_chunk(body).await? else {
        return Ok(first);
    };
    let mut buf = BytesMut::with_capacity(expected.max(first.len() + second.len()));
    buf.extend_from_slice(&first);
    if buf.len() + second.len() > cap {
        return Err(too_large(cap));
    }
    buf.extend_from_slice(&second);
    while let Some(chunk) = next_chunk(body).await? {
        if buf.len() + chunk.len() > cap {
            return Err(too_large(cap));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn capped_stream(body: WireBody, cap: usize) -> super::body::ByteStream {
    let mut seen = 0usize;
    Box::pin(http_body_util::BodyDataStream::new(body).map(move |chunk| {
        let chunk = chunk.map_err(body_error)?;
        seen += chunk.len();
        if seen > cap {
            return Err(too_large(cap));
        }
        Ok(chunk)
    }))
}

/// A failure while the body was read. Neither client's body error carries the URL.
fn body_error(e: crate::error::BoxError) -> Error {
    Error::transport(
        "the connection failed while reading the response body",
        true,
    )
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: HeaderValue = HeaderValue::from_static("switchboard-test");

    #[test]
    fn the_copy_keeps_every_value_in_order_adds_the_defaults_and_has_room_to_spare() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-other", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("two"));
        let copy = headers_for_wire(&headers, &UA);
        let multi: Vec<_> = copy.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["one", "two"]);
        assert_eq!(copy["x-other"], "1");
        assert_eq!(copy[USER_AGENT], UA);
        assert_eq!(copy[ACCEPT], "*/*");
        assert_eq!(copy.len(), headers.len() + 2);
        // Room left for hyper's `Host` and a `Content-Length` without a regrowth.
        assert!(copy.capacity() >= headers.len() + ADDED_ON_THE_WIRE);
    }

    #[test]
    fn a_request_s_own_user_agent_and_accept_are_kept() {
        let mut headers = http::HeaderMap::new();
        headers.insert(USER_AGENT, HeaderValue::from_static("host-agent"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let copy = headers_for_wire(&headers, &UA);
        assert_eq!(copy, headers);
    }

    #[test]
    fn a_map_too_large_for_room_is_copied_whole_not_a_panic() {
        // More values than any map can be made with room for (`with_capacity` panics there).
        let mut headers = http::HeaderMap::new();
        for i in 0..30_000u32 {
            headers.append("x-many", HeaderValue::from(i));
        }
        let copy = headers_for_wire(&headers, &UA);
        assert_eq!(copy.get_all("x-many").iter().count(), 30_000);
        assert_eq!(copy.len(), 30_002);
    }
}
