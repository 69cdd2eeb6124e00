//! Contact sync through the host's path (template -> `Connections` -> `GhlClient` ->
//! `GhlContactsSource` -> `SyncEngine`) against the loopback GoHighLevel: 10,000 contacts,
//! 2,500 sharing each `dateUpdated`, a crash mid-run, edits on both sides while the job is
//! down (some to the same contacts: newer wins), then a clean run and a run with nothing to do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use switchboard::connections::Connections;
use switchboard::ghl::{GhlClient, GhlContactsSource};
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    Change, ChangePage, ChangeRequest, Direction, Held, InMemorySyncStore, JobKey, KeyPage,
    SyncEngine, SyncJob, SyncSink, Trigger,
};
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

use super::mock::FakeGhl;

const CONTACTS: usize = 10_000;
const PAGE: usize = 500;
const TOKEN: &str = "pit-sync-0000";
const LOCATION: &str = "loc_sync";

/// The host's store, failing once at its `fail_at`-th apply (a crash mid-run: the batch is
/// not applied) and counting what it is sent.
struct HostSink {
    inner: Arc<MemorySink>,
    applies: AtomicUsize,
    fail_at: AtomicUsize,
    records_applied: AtomicUsize,
}

#[async_trait]
impl SyncSink for HostSink {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        self.inner.held(keys).await
    }
    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        let n = self.applies.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(Error::store("the host's database went away"));
        }
        self.records_applied
            .fetch_add(batch.len(), Ordering::SeqCst);
        self.inner.apply(batch).await
    }
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.inner.changes(request).await
    }
    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        self.inner.live_keys(page).await
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn key(i: usize) -> String {
    format!("c{i:05}")
}

fn city_in_sink(sink: &MemorySink, key: &str) -> Option<Value> {
    sink.get(key)
        .and_then(|h| h.fields)
        .and_then(|f| f.get("city").cloned())
}

fn host_edit(sink: &MemorySink, key: &str, city: &str, at: SystemTime) {
    let mut fields = sink.get(key).and_then(|h| h.fields).expect("held");
    fields.insert("city".into(), city.into());
    sink.edit(key, Some(fields), at);
}

/// Tenant `acme`'s GoHighLevel client on `fake`, made the host's way: the template,
/// `connections`, the typed client.
async fn acme_client(connections: &Connections, fake: &FakeGhl) -> GhlClient {
    let (t, c) = (TenantId::new("acme"), ConnectionId::new("ghl"));
    connections
        .create(
            &t,
            &c,
            "ghl",
            "Acme GoHighLevel",
            &json!({"apiKey": TOKEN, "locationId": LOCATION, "baseUrl": fake.base_url()}),
        )
        .await
        .unwrap();
    GhlClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_survive_a_crash_and_edits_on_both_sides() {
    let now = SystemTime::now();
    let fake = FakeGhl::start(LOCATION, TOKEN, now - Duration::from_secs(600)).await;
    let base = ms(now - Duration::from_secs(7200));
    for i in 0..CONTACTS {
        let mut f = Map::new();
        f.insert("email".into(), format!("{}@example.com", key(i)).into());
        f.insert("city".into(), "Springfield".into());
        // 2,500 contacts share each of four timestamps: a timestamp alone cannot page them.
        fake.put(&key(i), f, base + (i / 2_500) as u64);
    }

    // The host's path: the template, `Connections`, the typed client.
    let client = acme_client(&super::host(), &fake).await;

    let memory = Arc::new(MemorySink::own_versions());
    let sink = Arc::new(HostSink {
        inner: memory.clone(),
        applies: AtomicUsize::new(0),
        fail_at: AtomicUsize::new(8),
        records_applied: AtomicUsize::new(0),
    });
    let job = SyncJob::new(
        JobKey::new("acme", "ghl", "contacts"),
        Arc::new(GhlContactsSource::new(client)),
        sink.clone(),
    )
    .direction(Direction::Bidirectional)
    .page_size(PAGE);
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();

    // 1. The run dies at its eighth batch: 3,500 contacts reached the host.
    let err = engine.run(&job, Trigger::Manual).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert_eq!(memory.live().len(), 7 * PAGE);

    // 2. While the job is down: GoHighLevel users edit 50 synced contacts and one not yet
    //    synced; the host edits 50 others; ten are edited on both sides, the host later.
    for i in 10..60 {
        fake.state.edit(&key(i), "city", json!("GHL-city"));
    }
    fake.state.edit(&key(9_990), "city", json!("GHL-late"));
    for i in 200..210 {
        fake.state.edit(&key(i), "city", json!("GHL-lost"));
    }
    let host_at = now - Duration::from_secs(60);
    for i in (100..150).chain(200..210) {
        host_edit(&memory, &key(i), "Host-city", host_at);
    }

    // 3. A clean run finishes the job.
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(memory.live().len(), CONTACTS, "{:?}", log.counts);

    // Every contact in the host matches GoHighLevel's.
    for i in 0..CONTACTS {
        let k = key(i);
        let at_ghl = fake.state.get(&k).unwrap().fields["city"].clone();
        assert_eq!(city_in_sink(&memory, &k), Some(at_ghl), "{k}");
    }
    let city_at_ghl = |i: usize| fake.state.get(&key(i)).unwrap().fields["city"].clone();
    assert_eq!(city_in_sink(&memory, &key(10)), Some(json!("GHL-city")));
    assert_eq!(city_in_sink(&memory, &key(9_990)), Some(json!("GHL-late")));
    assert_eq!(
        city_at_ghl(100),
        json!("Host-city"),
        "the host's edit was written back"
    );
    assert_eq!(
        city_at_ghl(205),
        json!("Host-city"),
        "newer wins: the host's later edit"
    );
    assert!(log.counts.conflicts >= 10, "{:?}", log.counts);

    // The crash cost at most the batch in flight: 10,000 contacts, the 51 edited at
    // GoHighLevel, the write-backs' own records, and at most one batch again.
    let applied = sink.records_applied.load(Ordering::SeqCst);
    assert!(
        applied <= CONTACTS + 51 + 60 + PAGE,
        "{applied} records applied"
    );

    // 4. Nothing left to do: no echo of the engine's own write-backs, nothing written.
    let writes = fake.state.writes.load(Ordering::SeqCst);
    assert_eq!(writes, 60, "one update per host-edited contact");
    let before = sink.records_applied.load(Ordering::SeqCst);
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(
        fake.state.writes.load(Ordering::SeqCst),
        writes,
        "{:?}",
        log.counts
    );
    assert_eq!(
        sink.records_applied.load(Ordering::SeqCst),
        before,
        "{:?}",
        log.counts
    );
}

/// Waits up to five seconds for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_webhooks_through_the_router_run_the_job_and_apply_deletions() {
    use switchboard::ghl::{
        contact_webhook_sync, GhlIntegration, GhlSigner, GhlVerifier, CONTACTS_JOB,
    };
    use switchboard::sync::{Schedule, SyncScheduler, SyncWebhookHandler};
    use switchboard::test_util::LoopbackServer;
    use switchboard::webhook::router::{WebhookRoute, WebhookRouter};

    let now = SystemTime::now();
    let fake = FakeGhl::start(LOCATION, TOKEN, now - Duration::from_secs(600)).await;
    let base = ms(now - Duration::from_secs(3600));
    for i in 0..3 {
        let mut f = Map::new();
        f.insert("city".into(), "Springfield".into());
        fake.put(&key(i), f, base + i as u64);
    }
    let verifier = GhlVerifier::builder()
        .ed25519_public_key_pem(super::events::ED_PUBLIC)
        .build()
        .unwrap();
    let connections = super::host_with(GhlIntegration::new().with_verifier(verifier));
    let client = acme_client(&connections, &fake).await;
    let sink = Arc::new(MemorySink::new());
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let scheduler = SyncScheduler::new(engine);
    let job = SyncJob::new(
        JobKey::new("acme", "ghl", CONTACTS_JOB),
        Arc::new(GhlContactsSource::new(client)),
        sink.clone(),
    );
    // Hourly: after the first run (now), only webhooks make runs in this test.
    scheduler.add(job, Schedule::hourly()).unwrap();
    eventually("the first run", || sink.live().len() == 3).await;

    let router = WebhookRouter::builder(connections.clone())
        .route(
            WebhookRoute::new(
                "ghl",
                Arc::new(SyncWebhookHandler::new(scheduler.clone(), |e| {
                    contact_webhook_sync(&e.body, CONTACTS_JOB)
                })),
            )
            .payload_routed(),
        )
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
    let signer = GhlSigner::ed25519(super::events::ED_PRIVATE).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |body: Value| {
        let body = body.to_string().into_bytes();
        let sig = signer.sign(&body).unwrap();
        http.post(format!("{}{}/ghl", server.base_url(), router.prefix()))
            .header(signer.header_name(), sig)
            .body(body)
            .send()
    };
    let stamp = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // A contact changes in GoHighLevel; its webhook asks for a run, which reads the change.
    fake.state.edit(&key(1), "city", json!("Shelbyville"));
    let update = json!({"type": "ContactUpdate", "locationId": LOCATION, "id": key(1),
        "timestamp": stamp(), "webhookId": "wh-1"});
    assert_eq!(post(update).await.unwrap().status(), 200);
    eventually("the webhook's run", || {
        city_in_sink(&sink, &key(1)) == Some(json!("Shelbyville"))
    })
    .await;

    // A deletion is applied at once, without a run.
    let delete = json!({"type": "ContactDelete", "locationId": LOCATION, "id": key(2),
        "timestamp": stamp(), "webhookId": "wh-2"});
    assert_eq!(post(delete).await.unwrap().status(), 200);
    assert!(
        sink.get(&key(2)).is_some_and(|h| !h.is_live()),
        "deleted at once"
    );
    scheduler.shutdown().await;
}

/// A cursor beyond the calendar (what a corrupt `source_at_us` row reads back as) is written
/// into the search filter as the calendar's last date: the source answers, it never panics
/// (chrono's conversion from `SystemTime` panics past about year 262,000).
#[tokio::test]
async fn a_cursor_beyond_the_calendar_is_searched_not_a_panic() {
    use switchboard::sync::{Mark, SyncSource};

    let now = SystemTime::now();
    let fake = FakeGhl::start(LOCATION, TOKEN, now - Duration::from_secs(600)).await;
    let mut f = Map::new();
    f.insert("email".into(), "c00000@example.com".into());
    fake.put(&key(0), f, ms(now - Duration::from_secs(60)));
    let source = GhlContactsSource::new(acme_client(&super::host(), &fake).await);

    // About 146 million years from 1970: inside `SystemTime`, outside chrono.
    let far = UNIX_EPOCH + Duration::from_secs(1 << 52);
    let request = ChangeRequest {
        after: Some(Mark::new(far, "c00000")),
        until: now,
        page: None,
        limit: 10,
    };
    let page = source.changes(&request).await;
    assert!(page.is_ok(), "{:?}", page.err());
}
