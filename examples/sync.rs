//! The sync engine end to end, offline: an MLS-like provider on loopback serves a paged
//! "listings changed since" API; a `SyncSource` reads it through a switchboard connection (the
//! pipeline: auth, retries, breaker) and a small host table is the `SyncSink`. The example
//! runs the job, edits the provider's data, and runs again:
//!
//! 1. the first run creates 300 listings, seven sharing each timestamp so ties cross page
//!    breaks (pages of 50);
//! 2. right after edits at the provider, a run reads nothing new: the edits are inside the
//!    job's 30-second safety lag, and the overlap re-reads the last minutes and finds them held;
//! 3. a minute later the edits arrive: `Updated` events naming the changed fields and the
//!    watched `status`, one `Created`; the host's outbox got its rows in the same write;
//! 4. the purge pass finds the listing the provider removed without announcing it;
//! 5. a key listing that comes back half empty is held for review, not applied.
//!
//! Provider and engine share one logical clock, so the example steps past the safety lag
//! without waiting. Each step checks what it printed and the example exits non-zero if a step
//! does not hold.
//!
//! ```text
//! cargo run --example sync
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard::auth::BearerToken;
use switchboard::sync::{
    Change, ChangeKind, ChangePage, ChangeRequest, Fields, Held, InMemorySyncStore, JobKey,
    KeyPage, NextPage, RunLog, SyncEngine, SyncEvent, SyncEventKind, SyncJob, SyncRecord, SyncSink,
    SyncSource, Trigger,
};
use switchboard::test_util::LoopbackServer;
use switchboard::toolkit::Call;
use switchboard::{Connection, Connector, Error, Switchboard};
use tokio::sync::broadcast;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Fails the run when a step did not do what it printed (the example doubles as a check).
fn ensure(holds: bool, what: &str) -> Result<()> {
    if holds {
        Ok(())
    } else {
        Err(format!("step failed: {what}").into())
    }
}

const TOKEN: &str = "mls-feed-token";
const LISTINGS: usize = 300;
const TIES: usize = 7;

// ------------------------------------------------------------------ one clock for both sides

/// Microseconds since the epoch, shared by the provider (its `updated_at` stamps) and the
/// engine (its "now", the top of what a run reads).
#[derive(Clone)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn at(t: SystemTime) -> Self {
        Clock(Arc::new(AtomicU64::new(micros(t))))
    }

    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.0.load(Ordering::SeqCst))
    }

    fn set(&self, t: SystemTime) {
        self.0.store(micros(t), Ordering::SeqCst);
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_micros() as u64, Ordering::SeqCst);
    }
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

// ------------------------------------------------------------------ the provider, on loopback

/// The provider's listings: the latest state of each, stamped with its clock.
struct Mls {
    clock: Clock,
    listings: Mutex<BTreeMap<String, Value>>,
    // A feed outage: the key listing returns only every other key.
    half_empty_keys: AtomicBool,
}

impl Mls {
    fn put(&self, key: &str, status: &str, price: u64) {
        let listing = json!({
            "key": key,
            "status": status,
            "price": price,
            "city": "Springfield",
            "updated_at": micros(self.clock.now()),
        });
        self.listings.lock().unwrap().insert(key.into(), listing);
    }

    fn edit(&self, key: &str, field: &str, value: Value) {
        let mut listings = self.listings.lock().unwrap();
        let l = listings.get_mut(key).expect("a listing the example made");
        l[field] = value;
        l["updated_at"] = json!(micros(self.clock.now()));
    }

    /// Removes a listing without a trace: the feed never announces it (an MLS purge).
    fn purge(&self, key: &str) {
        self.listings.lock().unwrap().remove(key);
    }
}

fn query(raw: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn number(q: &HashMap<String, String>, name: &str) -> Option<u64> {
    q.get(name).and_then(|v| v.parse().ok())
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {TOKEN}");
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// `GET /v1/listings/changes?after_us=&after_key=&before_us=&limit=`: listings whose
/// `(updated_at, key)` sorts after the given pair and whose `updated_at` is before
/// `before_us`, in that order.
async fn changes(
    State(mls): State<Arc<Mls>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let q = query(raw);
    let after = (
        number(&q, "after_us").unwrap_or(0),
        q.get("after_key").cloned().unwrap_or_default(),
    );
    let before = number(&q, "before_us").unwrap_or(u64::MAX);
    let limit = number(&q, "limit").unwrap_or(100) as usize;
    let listings = mls.listings.lock().unwrap();
    let mut matching: Vec<(u64, &String, &Value)> = listings
        .iter()
        .map(|(k, l)| (l["updated_at"].as_u64().unwrap_or(0), k, l))
        .filter(|(at, k, _)| (*at, k.as_str()) > (after.0, after.1.as_str()) && *at < before)
        .collect();
    matching.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let total = matching.len();
    let page: Vec<&Value> = matching.iter().take(limit).map(|(_, _, l)| *l).collect();
    Json(json!({"listings": page, "has_more": total > limit, "total": total})).into_response()
}

/// `GET /v1/listings/keys?offset=&limit=`: the keys of every live listing.
async fn keys(
    State(mls): State<Arc<Mls>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let q = query(raw);
    let offset = number(&q, "offset").unwrap_or(0) as usize;
    let limit = number(&q, "limit").unwrap_or(100) as usize;
    let half = mls.half_empty_keys.load(Ordering::SeqCst);
    let all: Vec<String> = mls
        .listings
        .lock()
        .unwrap()
        .keys()
        .enumerate()
        .filter(|(i, _)| !half || i % 2 == 0)
        .map(|(_, k)| k.clone())
        .collect();
    let page: Vec<&String> = all.iter().skip(offset).take(limit).collect();
    let next = (offset + limit < all.len()).then_some(offset + limit);
    Json(json!({"keys": page, "next_offset": next})).into_response()
}

fn provider(mls: Arc<Mls>) -> Router {
    Router::new()
        .route("/v1/listings/changes", get(changes))
        .route("/v1/listings/keys", get(keys))
        .with_state(mls)
}

// ------------------------------------------------------------------ the source: a thin adapter

/// The provider's connector: its rules shared by every tenant (none needed here).
#[derive(Debug)]
struct MlsConnector;

impl Connector for MlsConnector {
    fn name(&self) -> &str {
        "mls"
    }
}

#[derive(Deserialize)]
struct ChangesPage {
    listings: Vec<WireListing>,
    has_more: bool,
    total: u64,
}

#[derive(Deserialize)]
struct WireListing {
    key: String,
    updated_at: u64,
    #[serde(default)]
    deleted: bool,
    #[serde(flatten)]
    fields: Fields,
}

#[derive(Deserialize)]
struct KeysPage {
    keys: Vec<String>,
    next_offset: Option<u64>,
}

/// The listings of one tenant's MLS connection, as a `SyncSource`: one call per page, no
/// state (the engine owns the cursor).
struct ListingsSource {
    connection: Connection,
}

#[async_trait]
impl SyncSource for ListingsSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let mut q = vec![
            ("before_us", micros(request.until).to_string()),
            ("limit", request.limit.to_string()),
        ];
        if let Some(after) = &request.after {
            q.push(("after_us", micros(after.at).to_string()));
            q.push(("after_key", after.key.clone()));
        }
        let page = Call::<ChangesPage, Error>::new(
            self.connection
                .get("/v1/listings/changes")
                .query(&q)
                .endpoint("listings.changes"),
        )
        .await?;
        let records = page
            .listings
            .into_iter()
            .map(|l| {
                let record = if l.deleted {
                    SyncRecord::deleted(l.key)
                } else {
                    SyncRecord::new(l.key, l.fields)
                };
                // The version comes from the updated-at: larger is newer.
                record.updated_at(UNIX_EPOCH + Duration::from_micros(l.updated_at))
            })
            .collect();
        Ok(ChangePage {
            records,
            // The API continues after a `(updated_at, key)` pair: keyset paging.
            next: if page.has_more {
                NextPage::AfterLast
            } else {
                NextPage::Done
            },
            estimated_total: Some(page.total),
        })
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let offset = page.unwrap_or("0");
        let keys = Call::<KeysPage, Error>::new(
            self.connection
                .get("/v1/listings/keys")
                .query(&[("offset", offset), ("limit", "100")])
                .endpoint("listings.keys"),
        )
        .await?;
        Ok(Some(KeyPage {
            keys: keys.keys,
            next: keys.next_offset.map(|n| n.to_string()),
        }))
    }
}

// ------------------------------------------------------------------ the sink: the host's table

/// The host's listings table and its outbox. One mutex stands for one database transaction:
/// the rows and the reactions a host must not lose are written together.
#[derive(Default)]
struct ListingsTable {
    state: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    rows: HashMap<String, Held>,
    outbox: Vec<String>,
}

#[async_trait]
impl SyncSink for ListingsTable {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        let t = self.state.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| t.rows.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        let mut t = self.state.lock().unwrap();
        for c in batch {
            let r = &c.record;
            // Conditional on the version (`UPDATE ... WHERE version < $new` in SQL), so a copy
            // older than the row, from another replica or a webhook, never replaces it; the
            // same batch applied twice writes the same rows.
            let current = t.rows.get(&r.key).and_then(|h| h.version);
            if current.is_some() && r.version.is_some() && r.version < current {
                continue;
            }
            let row = if r.deleted {
                // Keep the tombstone's version, so a late older copy cannot revive the row.
                Held::tombstone(r.version)
            } else {
                Held::live(r.version, r.fields.clone())
            };
            t.rows.insert(r.key.clone(), row);
            if let Some(w) = &c.watched {
                if c.kind != ChangeKind::Created {
                    let message = format!(
                        "notify saved searches: {} {} {} -> {}",
                        r.key,
                        w.field,
                        w.from.as_ref().map_or("-".into(), Value::to_string),
                        w.to.as_ref().map_or("-".into(), Value::to_string)
                    );
                    t.outbox.push(message);
                }
            }
            if c.kind == ChangeKind::Created {
                t.outbox
                    .push(format!("notify saved searches: new listing {}", r.key));
            }
        }
        Ok(())
    }

    async fn live_keys(&self, _page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let t = self.state.lock().unwrap();
        let mut keys: Vec<String> = t
            .rows
            .iter()
            .filter(|(_, h)| h.is_live())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        Ok(Some(KeyPage { keys, next: None }))
    }
}

impl ListingsTable {
    fn live(&self) -> usize {
        let t = self.state.lock().unwrap();
        t.rows.values().filter(|h| h.is_live()).count()
    }

    fn status(&self, key: &str) -> Option<Value> {
        let t = self.state.lock().unwrap();
        t.rows.get(key)?.fields.as_ref()?.get("status").cloned()
    }

    fn take_outbox(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().outbox)
    }
}

// ------------------------------------------------------------------ printing

/// Prints the events a run raised (`each_change`: every `Changed`, otherwise their count)
/// and returns them.
fn drain(events: &mut broadcast::Receiver<SyncEvent>, each_change: bool) -> Vec<SyncEventKind> {
    let mut all = Vec::new();
    let mut quiet = (0, 0);
    while let Ok(SyncEvent { kind, .. }) = events.try_recv() {
        match &kind {
            SyncEventKind::Started { trigger, .. } => {
                println!("   event: started ({})", trigger.as_str())
            }
            SyncEventKind::Progress {
                records,
                pages,
                estimated_total,
                ..
            } => println!(
                "   event: progress {records}/{} records, {pages} pages",
                estimated_total.map_or("?".into(), |t| t.to_string())
            ),
            SyncEventKind::Changed { change, .. } if !each_change => {
                quiet.0 += 1;
                if *change == ChangeKind::Created {
                    quiet.1 += 1;
                }
            }
            SyncEventKind::Changed {
                key,
                change,
                watched,
            } => {
                let what = match change {
                    ChangeKind::Created => "created".to_string(),
                    ChangeKind::Updated { fields } => format!("updated {fields:?}"),
                    ChangeKind::Deleted => "deleted".to_string(),
                    ChangeKind::Tombstone => "tombstone".to_string(),
                };
                let watched = watched.as_ref().map_or(String::new(), |w| {
                    format!(
                        "; {}: {} -> {}",
                        w.field,
                        w.from.as_ref().map_or("-".into(), Value::to_string),
                        w.to.as_ref().map_or("-".into(), Value::to_string)
                    )
                });
                println!("   event: changed {key}: {what}{watched}");
            }
            SyncEventKind::Conflict { key, parked } => {
                println!("   event: conflict on {key} (parked: {parked})")
            }
            SyncEventKind::PurgeHeld { missing, held } => println!(
                "   event: purge held for review: {missing} of {held} listings missing from the feed"
            ),
            SyncEventKind::Finished { run } => {
                if quiet.0 > 0 {
                    println!("   event: changed x{} ({} created)", quiet.0, quiet.1);
                }
                println!("   event: finished, {}", run.status.as_str())
            }
        }
        all.push(kind);
    }
    all
}

/// How many `Changed` events a run raised.
fn count_changed(events: &[SyncEventKind]) -> usize {
    events
        .iter()
        .filter(|k| matches!(k, SyncEventKind::Changed { .. }))
        .count()
}

fn summary(log: &RunLog) -> String {
    let c = &log.counts;
    format!(
        "{:<9} {:<9} fetched {:>3}, pages {}, created {:>3}, updated {}, deleted {}, watched {:>3}, unchanged {:>2}, purge held {}",
        log.trigger.as_str(),
        log.status.as_str(),
        c.fetched,
        c.pages,
        c.created,
        c.updated,
        c.deleted,
        c.watched_changed,
        c.unchanged,
        c.purge_held
    )
}

// ------------------------------------------------------------------ the run

#[tokio::main]
async fn main() -> Result<()> {
    let start = UNIX_EPOCH + Duration::from_secs(1_767_261_600); // 2026-01-01 10:00 UTC
    let clock = Clock::at(start - Duration::from_secs(3600));
    let mls = Arc::new(Mls {
        clock: clock.clone(),
        listings: Mutex::new(BTreeMap::new()),
        half_empty_keys: AtomicBool::new(false),
    });
    // 300 listings stamped from an hour ago on, seven sharing each minute.
    for i in 0..LISTINGS {
        if i % TIES == 0 && i > 0 {
            clock.advance(Duration::from_secs(60));
        }
        mls.put(&format!("L{i:04}"), "active", 300_000 + i as u64 * 1_000);
    }
    clock.set(start);
    let server = LoopbackServer::start(provider(mls.clone())).await;
    println!("switchboard sync: an MLS feed on {}\n", server.base_url());

    // The tenant's connection to the feed goes through the pipeline like every other call.
    let sb = Switchboard::builder().build()?;
    let connection = sb
        .connection(MlsConnector)
        .tenant("acme-realty")
        .id("acme-mls")
        .base_url(server.base_url())
        .auth(BearerToken::new(TOKEN))
        .build()?;
    let source = Arc::new(ListingsSource { connection });
    let table = Arc::new(ListingsTable::default());

    let engine_clock = clock.clone();
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new()))
        .clock(Arc::new(move || engine_clock.now()))
        .build();
    // Pages of 50 (not a multiple of 7: ties cross page breaks); the defaults: a 5-minute
    // overlap and a 30-second safety lag.
    let job = SyncJob::new(
        JobKey::new("acme-realty", "acme-mls", "listings"),
        source,
        table.clone(),
    )
    .page_size(50)
    .watch("status");
    let mut events = engine.subscribe();

    println!("1. first run: every listing is new (pages of 50, seven listings a timestamp: ties cross page breaks)");
    let log = engine.run(&job, Trigger::Manual).await?;
    let raised = drain(&mut events, false);
    println!("   run: {}", summary(&log));
    let outbox = table.take_outbox();
    println!("   outbox: {} rows written with the listings", outbox.len());
    ensure(
        log.counts.created == LISTINGS as u64 && table.live() == LISTINGS,
        "the first run creates every listing",
    )?;
    let estimates: Vec<Option<u64>> = raised
        .iter()
        .filter_map(|k| match k {
            SyncEventKind::Progress {
                estimated_total, ..
            } => Some(*estimated_total),
            _ => None,
        })
        .collect();
    ensure(
        count_changed(&raised) == LISTINGS
            && estimates.len() == 6
            && estimates.iter().all(|e| *e == Some(LISTINGS as u64)),
        "one change event a listing, and every progress event estimates the whole run",
    )?;

    println!("\n2. the provider edits four listings and removes one; a run right after:");
    clock.advance(Duration::from_secs(60));
    mls.edit("L0003", "status", json!("pending"));
    mls.edit("L0010", "status", json!("sold"));
    mls.edit("L0020", "price", json!(289_000));
    mls.put("L0300", "coming_soon", 415_000);
    mls.purge("L0005");
    let log = engine.run(&job, Trigger::Schedule).await?;
    drain(&mut events, true);
    println!("   run: {}", summary(&log));
    println!("   (the edits are inside the 30 s safety lag: not read yet; the overlap re-read the last 5 minutes and found them held)");
    ensure(
        log.counts.created + log.counts.updated == 0 && log.counts.unchanged > 0,
        "a run inside the safety lag applies nothing and re-reads the overlap",
    )?;

    println!("\n3. a minute later, the next scheduled run:");
    clock.advance(Duration::from_secs(60));
    let log = engine.run(&job, Trigger::Schedule).await?;
    let changed = count_changed(&drain(&mut events, true));
    println!("   run: {}", summary(&log));
    for row in table.take_outbox() {
        println!("   outbox: {row}");
    }
    ensure(
        (
            log.counts.updated,
            log.counts.created,
            log.counts.watched_changed,
        ) == (3, 1, 3)
            && changed == 4
            && table.status("L0010") == Some(json!("sold")),
        "the edits arrive as three updates and one creation, with the watched status",
    )?;

    println!("\n4. the purge pass: the feed never announced that L0005 is gone");
    let log = engine.purge(&job, Trigger::Schedule).await?;
    let changed = count_changed(&drain(&mut events, true));
    println!("   run: {}", summary(&log));
    ensure(
        log.counts.deleted == 1 && changed == 1 && table.live() == LISTINGS,
        "the purge deletes exactly the listing the feed dropped",
    )?;

    println!("\n5. the key listing comes back half empty (a feed outage):");
    mls.half_empty_keys.store(true, Ordering::SeqCst);
    let log = engine.purge(&job, Trigger::Schedule).await?;
    drain(&mut events, true);
    println!("   run: {}", summary(&log));
    ensure(
        log.counts.deleted == 0 && log.counts.purge_held > 0 && table.live() == LISTINGS,
        "a drop larger than the purge policy's share is held, not applied",
    )?;

    println!("\nrun log of {} (newest last):", job.key());
    let mut runs = engine.runs(job.key(), 10).await?;
    runs.reverse();
    for (i, run) in runs.iter().enumerate() {
        println!("   #{} {}", i + 1, summary(run));
    }
    let cursor = engine.cursor(job.key()).await?.unwrap_or_default();
    if let Some(mark) = cursor.source {
        println!(
            "cursor: ({} s before the clock, key {})",
            clock
                .now()
                .duration_since(mark.at)
                .map_or(0, |d| d.as_secs()),
            mark.key
        );
    }
    Ok(())
}
