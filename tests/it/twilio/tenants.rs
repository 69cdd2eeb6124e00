//! One Twilio connector, many tenants: each tenant's account comes from its own config through
//! the connection service, so two tenants sharing a connection id call their own
//! `/Accounts/{sid}/` paths with their own credentials; and the typed client refuses any
//! connection that is not a Twilio one.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::json;
use switchboard::connections::ConnectionStatus;
use switchboard::test_util::{canary, RawAction, RawRequest, RawServer};
use switchboard::twilio::{
    CreateMessage, MessageSid, TwilioClient, TwilioConfig, TwilioConnector, TwilioIntegration,
};
use switchboard::ProviderError;
use switchboard::{ConnectionId, ErrorKind, TenantId};

use super::{message_json, AC, SM, SUB};
use crate::support::builder;

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// A Twilio stand-in answering every call (the account, a message, a lookup), recording each.
async fn twilio() -> (RawServer, Arc<Mutex<Vec<RawRequest>>>) {
    let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
    let s = seen.clone();
    let server = RawServer::start(move |req: &RawRequest| {
        s.lock().unwrap().push(req.clone());
        if req.path.starts_with("/v2/PhoneNumbers/") {
            RawAction::status(200, r#"{"phone_number": "+15558675310", "valid": true}"#)
        } else if req.path.ends_with("Messages.json") || req.path.contains("/Messages/") {
            RawAction::status(200, &message_json(SM, "+15558675310"))
        } else {
            RawAction::status(200, &json!({"sid": AC, "status": "active"}).to_string())
        }
    })
    .await;
    (server, seen)
}

#[tokio::test]
async fn two_tenants_sharing_a_connection_id_call_their_own_accounts_with_their_own_credentials() {
    let s = crate::support::stripe_and_twilio_connections();
    let (server, seen) = twilio().await;
    let id = ConnectionId::new("sms");
    let (ta, tb) = (TenantId::new("ta"), TenantId::new("tb"));
    let (tok_a, tok_b) = (canary("tw-tenant-a"), canary("tw-tenant-b"));
    // Tenant a: its own account with its token. Tenant b: another account, scoped to a
    // subaccount, calling with an API key, with its own default sender.
    let key_b = "SKffffffffffffffffffffffffffffffff";
    let config_a = json!({
        "account_sid": AC, "auth_token": tok_a, "from_number": "+15550000001",
        "base_url": server.base_url(), "lookups_base_url": server.base_url(),
    });
    let ac_b = "AC0123456789abcdef0123456789abcdef";
    let config_b = json!({
        "account_sid": ac_b, "api_key_sid": key_b, "api_key_secret": tok_b,
        "subaccount_sid": SUB, "from_number": "+15550000002",
        "base_url": server.base_url(), "lookups_base_url": server.base_url(),
    });
    for (t, config) in [(&ta, &config_a), (&tb, &config_b)] {
        s.create(t, &id, "twilio", "Twilio", config).await.unwrap();
        let record = s.test_connection(t, &id).await.unwrap();
        assert_eq!(record.status, ConnectionStatus::Active, "{t}");
    }
    let checks: Vec<String> = seen.lock().unwrap().drain(..).map(|r| r.path).collect();
    assert_eq!(
        checks,
        [
            format!("/2010-04-01/Accounts/{AC}.json"),
            format!("/2010-04-01/Accounts/{SUB}.json"),
        ],
        "each test fetched its own account"
    );

    let a = TwilioClient::from_connection(s.connection(&ta, &id).await.unwrap()).unwrap();
    let b = TwilioClient::from_connection(s.connection(&tb, &id).await.unwrap()).unwrap();
    assert_eq!(a.settings().account_sid().as_str(), AC);
    assert_eq!(b.settings().scope().as_str(), SUB);
    for client in [&a, &b] {
        client
            .messages()
            .create(CreateMessage::new("+15558675310").body("hi"))
            .await
            .unwrap();
        client.messages().fetch(&MessageSid::new(SM)).await.unwrap();
        client.accounts().fetch().await.unwrap();
        client.lookups().phone_number("+15558675310").await.unwrap();
    }

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        8,
        "{:?}",
        seen.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let (auth_a, auth_b) = (basic(AC, &tok_a), basic(key_b, &tok_b));
    for (requests, account, auth, from) in [
        (&seen[..4], AC, &auth_a, "+15550000001"),
        (&seen[4..], SUB, &auth_b, "+15550000002"),
    ] {
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("/2010-04-01/Accounts/{account}/Messages.json"),
                format!("/2010-04-01/Accounts/{account}/Messages/{SM}.json"),
                format!("/2010-04-01/Accounts/{account}.json"),
                "/v2/PhoneNumbers/%2B15558675310".to_string(),
            ]
        );
        for r in requests {
            assert_eq!(r.header("authorization"), Some(auth.as_str()), "{}", r.path);
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
            .into_owned()
            .collect();
        assert!(
            form.contains(&("From".to_string(), from.to_string())),
            "each tenant's own default sender: {form:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_of_another_connector_is_a_typed_error() {
    let s = crate::support::stripe_and_twilio_connections();
    let (t, id) = (TenantId::new("ta"), ConnectionId::new("pay"));
    s.create(
        &t,
        &id,
        "stripe",
        "Stripe",
        &json!({"secret_key": "sk_test_CANARY", "base_url": "https://127.0.0.1:9"}),
    )
    .await
    .unwrap();
    let stripe = s.connection(&t, &id).await.unwrap();
    let err = TwilioClient::from_connection(stripe).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("twilio.connection"), "{text}");
    assert!(text.contains("stripe"), "names what it got: {text}");
    assert!(!text.contains("CANARY"), "{text}");

    // A connection a host made by hand with the Twilio connector but no Twilio config has no
    // account to call: refused the same way, not a call to `/Accounts//`.
    let sb = builder().build().unwrap();
    let bare = sb
        .connection(Arc::new(TwilioConnector::new()))
        .tenant("ta")
        .id("bare")
        .base_url("https://api.twilio.com")
        .build()
        .unwrap();
    let err = TwilioClient::from_connection(bare.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("twilio.connection"), "{err}");
    let err = switchboard::templates::Integration::check(&TwilioIntegration::new(), &bare)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[tokio::test]
async fn a_config_built_in_code_makes_the_same_connection_as_the_template() {
    let (server, seen) = twilio().await;
    let sb = builder().build().unwrap();
    let token = canary("tw-code");
    let config = TwilioConfig::new(AC, token.clone())
        .subaccount_sid(SUB)
        .base_url(server.base_url())
        .lookups_base_url(server.base_url());
    let twilio =
        TwilioClient::from_connection(config.connection(&sb, "t1", "c1").unwrap()).unwrap();
    twilio.accounts().fetch().await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].path, format!("/2010-04-01/Accounts/{SUB}.json"));
    assert_eq!(
        seen[0].header("authorization"),
        Some(basic(AC, &token).as_str())
    );
    let debug = format!("{config:?} {twilio:?}");
    assert!(!debug.contains(&token), "{debug}");
}
