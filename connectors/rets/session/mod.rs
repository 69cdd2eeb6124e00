//! A RETS login session: the credentials' headers (HTTP Digest or Basic,
//! `RETS-UA-Authorization`), the session's cookies and capability URLs, one session per
//! credential shared by concurrent callers.
//!
//! [`SessionState`] is shared by the connection's authenticator (which adds the headers to
//! every request the pipeline sends) and the typed client (which logs in, re-logs in once on
//! a 401 and logs out). The integration keeps one per credential, so every connection bound
//! with the same login shares one server session (servers refuse a second login with 20022).

mod authenticator;
mod digest;
mod state;
mod transaction;
mod ua_auth;

pub(crate) use authenticator::RetsAuthenticator;
pub(crate) use state::{Credentials, SessionKey, SessionState};
pub(crate) use transaction::Transaction;
pub use transaction::{Capability, LiveSession};
pub use ua_auth::{ua_authorization, ua_product};
