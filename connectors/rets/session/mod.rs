//! A RETS login session: the credentials' headers (HTTP Digest or Basic,
//! `RETS-UA-Authorization`), the session's cookies and capability URLs, one session per
//! credential shared by concurrent callers.
