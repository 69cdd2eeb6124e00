//! The recorded PHRETS replies of a real server (retsgw.flexmls.com), replayed on loopback
//! through the template, `Connections` and the typed client: every Login, Search,
//! GetMetadata, GetObject and Logout recording. The recordings still say
//! `Content-Encoding: gzip` over plain bodies; the replay drops that header (and recomputes
//! the length).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use switchboard::rets::{Dmql, ReplyCode, Search};
use switchboard::test_util::LoopbackServer;
use switchboard::ProviderError;

fn recordings(method: &str, folder: &str) -> Vec<PathBuf> {
    let dir = crate::support::shared_dir().join(format!(
        "fixtures/rets/phrets/tests/Integration/Fixtures/Http/{method}/retsgw.flexmls.com/{folder}"
    ));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no recording in {}", dir.display());
    files
}

/// A recorded HTTP response as axum's: status line, headers (less the stale encoding and
/// length), body.
fn replay(file: &PathBuf) -> Response {
    let raw = std::fs::read(file).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))
        .expect("a recorded response has a blank line after its headers");
    let head = String::from_utf8_lossy(&raw[..split.0]).to_string();
    let body = raw[split.0 + split.1..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        if matches!(
            k.as_str(),
            "content-encoding" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::from_str(v.trim())) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Which recording each transaction answers with.
#[derive(Clone, Default)]
struct Script {
    login: Option<PathBuf>,
    search: Option<PathBuf>,
    metadata: Option<PathBuf>,
    object: Option<PathBuf>,
    logout: Option<PathBuf>,
}

async fn start(script: Arc<Mutex<Script>>) -> LoopbackServer {
    let app = Router::new().fallback(any(move |uri: axum::http::Uri| {
        let script = script.clone();
        async move {
            // A recording holds one page: the page after it is empty.
            if uri.query().is_some_and(|q| q.contains("Offset=")) {
                return (
                    [("content-type", "text/xml")],
                    "<RETS ReplyCode=\"20201\" ReplyText=\"No Records Found\" />\n",
                )
                    .into_response();
            }
            let s = script.lock().unwrap().clone();
            let file = match uri.path() {
                "/rets2_1/Login" => s.login,
                "/rets2_1/Search" => s.search,
                "/rets2_1/GetMetadata" => s.metadata,
                "/rets2_1/GetObject" => s.object,
                "/rets2_1/Logout" => s.logout,
                _ => None,
            };
            match file {
                Some(f) => replay(&f),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    }));
    LoopbackServer::start(app).await
}

fn data_rows(file: &PathBuf) -> usize {
    String::from_utf8_lossy(&std::fs::read(file).unwrap())
        .matches("<DATA>")
        .count()
}

#[tokio::test]
async fn every_recorded_transaction_reads_through_the_client() {
    let script = Arc::new(Mutex::new(Script {
        login: Some(recordings("get", "rets2_1_Login")[0].clone()),
        logout: Some(recordings("get", "rets2_1_Logout")[0].clone()),
        ..Script::default()
    }));
    let server = start(script.clone()).await;
    let connections = super::host();
    let rets = super::client(
        &connections,
        "acme",
        super::config(&format!("{}/rets2_1/Login", server.base_url()), "pw"),
    )
    .await;

    // Every login recording gives a session with its capability URLs.
    for (method, folder) in [("get", "rets2_1_Login"), ("post", "rets2_1_Login")] {
        for file in recordings(method, folder) {
            script.lock().unwrap().login = Some(file.clone());
            rets.logout().await.unwrap();
            let live = rets
                .login()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                live.url(switchboard::rets::Capability::Search).is_some(),
                "{}",
                file.display()
            );
        }
    }

    // Every search recording: its rows, or its typed reply code.
    for method in ["get", "post"] {
        for file in recordings(method, "rets2_1_Search") {
            script.lock().unwrap().search = Some(file.clone());
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).to_string();
            let result = rets
                .search(Search::new("Property", "A", Dmql::raw("*")).page_size(100_000))
                .collect()
                .await;
            if text.contains("ReplyCode=\"20203\"") {
                let e = result.unwrap_err();
                assert_eq!(e.reply_code(), Some(ReplyCode(20203)), "{}", file.display());
                assert!(e.to_string().contains("Specified Class"), "{e}");
            } else {
                let rows = result.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert_eq!(rows.len(), data_rows(&file), "{}", file.display());
            }
        }
    }

    // Every metadata recording: COMPACT ones parse; the STANDARD-XML ones (most of PHRETS'
    // recordings) are a typed decode error that says so.
    let (mut parsed, mut standard_xml) = (0, 0);
    for (method, folder) in [
        ("get", "rets2_1_GetMetadata"),
        ("post", "rets2_1_GetMetadata"),
        ("get", "lookup_rets2_1_GetMetadata"),
    ] {
        for file in recordings(method, folder) {
            script.lock().unwrap().metadata = Some(file.clone());
            // A new session each time: metadata is cached per session.
            rets.logout().await.unwrap();
            match rets.class_metadata("Property", "A").await {
                Ok(_) => parsed += 1,
                Err(e) => {
                    assert_eq!(
                        e.kind(),
                        switchboard::ErrorKind::Decode,
                        "{}: {e}",
                        file.display()
                    );
                    assert!(
                        e.to_string().contains("STANDARD-XML"),
                        "{}: {e}",
                        file.display()
                    );
                    standard_xml += 1;
                }
            }
        }
    }
    assert!(
        parsed > 0 && standard_xml > 0,
        "{parsed} parsed, {standard_xml} STANDARD-XML"
    );

    // Every object recording: parts, or a typed error part.
    for file in recordings("get", "rets2_1_GetObject") {
        script.lock().unwrap().object = Some(file.clone());
        let request = switchboard::rets::GetObject::photos("Property").of(
            "20140904164308260560000000",
            switchboard::rets::ObjectIds::All,
        );
        let mut reader = rets
            .get_objects(&request)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut parts = 0;
        while let Some(object) = reader.next_object().await.unwrap() {
            parts += 1;
            assert!(
                object.error.is_some() || !object.data.is_empty() || object.location.is_some(),
                "{}",
                file.display()
            );
        }
        assert!(parts > 0, "{}", file.display());
    }
    rets.logout().await.unwrap();
}
