//! Integration tests: real HTTP on loopback, paused time where time matters.

mod bodies;
mod breaker;
mod budget;
mod cache;
mod deadline;
mod idempotency;
mod observability;
mod retry_after;
mod retry_table;
mod secrets;
mod support;
