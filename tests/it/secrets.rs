//! Canary secrets in headers, query and config never appear in Debug, Display, errors or logs.

use std::sync::Arc;

use switchboard::auth::{BasicAuth, BearerToken, HeaderKey, QueryKey};
use switchboard::test_util::{canary, LogCapture, RawAction, RawServer};
use switchboard::webhook::{HmacBodyVerifier, SignatureEncoding};

use crate::support::{builder, TestConnector};

#[tokio::test]
async fn canaries_appear_in_no_debug_display_error_or_log_output() {
    let (logs, _guard) = LogCapture::start();
    let bearer = canary("bearer");
    let basic = canary("basic");
    let header = canary("header");
    let query = canary("query");
    let webhook = canary("whsec");
    let canaries = [&bearer, &basic, &header, &query, &webhook];

    let server = RawServer::start(|req| {
        if req.path.starts_with("/fail") {
            RawAction::status(500, "{}")
        } else if req.path.starts_with("/reset") {
            RawAction::Reset
        } else {
            RawAction::status(200, "{\"ok\":true}")
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let auths: Vec<Arc<dyn switchboard::auth::Authenticator>> = vec![
        Arc::new(BearerToken::new(bearer.clone())),
        Arc::new(BasicAuth::new("AC123", basic.clone())),
        Arc::new(HeaderKey::new("x-api-key".parse().unwrap(), header.clone())),
        Arc::new(QueryKey::new("key", query.clone())),
    ];
    let mut outputs = vec![format!("{sb:?}")];
    for auth in auths {
        outputs.push(format!("{auth:?}"));
        let conn = sb
            .connection(Arc::new(TestConnector::default()))
            .tenant("t1")
            .id("c1")
            .base_url(server.base_url())
            .auth(auth)
            .build()
            .unwrap();
        outputs.push(format!("{conn:?}"));
        let ok = conn
            .get("/ok")
            .query(&[("token", query.as_str())])
            .send()
            .await
            .unwrap();
        outputs.push(format!("{ok:?}"));
        for path in ["/fail", "/reset"] {
            let err = conn
                .post(path)
                .query(&[("signature", query.as_str())])
                .send()
                .await
                .unwrap_err();
            outputs.push(format!("{err}"));
            outputs.push(format!("{err:?}"));
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                outputs.push(format!("{s} {s:?}"));
                source = s.source();
            }
        }
    }
    let builder = HmacBodyVerifier::builder()
        .header("x-sig")
        .encoding(SignatureEncoding::Hex)
        .secret(&webhook);
    outputs.push(format!("{builder:?}"));
    let verifier = builder.build().expect("a valid header");
    outputs.push(format!("{verifier:?}"));
    outputs.push(format!("{:?}", HmacBodyVerifier::new(&webhook)));

    let all = outputs.join("\n");
    for c in canaries {
        assert!(!all.contains(c.as_str()), "canary {c} leaked in:\n{all}");
        logs.assert_absent(c);
    }
    // Logging really happened, so the absence above means something.
    let text = logs.contents();
    assert!(
        text.contains("switchboard.call") && text.contains("REDACTED"),
        "{text}"
    );
}
