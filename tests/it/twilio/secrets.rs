//! The auth token and API key secret never appear in Debug, Display, errors or logs.

use http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::templates::Integration;
use switchboard::test_util::{canary, LogCapture, RawAction, RawServer};
use switchboard::twilio::{
    CreateMessage, MessageSid, TwilioClient, TwilioConfig, TwilioConnector, TwilioIntegration,
    TwilioVerifier,
};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};

use super::{AC, SM};
use crate::support::builder;

#[tokio::test]
async fn twilio_secrets_never_reach_debug_display_errors_or_logs() {
    let (logs, _guard) = LogCapture::start();
    let token = canary("twilio-token");
    let key_secret = canary("twilio-key");
    let server = RawServer::start(|req| {
        if req.method == "POST" {
            RawAction::Reset
        } else {
            RawAction::status(
                401,
                r#"{"code": 20003, "message": "Authenticate", "status": 401}"#,
            )
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let mut out = Vec::new();
    out.push(format!("{:?}", TwilioConnector::new()));
    for config in [
        TwilioConfig::new(AC, token.clone()),
        TwilioConfig::with_api_key(AC, "SKffffffffffffffffffffffffffffffff", key_secret.clone())
            .webhook_auth_token(token.clone()),
    ] {
        let config = config.base_url(server.base_url());
        out.push(format!("{config:?}"));
        let connection = config.connection(&sb, "t1", "c1").unwrap();
        out.push(format!("{connection:?}"));
        let client = TwilioClient::from_connection(connection).unwrap();
        out.push(format!("{client:?} {:?}", client.settings()));
        out.push(format!("{:?}", config.webhook_verifier().unwrap()));
        let e = client
            .messages()
            .fetch(&MessageSid::new(SM))
            .await
            .unwrap_err();
        out.push(format!("{e} {e:?}"));
        let e = client
            .messages()
            .create(
                CreateMessage::new("+15558675310")
                    .from("+15017122661")
                    .body("x"),
            )
            .await
            .unwrap_err();
        out.push(format!("{e} {e:?}"));
        let e = TwilioIntegration::new()
            .check(client.connection())
            .await
            .unwrap_err();
        out.push(format!("{e} {e:?}"));
    }
    // Config errors name the field, not the value.
    let mut bad = TwilioConfig::new(AC, token.clone());
    bad.api_key_sid = Some("SK1".into());
    bad.api_key_secret = Some(key_secret.clone().into());
    let bad = bad.connection(&sb, "t1", "c1").unwrap_err();
    out.push(format!("{bad} {bad:?}"));
    let bad = TwilioConfig::new(token.clone(), key_secret.clone())
        .connection(&sb, "t1", "c1")
        .unwrap_err();
    out.push(format!("{bad} {bad:?}"));
    // The template's config and binding.
    let integration = TwilioIntegration::new();
    let config = integration
        .template()
        .split(&json!({"account_sid": AC, "auth_token": token}))
        .unwrap();
    out.push(format!("{config:?}"));
    out.push(format!("{:?}", integration.bind(&config).unwrap()));
    let typed: TwilioConfig = switchboard::toolkit::typed_config(&config).unwrap();
    out.push(format!("{typed:?}"));
    // A secret pasted into a plain field is not echoed by the typed config's error.
    let misplaced = switchboard::templates::ConnectionConfig::new(
        json!({"account_sid": AC, "from_number": {"x": token}, "region": key_secret}),
        Default::default(),
    );
    let e = integration.bind(&misplaced).unwrap_err();
    out.push(format!("{e} {e:?}"));
    // The verifier, and a failed verification.
    let v = TwilioVerifier::builder()
        .auth_token(token.clone())
        .build()
        .unwrap();
    out.push(format!("{v:?}"));
    let mut h = HeaderMap::new();
    h.insert(
        "x-twilio-signature",
        HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    let url = url::Url::parse("https://hooks.example.com/s").unwrap();
    let e = v
        .verify(&WebhookRequest::new(b"a=b", &h).with_url(&url))
        .unwrap_err();
    out.push(format!("{e} {e:?}"));

    let text = out.join("\n");
    for secret in [&token, &key_secret] {
        assert!(!text.contains(secret.as_str()), "{secret} leaked:\n{text}");
        logs.assert_absent(secret);
    }
    assert!(out.len() >= 16, "{}", out.len());
}
