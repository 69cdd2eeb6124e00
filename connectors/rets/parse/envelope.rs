//! The envelope every RETS XML reply shares: `<RETS ReplyCode="…" ReplyText="…">`, and an
//! inner `<RETS-STATUS>` that some servers put after the payload. [`parse_reply`] reads the
//! status of any reply (Logout, errors, the XML parts of GetObject); the helpers below are the
//! XML plumbing the other parsers of this module share: the body's text encoding, a cursor that
//! reports every failure at a byte offset of the reply, attribute and text readers.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::RetsParseError;
use crate::rets::reply::{ReplyCode, ReplyStatus};

/// The status of a RETS XML reply: `ReplyCode` and `ReplyText` of the root `<RETS>` element,
/// or of an inner `<RETS-STATUS>` when the root says 0 (servers that report "no records" or
/// "maximum records exceeded" after the payload do this).
///
/// The whole reply is read, so a cut-off reply is an error even when its status came first.
///
/// # Errors
///
/// A body that is not a RETS reply (an HTML or XHTML error page, plain text, an empty body)
/// is an error at place `"RETS"` saying so; XML that is invalid or cut off is an error at the
/// byte offset where it stopped; a `ReplyCode` that is missing or not a number is an error at
/// `"RETS@ReplyCode"`.
pub fn parse_reply(body: &[u8]) -> Result<ReplyStatus, RetsParseError> {
    match sniff_reply(body)? {
        Sniff::Rets(status) => Ok(status),
        Sniff::NotRets(err) => Err(err),
    }
}

/// What [`sniff_reply`] found.
pub(crate) enum Sniff {
    /// A RETS reply and its status.
    Rets(ReplyStatus),
    /// Not a RETS reply: the error [`parse_reply`] returns for it.
    NotRets(RetsParseError),
}

/// [`parse_reply`], telling "not a RETS reply" apart from a broken one (GetObject's XML parts
/// may be plain XML objects).
pub(crate) fn sniff_reply(body: &[u8]) -> Result<Sniff, RetsParseError> {
    let decoded = DecodedBody::new(body);
    let mut cur = XmlCursor::new(&decoded);
    let (root, empty) = match cur.root()? {
        Root::Rets(root, empty) => (root, empty),
        Root::Element(_, _, err) | Root::Nothing(err) => return Ok(Sniff::NotRets(err)),
    };
    let mut status = cur.status(&root, "RETS")?;
    if empty {
        return Ok(Sniff::Rets(status));
    }
    let mut depth = 1usize;
    loop {
        match cur.next()? {
            Event::Start(e) => {
                if depth == 1 && is_named(&e, "RETS-STATUS") {
                    status = override_status(status, cur.status(&e, "RETS-STATUS")?);
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 1 && is_named(&e, "RETS-STATUS") => {
                status = override_status(status, cur.status(&e, "RETS-STATUS")?);
            }
            Event::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return Ok(Sniff::Rets(status));
                }
            }
            Event::Eof => return Err(cur.truncated("RETS")),
            _ => {}
        }
    }
}

/// The status that wins when a reply has both: the inner `<RETS-STATUS>` replaces an outer
/// success, never an outer failure.
pub(crate) fn override_status(outer: ReplyStatus, inner: ReplyStatus) -> ReplyStatus {
    if outer.code == ReplyCode::SUCCESS && inner.code != ReplyCode::SUCCESS {
        inner
    } else {
        outer
    }
}

/// Whether an element has this name (RETS element names are matched without regard to case:
/// servers differ, and no two RETS elements differ only by case).
pub(crate) fn is_named(e: &BytesStart<'_>, name: &str) -> bool {
    e.name().as_ref().eq_ignore_ascii_case(name)
}

/// The element's name as text (for error places and kinds).
pub(crate) fn element_name(e: &BytesStart<'_>) -> String {
    e.name().as_ref().to_owned()
}

/// A reply body as UTF-8 text, with what is needed to turn an offset into that text back into
/// a byte offset of the reply.
///
/// RETS predates UTF-8 everywhere: servers send Windows-1252 (or ISO-8859-1, which WHATWG and
/// this reader treat as Windows-1252: they differ only in C1 control codes no server means)
/// without declaring it. A body that is valid UTF-8 is used as is (a byte-order mark dropped);
/// otherwise the encoding named by the XML declaration, when it is a single-byte one, else
/// Windows-1252.
pub(crate) struct DecodedBody<'a> {
    text: Cow<'a, str>,
    /// Bytes dropped before `text` (a UTF-8 byte-order mark).
    skipped: u64,
    /// Whether `text` was decoded from a single-byte encoding (one source byte per char).
    single_byte: bool,
}

impl<'a> DecodedBody<'a> {
    /// Decodes `body` (see the type's documentation).
    pub(crate) fn new(body: &'a [u8]) -> Self {
        let (body, skipped) = match body.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => (rest, 3),
            None => (body, 0),
        };
        if let Ok(text) = std::str::from_utf8(body) {
            return DecodedBody {
                text: Cow::Borrowed(text),
                skipped,
                single_byte: false,
            };
        }
        let encoding = declared_encoding(body)
            .and_then(encoding_rs::Encoding::for_label)
            .filter(|e| e.is_single_byte())
            .unwrap_or(encoding_rs::WINDOWS_1252);
        // A single-byte decoder maps every byte to one char and never fails.
        let (text, _) = encoding.decode_without_bom_handling(body);
        DecodedBody {
            text,
            skipped,
            single_byte: true,
        }
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The byte offset in the reply of byte `pos` of the text.
    pub(crate) fn source_offset(&self, pos: u64) -> u64 {
        let pos_usize = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let in_body = if self.single_byte {
            // One source byte per char: count the chars before `pos`.
            let mut end = pos_usize;
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            self.text.get(..end).map_or(0, |s| s.chars().count()) as u64
        } else {
            pos_usize as u64
        };
        in_body + self.skipped
    }
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `body`, if any.
fn declared_encoding(body: &[u8]) -> Option<&[u8]> {
    let decl = body.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).take(256).position(|w| w == b"?>")?;
    let decl = decl.get(..end)?;
    let at = decl
        .windows(8)
        .position(|w| w.eq_ignore_ascii_case(b"encoding"))?;
    let rest = decl.get(at + 8..)?;
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let close = rest.iter().position(|&b| b == quote)?;
    rest.get(..close)
}

/// What the first element of a reply is.
pub(crate) enum Root<'a> {
    /// `<RETS>`, and whether it is empty (`<RETS …/>`).
    Rets(BytesStart<'a>, bool),
    /// Another element (an HTML page, a bare `METADATA-*` block), whether it is empty, and
    /// the "not a RETS reply" error for callers that need `<RETS>`.
    Element(BytesStart<'a>, bool, RetsParseError),
    /// No element at all (empty, text, not XML): the "not a RETS reply" error.
    Nothing(RetsParseError),
}

/// A pull reader over a decoded reply whose every error names a byte offset of the reply.
pub(crate) struct XmlCursor<'a> {
    reader: Reader<&'a [u8]>,
    decoded: &'a DecodedBody<'a>,
}

impl<'a> XmlCursor<'a> {
    /// A cursor at the start of `decoded`.
    pub(crate) fn new(decoded: &'a DecodedBody<'a>) -> Self {
        let mut reader = Reader::from_str(decoded.as_str());
        // Mismatched end tags are errors (the default, kept explicit: a reply whose tags do
        // not nest is cut or mangled, and its rows cannot be trusted).
        reader.config_mut().check_end_names = true;
        XmlCursor { reader, decoded }
    }

    /// The byte offset in the reply of what was read so far.
    pub(crate) fn offset(&self) -> u64 {
        self.decoded.source_offset(self.reader.buffer_position())
    }

    /// An error at `place`, at the current offset.
    pub(crate) fn error(
        &self,
        place: impl Into<String>,
        reason: impl Into<String>,
    ) -> RetsParseError {
        RetsParseError::new(place, reason).at(self.offset())
    }

    /// The error for a reply that ends inside `place`.
    pub(crate) fn truncated(&self, place: &str) -> RetsParseError {
        self.error(
            place,
            format!("the reply ends before </{place}> (cut off or truncated)"),
        )
    }

    /// The next event.
    pub(crate) fn next(&mut self) -> Result<Event<'a>, RetsParseError> {
        self.reader.read_event().map_err(|e| {
            let at = self.decoded.source_offset(self.reader.error_position());
            RetsParseError::new("XML", format!("not well-formed XML: {e}")).at(at)
        })
    }

    /// Reads past the end of the element `start` opened (its content is not needed).
    pub(crate) fn skip(&mut self, start: &BytesStart<'_>) -> Result<(), RetsParseError> {
        let name = start.name();
        match self.reader.read_to_end(name) {
            Ok(_) => Ok(()),
            Err(e) => {
                let place = element_name(start);
                let at = self.decoded.source_offset(self.reader.error_position());
                Err(RetsParseError::new(place, format!("not well-formed XML: {e}")).at(at))
            }
        }
    }

    /// The first element of the reply (the XML declaration, comments, a doctype and blank
    /// text before it are skipped).
    pub(crate) fn root(&mut self) -> Result<Root<'a>, RetsParseError> {
        loop {
            let event = match self.next() {
                Ok(event) => event,
                // Markup that is not even XML before any element: an HTML page or garbage.
                Err(e) => return Ok(Root::Nothing(not_rets(e.reason(), e.offset()))),
            };
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::Text(t) if t.trim().is_empty() => continue,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    let why = "it holds text outside any element";
                    return Ok(Root::Nothing(not_rets(why, Some(self.offset()))));
                }
                Event::End(_) => {
                    let why = "it starts with an end tag";
                    return Ok(Root::Nothing(not_rets(why, Some(self.offset()))));
                }
                Event::Eof => {
                    let why = "it holds no XML element";
                    return Ok(Root::Nothing(not_rets(why, Some(self.offset()))));
                }
            };
            if is_named(&e, "RETS") {
                return Ok(Root::Rets(e, empty));
            }
            let why = format!("its root element is <{}>", element_name(&e));
            let err = not_rets(&why, Some(self.offset()));
            return Ok(Root::Element(e, empty, err));
        }
    }

    /// `ReplyCode` and `ReplyText` of a `<RETS>` or `<RETS-STATUS>` element.
    pub(crate) fn status(
        &self,
        e: &BytesStart<'_>,
        place: &str,
    ) -> Result<ReplyStatus, RetsParseError> {
        let code = self
            .attr(e, "ReplyCode")?
            .ok_or_else(|| self.error(format!("{place}@ReplyCode"), "missing"))?;
        let code = code.trim().parse::<u32>().map_err(|_| {
            self.error(
                format!("{place}@ReplyCode"),
                "not a non-negative whole number",
            )
        })?;
        let text = self.attr(e, "ReplyText")?.unwrap_or_default();
        Ok(ReplyStatus::new(ReplyCode(code), text))
    }

    /// The value of attribute `name` (matched without regard to case), entities resolved; an
    /// entity the reader does not know is kept as written rather than failing the reply.
    pub(crate) fn attr(
        &self,
        e: &BytesStart<'_>,
        name: &str,
    ) -> Result<Option<String>, RetsParseError> {
        for attr in e.attributes() {
            let attr = attr.map_err(|err| {
                self.error(
                    format!("{}@attributes", element_name(e)),
                    format!("malformed attributes: {err}"),
                )
            })?;
            if attr.key.as_ref().eq_ignore_ascii_case(name) {
                let value = attr
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_or_else(|_| attr.value.clone().into_owned(), Cow::into_owned);
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Every attribute as (name, value), in document order.
    pub(crate) fn attrs(
        &self,
        e: &BytesStart<'_>,
    ) -> Result<Vec<(String, String)>, RetsParseError> {
        let mut out = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| {
                self.error(
                    format!("{}@attributes", element_name(e)),
                    format!("malformed attributes: {err}"),
                )
            })?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_or_else(|_| attr.value.clone().into_owned(), Cow::into_owned);
            out.push((attr.key.as_ref().to_owned(), value));
        }
        Ok(out)
    }

    /// The text content of the element `start` opened, up to its end tag (entities and
    /// character references resolved, line ends normalized to `\n`). Child elements are
    /// skipped; `on_child` is asked first and may refuse one with an error.
    pub(crate) fn text(
        &mut self,
        start: &BytesStart<'_>,
        mut on_child: impl FnMut(&BytesStart<'_>, &Self) -> Result<(), RetsParseError>,
    ) -> Result<String, RetsParseError> {
        let place = element_name(start);
        let mut out = String::new();
        loop {
            match self.next()? {
                Event::Text(t) => out.push_str(&t.xml10_content()),
                Event::CData(t) => out.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => push_ref(&mut out, &r),
                Event::Start(e) => {
                    on_child(&e, self)?;
                    self.skip(&e)?;
                }
                Event::Empty(e) => on_child(&e, self)?,
                Event::End(_) => return Ok(out),
                Event::Eof => return Err(self.truncated(&place)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }
}

/// The "not a RETS reply" error.
fn not_rets(why: &str, offset: Option<u64>) -> RetsParseError {
    let err = RetsParseError::new("RETS", format!("not a RETS reply: {why}"));
    match offset {
        Some(o) => err.at(o),
        None => err,
    }
}

/// Appends a reference (`&amp;`, `&#233;`) resolved; one that cannot be resolved (an HTML
/// entity, a character reference to a surrogate) is kept as written.
pub(crate) fn push_ref(out: &mut String, r: &BytesRef<'_>) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        out.push(c);
    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(r) {
        out.push_str(s);
    } else {
        out.push('&');
        out.push_str(r);
        out.push(';');
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Test access to the shared fixture and vector folders.

    use std::path::PathBuf;

    /// `$SWITCHBOARD_FIXTURES_DIR`, else `$SWITCHBOARD_SHARED_DIR/fixtures`, else
    /// `../shared/fixtures` next to the crate.
    pub(crate) fn fixtures_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("SWITCHBOARD_FIXTURES_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("SWITCHBOARD_SHARED_DIR") {
            return PathBuf::from(dir).join("fixtures");
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
    }

    /// `$SWITCHBOARD_VECTORS_DIR`, else `../shared/vectors` next to the crate.
    pub(crate) fn vectors_dir() -> PathBuf {
        std::env::var_os("SWITCHBOARD_VECTORS_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
            PathBuf::from,
        )
    }

    /// The bytes of `rets/<path>` in the fixture folder.
    pub(crate) fn rets(path: &str) -> Vec<u8> {
        let file = fixtures_dir().join("rets").join(path);
        std::fs::read(&file).unwrap_or_else(|e| panic!("fixture {}: {e}", file.display()))
    }

    /// The files of `rets/<dir>` whose name ends with `suffix`, sorted, as (name, bytes).
    pub(crate) fn rets_dir(dir: &str, suffix: &str) -> Vec<(String, Vec<u8>)> {
        let dir = fixtures_dir().join("rets").join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fixture dir {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (name, bytes)
            })
            .collect()
    }

    /// A recorded HTTP response (`HTTP/1.1 200 OK` or a bare status code on the first line,
    /// CRLF or LF line ends) split into its headers and body.
    pub(crate) fn split_http(raw: &[u8]) -> (http::HeaderMap, Vec<u8>) {
        let (head_end, sep) = [&b"\r\n\r\n"[..], b"\n\n"]
            .iter()
            .filter_map(|sep| {
                raw.windows(sep.len())
                    .position(|w| w == *sep)
                    .map(|p| (p, sep.len()))
            })
            .min()
            .expect("a blank line after the headers");
        let head = std::str::from_utf8(&raw[..head_end]).expect("ASCII headers");
        let mut headers = http::HeaderMap::new();
        for line in head.lines().skip(1) {
            let (name, value) = line.split_once(':').expect("a header line");
            headers.append(
                http::HeaderName::from_bytes(name.trim().as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value.trim()).expect("header value"),
            );
        }
        (headers, raw[head_end + sep..].to_vec())
    }

    /// A chunked transfer-encoded body, de-chunked (a recording that lacks the last, empty
    /// chunk ends where its data ends).
    pub(crate) fn dechunk(mut body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let line_end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size line");
            let size = std::str::from_utf8(&body[..line_end]).expect("hex size");
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .expect("hex size");
            body = &body[line_end + 2..];
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&body[..size]);
            body = &body[size..];
            body = body.strip_prefix(b"\r\n").unwrap_or(body);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{rets, split_http};
    use super::*;

    const LIBRETS: &str = "librets/project/librets/test/src/resources/";

    #[test]
    fn reads_the_outer_status() {
        let s = parse_reply(&rets("estately-rets/extracted/RETS_REPLY.xml")).unwrap();
        assert_eq!(s, ReplyStatus::new(ReplyCode(0), "OK"));
        let s = parse_reply(&rets("estately-rets/extracted/RETS_NO_RECORDS_ERROR.xml")).unwrap();
        assert_eq!(s.code, ReplyCode::NO_RECORDS);
        assert_eq!(s.text, "Error message");
        let s = parse_reply(&rets("estately-rets/extracted/RETS_NO_OBJECT_ERROR.xml")).unwrap();
        assert_eq!(s.code, ReplyCode::NO_OBJECT);
        let s = parse_reply(&rets(
            "estately-rets/extracted/RETS_INVALID_REQUEST_ERROR.xml",
        ))
        .unwrap();
        assert_eq!(s.code, ReplyCode(123));
        let s = parse_reply(&rets(&format!("{LIBRETS}login-invalid.xml"))).unwrap();
        assert_eq!(s.code, ReplyCode::LOGIN_ERROR);
        assert_eq!(s.text, "Miscellaneous Server Error");
    }

    #[test]
    fn inner_rets_status_overrides_an_outer_success() {
        let s = parse_reply(&rets(
            "estately-rets/extracted/RETS_STATUS_NO_MATCHING_RECORDS.xml",
        ))
        .unwrap();
        assert_eq!(s.code, ReplyCode::NO_RECORDS);
        assert_eq!(s.text, "No matching records were found");
        // The trailing status after the rows of a search.
        let s = parse_reply(&rets(&format!("{LIBRETS}search-response.xml"))).unwrap();
        assert_eq!(s.code, ReplyCode::MAX_RECORDS_EXCEEDED);
        // An outer failure is never replaced.
        let body = br#"<RETS ReplyCode="20203" ReplyText="bad"><RETS-STATUS ReplyCode="0" ReplyText="ok"/></RETS>"#;
        assert_eq!(parse_reply(body).unwrap().code, ReplyCode(20203));
    }

    #[test]
    fn reads_error_replies_of_every_kind() {
        for (file, code) in [
            ("search-response-no-records.xml", 20201),
            ("search-response-error.xml", 20205),
            ("search-response-error-extended.xml", 20205),
            ("update-response-warning.xml", 20312),
            ("payloadlist-response-error.xml", 20500),
            ("payloadlist-response-error-extended.xml", 20500),
        ] {
            let s = parse_reply(&rets(&format!("{LIBRETS}{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(s.code, ReplyCode(code), "{file}");
        }
        // GetObject's "no object" answered as a lone XML reply.
        for file in [
            "get-object-response-no-object.txt",
            "get-object-response-no-object-variman.txt",
        ] {
            let (_, body) = split_http(&rets(&format!("{LIBRETS}{file}")));
            let s = parse_reply(&body).unwrap();
            assert_eq!(s, ReplyStatus::new(ReplyCode::NO_OBJECT, "No Object Found"));
        }
        // A multi-line search error from a real server (phrets).
        let raw = rets("phrets/tests/Integration/Fixtures/Http/get/retsgw.flexmls.com/rets2_1_Search/f065035031b4ce43d3e5374517306e20.txt");
        let (_, body) = split_http(&raw);
        let s = parse_reply(&body).unwrap();
        assert_eq!(s.code, ReplyCode::MISC_SEARCH_ERROR);
        assert!(
            s.text.contains("Specified Class (Z) is not valid"),
            "{}",
            s.text
        );
    }

    #[test]
    fn html_and_xhtml_pages_are_not_rets_replies() {
        for file in ["HTML_AUTH_FAILURE.xml", "XHTML_AUTH_FAILURE.xml"] {
            let err = parse_reply(&rets(&format!("estately-rets/extracted/{file}"))).unwrap_err();
            assert_eq!(err.place(), "RETS", "{file}");
            assert!(
                err.reason().starts_with("not a RETS reply"),
                "{file}: {err}"
            );
            assert!(err.reason().contains("<html>"), "{file}: {err}");
        }
        let (_, body) = split_http(&rets(&format!("{LIBRETS}invalid-http-response.txt")));
        let err = parse_reply(&body).unwrap_err();
        assert!(err.reason().starts_with("not a RETS reply"), "{err}");
        for body in [&b""[..], b"   \r\n", b"<<<>>>", b"\xff\xfe garbage"] {
            let err = parse_reply(body).unwrap_err();
            assert_eq!(err.place(), "RETS", "{body:?}: {err}");
        }
    }

    #[test]
    fn cut_off_and_broken_replies_fail_at_an_offset() {
        let full = rets("estately-rets/extracted/RETS_STATUS_NO_MATCHING_RECORDS.xml");
        // Every prefix that ends before </RETS> is an error, never a panic or a status.
        let end = full.windows(7).position(|w| w == b"</RETS>").unwrap();
        for cut in 0..end {
            assert!(parse_reply(&full[..cut]).is_err(), "cut at {cut}");
        }
        let err = parse_reply(&full[..end]).unwrap_err();
        assert_eq!(err.offset(), Some(end as u64), "{err}");
        let err = parse_reply(br#"<RETS ReplyCode="0"><A></B></RETS>"#).unwrap_err();
        assert!(err.offset().is_some(), "{err}");
        let err = parse_reply(br#"<RETS ReplyCode="x1" ReplyText="t"/>"#).unwrap_err();
        assert_eq!(err.place(), "RETS@ReplyCode");
        let err = parse_reply(br#"<RETS ReplyText="t"/>"#).unwrap_err();
        assert_eq!(err.place(), "RETS@ReplyCode");
    }

    #[test]
    fn decodes_windows_1252_and_keeps_source_offsets() {
        let body = b"<RETS ReplyCode=\"0\" ReplyText=\"N\x9c\x96ez caf\xe9\"/>";
        let s = parse_reply(body).unwrap();
        assert_eq!(s.text, "N\u{153}\u{2013}ez caf\u{e9}");
        // An offset past the non-UTF-8 bytes is one of the reply's bytes, not of the text.
        let body = b"<RETS ReplyCode=\"0\" ReplyText=\"\xe9\xe9\xe9\"><A>";
        let err = parse_reply(body).unwrap_err();
        assert_eq!(err.offset(), Some(body.len() as u64), "{err}");
        // A declared single-byte encoding wins over the Windows-1252 default.
        let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-7\"?><RETS ReplyCode=\"0\" ReplyText=\"\xe1\"/>";
        assert_eq!(parse_reply(body).unwrap().text, "\u{3b1}");
        // Entities and character references in attributes.
        let body = br#"<RETS ReplyCode="0" ReplyText="a &amp; b &#233; &nbsp;"/>"#;
        assert_eq!(parse_reply(body).unwrap().text, "a &amp; b &#233; &nbsp;");
        let body = br#"<RETS ReplyCode="0" ReplyText="a &amp; b &#233;"/>"#;
        assert_eq!(parse_reply(body).unwrap().text, "a & b \u{e9}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let body = b"\xEF\xBB\xBF<RETS ReplyCode=\"0\" ReplyText=\"OK\"/>";
        assert_eq!(parse_reply(body).unwrap().code, ReplyCode(0));
    }
}
