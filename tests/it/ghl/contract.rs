//! The contract: Prism serving GoHighLevel's own OpenAPI specs (`specs/ghl/apps/*.json`, one
//! server per spec) with `--errors`, so a request that breaks the spec (no `Version` header, a
//! missing required field or query parameter, no bearer token) is refused and the test fails.
//! Every call the connector makes goes through it and its answer decodes into the typed
//! models. One negative test shows the harness catches a violation.

use std::sync::Arc;

use futures_util::StreamExt;

use switchboard::auth::BearerToken;
use switchboard::ghl::{
    AddNote, ContactSort, CreateContact, GhlClient, GhlConnector, GhlError, GhlSettings,
    SearchContacts, SearchLocations, UpdateContact, UpsertContact,
};

use switchboard::test_util::prism::{violations, Prism, PrismOptions};
use switchboard::{ExposeSecret, ProviderError};

use crate::support::{recording_builder, shared_dir};

/// The Prism server of one GoHighLevel app spec (`"contacts"`, `"calendars"`, ...).
pub(crate) fn prism(app: &str) -> &'static Prism {
    Prism::shared(&PrismOptions::new(
        shared_dir().join(format!("specs/ghl/apps/{app}.json")),
    ))
}

/// (path, status, `sl-violations`) of every answer Prism gave.
pub(crate) type Answers = crate::support::PrismAnswers;

/// The Prism server of one app spec without `--errors`, for the calls whose answer in the
/// spec's own example breaks the spec's own schema (GoHighLevel's calendar events give
/// `startTime` as a string where the schema says object; its opportunities give `indexVersion`
/// as a number where it says string). With `--errors`, Prism answers those with a 500 listing
/// only `response` violations, so the typed answer could never be decoded; without it, Prism
/// answers the example and still refuses a request missing a required parameter and lists
/// every request violation in `sl-violations`, which [`accepted`] fails on: the request is held
/// to the same contract.
pub(crate) fn lenient_prism(app: &str) -> &'static Prism {
    Prism::shared(
        &PrismOptions::new(shared_dir().join(format!("specs/ghl/apps/{app}.json"))).errors(false),
    )
}

/// A client of location `loc_contract` against the Prism server of `app`.
pub(crate) fn client(app: &str) -> (GhlClient, Answers) {
    client_of(prism(app))
}

/// A client of location `loc_contract` against [`lenient_prism`] of `app`.
pub(crate) fn lenient_client(app: &str) -> (GhlClient, Answers) {
    client_of(lenient_prism(app))
}

fn client_of(prism: &Prism) -> (GhlClient, Answers) {
    let (sb, answers) = recording_builder();
    let sb = sb.build().unwrap();
    let conn = sb
        .connection(GhlConnector::new())
        .tenant("acme")
        .id("ghl")
        .base_url(prism.base_url())
        .auth(Arc::new(BearerToken::new("pit-contract-0000")))
        .build()
        .unwrap();
    let client = GhlClient::from_connection(conn)
        .unwrap()
        .with_settings(GhlSettings::for_location("loc_contract").calendar("cal_contract"));
    (client, answers)
}

/// Asserts the last call reached Prism, passed its validation and decoded.
pub(crate) fn accepted<T>(what: &str, result: Result<T, GhlError>, answers: &Answers) {
    let last = answers.lock().unwrap().last().cloned();
    let (path, status, header) = last.unwrap_or_else(|| panic!("{what}: nothing reached Prism"));
    let blamed = request_violations(&header);
    assert!(
        blamed.is_empty(),
        "{what} ({path}): Prism's violations: {blamed:#?}"
    );
    assert!(status.is_success(), "{what} ({path}): {status}");
    if let Err(e) = result {
        let found = e.core().body().map(|b| violations(b)).unwrap_or_default();
        panic!("{what} ({path}): {e}; violations: {found:#?}");
    }
}

#[tokio::test]
async fn every_contact_call_passes_prisms_request_validation_and_decodes_its_answer() {
    let (ghl, answers) = client("contacts");
    let contacts = ghl.contacts();
    let r = contacts
        .create(
            CreateContact::new()
                .first_name("Ada")
                .last_name("Lovelace")
                .email("ada@example.com")
                .phone("+15555550100")
                .tags(vec!["lead".into()])
                .source("switchboard"),
        )
        .await;
    accepted("contacts.create", r, &answers);
    let r = contacts.get("contact_1").await;
    accepted("contacts.get", r, &answers);
    let r = contacts
        .update("contact_1", UpdateContact::new().city("London").dnd(false))
        .await;
    accepted("contacts.update", r, &answers);
    let r = contacts
        .upsert(
            UpsertContact::new()
                .email("ada@example.com")
                .first_name("Ada"),
        )
        .await;
    accepted("contacts.upsert", r, &answers);
    let r = contacts.delete("contact_1").await;
    accepted("contacts.delete", r, &answers);
    let r = contacts.add_tags("contact_1", ["vip"]).await;
    accepted("contacts.tags.add", r, &answers);
    let r = contacts.remove_tags("contact_1", ["vip"]).await;
    accepted("contacts.tags.remove", r, &answers);
    let r = contacts
        .add_note("contact_1", AddNote::new("Called back"))
        .await;
    accepted("contacts.notes.create", r, &answers);
    let r = contacts.notes("contact_1").await;
    accepted("contacts.notes.list", r, &answers);
    let r = contacts
        .search_page(
            SearchContacts::new()
                .page_limit(10)
                .sort(ContactSort::UpdatedAscending)
                .updated_between(std::time::UNIX_EPOCH, None),
        )
        .await;
    // The spec documents no answer for the search (`{"description": "Success"}`), so Prism
    // answers an empty body: only the request is held to the contract here; the answer's
    // shape is tested against the loopback GoHighLevel of the sync tests.
    request_accepted("contacts.search", r, &answers);
    let first = contacts.search(SearchContacts::new()).next().await;
    request_accepted("contacts.search (stream)", first.unwrap(), &answers);
}

/// Asserts the last call reached Prism and passed its request validation, for the calls whose
/// answer the spec leaves undocumented (Prism then sends an empty body, which cannot decode).
pub(crate) fn request_accepted<T>(what: &str, result: Result<T, GhlError>, answers: &Answers) {
    let last = answers.lock().unwrap().last().cloned();
    let (path, status, header) = last.unwrap_or_else(|| panic!("{what}: nothing reached Prism"));
    let blamed = request_violations(&header);
    assert!(
        blamed.is_empty(),
        "{what} ({path}): Prism's violations: {blamed:#?}"
    );
    assert!(status.is_success(), "{what} ({path}): {status}");
    if let Err(e) = result {
        assert_eq!(e.kind(), switchboard::ErrorKind::Decode, "{what}: {e}");
    }
}

/// The violations of an `sl-violations` header that blame the request. Prism also lists the
/// places where the spec's own example answer breaks the spec's schema (GoHighLevel's calendar
/// events give `startTime` as a string where the schema says object; opportunities give
/// `indexVersion` as a number where it says string): those say nothing of our request and are
/// left out. A header that is not Prism's JSON list counts as one violation.
pub(crate) fn request_violations(header: &str) -> Vec<serde_json::Value> {
    if header.is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(header) {
        Ok(all) => all
            .into_iter()
            .filter(|v| v["location"][0].as_str() != Some("response"))
            .collect(),
        Err(_) => vec![serde_json::Value::String(header.to_string())],
    }
}

#[tokio::test]
async fn every_location_call_passes_prisms_request_validation_and_decodes_its_answer() {
    let (ghl, answers) = client("locations");
    let r = ghl.locations().current().await;
    accepted("locations.get", r, &answers);
    let r = ghl
        .locations()
        .search(SearchLocations::new().company_id("company_1").limit(10))
        .await;
    accepted("locations.search", r, &answers);
    let check = ghl.check().await;
    accepted(
        "check",
        check.as_ref().map(|_| ()).map_err(Clone::clone),
        &answers,
    );
    let check = check.unwrap();
    assert_eq!(check.api_version, "2021-07-28");
    assert!(!check.location_id.is_empty());
}

#[tokio::test]
async fn a_call_without_the_version_header_is_refused_by_the_contract() {
    let (ghl, answers) = client("contacts");
    // A raw call that removes the connector's `Version` default: Prism must refuse it.
    let result = ghl
        .connection()
        .get("/contacts/contact_1")
        .header("Version", "1999-01-01")
        .send()
        .await;
    let (_, status, header) = answers.lock().unwrap().last().cloned().unwrap();
    assert!(
        result.is_err() || !header.is_empty() || !status.is_success(),
        "a wrong Version header passed the contract"
    );
    assert!(!status.is_success(), "{status}: {header}");
}

#[tokio::test]
async fn the_location_token_exchange_and_the_refresh_pass_the_oauth_spec() {
    use secrecy::SecretString;
    use switchboard::tokens::{ClientAuth, OAuthClient, TokenError};

    let (ghl, answers) = client("oauth");
    let r = ghl
        .agency()
        .location_token("company_1", "loc_contract")
        .await;
    accepted(
        "oauth.location_token",
        r.as_ref().map(|_| ()).map_err(Clone::clone),
        &answers,
    );
    assert!(!r.unwrap().access_token().expose_secret().is_empty());

    // The refresh the token manager makes for a marketplace app: the same client settings as
    // the template's (`GhlIntegration::oauth_client`), against Prism's `/oauth/token`. The
    // spec's own example answer breaks its schema (`isBulkInstallation` is a string), so this
    // server answers from the schema (`-d`); requests are validated the same way.
    let dynamic = Prism::shared(
        &PrismOptions::new(shared_dir().join("specs/ghl/apps/oauth.json")).dynamic(true),
    );
    let oauth = OAuthClient::builder()
        .client_id("app-client")
        .client_secret("app-secret")
        .auth_url(switchboard::ghl::AUTHORIZE_URL)
        .token_url(format!("{}/oauth/token", dynamic.base_url()))
        .client_auth(ClientAuth::RequestBody)
        .token_param("user_type", "Location")
        .rotates_refresh_tokens(true)
        .build()
        .unwrap();
    // Prism refuses a request that breaks the spec with 422 (a `Rejected` error here). Its
    // generated answer may carry a fractional `expires_in` (the spec says "number"), which an
    // OAuth client refuses to read: that error still means the request passed validation.
    match oauth.refresh(&SecretString::from("rt-contract")).await {
        Ok(token) => assert!(!token.access_token().expose_secret().is_empty()),
        Err(TokenError::InvalidResponse { .. }) => {}
        Err(e) => panic!("Prism refused the refresh request: {e:?}"),
    }
}

#[test]
fn only_violations_of_the_request_fail_a_contract_call() {
    let response_only =
        r#"[{"location":["response","body","x"],"severity":"Error","message":"m"}]"#;
    assert!(request_violations(response_only).is_empty());
    let both = r#"[{"location":["response","body","x"],"message":"m"},{"location":["query","locationId"],"message":"required"}]"#;
    assert_eq!(request_violations(both).len(), 1);
    assert_eq!(request_violations("garbage").len(), 1);
    assert!(request_violations("").is_empty());
}
