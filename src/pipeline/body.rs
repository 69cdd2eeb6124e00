//! Response bodies: buffered `Bytes`, or a stream for large downloads, both under a size cap.

use std::fmt;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::Error;

/// A stream of body chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send + 'static>>;

/// A response body.
pub enum Body {
    /// The whole body, in memory.
    Full(Bytes),
    /// Chunks as they arrive (asked for with `RequestBuilder::stream`).
    Stream(ByteStream),
}

impl Body {
    /// Collects the body, failing with [`ErrorKind::BodyTooLarge`](crate::ErrorKind::BodyTooLarge) past `cap` bytes.
    ///
    /// # Errors
    /// The cap, or a transport failure while reading.
    pub async fn collect(self, cap: usize) -> Result<Bytes, Error> {
        match self {
            Body::Full(b) => Ok(b),
            Body::Stream(mut s) => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = s.next().await {
                    let chunk = chunk?;
                    if buf.len() + chunk.len() > cap {
                        return Err(too_large(cap));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(buf.freeze())
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

pub(crate) fn too_large(cap: usize) -> Error {
    Error::body_too_large(cap)
}
