//! The body an attempt sends: the call's bytes, or its parts chunk by chunk, replayed on every
//! attempt by reference-count bumps of the caller's `Bytes`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// A request body of known length, so it is never sent chunked.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// One buffer, or none once it is sent (and for a request without a body).
    Full(Option<Bytes>),
    /// A multipart body's parts, in order, and the bytes not sent yet.
    Parts {
        chunks: VecDeque<Bytes>,
        remaining: u64,
    },
}

impl RequestBody {
    /// `bytes` as one frame; nothing at all when empty.
    pub(crate) fn full(bytes: Bytes) -> Self {
        RequestBody::Full(Some(bytes).filter(|b| !b.is_empty()))
    }

    /// The parts as frames, in order.
    pub(crate) fn parts(parts: &[Bytes]) -> Self {
        RequestBody::Parts {
            remaining: parts.iter().map(|p| p.len() as u64).sum(),
            chunks: parts.iter().cloned().collect(),
        }
    }

    /// The bytes not sent yet: the whole length before the first frame, which hyper sends as
    /// `Content-Length`.
    pub(crate) fn len(&self) -> u64 {
        http_body::Body::size_hint(self).exact().unwrap_or(0)
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            RequestBody::Full(bytes) => bytes.take(),
            RequestBody::Parts { chunks, remaining } => chunks.pop_front().inspect(|chunk| {
                *remaining -= chunk.len() as u64;
            }),
        };
        Poll::Ready(next.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match self {
            RequestBody::Full(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            RequestBody::Parts { remaining, .. } => *remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn parts_arrive_in_order_and_the_length_counts_down() {
        let parts = [
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ];
        let mut body = RequestBody::parts(&parts);
        assert_eq!(body.len(), 5);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "ab");
        assert_eq!(body.len(), 3);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "cde");
    }

    #[tokio::test]
    async fn an_empty_body_ends_at_once() {
        let body = RequestBody::full(Bytes::new());
        assert!(http_body::Body::is_end_stream(&body));
        let body = RequestBody::full(Bytes::from_static(b"x"));
        assert!(!http_body::Body::is_end_stream(&body));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
    }
}
