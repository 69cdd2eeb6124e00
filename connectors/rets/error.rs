//! [`RetsError`]: the error of every typed RETS call. It keeps the core [`Error`] and adds the
//! RETS reply status when the server answered with a non-zero `ReplyCode`.

use std::fmt;
use std::time::Duration;

use super::{ReplyCode, ReplyStatus};
use crate::{Error, ErrorKind, ProviderError};

/// How long a caller is asked to wait after a "come back later" reply (20050, 20209, 20210),
/// which carries no retry time of its own.
pub const BACK_OFF: Duration = Duration::from_secs(60);

/// The error of a typed RETS call.
///
/// [`RetsError::reply`] holds the server's `ReplyCode` and `ReplyText` when the failure was a
/// RETS reply; the kind follows the code's class: authentication codes (20036, 20037) and
/// 20022 are [`ErrorKind::Auth`], the "come back later" codes (20050, 20209, 20210)
/// [`ErrorKind::RateLimited`] with a retry-after of [`BACK_OFF`], everything else
/// [`ErrorKind::Status`]. Transport, HTTP status and parse failures keep the core error.
#[derive(Clone)]
pub struct RetsError {
    core: Error,
    reply: Option<ReplyStatus>,
}

impl RetsError {
    /// Wraps a core error.
    pub fn from_core(core: Error) -> Self {
        RetsError { core, reply: None }
    }

    /// The error for a reply whose status is a failure, in `transaction` (`"Search"`).
    pub fn from_reply(transaction: &str, status: ReplyStatus) -> Self {
        let text: String = status.text.chars().take(200).collect();
        let message = format!("RETS {transaction} reply {}: {text}", status.code);
        let code = status.code;
        let core = if code.is_auth_failure() || code == ReplyCode::ADDITIONAL_LOGIN_NOT_PERMITTED {
            Error::auth(message)
        } else if code.is_back_off() {
            Error::rate_limited(message, Some(BACK_OFF))
        } else {
            Error::new(ErrorKind::Status, message)
        };
        RetsError {
            core,
            reply: Some(status),
        }
    }

    /// The reply status, when the server answered with a failing `ReplyCode`.
    pub fn reply(&self) -> Option<&ReplyStatus> {
        self.reply.as_ref()
    }

    /// The `ReplyCode`, when the server answered with a failing one.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        self.reply.as_ref().map(|r| r.code)
    }
}

impl ProviderError for RetsError {
    fn core(&self) -> &Error {
        &self.core
    }
}

impl From<Error> for RetsError {
    fn from(e: Error) -> Self {
        RetsError::from_core(e)
    }
}

impl From<super::RetsParseError> for RetsError {
    fn from(e: super::RetsParseError) -> Self {
        RetsError::from_core(e.into())
    }
}

impl From<RetsError> for Error {
    fn from(e: RetsError) -> Self {
        e.core
    }
}

impl fmt::Debug for RetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetsError")
            .field("core", &self.core)
            .field("reply", &self.reply)
            .finish()
    }
}

impl fmt::Display for RetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)
    }
}

impl std::error::Error for RetsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_classes_become_kinds() {
        let e = |code| RetsError::from_reply("Search", ReplyStatus::new(ReplyCode(code), "x"));
        assert_eq!(e(20037).kind(), ErrorKind::Auth);
        assert_eq!(e(20022).kind(), ErrorKind::Auth);
        assert_eq!(e(20209).kind(), ErrorKind::RateLimited);
        assert_eq!(e(20209).retry_after(), Some(BACK_OFF));
        assert_eq!(e(20206).kind(), ErrorKind::Status);
        assert_eq!(e(20206).reply_code(), Some(ReplyCode(20206)));
        assert!(e(20203).to_string().contains("20203"));
    }
}
