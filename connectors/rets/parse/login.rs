//! Login and Logout replies: the status and the capability list, "key = value" lines in
//! `<RETS-RESPONSE>` (RETS 1.5 and later) or directly in `<RETS>` (RETS 1.0).

use quick_xml::events::Event;

use super::envelope::{is_named, override_status, push_ref, DecodedBody, Root, XmlCursor};
use super::RetsParseError;
use crate::rets::reply::ReplyStatus;

/// The "key = value" lines a server sends in a Login (or Logout) reply: capability URLs
/// (`Search`, `GetMetadata`, `GetObject`, `Logout`, ...) and session facts (`MemberName`,
/// `MetadataVersion`, `TimeoutSeconds`, RETS 1.8 `Info` lines).
///
/// Keys are trimmed and looked up without regard to case; values are trimmed and may
/// contain `=`. A key may repeat (RETS 1.8 sends one `Info` line per fact): [`get`](Self::get)
/// answers the first, [`get_all`](Self::get_all) every one.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    entries: Vec<(String, String)>,
}

impl Capabilities {
    /// The value of the first line with this key (matched without regard to case).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every line with this key, in reply order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every (key, value) line, in reply order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the reply listed no line.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The capability URL under `key`: an absolute `http`/`https` URL as given, or a
    /// relative one (`/rets/search`, as many servers send) resolved against the Login URL,
    /// which keeps its scheme, host and port. `Ok(None)` when the key is absent or empty.
    ///
    /// # Errors
    ///
    /// A value that is not a URL, or an absolute URL of another scheme, is an error at place
    /// `"Capability@<key>"`.
    pub fn url(&self, key: &str, login_url: &url::Url) -> Result<Option<url::Url>, RetsParseError> {
        let Some(value) = self.get(key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let place = || format!("Capability@{key}");
        let url = match url::Url::parse(value) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => login_url
                .join(value)
                .map_err(|e| RetsParseError::new(place(), format!("not a URL: {e}")))?,
            Err(e) => return Err(RetsParseError::new(place(), format!("not a URL: {e}"))),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RetsParseError::new(
                place(),
                format!("not an http or https URL (scheme {:?})", url.scheme()),
            ));
        }
        Ok(Some(url))
    }

    /// The lines of `text` that hold a `=` and a non-empty key; others (blank lines, RETS 1.0
    /// prose such as "Connection Closed") are skipped.
    fn from_text(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                let key = key.trim();
                (!key.is_empty()).then(|| (key.to_owned(), value.trim().to_owned()))
            })
            .collect();
        Capabilities { entries }
    }
}

/// A Login reply.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginReply {
    /// The reply's status; a failed login (20036, 20037, ...) is a reply, not an error.
    pub status: ReplyStatus,
    /// The capability list (empty for a failed login).
    pub capabilities: Capabilities,
}

/// A Logout reply.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LogoutReply {
    /// The reply's status.
    pub status: ReplyStatus,
    /// `ConnectTime`: the session's length as the server counts it (seconds), when given.
    pub connect_time: Option<String>,
    /// `Billing`: what the server says the session cost, when given.
    pub billing: Option<String>,
    /// `SignOffMessage`, when given.
    pub sign_off_message: Option<String>,
    /// Every "key = value" line of the reply (the three above included).
    pub capabilities: Capabilities,
}

/// Reads a Login reply: its status and capability list.
///
/// A reply whose `<RETS-RESPONSE>` is complete but whose `</RETS>` is missing is accepted
/// (libRETS' RETS 1.8 sample ends so, and nothing can follow the list); a reply cut off
/// before the end of the list is an error.
///
/// # Errors
///
/// As [`parse_reply`](super::parse_reply): a body that is not a RETS reply, invalid or
/// cut-off XML, a bad `ReplyCode`.
pub fn parse_login(body: &[u8]) -> Result<LoginReply, RetsParseError> {
    let (status, capabilities) = read_capability_reply(body)?;
    Ok(LoginReply {
        status,
        capabilities,
    })
}

/// Reads a Logout reply: its status and the optional `ConnectTime`, `Billing` and
/// `SignOffMessage` lines.
///
/// A body that is not a RETS reply (some servers answer Logout with an HTML page) is an
/// error, as for every other reply. PHRETS never reads the Logout body unless its
/// Content-Type is `text/xml`, and reports the logout done; a caller that wants the same
/// treats that error, for a non-XML Content-Type and HTTP 200, as a completed logout: the
/// server has ended the session either way.
///
/// # Errors
///
/// As [`parse_login`].
pub fn parse_logout(body: &[u8]) -> Result<LogoutReply, RetsParseError> {
    let (status, capabilities) = read_capability_reply(body)?;
    let field = |key: &str| capabilities.get(key).map(str::to_owned);
    Ok(LogoutReply {
        status,
        connect_time: field("ConnectTime"),
        billing: field("Billing"),
        sign_off_message: field("SignOffMessage"),
        capabilities,
    })
}

/// The status and the "key = value" lines of a Login or Logout reply.
fn read_capability_reply(body: &[u8]) -> Result<(ReplyStatus, Capabilities), RetsParseError> {
    let decoded = DecodedBody::new(body);
    let mut cur = XmlCursor::new(&decoded);
    let (root, empty) = match cur.root()? {
        Root::Rets(root, empty) => (root, empty),
        Root::Element(_, _, err) | Root::Nothing(err) => return Err(err),
    };
    let mut status = cur.status(&root, "RETS")?;
    if empty {
        return Ok((status, Capabilities::default()));
    }
    // RETS 1.5+ puts the list in <RETS-RESPONSE>; RETS 1.0 right in <RETS>.
    let mut response: Option<String> = None;
    let mut bare = String::new();
    loop {
        match cur.next()? {
            Event::Start(e) if is_named(&e, "RETS-RESPONSE") => {
                let text = cur.text(&e, |_, _| Ok(()))?;
                response.get_or_insert_with(String::new).push_str(&text);
            }
            Event::Empty(e) if is_named(&e, "RETS-RESPONSE") => {
                response.get_or_insert_with(String::new);
            }
            Event::Start(e) if is_named(&e, "RETS-STATUS") => {
                status = override_status(status, cur.status(&e, "RETS-STATUS")?);
                cur.skip(&e)?;
            }
            Event::Empty(e) if is_named(&e, "RETS-STATUS") => {
                status = override_status(status, cur.status(&e, "RETS-STATUS")?);
            }
            Event::Start(e) => cur.skip(&e)?,
            Event::Text(t) => bare.push_str(&t.xml10_content()),
            Event::CData(t) => bare.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => push_ref(&mut bare, &r),
            Event::End(_) => break,
            // The list is whole once </RETS-RESPONSE> was read; only </RETS> is missing.
            Event::Eof if response.is_some() => break,
            Event::Eof => return Err(cur.truncated("RETS")),
            Event::Empty(_)
            | Event::Comment(_)
            | Event::PI(_)
            | Event::Decl(_)
            | Event::DocType(_) => {}
        }
    }
    let text = response.as_deref().unwrap_or(&bare);
    Ok((status, Capabilities::from_text(text)))
}

#[cfg(test)]
mod tests {
    use super::super::envelope::fixtures::{rets, rets_dir, split_http};
    use super::*;
    use crate::rets::reply::ReplyCode;

    const LIBRETS: &str = "librets/project/librets/test/src/resources/";
    const NETWORK: &str = "librets/project/librets/test-network/src/resources/";
    const PHRETS: &str = "phrets/tests/Integration/Fixtures/Http/";

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn reads_a_rets_1_0_list_from_the_rets_body() {
        let reply = parse_login(&rets(&format!("{LIBRETS}login-valid10.xml"))).unwrap();
        assert_eq!(
            reply.status,
            ReplyStatus::new(ReplyCode(0), "V2.0.4 : Success")
        );
        let caps = &reply.capabilities;
        assert_eq!(caps.get("MemberName"), Some("Elizabeth A Davis"));
        assert_eq!(
            caps.get("User"),
            Some("272, AGENT:BROKER OFFICE:OFFICE, 50, 272")
        );
        assert_eq!(caps.get("TimeoutSeconds"), Some("1800"));
        assert_eq!(caps.iter().count(), 13);
        let login = url("http://cornerstone.mris.com:6103/platinum/login");
        assert_eq!(
            caps.url("Search", &login).unwrap().unwrap().as_str(),
            "http://cornerstone.mris.com:6103/platinum/search"
        );
    }

    #[test]
    fn reads_a_rets_1_5_list_with_padded_keys_and_relative_urls() {
        let reply = parse_login(&rets(&format!("{LIBRETS}login-valid15.xml"))).unwrap();
        assert_eq!(reply.status.text, "Operation Successful");
        let caps = &reply.capabilities;
        assert_eq!(caps.get("Broker"), Some(""));
        assert_eq!(caps.get("memberNAME"), Some("Joe Schmoe"));
        assert_eq!(caps.get("Balance"), Some("3,197.35"));
        assert_eq!(caps.get("Expr"), Some("01 Jan 2000 01:03:00 GMT, 5"));
        assert_eq!(caps.get("X-Field"), Some("Value"));
        let login = url("http://example.com:6103/rets/login");
        assert_eq!(
            caps.url("search", &login).unwrap().unwrap().as_str(),
            "http://example.com:6103/rets/search"
        );
        assert_eq!(caps.url("Broker", &login).unwrap(), None);
        assert_eq!(caps.url("NoSuchThing", &login).unwrap(), None);
    }

    #[test]
    fn reads_a_rets_1_8_list_whose_closing_tag_is_missing() {
        let reply = parse_login(&rets(&format!("{LIBRETS}login-valid18.xml"))).unwrap();
        assert_eq!(reply.status.code, ReplyCode(0));
        let caps = &reply.capabilities;
        assert_eq!(caps.get_all("Info").count(), 24);
        assert_eq!(caps.get("info"), Some("MEMBERNAME;Character;Joe Schmoe"));
        assert_eq!(
            caps.get("GetPayloadList"),
            Some("http://example.com:6103/rets/getPayloadList")
        );
        // Cut inside the list: an error, not a shorter list.
        let body = rets(&format!("{LIBRETS}login-valid18.xml"));
        let cut = body.windows(6).position(|w| w == b"Action").unwrap();
        let err = parse_login(&body[..cut]).unwrap_err();
        assert_eq!(err.place(), "RETS-RESPONSE", "{err}");
        assert_eq!(err.offset(), Some(cut as u64));
    }

    #[test]
    fn reads_the_other_login_samples() {
        let reply = parse_login(&rets(&format!("{LIBRETS}login-cris.xml"))).unwrap();
        assert_eq!(reply.capabilities.get("User"), Some("0207099998,,X"));
        assert_eq!(
            reply.capabilities.get("Logout"),
            Some("http://rets.crisnetmls.com:6103/cgi-bin/WebObjects/RETS.woa/12/wa/RETSTransactionHandler/logout")
        );

        let reply = parse_login(&rets(&format!("{LIBRETS}login-invalid.xml"))).unwrap();
        assert_eq!(reply.status.code, ReplyCode::LOGIN_ERROR);
        assert!(reply.capabilities.is_empty());

        let reply = parse_login(&rets("estately-rets/extracted/CAPABILITIES.xml")).unwrap();
        assert_eq!(reply.capabilities.get("Abc"), Some("123"));
        assert_eq!(reply.capabilities.get("Def"), Some("ghi=jk"));
        assert_eq!(reply.capabilities.iter().count(), 2);

        let body = rets("estately-rets/extracted/CAPABILITIES_WITH_WHITESPACE.xml");
        let reply = parse_login(&body).unwrap();
        assert_eq!(reply.capabilities.get("Action"), Some("/RETS/Action"));

        let (headers, body) = split_http(&rets(&format!("{NETWORK}login")));
        assert_eq!(headers["RETS-Version"], "RETS/1.5");
        let reply = parse_login(&body).unwrap();
        let login = url("http://localhost:4444/rets/login");
        assert_eq!(
            reply
                .capabilities
                .url("GetMetadata", &login)
                .unwrap()
                .unwrap()
                .as_str(),
            "http://localhost:4444/rets/getMetadata"
        );
        assert_eq!(reply.capabilities.get("Balance"), Some("186,252.09"));
    }

    #[test]
    fn reads_every_recorded_phrets_login() {
        let mut seen = 0;
        for method in ["get", "post"] {
            for dir in [
                "action_rets2_1_Login",
                "limited_rets2_1_Login",
                "lookup_rets2_1_Login",
                "rets2_1_Login",
            ] {
                let path = format!("{PHRETS}{method}/retsgw.flexmls.com/{dir}");
                if method == "post" && dir != "rets2_1_Login" {
                    continue;
                }
                for (name, raw) in rets_dir(&path, ".txt") {
                    let (headers, body) = split_http(&raw);
                    assert!(headers["Set-Cookie"]
                        .to_str()
                        .unwrap()
                        .starts_with("JSESSIONID="));
                    let reply = parse_login(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(reply.status, ReplyStatus::new(ReplyCode(0), "Success"));
                    let caps = &reply.capabilities;
                    let prefix = dir
                        .strip_suffix("_rets2_1_Login")
                        .map_or(String::new(), |p| format!("/{p}"));
                    let login = url(&format!("http://retsgw.flexmls.com{prefix}/rets2_1/Login"));
                    assert_eq!(
                        caps.url("Search", &login).unwrap().unwrap().as_str(),
                        format!("http://retsgw.flexmls.com{prefix}/rets2_1/Search"),
                        "{name}"
                    );
                    assert!(caps.get("MemberName").is_some(), "{name}");
                    assert_eq!(
                        caps.url("X-SupportSite", &login).unwrap().map(String::from),
                        (dir != "limited_rets2_1_Login")
                            .then(|| "http://flexmls.com/rets/".to_owned()),
                        "{name}"
                    );
                    if dir == "action_rets2_1_Login" {
                        assert_eq!(caps.get("Action"), Some("/action/rets2_1/Action"));
                    }
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 9);
    }

    #[test]
    fn capability_urls_that_cannot_be_used_are_errors() {
        let caps = Capabilities::from_text(
            "Search = http://[::1\nGetObject=javascript:alert(1)\nLogout=//other.example/x",
        );
        let login = url("https://rets.example.com:6103/rets/login");
        let err = caps.url("search", &login).unwrap_err();
        assert_eq!(err.place(), "Capability@search");
        let err = caps.url("GetObject", &login).unwrap_err();
        assert_eq!(err.place(), "Capability@GetObject");
        // A network-path reference keeps the login URL's scheme.
        assert_eq!(
            caps.url("Logout", &login).unwrap().unwrap().as_str(),
            "https://other.example/x"
        );
    }

    #[test]
    fn reads_logout_replies() {
        let reply = parse_logout(&rets(&format!("{LIBRETS}logout-valid15.xml"))).unwrap();
        assert_eq!(reply.status.code, ReplyCode(0));
        assert_eq!(reply.connect_time.as_deref(), Some("51"));
        assert_eq!(reply.billing.as_deref(), Some("0.36"));
        assert_eq!(reply.sign_off_message.as_deref(), Some("Goodbye"));

        let reply = parse_logout(&rets(&format!("{LIBRETS}logout-cris.xml"))).unwrap();
        assert_eq!(reply.status.code, ReplyCode(0));
        assert!(reply.capabilities.is_empty());
        assert_eq!(reply.connect_time, None);

        let reply = parse_logout(&rets(&format!("{LIBRETS}logout-tarasoft.xml"))).unwrap();
        assert_eq!(reply.status.text, "Operation Success.");
        assert!(reply.capabilities.is_empty(), "prose is not a capability");

        let (_, body) = split_http(&rets(&format!("{NETWORK}logout")));
        let reply = parse_logout(&body).unwrap();
        assert_eq!(reply.connect_time.as_deref(), Some("1"));
        assert_eq!(reply.billing.as_deref(), Some("0.01"));

        let raw = rets(&format!(
            "{PHRETS}get/retsgw.flexmls.com/rets2_1_Logout/18f6b7bfb97630b9cdbfd8af1b817310.txt"
        ));
        let (_, body) = split_http(&raw);
        let reply = parse_logout(&body).unwrap();
        assert_eq!(
            reply.status,
            ReplyStatus::new(ReplyCode(0), "Logout Successful")
        );
        assert_eq!(reply.sign_off_message.as_deref(), Some("Good Bye"));
    }

    #[test]
    fn an_html_logout_page_is_not_a_rets_reply() {
        // refindlyllc's Logout.html is not in the shared copy; an HTML page of the same shape.
        let body = b"<html><head><title>Logged out</title></head><body>Bye</body></html>";
        let err = parse_logout(body).unwrap_err();
        assert_eq!(err.place(), "RETS");
        assert!(err.reason().starts_with("not a RETS reply"), "{err}");
        let err = parse_login(&rets("estately-rets/extracted/HTML_AUTH_FAILURE.xml")).unwrap_err();
        assert_eq!(err.place(), "RETS");
    }
}
