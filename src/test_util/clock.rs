//! Paused time with real loopback I/O.
//!
//! A paused tokio clock auto-advances to the next timer whenever the runtime has nothing to
//! run, and waiting for loopback I/O counts as nothing to run: the clock then jumps to the
//! attempt's timeout before the server's answer is read, and the attempt "times out".
//! [`freeze_clock_during_attempts`] adds an attempt layer that counts attempts in flight and a
//! task that keeps the runtime busy (yielding, which still polls the I/O driver) while any is,
//! so I/O takes no virtual time and the clock moves only while the pipeline sleeps (backoff,
//! `Retry-After`, breaker cool-downs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tower::ServiceExt;

use crate::pipeline::HttpService;
use crate::SwitchboardBuilder;

/// Returns `builder` with an attempt layer that stops a paused clock from advancing while an
/// attempt is on the wire. Call it inside the (paused) runtime: it spawns a helper task.
pub fn freeze_clock_during_attempts(builder: SwitchboardBuilder) -> SwitchboardBuilder {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(Notify::new());
    let (n, wake) = (in_flight.clone(), notify.clone());
    tokio::spawn(async move {
        loop {
            if n.load(Ordering::SeqCst) > 0 {
                // A short real pause between turns keeps this from burning a whole core while
                // the attempt waits on the socket; the runtime polls I/O on each turn.
                std::thread::sleep(Duration::from_micros(100));
                tokio::task::yield_now().await;
            } else {
                wake.notified().await;
            }
        }
    });
    builder.attempt_layer(move |inner: HttpService| {
        let (in_flight, notify) = (in_flight.clone(), notify.clone());
        HttpService::new(tower::service_fn(move |req| {
            let guard = InFlight::enter(&in_flight, &notify);
            let inner = inner.clone();
            async move {
                let r = inner.oneshot(req).await;
                drop(guard);
                r
            }
        }))
    })
}

struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(n: &Arc<AtomicUsize>, notify: &Notify) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        notify.notify_one();
        InFlight(n.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
