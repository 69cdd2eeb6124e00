//! HTTP Digest authentication (RFC 2617 / 7616) for RETS logins: the server's challenge read
//! from `WWW-Authenticate` (also when it offers several schemes), and the `Authorization`
//! answer for each request, computed by `digest_auth` with a counted `nc`.

use std::fmt;

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};

use crate::rets::RetsParseError;

/// A Digest challenge and its request counter. It holds no credential: the username and
/// password are passed to [`authorization`](Self::authorization) for each request.
pub(crate) struct DigestAuth {
    challenge: WwwAuthenticateHeader,
    /// A fixed client nonce (tests only: vectors state theirs); `None` draws a random one.
    cnonce: Option<String>,
}

impl DigestAuth {
    /// Reads the Digest challenge of a `WWW-Authenticate` value, which may also offer other
    /// schemes (`Basic realm="x", Digest realm="y", nonce="z"`).
    ///
    /// # Errors
    ///
    /// No Digest challenge, one without `realm` or `nonce`, an unknown algorithm or qop, or
    /// a value that is not ASCII: an error at place `"WWW-Authenticate"`.
    pub(crate) fn from_challenge(www_authenticate: &str) -> Result<DigestAuth, RetsParseError> {
        let place = "WWW-Authenticate";
        // Header values are ASCII; digest_auth's parser indexes by character, so anything
        // else is refused before it gets there.
        if !www_authenticate.is_ascii() {
            return Err(RetsParseError::new(place, "not ASCII"));
        }
        let params = digest_params(www_authenticate)
            .ok_or_else(|| RetsParseError::new(place, "no Digest challenge"))?;
        let challenge = WwwAuthenticateHeader::parse(params).map_err(|e| {
            RetsParseError::new(place, format!("not a usable Digest challenge: {e}"))
        })?;
        Ok(DigestAuth {
            challenge,
            cnonce: None,
        })
    }

    /// The `Authorization` value for one request (`uri_path_and_query` as sent on the
    /// request line). Each call counts one more use of the server's nonce (`nc`).
    ///
    /// # Errors
    ///
    /// A challenge whose qop options leave nothing to answer with.
    pub(crate) fn authorization(
        &mut self,
        method: &http::Method,
        uri_path_and_query: &str,
        username: &str,
        password: &str,
    ) -> Result<String, RetsParseError> {
        let mut context = AuthContext::new_with_method(
            username,
            password,
            uri_path_and_query,
            Option::<&[u8]>::None,
            HttpMethod::from(method.as_str()),
        );
        if let Some(cnonce) = &self.cnonce {
            context.set_custom_cnonce(cnonce.as_str());
        }
        let answer = self.challenge.respond(&context).map_err(|e| {
            RetsParseError::new(
                "WWW-Authenticate",
                format!("cannot answer the challenge: {e}"),
            )
        })?;
        Ok(answer.to_header_string())
    }

    /// Whether the server marked its nonce stale (`stale=true`): the credentials were
    /// right, only the nonce expired, so answer the new challenge without asking again.
    pub(crate) fn is_stale(&self) -> bool {
        self.challenge.stale
    }

    /// The same challenge answered with a fixed client nonce.
    #[cfg(test)]
    fn with_cnonce(mut self, cnonce: &str) -> Self {
        self.cnonce = Some(cnonce.to_owned());
        self
    }
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.challenge.realm)
            .field("algorithm", &self.challenge.algorithm.to_string())
            .field("qop", &self.challenge.qop)
            .field("nc", &self.challenge.nc)
            .field("stale", &self.challenge.stale)
            .finish_non_exhaustive()
    }
}

/// The parameters of the Digest challenge in a `WWW-Authenticate` value (RFC 7235 §4.1: a
/// list of challenges, each a scheme token and its parameters), without the scheme name.
fn digest_params(header: &str) -> Option<&str> {
    let bytes = header.as_bytes();
    // (scheme name, where the name starts, where its parameters start), in order.
    let mut schemes: Vec<(&str, usize, usize)> = Vec::new();
    let mut i = 0;
    let mut at_item = true;
    let mut in_quotes = false;
    while let Some(&b) = bytes.get(i) {
        if in_quotes {
            match b {
                b'\\' => i += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_quotes = true;
                at_item = false;
            }
            b',' => at_item = true,
            b' ' | b'\t' => {}
            _ if at_item && is_tchar(b) => {
                let start = i;
                while bytes.get(i).copied().is_some_and(is_tchar) {
                    i += 1;
                }
                let mut next = i;
                while matches!(bytes.get(next), Some(b' ' | b'\t')) {
                    next += 1;
                }
                // `token =` is a parameter; a token followed by anything else names a scheme,
                // and the scheme's first parameter follows without a comma.
                if bytes.get(next) != Some(&b'=') {
                    schemes.push((header.get(start..i)?, start, next));
                    i = next;
                    continue;
                }
                at_item = false;
                continue;
            }
            _ => at_item = false,
        }
        i += 1;
    }
    let at = schemes
        .iter()
        .position(|(name, _, _)| name.eq_ignore_ascii_case("Digest"))?;
    let (_, _, start) = schemes.get(at)?;
    let end = schemes
        .get(at + 1)
        .map_or(header.len(), |(_, name_start, _)| *name_start);
    Some(
        header
            .get(*start..end)?
            .trim()
            .trim_end_matches(',')
            .trim_end(),
    )
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};

    use super::super::ua_auth::vectors::sections;
    use super::*;

    fn md5_hex(s: &str) -> String {
        hex::encode(Md5::digest(s.as_bytes()))
    }

    fn parsed(header: &str) -> digest_auth::AuthorizationHeader {
        digest_auth::AuthorizationHeader::parse(header).unwrap_or_else(|e| panic!("{header}: {e}"))
    }

    /// Runs one vector; `Err` says why it failed.
    fn run(v: &serde_json::Value) -> Result<(), String> {
        let s = |k: &str| v[k].as_str().unwrap_or_default();
        let method = http::Method::from_bytes(s("method").as_bytes()).unwrap_or(http::Method::GET);
        let uri = if s("uri").is_empty() {
            "/rets/login"
        } else {
            s("uri")
        };
        if v.get("www_authenticate").is_none() {
            // HA1-only vector (MD5-sess): answer a challenge built from its values and check
            // the response against one computed from the vector's HA1.
            let challenge = format!(
                "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"",
                s("realm"),
                s("nonce"),
                s("algorithm")
            );
            let mut auth = DigestAuth::from_challenge(&challenge)
                .map_err(|e| e.to_string())?
                .with_cnonce(s("cnonce"));
            let header = auth
                .authorization(&method, uri, s("username"), s("password"))
                .map_err(|e| e.to_string())?;
            let ha2 = md5_hex(&format!("{method}:{uri}"));
            let expected = md5_hex(&format!(
                "{}:{}:00000001:{}:auth:{ha2}",
                s("ha1"),
                s("nonce"),
                s("cnonce")
            ));
            let got = parsed(&header).response;
            return (got == expected)
                .then_some(())
                .ok_or(format!("response {got}, from the vector's HA1 {expected}"));
        }
        let mut auth =
            DigestAuth::from_challenge(s("www_authenticate")).map_err(|e| e.to_string())?;
        if let Some(cnonce) = v.get("cnonce").and_then(|c| c.as_str()) {
            auth = auth.with_cnonce(cnonce);
        }
        let header = auth
            .authorization(&method, uri, s("username"), s("password"))
            .map_err(|e| e.to_string())?;
        let got = parsed(&header);
        if got.response != s("response") {
            return Err(format!("response {} != {}", got.response, s("response")));
        }
        if let Some(nc) = v.get("nc").and_then(|n| n.as_str()) {
            if format!("{:08x}", got.nc) != nc {
                return Err(format!("nc {:08x} != {nc}", got.nc));
            }
        }
        // The fields a server checks, against the vector's whole header when it has one
        // (field order and quoting of algorithm/qop are the writer's choice).
        if let Some(expected) = v.get("expected_authorization").and_then(|e| e.as_str()) {
            let want = parsed(expected);
            let same = got.username == want.username
                && got.realm == want.realm
                && got.nonce == want.nonce
                && got.uri == want.uri
                && got.opaque == want.opaque
                && got.qop == want.qop
                && got.cnonce == want.cnonce
                && got.algorithm == want.algorithm;
            if !same {
                return Err(format!("{header} differs from {expected}"));
            }
        }
        Ok(())
    }

    #[test]
    fn matches_every_http_digest_vector() {
        let vectors = sections("http_digest_rfc2617");
        assert!(!vectors.is_empty(), "no http_digest_rfc2617 vector found");
        let failures: Vec<String> = vectors
            .iter()
            .filter_map(|(file, v)| run(v).err().map(|e| format!("{file}:{}: {e}", v["name"])))
            .collect();
        println!("http_digest_rfc2617 vectors: {} run", vectors.len());
        assert!(failures.is_empty(), "{failures:#?}");
    }

    const CHALLENGE: &str = "realm=\"users@mris.com\", nonce=\"31333739363738363932323632201e00230a639db77779b354d601ee5d2e\", opaque=\"6e6f742075736564\"";

    #[test]
    fn picks_digest_out_of_several_schemes() {
        let alone = format!("Digest {CHALLENGE}");
        let mut want = DigestAuth::from_challenge(&alone).unwrap();
        let want = want
            .authorization(&http::Method::GET, "/platinum/login", "user", "passwd")
            .unwrap();
        for header in [
            format!("Basic realm=\"x, Digest realm=y\", Digest {CHALLENGE}"),
            format!("Digest {CHALLENGE}, Basic realm=\"x\""),
            format!("Negotiate abc==, digest {CHALLENGE} ,Basic realm=x"),
            format!("DIGEST   {CHALLENGE}"),
        ] {
            let mut auth =
                DigestAuth::from_challenge(&header).unwrap_or_else(|e| panic!("{header}: {e}"));
            let got = auth
                .authorization(&http::Method::GET, "/platinum/login", "user", "passwd")
                .unwrap();
            assert_eq!(parsed(&got).response, parsed(&want).response, "{header}");
            assert_eq!(
                parsed(&got).opaque.as_deref(),
                Some("6e6f742075736564"),
                "{header}"
            );
        }
    }

    #[test]
    fn counts_requests_on_one_nonce() {
        let mut auth =
            DigestAuth::from_challenge(&format!("Digest {CHALLENGE}, qop=\"auth\"")).unwrap();
        let first = parsed(
            &auth
                .authorization(&http::Method::GET, "/a", "user", "passwd")
                .unwrap(),
        );
        let second = parsed(
            &auth
                .authorization(&http::Method::POST, "/a", "user", "passwd")
                .unwrap(),
        );
        assert_eq!((first.nc, second.nc), (1, 2));
        assert_ne!(first.response, second.response);
        assert_ne!(
            first.cnonce, second.cnonce,
            "a fresh client nonce per request"
        );
        assert!(!auth.is_stale());
        let stale = DigestAuth::from_challenge(&format!("Digest {CHALLENGE}, stale=true")).unwrap();
        assert!(stale.is_stale());
    }

    #[test]
    fn refuses_challenges_it_cannot_answer() {
        for header in [
            "",
            "Basic realm=\"x\"",
            "Digest nonce=\"n\"",
            "Digest realm=\"r\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=ROT13",
            "Digest realm=\"r\", nonce=\"n\", qop=\"magic\"",
            "Digest realm=\"r\u{e9}\u{e9}\u{e9}=\", nonce=\"n\"",
            "Digest realm=\"unterminated",
        ] {
            let err = DigestAuth::from_challenge(header).unwrap_err();
            assert_eq!(err.place(), "WWW-Authenticate", "{header}");
        }
    }

    #[test]
    fn debug_shows_no_credential() {
        let mut auth = DigestAuth::from_challenge(&format!("Digest {CHALLENGE}")).unwrap();
        auth.authorization(&http::Method::GET, "/a", "user", "passwd")
            .unwrap();
        let debug = format!("{auth:?}");
        assert!(
            debug.contains("users@mris.com") && debug.contains("nc: 1"),
            "{debug}"
        );
        assert!(!debug.contains("passwd"), "{debug}");
    }
}
