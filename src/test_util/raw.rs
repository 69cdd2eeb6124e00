//! A TCP server scripted per request: it parses each HTTP/1.1 request (with `httparse`) and
//! asks a handler what to do, including things a real server framework will not do.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One parsed request.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request it has read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RawAction {
    /// Answers with a status, extra headers and a body.
    Respond {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Resets the connection (TCP RST) after reading the request: the request was received.
    Reset,
    /// Never answers (until the client gives up).
    Hang,
}

impl RawAction {
    /// A response with a status and a body.
    pub fn status(status: u16, body: &str) -> Self {
        RawAction::Respond {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header to a `Respond`.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let RawAction::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }
}

type Handler = Arc<dyn Fn(&RawRequest) -> RawAction + Send + Sync>;

/// A scripted server on `127.0.0.1`, stopped when dropped.
pub struct RawServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RawServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RawServer {
    /// Serves requests, asking `handler` what to do with each.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(handler: impl Fn(&RawRequest) -> RawAction + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(handler), false).await
    }

    /// Resets every connection as soon as it is accepted, before reading anything.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn reset_on_accept() -> Self {
        Self::start_inner(Arc::new(|_: &RawRequest| RawAction::Reset), true).await
    }

    async fn start_inner(handler: Handler, reset_on_accept: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (acc, reqs) = (accepted.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                if reset_on_accept {
                    reset(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (h, r) = (handler.clone(), reqs.clone());
                tokio::spawn(serve_connection(stream, h, r));
            }
        });
        RawServer {
            addr,
            accepted,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reset(stream: TcpStream) {
    // Linger 0 makes close() send RST instead of FIN.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn serve_connection(mut stream: TcpStream, handler: Handler, requests: Arc<AtomicUsize>) {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        let Some(req) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        requests.fetch_add(1, Ordering::SeqCst);
        match handler(&req) {
            RawAction::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                // One write, so the client never waits on a delayed ACK between head and body.
                let mut out = head.into_bytes();
                out.extend_from_slice(&body);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            RawAction::Reset => {
                reset(stream);
                return;
            }
            RawAction::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<RawRequest> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = parsed.parse(buf) {
            let method = parsed.method.unwrap_or_default().to_string();
            let path = parsed.path.unwrap_or_default().to_string();
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < head_len + len {
                if stream.read_buf(buf).await.ok()? == 0 {
                    return None;
                }
            }
            buf.advance(head_len);
            let body = buf.split_to(len).to_vec();
            return Some(RawRequest {
                method,
                path,
                headers,
                body,
            });
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}
