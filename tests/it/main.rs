//! Integration tests: real HTTP on loopback, paused time where time matters.

#[cfg(all(feature = "stripe", feature = "axum"))]
mod accept_status;
mod activation;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod backends;
mod bodies;
mod body_failures;
mod breaker;
mod budget;
mod cache;
mod cache_keys;
mod call_context;
#[cfg(feature = "axum")]
mod connections_ops;
mod deadline;
mod default_headers;
#[cfg(feature = "docusign")]
mod docusign;
#[cfg(feature = "ghl")]
mod ghl;
#[cfg(feature = "google-maps")]
mod google_maps;
mod health;
mod idempotency;
mod lifecycle;
#[cfg(feature = "stripe")]
mod lifecycle_truth;
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
#[cfg(all(feature = "stripe", feature = "twilio"))]
mod provider_errors;
mod rate_limit_hints;
mod redis_limiter;
mod retry_after;
mod retry_table;
#[cfg(feature = "rets")]
mod rets;
mod safe_defaults;
mod secrets;
mod stores;
#[cfg(feature = "stripe")]
mod stripe;
mod support;
mod sync;
#[cfg(feature = "sqlite")]
mod template_secrets;
mod tenant_state;
#[cfg(feature = "oauth")]
mod token_rotation;
#[cfg(all(feature = "oauth", feature = "jwt"))]
mod tokens;
mod transport;
#[cfg(feature = "twilio")]
mod twilio;
mod vault;
mod webhook_dedup;
mod webhook_router;
#[cfg(all(feature = "stripe", feature = "twilio"))]
mod webhook_shape;
#[cfg(feature = "axum")]
mod webhook_tenants;
mod webhook_vectors;
