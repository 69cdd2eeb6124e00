//! [`ReplyCode`]: the `ReplyCode` of a RETS reply, with what each class of code asks a client
//! to do (keep paging, back off, log in again, give up).

use std::fmt;

/// The `ReplyCode` attribute of a `<RETS>` (or inner `<RETS-STATUS>`) element.
///
/// A newtype rather than an enum: servers send codes the standard does not list, and a code is
/// still meaningful by its range. The constants name the codes a client acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u32);

impl ReplyCode {
    /// 0: success.
    pub const SUCCESS: ReplyCode = ReplyCode(0);
    /// 20022: additional login not permitted (one session per user at this server).
    pub const ADDITIONAL_LOGIN_NOT_PERMITTED: ReplyCode = ReplyCode(20022);
    /// 20036: miscellaneous server login error.
    pub const LOGIN_ERROR: ReplyCode = ReplyCode(20036);
    /// 20037: client authentication failed.
    pub const AUTHENTICATION_FAILED: ReplyCode = ReplyCode(20037);
    /// 20050: server temporarily disabled.
    pub const SERVER_DISABLED: ReplyCode = ReplyCode(20050);
    /// 20201: no records found (an empty success for a search).
    pub const NO_RECORDS: ReplyCode = ReplyCode(20201);
    /// 20203: miscellaneous search error (servers also send it for an unsupported `Offset`).
    pub const MISC_SEARCH_ERROR: ReplyCode = ReplyCode(20203);
    /// 20206: invalid query syntax.
    pub const INVALID_QUERY_SYNTAX: ReplyCode = ReplyCode(20206);
    /// 20208: maximum records exceeded: the reply holds the first rows, ask for the rest.
    pub const MAX_RECORDS_EXCEEDED: ReplyCode = ReplyCode(20208);
    /// 20209: timeout (the query took too long at the server).
    pub const TIMEOUT: ReplyCode = ReplyCode(20209);
    /// 20210: too many outstanding queries.
    pub const TOO_MANY_QUERIES: ReplyCode = ReplyCode(20210);
    /// 20403: no object found (GetObject).
    pub const NO_OBJECT: ReplyCode = ReplyCode(20403);

    /// The number.
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// Whether the reply is a success (0), or the empty success of a search (20201) or of a
    /// GetObject (20403).
    pub fn is_success(self) -> bool {
        matches!(self.0, 0 | 20201 | 20403)
    }

    /// Whether the server asks the client to come back later (20050, 20209, 20210).
    pub fn is_back_off(self) -> bool {
        matches!(self.0, 20050 | 20209 | 20210)
    }

    /// Whether the code is an authentication failure (20036, 20037), which a new login may fix
    /// once.
    pub fn is_auth_failure(self) -> bool {
        matches!(self.0, 20036 | 20037)
    }

    /// Whether the query itself is wrong (20203 miscellaneous search error, 20206 invalid
    /// query syntax, and the other 2020x query codes): sending it again cannot succeed.
    pub fn is_query_error(self) -> bool {
        matches!(self.0, 20200 | 20202..=20207)
    }
}

/// The status a RETS reply carries: its code and the server's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyStatus {
    /// `ReplyCode`.
    pub code: ReplyCode,
    /// `ReplyText` (may be empty).
    pub text: String,
}

impl ReplyStatus {
    /// A status from its parts.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        ReplyStatus {
            code,
            text: text.into(),
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
