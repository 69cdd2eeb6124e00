//! The connector toolkit: the parts every connector builds from, so that each new provider
//! starts from one shape instead of a copy of the last connector.
//!
//! - [`Call`]: the typed call builder every endpoint returns (per-call idempotency key, headers
//!   and timeout; awaited directly), which a connector extends with its own options.
//! - [`Pager`] and [`Pages`]: the one pagination helper (cursor, page number, next URL and
//!   offset styles), fetching a page only when the stream is polled past the last item.
//! - [`connector_of`] and [`settings_of`]: how every typed client's `from_connection` refuses
//!   a connection of another connector (checked by type, never by name) with one typed error.
//! - [`segment`]: percent-encoding of one path segment (an id a caller passed in).
//! - [`typed_config`]: a tenant's validated config, secrets included, as the connector's typed
//!   config; [`config_fields`] for the test that holds it to the template's schema.
//! - [`ProviderError`]: the trait a connector's error implements, with one required accessor
//!   and the predicates every caller asks.
//! - [`rate_limit_window`] and [`rate_limit_window_per`]: a provider's rate-limit headers read
//!   into a [`RateWindow`](crate::rate_limit::RateWindow), for
//!   [`Connector::rate_hint`](crate::Connector::rate_hint); malformed headers are ignored.
//!
//! `docs/connectors.md` is the checklist a new connector follows; it names where each part is
//! used. Everything here uses only the crate's public API, so a connector outside this crate
//! can use it the same way.

mod call;
mod config;
mod connection;
mod paginate;
mod path;
mod provider_error;
mod rate_limit;

pub use call::{Call, Decoder};
pub use config::{config_fields, typed_config};
pub use connection::{connector_of, settings_of};
pub use paginate::{Page, Pager, Pages};
pub use path::segment;
pub use provider_error::ProviderError;
pub use rate_limit::{rate_limit_window, rate_limit_window_per, ResetFormat};
