//! Integration tests: real HTTP on loopback, paused time where time matters.

mod support;
