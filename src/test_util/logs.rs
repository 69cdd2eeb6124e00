//! [`LogCapture`]: every event and span (with all fields) at every level, as text, so a test can
//! prove that a canary secret never reached a log line.
//!
//! Why a global subscriber: tracing caches per-callsite interest across threads, so per-thread
//! subscribers (`set_default`) in parallel tests miss events whenever another test thread
//! without a subscriber hit a callsite first. One process-wide subscriber, installed on first
//! use, enables everything (so no callsite is ever cached as disabled) and writes to the buffer
//! of the thread that is capturing; other threads' output is dropped. Tests run on current-thread runtimes (as `#[tokio::test]` does), so all of a
//! test's work happens on its own thread. If the host already installed a global subscriber,
//! capture falls back to a per-thread one.

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static CURRENT: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

/// Captured log output of the current thread while its guard lives.
#[derive(Clone, Default)]
pub struct LogCapture {
    buf: Buffer,
}

impl std::fmt::Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCapture").finish_non_exhaustive()
    }
}

/// The writer the capture subscriber hands to its formatter: the current thread's buffer.
#[derive(Debug)]
pub struct CaptureWriter(Option<Buffer>);

impl io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(b) = &self.0 {
            b.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ThreadWriter;

impl<'a> MakeWriter<'a> for ThreadWriter {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(CURRENT.with(|c| c.borrow().clone()))
    }
}

fn layer<S>() -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(ThreadWriter)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .with_ansi(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
}

/// Stops capturing on this thread when dropped.
#[must_use = "capturing stops when the guard is dropped"]
pub struct CaptureGuard {
    _fallback: Option<tracing::subscriber::DefaultGuard>,
}

impl std::fmt::Debug for CaptureGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureGuard").finish_non_exhaustive()
    }
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

impl LogCapture {
    /// Starts capturing this thread's logs until the guard is dropped.
    pub fn start() -> (Self, CaptureGuard) {
        static GLOBAL: OnceLock<bool> = OnceLock::new();
        let global = *GLOBAL.get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(layer());
            tracing::subscriber::set_global_default(subscriber).is_ok()
        });
        let capture = LogCapture::default();
        CURRENT.with(|c| *c.borrow_mut() = Some(capture.buf.clone()));
        let fallback = (!global).then(|| {
            tracing::subscriber::set_default(tracing_subscriber::registry().with(layer()))
        });
        tracing::callsite::rebuild_interest_cache();
        (
            capture,
            CaptureGuard {
                _fallback: fallback,
            },
        )
    }

    /// Everything captured so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Panics, showing the offending line, if `canary` appears in the captured output.
    ///
    /// # Panics
    /// When the canary is found.
    pub fn assert_absent(&self, canary: &str) {
        let text = self.contents();
        if let Some(line) = text.lines().find(|l| l.contains(canary)) {
            panic!("secret canary found in logs: {line}");
        }
    }
}
