//! Google Maps connector tests, one file per concern.

mod fixtures;
