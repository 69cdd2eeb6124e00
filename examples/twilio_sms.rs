//! Twilio SMS end to end: validate a number with Lookups, send an SMS, fetch it, bulk-send to
//! three numbers through the rate limiter, and verify a signed status callback.
//!
//! Offline by default: an in-process loopback server plays Twilio (both hosts). With
//! `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM` and `TWILIO_TO` set it uses the
//! real API (and sends real messages: one SMS, plus one per number in the optional
//! comma-separated `TWILIO_BULK_TO`).
//!
//! ```text
//! cargo run --example twilio_sms --features twilio
//! ```

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use switchboard::rate_limit::InMemoryRateLimiter;
use switchboard::test_util::LoopbackServer;
use switchboard::twilio::{
    BulkOptions, CreateMessage, MessageStatusCallback, TwilioClient, TwilioConfig, TwilioSigner,
    TwilioVerifier, MESSAGES_BUCKET,
};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};
use switchboard::{Quota, Switchboard};

#[path = "mocks/twilio.rs"]
mod mock;

use mock::OFFLINE_SID;
const OFFLINE_TOKEN: &str = "offline-example-token";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let real = match (
        std::env::var("TWILIO_ACCOUNT_SID"),
        std::env::var("TWILIO_AUTH_TOKEN"),
        std::env::var("TWILIO_FROM"),
        std::env::var("TWILIO_TO"),
    ) {
        (Ok(sid), Ok(token), Ok(from), Ok(to)) => Some((sid, token, from, to)),
        _ => None,
    };
    // Kept alive for the whole run when offline.
    let mut _mock = None;
    let (sid, token, from, to, bulk, base) = match real {
        Some((sid, token, from, to)) => {
            println!("mode: real Twilio API (account {sid})");
            let bulk: Vec<String> = std::env::var("TWILIO_BULK_TO")
                .map(|s| s.split(',').map(|n| n.trim().to_string()).collect())
                .unwrap_or_default();
            (sid, token, from, to, bulk, None)
        }
        None => {
            let server = LoopbackServer::start(mock::router()).await;
            let base = server.base_url();
            _mock = Some(server);
            println!("mode: offline (loopback mock at {base}); set TWILIO_* for the real API");
            let bulk = ["+15551110001", "+15551110002", "+15551110003"]
                .map(String::from)
                .to_vec();
            (
                OFFLINE_SID.to_string(),
                OFFLINE_TOKEN.to_string(),
                "+15017122661".to_string(),
                "+15558675310".to_string(),
                bulk,
                Some(base),
            )
        }
    };

    // The account's sending rate lives in the core limiter; bulk sends keep to it.
    let limiter = InMemoryRateLimiter::new().with_quota(
        "twilio",
        MESSAGES_BUCKET,
        Quota::per_second(NonZeroU32::new(1).ok_or("nonzero")?)
            .allow_burst(NonZeroU32::new(3).ok_or("nonzero")?),
    );
    let sb = Switchboard::builder()
        .rate_limiter(Arc::new(limiter))
        .build()?;
    // The tenant's account. With the connection service this config is stored sealed and
    // `connections.connection(&tenant, &id)` gives the same connection.
    let mut config = TwilioConfig::new(&sid, token.clone()).from_number(&from);
    if let Some(base) = &base {
        config = config.base_url(base).lookups_base_url(base);
    }
    let twilio = TwilioClient::from_connection(config.connection(&sb, "example", "sms")?)?;

    let lookup = twilio.lookups().phone_number(&to).await?;
    println!("lookup {to}: valid = {}", lookup.is_valid());
    if !lookup.is_valid() {
        return Err(format!("{to} is not a valid number").into());
    }

    let sent = twilio
        .messages()
        .create(CreateMessage::new(&to).body("Hello from switchboard"))
        .await?;
    println!("sent {} ({:?})", sent.sid, sent.status);
    let fetched = twilio.messages().fetch(&sent.sid).await?;
    println!("fetched {}: {:?}", fetched.sid, fetched.status);

    if bulk.is_empty() {
        println!("bulk send skipped (set TWILIO_BULK_TO=+1...,+1... to try it)");
    } else {
        let results = twilio
            .messages()
            .send_bulk(
                CreateMessage::new("").body("Bulk hello"),
                &bulk,
                BulkOptions::default().concurrency(NonZeroUsize::new(2).ok_or("nonzero")?),
            )
            .await;
        for (n, r) in bulk.iter().zip(&results) {
            match r {
                Ok(m) => println!("bulk {n}: {}", m.sid),
                Err(e) => println!("bulk {n}: failed: {e}"),
            }
        }
    }

    // A status callback as Twilio would post it, signed with the auth token.
    let public_url = "https://hooks.example.com/twilio/status";
    let body = format!(
        "MessageSid={}&MessageStatus=delivered&AccountSid={sid}&To=%2B15558675310",
        sent.sid
    );
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&TwilioSigner::new(token.clone()).sign_form(public_url, &params))?,
    );
    let verifier = TwilioVerifier::builder()
        .auth_token(token)
        .public_base_url("https://hooks.example.com")
        .build()?;
    // The URL the server saw behind its proxy; the verifier rebuilds the public one.
    let received = url::Url::parse("http://127.0.0.1:8080/twilio/status")?;
    verifier.verify(&WebhookRequest::new(body.as_bytes(), &headers).with_url(&received))?;
    let callback = MessageStatusCallback::from_form(body.as_bytes())?;
    println!(
        "status callback verified: {} is {:?}",
        callback.message_sid, callback.message_status
    );
    Ok(())
}
