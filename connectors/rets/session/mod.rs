//! A RETS login session: the credentials' headers (HTTP Digest or Basic,
//! `RETS-UA-Authorization`), the session's cookies and capability URLs, one session per
//! credential shared by concurrent callers.

// The session's client (written next) is its caller; until then only its tests are.
#[allow(dead_code)]
mod digest;
mod ua_auth;

pub use ua_auth::{ua_authorization, ua_product};
