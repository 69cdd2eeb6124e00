//! [`Response`]: a successful answer, buffered or streamed, with typed JSON decoding.

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error};
use crate::pipeline::body::ByteStream;
use crate::pipeline::{Body, CacheStatus, PipelineResponse};

/// A successful (2xx or 3xx) response, or one with the status the call accepted
/// ([`RequestBuilder::accept_status`](crate::RequestBuilder::accept_status)).
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    cache: CacheStatus,
    body_cap: usize,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("cache", &self.cache)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub(crate) fn new(resp: PipelineResponse, cache: CacheStatus, body_cap: usize) -> Self {
        let (parts, body) = resp.into_parts();
        Response {
            status: parts.status,
            headers: parts.headers,
            body,
            cache,
            body_cap,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Whether the cache answered without an upstream call.
    pub fn is_cache_hit(&self) -> bool {
        self.cache == CacheStatus::Hit
    }

    /// The whole body.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BodyTooLarge`] past the cap, or a transport failure while streaming.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.body.collect(self.body_cap).await
    }

    /// The body as a stream of chunks (a buffered body becomes one chunk).
    pub fn into_stream(self) -> ByteStream {
        match self.body {
            Body::Stream(s) => s,
            Body::Full(b) => Box::pin(futures_util::stream::once(async move { Ok(b) })),
        }
    }

    /// Decodes the body as JSON into `T`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Decode`] with a [`DecodeError`] whose `pointer` names where the body
    /// went wrong (not JSON, truncated, or the wrong shape). Values are never echoed.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        decode_json(&bytes).map_err(Error::from)
    }
}

/// Decodes JSON, reporting failures with a JSON pointer and without echoing any value.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(shape_error)?;
    de.end().map_err(trailing_error)?;
    Ok(value)
}

// The error mapping is kept out of `decode_json` (plain functions, not closures) so it is
// compiled once rather than once per decoded type.
fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> DecodeError {
    let pointer = to_pointer(e.path());
    let inner = e.into_inner();
    DecodeError::new(pointer, describe(&inner))
}

fn trailing_error(e: serde_json::Error) -> DecodeError {
    DecodeError::new("", describe(&e))
}

fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        let part = match seg {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.replace('~', "~0").replace('/', "~1"),
            Segment::Enum { variant } => variant.to_string(),
            // The parser stopped before it could name the value: point at its parent.
            Segment::Unknown => break,
        };
        out.push('/');
        out.push_str(&part);
    }
    out
}

/// A serde_json error without any quoted value it may echo (a provider's string could be a
/// token).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => format!("truncated JSON at {at}"),
        Category::Syntax => format!("not valid JSON at {at}"),
        Category::Io => "could not read the body".to_string(),
        Category::Data => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg);
            format!("{} at {at}", strip_quoted(msg))
        }
    }
}

fn strip_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        id: String,
        balance: i64,
        tags: Vec<u32>,
    }

    #[test]
    fn wrong_type_names_the_pointer_without_the_value() {
        let e = decode_json::<Customer>(br#"{"id":"cus_1","balance":"sk_live_CANARY","tags":[]}"#)
            .unwrap_err();
        assert_eq!(e.pointer, "/balance");
        assert!(!e.reason.contains("CANARY"), "{}", e.reason);
        let e = decode_json::<Customer>(br#"{"id":"c","balance":1,"tags":[1,"x"]}"#).unwrap_err();
        assert_eq!(e.pointer, "/tags/1");
    }

    #[test]
    fn truncated_and_non_json_bodies_are_typed() {
        let e = decode_json::<Customer>(br#"{"id":"c","bal"#).unwrap_err();
        assert!(e.reason.starts_with("truncated JSON"), "{}", e.reason);
        let e = decode_json::<Customer>(b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(e.reason.starts_with("not valid JSON"), "{}", e.reason);
        let e =
            decode_json::<Customer>(br#"{"id":"c","balance":1,"tags":[]} trailing"#).unwrap_err();
        assert_eq!(e.pointer, "");
    }

    #[test]
    fn missing_field_is_reported() {
        let e = decode_json::<Customer>(br#"{"id":"c","tags":[]}"#).unwrap_err();
        assert!(e.reason.contains("missing field `balance`"), "{}", e.reason);
    }
}
