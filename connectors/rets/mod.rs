//! The RETS MLS feeds (login, search, metadata, GetObject, UA and Digest auth) connector.
//!
//! **Not implemented yet.** This module only reserves the feature and the folder so that hosts
//! and CI can already build with it; the connector itself lands with a later connector issue. It uses only the
//! core's public items and never imports another connector.
