//! The handles a host uses, one file per type as reqwest splits client, request and response:
//!
//! - [`Switchboard`] (`switchboard.rs`): built once, cheap to clone; owns the pipeline, the
//!   cache, the breakers and the retry budgets every connection shares.
//! - [`Connection`] (`connection.rs`): one tenant's configured integration, made by
//!   [`ConnectionBuilder`]; with its settings slot and the [`CallObserver`] hook.
//! - [`RequestBuilder`] (`request.rs`): one call. `RequestBuilder::send` is where a call
//!   starts: it builds the [`CallContext`](crate::pipeline::CallContext), opens the call span,
//!   enforces the overall deadline, and runs the request through the pipeline (see
//!   [`crate::pipeline`] for the order).

mod connection;
mod request;
mod switchboard;

pub use connection::{CallObserver, Connection, ConnectionBuilder, ConnectionSettings};
pub use request::RequestBuilder;
pub use switchboard::{Switchboard, SwitchboardBuilder};
