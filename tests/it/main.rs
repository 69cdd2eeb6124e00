//! Integration tests: real HTTP on loopback, paused time where time matters.

mod bodies;
mod breaker;
mod budget;
mod cache;
mod deadline;
mod default_headers;
mod idempotency;
mod lifecycle;
mod observability;
#[cfg(feature = "sqlite")]
mod outbound;
#[cfg(feature = "sqlite")]
mod outbound_bounded;
#[cfg(feature = "postgres")]
mod outbound_postgres;
#[cfg(feature = "sqlite")]
mod outbound_retention;
#[cfg(feature = "sqlite")]
mod outbound_sealed;
#[cfg(feature = "sqlite")]
mod outbound_ssrf;
mod redis_limiter;
mod retry_after;
mod retry_table;
mod secrets;
mod stores;
#[cfg(feature = "stripe")]
mod stripe;
mod support;
#[cfg(feature = "sqlite")]
mod template_secrets;
mod tokens;
#[cfg(feature = "twilio")]
mod twilio;
mod vault;
mod webhook_dedup;
mod webhook_router;
mod webhook_vectors;
