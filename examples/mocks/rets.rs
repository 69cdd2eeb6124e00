//! A loopback RETS server, shared by `examples/rets_sync.rs` and the RETS integration tests
//! (`tests/it/rets/`): Login (Digest or Basic, a session cookie, relative capability
//! URLs), Search over an in-memory listing table (the DMQL subset the connector writes:
//! `(F=v)`, `(F=a-b)`, `(F=a+)`, `(F=a-)`, `(F=A,B)`, `(F=|A,B)` joined by `,`), COMPACT
//! replies with COUNT and MAXROWS, `Limit`/`Offset` (or no Offset: 20203), GetMetadata from
//! fixtures, GetObject multipart photos, and Logout. Every request is recorded.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use md5::{Digest as _, Md5};
use switchboard::test_util::LoopbackServer;

pub(crate) const USER: &str = "agent";
pub(crate) const REALM: &str = "rets@loopback";

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// One listing: its key, modification timestamp and other fields.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) photos: Vec<Vec<u8>>,
}

impl Listing {
    pub(crate) fn new(key: &str, modified: &str) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("ListingKey".to_string(), key.to_string());
        fields.insert("ModificationTimestamp".to_string(), modified.to_string());
        fields.insert("PhotosChangeTimestamp".to_string(), modified.to_string());
        fields.insert("PhotosCount".to_string(), "0".to_string());
        fields.insert("StandardStatus".to_string(), "Active".to_string());
        fields.insert("ListPrice".to_string(), "100000".to_string());
        Listing {
            fields,
            photos: Vec::new(),
        }
    }

    pub(crate) fn set(mut self, field: &str, value: &str) -> Self {
        self.fields.insert(field.to_string(), value.to_string());
        self
    }
}

/// How the server authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    Digest,
    Basic,
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) params: BTreeMap<String, String>,
    pub(crate) headers: HeaderMap,
}

#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) password: String,
    pub(crate) auth: Auth,
    pub(crate) listings: Vec<Listing>,
    pub(crate) offset_supported: bool,
    /// Rows a search returns at most, whatever its Limit (MAXROWS beyond).
    pub(crate) max_rows: usize,
    /// Refuse a second login while a session is open (20022).
    pub(crate) single_session: bool,
    pub(crate) sessions: Vec<String>,
    pub(crate) logins: u32,
    pub(crate) logouts: u32,
    /// The next N requests carrying a session are answered 401 (the session expired).
    pub(crate) expire_next: u32,
    pub(crate) seen: Vec<Seen>,
    pub(crate) nonce: u32,
}

/// A running loopback RETS server.
pub(crate) struct RetsServer {
    pub(crate) server: LoopbackServer,
    pub(crate) state: Arc<Mutex<ServerState>>,
}

impl RetsServer {
    pub(crate) async fn start(password: &str, auth: Auth, listings: Vec<Listing>) -> RetsServer {
        let state = Arc::new(Mutex::new(ServerState {
            password: password.to_string(),
            auth,
            listings,
            offset_supported: true,
            max_rows: usize::MAX,
            single_session: true,
            sessions: Vec::new(),
            logins: 0,
            logouts: 0,
            expire_next: 0,
            seen: Vec::new(),
            nonce: 0,
        }));
        let app = Router::new()
            .fallback(any(handle))
            .with_state(state.clone());
        RetsServer {
            server: LoopbackServer::start(app).await,
            state,
        }
    }

    pub(crate) fn login_url(&self) -> String {
        format!("{}/rets/login", self.server.base_url())
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut ServerState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub(crate) fn seen(&self, path: &str) -> Vec<Seen> {
        self.with(|s| s.seen.iter().filter(|r| r.path == path).cloned().collect())
    }
}

fn reply(code: u32, text: &str) -> Response {
    xml(format!(
        "<?xml version=\"1.0\"?>\n<RETS ReplyCode=\"{code}\" ReplyText=\"{text}\" />\n"
    ))
}

fn xml(body: String) -> Response {
    ([("content-type", "text/xml")], body).into_response()
}

fn auth_params(header: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let rest = header.trim_start_matches("Digest").trim();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            out.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    out
}

/// Whether the request proves the password.
fn authorized(s: &ServerState, method: &Method, headers: &HeaderMap) -> bool {
    let Some(h) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match s.auth {
        Auth::Basic => {
            use base64::Engine as _;
            let expected =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", s.password));
            h == format!("Basic {expected}")
        }
        Auth::Digest => {
            let p = auth_params(h);
            let get = |k: &str| p.get(k).cloned().unwrap_or_default();
            if get("username") != USER || get("nonce") != format!("n{}", s.nonce) {
                return false;
            }
            let ha1 = md5_hex(&format!("{USER}:{REALM}:{}", s.password));
            let ha2 = md5_hex(&format!("{}:{}", method, get("uri")));
            let expected = if p.contains_key("qop") {
                md5_hex(&format!(
                    "{ha1}:{}:{}:{}:{}:{ha2}",
                    get("nonce"),
                    get("nc"),
                    get("cnonce"),
                    get("qop")
                ))
            } else {
                md5_hex(&format!("{ha1}:{}:{ha2}", get("nonce")))
            };
            get("response") == expected
        }
    }
}

fn challenge(s: &mut ServerState) -> Response {
    s.nonce += 1;
    let value = match s.auth {
        Auth::Digest => format!(
            "Digest realm=\"{REALM}\", nonce=\"n{}\", opaque=\"op\", qop=\"auth\"",
            s.nonce
        ),
        Auth::Basic => format!("Basic realm=\"{REALM}\""),
    };
    (StatusCode::UNAUTHORIZED, [("www-authenticate", value)], "").into_response()
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get("cookie")?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == "RETS-Session-ID").then(|| v.to_string())
    })
}

async fn handle(
    State(state): State<Arc<Mutex<ServerState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if method == Method::POST {
        for (k, v) in url::form_urlencoded::parse(&body) {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    let mut s = state.lock().unwrap();
    let path = uri.path().to_string();
    s.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        params: params.clone(),
        headers: headers.clone(),
    });
    if !authorized(&s, &method, &headers) {
        return challenge(&mut s);
    }
    if path == "/rets/login" {
        if s.single_session && !s.sessions.is_empty() {
            let live = session_of(&headers).is_some_and(|id| s.sessions.contains(&id));
            if !live {
                return reply(20022, "Additional login not permitted");
            }
        }
        s.logins += 1;
        let id = format!("S{}", s.logins);
        s.sessions = vec![id.clone()];
        let body = "<RETS ReplyCode=\"0\" ReplyText=\"V2.7.0 761: Success\">\n<RETS-RESPONSE>\n\
             MemberName=Loopback Agent\nUser=agent,0,AGENT,agent\nBroker=LOOP,0\n\
             MetadataVersion=1.00.000\nTimeoutSeconds=1800\n\
             Search=/rets/search\nGetMetadata=/rets/getmetadata\nGetObject=/rets/getobject\n\
             Logout=/rets/logout\n</RETS-RESPONSE>\n</RETS>\n";
        return (
            [
                ("content-type", "text/xml".to_string()),
                ("set-cookie", format!("RETS-Session-ID={id}; Path=/")),
            ],
            body,
        )
            .into_response();
    }
    let session = session_of(&headers);
    let live = session.as_ref().is_some_and(|id| s.sessions.contains(id));
    if !live {
        return (StatusCode::UNAUTHORIZED, "no session").into_response();
    }
    if s.expire_next > 0 {
        s.expire_next -= 1;
        s.sessions.clear();
        return (StatusCode::UNAUTHORIZED, "session expired").into_response();
    }
    match path.as_str() {
        "/rets/logout" => {
            s.logouts += 1;
            s.sessions.clear();
            xml("<RETS ReplyCode=\"0\" ReplyText=\"Logged out\">\n<RETS-RESPONSE>\nConnectTime=12\n</RETS-RESPONSE>\n</RETS>\n".into())
        }
        "/rets/search" => search(&s, &params),
        "/rets/getmetadata" => metadata(&params),
        "/rets/getobject" => objects(&s, &params),
        _ => (StatusCode::NOT_FOUND, "").into_response(),
    }
}

/// One DMQL term: the field and a value test.
fn term_matches(listing: &Listing, term: &str) -> bool {
    let Some((field, value)) = term.split_once('=') else {
        return false;
    };
    let got = listing.fields.get(field).map(String::as_str).unwrap_or("");
    let value = value.trim_start_matches('|');
    if let Some(low) = value.strip_suffix('+') {
        return got >= low;
    }
    if let Some(high) = value.strip_suffix('-') {
        return !got.is_empty() && got <= high;
    }
    // A range `a-b` between timestamps or numbers: split at the `-` that starts a second
    // value of the same length (timestamps hold dashes themselves).
    let n = value.len();
    if n % 2 == 1 && value.as_bytes().get(n / 2) == Some(&b'-') {
        let (low, high) = (&value[..n / 2], &value[n / 2 + 1..]);
        return got >= low && got <= high;
    }
    value.split(',').any(|v| v == got)
}

fn matches(listing: &Listing, query: &str) -> bool {
    // The connector's queries are ANDed terms `(...)` joined by `,`.
    let mut depth = 0;
    let mut start = 0;
    let mut terms = Vec::new();
    for (i, c) in query.char_indices() {
        match c {
            '(' => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    terms.push(&query[start..i]);
                }
            }
            _ => {}
        }
    }
    terms.iter().all(|t| term_matches(listing, t))
}

fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn search(s: &ServerState, params: &BTreeMap<String, String>) -> Response {
    let query = params.get("Query").cloned().unwrap_or_default();
    let mut rows: Vec<&Listing> = s.listings.iter().filter(|l| matches(l, &query)).collect();
    rows.sort_by(|a, b| a.fields["ListingKey"].cmp(&b.fields["ListingKey"]));
    let count = rows.len();
    if params.get("Count").map(String::as_str) == Some("2") {
        return xml(format!(
            "<RETS ReplyCode=\"0\" ReplyText=\"Success\">\n<COUNT Records=\"{count}\" />\n</RETS>\n"
        ));
    }
    let offset = match params.get("Offset") {
        Some(_) if !s.offset_supported => return reply(20203, "Offset is not supported"),
        Some(o) => o.parse::<usize>().unwrap_or(1).max(1) - 1,
        None => 0,
    };
    if rows.is_empty() {
        return reply(20201, "No Records Found");
    }
    let limit = params
        .get("Limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX)
        .min(s.max_rows);
    let columns: Vec<String> = match params.get("Select") {
        Some(sel) if !sel.is_empty() => sel.split(',').map(str::to_string).collect(),
        _ => s.listings[0].fields.keys().cloned().collect(),
    };
    let page: Vec<&&Listing> = rows.iter().skip(offset).take(limit).collect();
    let more = offset + page.len() < count;
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<RETS ReplyCode=\"0\" ReplyText=\"Operation Successful\">\n",
    );
    if params.get("Count").map(String::as_str) == Some("1") {
        out.push_str(&format!("<COUNT Records=\"{count}\" />\n"));
    }
    out.push_str("<DELIMITER value=\"09\" />\n<COLUMNS>\t");
    out.push_str(&columns.join("\t"));
    out.push_str("\t</COLUMNS>\n");
    for l in page {
        out.push_str("<DATA>\t");
        let values: Vec<String> = columns
            .iter()
            .map(|c| escape(l.fields.get(c).map(String::as_str).unwrap_or("")))
            .collect();
        out.push_str(&values.join("\t"));
        out.push_str("\t</DATA>\n");
    }
    if more {
        out.push_str("<MAXROWS />\n");
    }
    out.push_str("</RETS>\n");
    xml(out)
}

/// One COMPACT metadata block: `kind`, its attributes, columns and rows.
fn block(kind: &str, attrs: &str, columns: &[&str], rows: &[&[&str]]) -> String {
    let mut out = format!(
        "<METADATA-{kind} Version=\"1.00.000\" Date=\"2026-01-01T00:00:00\" {attrs}>\n<COLUMNS>\t{}\t</COLUMNS>\n",
        columns.join("\t")
    );
    for r in rows {
        out.push_str(&format!("<DATA>\t{}\t</DATA>\n", r.join("\t")));
    }
    out.push_str(&format!("</METADATA-{kind}>\n"));
    out
}

/// The metadata of a small MLS: one resource (`Property`), one class (`RES`), its fields,
/// the `Status` lookup and photos.
fn metadata(params: &BTreeMap<String, String>) -> Response {
    let kind = params.get("Type").cloned().unwrap_or_default();
    let body = match kind.as_str() {
        "METADATA-SYSTEM" => {
            "<METADATA-SYSTEM Version=\"1.00.000\" Date=\"2026-01-01T00:00:00\">\n\
             <SYSTEM SystemID=\"LOOP\" SystemDescription=\"Loopback MLS\" />\n\
             <COMMENTS>A loopback server</COMMENTS>\n</METADATA-SYSTEM>\n"
                .to_string()
        }
        "METADATA-RESOURCE" => block(
            "RESOURCE",
            "",
            &["ResourceID", "StandardName", "KeyField", "ClassCount"],
            &[&["Property", "Property", "ListingKey", "1"]],
        ),
        "METADATA-CLASS" => block(
            "CLASS",
            "Resource=\"Property\"",
            &["ClassName", "StandardName", "VisibleName"],
            &[&["RES", "ResidentialProperty", "Residential"]],
        ),
        "METADATA-TABLE" => block(
            "TABLE",
            "Resource=\"Property\" Class=\"RES\"",
            &[
                "SystemName",
                "StandardName",
                "LongName",
                "DataType",
                "Interpretation",
                "LookupName",
            ],
            &[
                &[
                    "ListingKey",
                    "ListingKey",
                    "Listing Key",
                    "Character",
                    "",
                    "",
                ],
                &[
                    "ListPrice",
                    "ListPrice",
                    "List Price",
                    "Decimal",
                    "Currency",
                    "",
                ],
                &[
                    "StandardStatus",
                    "StandardStatus",
                    "Status",
                    "Character",
                    "Lookup",
                    "Status",
                ],
            ],
        ),
        "METADATA-LOOKUP" => block(
            "LOOKUP",
            "Resource=\"Property\"",
            &["LookupName", "VisibleName"],
            &[&["Status", "Status"]],
        ),
        "METADATA-LOOKUP_TYPE" => block(
            "LOOKUP_TYPE",
            "Resource=\"Property\" Lookup=\"Status\"",
            &["Value", "LongValue", "ShortValue"],
            &[&["A", "Active", "Act"], &["P", "Pending", "Pnd"]],
        ),
        "METADATA-OBJECT" => block(
            "OBJECT",
            "Resource=\"Property\"",
            &["ObjectType", "MimeType", "VisibleName"],
            &[&["Photo", "image/jpeg", "Photo"]],
        ),
        _ => return reply(20502, "Invalid Identifier"),
    };
    xml(format!(
        "<RETS ReplyCode=\"0\" ReplyText=\"Operation Successful\">\n{body}</RETS>\n"
    ))
}

fn objects(s: &ServerState, params: &BTreeMap<String, String>) -> Response {
    let id = params.get("ID").cloned().unwrap_or_default();
    let listing_id = id.split(':').next().unwrap_or_default();
    let Some(listing) = s
        .listings
        .iter()
        .find(|l| l.fields["ListingKey"] == listing_id)
    else {
        return reply(20403, "No Object Found");
    };
    if listing.photos.is_empty() {
        return reply(20403, "No Object Found");
    }
    let boundary = "loop-boundary";
    let mut body = Vec::new();
    for (i, photo) in listing.photos.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: image/jpeg\r\nContent-ID: {listing_id}\r\nObject-ID: {}\r\n\r\n",
                i + 1
            )
            .as_bytes(),
        );
        body.extend_from_slice(photo);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        [(
            "content-type",
            format!("multipart/parallel; boundary=\"{boundary}\""),
        )],
        body,
    )
        .into_response()
}
