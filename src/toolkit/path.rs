//! [`segment`]: one caller-given value (an id, a phone number) made safe to place between two
//! `/` of a request path.

use std::fmt::Write;

/// Percent-encodes `s` as one path segment: RFC 3986 unreserved characters (`A-Z a-z 0-9 - .
/// _ ~`) are kept, every other byte of its UTF-8 form becomes `%XX` (so `/`, `?`, `#`, `%`,
/// `+` and space can neither end the segment nor change its meaning).
///
/// Validate ids before calling this where you can: a segment that is only `.` or `..` keeps its
/// dots (they are unreserved), and URL parsers treat it as a step up the path whether or not
/// the dots are encoded.
///
/// ```
/// use switchboard::toolkit::segment;
/// assert_eq!(segment("cus_123"), "cus_123");
/// assert_eq!(segment("+1 555/0100?x#y%"), "%2B1%20555%2F0100%3Fx%23y%25");
/// assert_eq!(segment("café"), "caf%C3%A9");
/// ```
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unreserved_and_encodes_everything_else() {
        assert_eq!(segment("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(segment("+"), "%2B");
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("?"), "%3F");
        assert_eq!(segment("#"), "%23");
        assert_eq!(segment("%"), "%25");
        assert_eq!(segment(" "), "%20");
        assert_eq!(segment("a&b=c;d"), "a%26b%3Dc%3Bd");
        assert_eq!(segment(""), "");
    }

    #[test]
    fn encodes_multibyte_characters_byte_by_byte() {
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(segment("日"), "%E6%97%A5");
    }

    #[test]
    fn an_encoded_segment_decodes_back_to_the_input() {
        for s in ["+1 (555) 010-0100", "a/b?c#d%e", "naïve ☃", "\u{0}\n"] {
            let encoded = segment(s);
            assert!(!encoded.contains(['/', '?', '#', ' ', '+']), "{encoded}");
            let decoded = url::form_urlencoded::parse(format!("k={encoded}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned());
            assert_eq!(decoded.as_deref(), Some(s));
        }
    }
}
