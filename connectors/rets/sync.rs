//! MLS sync on the sync engine ([`crate::sync`]): [`RetsListingsSource`] reads the listings
//! of a class changed since a mark, lists live listing keys for the purge pass, and in its
//! cheap mode asks only for keys and timestamps and fetches the full rows of what changed;
//! [`RetsPhotosSource`] follows photo changes on their own timestamp, fetching the photos.
//!
//! **Order.** The engine saves its cursor after each page, at the page's largest
//! `(updated_at, key)`, so pages must come in that order. DMQL cannot sort, so a source never
//! returns part of a time window: it narrows the window (by `Count=2` queries) until the
//! rows changed in it fit one page, returns them all, and lets the engine ask again after the
//! largest mark. Rows sharing one second beyond a page are read by key range inside that
//! second, where key order is mark order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{Dmql, GetObject, ObjectIds, Paging, RetsClient, Row, Search};
use crate::sync::{
    ChangePage, ChangeRequest, Fields, KeyPage, NextPage, SyncRecord, SyncSink, SyncSource, Version,
};
use crate::Error;

/// Narrowing steps before a window is read by key range whatever its span (each is one
/// `Count=2` query).
const MAX_NARROWING: u32 = 40;
/// Listing keys asked for per `(ListingKey=A,B,...)` query in the cheap mode (its value is
/// written in [`RetsListingsSource`]'s docs).
const DEFAULT_FETCH_BATCH: usize = 100;

/// Reads a RETS timestamp (`2026-03-04T05:06:07`, with or without fractions, `Z` or an
/// offset; a zone-less one is UTC).
pub(crate) fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc).into());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().into());
        }
    }
    None
}

fn floor_second(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// What one source queries: the class, its key and timestamp fields, an extra filter.
#[derive(Clone, Debug)]
struct Scope {
    resource: String,
    class: String,
    key_field: String,
    timestamp_field: String,
    filter: Option<Dmql>,
}

/// A page token: read the rows of second `at` by key range, after key `after`.
fn token(at: SystemTime, after: &str) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json!({"second": secs, "after": after}).to_string()
}

fn read_token(text: &str) -> Result<(SystemTime, String), Error> {
    let v: Value = serde_json::from_str(text)
        .map_err(|_| Error::decode("/page", "the page token is not JSON"))?;
    let secs = v["second"]
        .as_u64()
        .ok_or_else(|| Error::decode("/page/second", "missing"))?;
    let after = v["after"]
        .as_str()
        .ok_or_else(|| Error::decode("/page/after", "missing"))?;
    Ok((UNIX_EPOCH + Duration::from_secs(secs), after.to_string()))
}

/// Rows of one request, and how to go on.
struct WindowPage {
    rows: Vec<Row>,
    next: NextPage,
    total: Option<u64>,
}

impl Scope {
    fn query(&self, field: &str, from: SystemTime, to: SystemTime) -> Dmql {
        let q = Dmql::changed_between(field, from, to);
        match &self.filter {
            Some(f) => q.and(f.clone()),
            None => q,
        }
    }

    fn search(&self, query: Dmql, select: &[String], limit: usize) -> Search {
        Search::new(&self.resource, &self.class, query)
            .select(select.iter().cloned())
            .key_field(&self.key_field)
            .paging(Paging::KeyRange)
            .page_size(limit as u32)
            .limit(limit as u64)
    }

    /// One page of rows whose `field` changed in `[after, until)`, in mark order across
    /// pages (see the module docs).
    async fn window_page(
        &self,
        client: &RetsClient,
        field: &str,
        request: &ChangeRequest,
        select: &[String],
    ) -> Result<WindowPage, Error> {
        let limit = request.limit.clamp(1, 100_000);
        let after = request.after.as_ref();
        // Rows at or before the request's mark were delivered already (the engine's `after`
        // is inside the second the window starts at).
        let fresh = |rows: Vec<Row>| -> Vec<Row> {
            let Some(m) = after else { return rows };
            rows.into_iter()
                .filter(|r| {
                    match (
                        r.by_name(field).and_then(parse_timestamp),
                        r.by_name(&self.key_field),
                    ) {
                        (Some(at), Some(key)) => (at, key) > (m.at, m.key.as_str()),
                        // Left for `record` to report.
                        _ => true,
                    }
                })
                .collect()
        };
        if let Some(t) = &request.page {
            let (second, last) = read_token(t)?;
            let q = self
                .query(field, second, second)
                .and(Dmql::at_least(&self.key_field, &last));
            let rows = client
                .search(self.search(q, select, limit + 1))
                .collect()
                .await?;
            let rows: Vec<Row> = fresh(rows)
                .into_iter()
                .filter(|r| r.by_name(&self.key_field) != Some(last.as_str()))
                .collect();
            return Ok(self.second_page(rows, second, limit));
        }
        let done = |total| WindowPage {
            rows: Vec::new(),
            next: NextPage::Done,
            total,
        };
        // DMQL ranges include both ends, at whole seconds: stop a second before `until`.
        let Some(end) = floor_second(request.until).checked_sub(Duration::from_secs(1)) else {
            return Ok(done(Some(0)));
        };
        let mut from = floor_second(after.map_or(UNIX_EPOCH, |m| m.at));
        let mut total = None;
        for _ in 0..MAX_NARROWING {
            if end < from {
                return Ok(done(total));
            }
            let mut to = end;
            let mut count = client
                .count(&self.search(self.query(field, from, to), select, 1))
                .await?;
            total.get_or_insert(count);
            let mut steps = 0;
            while count > limit as u64 && to > from && steps < MAX_NARROWING {
                steps += 1;
                let span = to.duration_since(from).unwrap_or_default().as_secs();
                let mid = from + Duration::from_secs(span / 2);
                let c = client
                    .count(&self.search(self.query(field, from, mid), select, 1))
                    .await?;
                if c == 0 {
                    // Nothing up to `mid`: the rows are all after it.
                    from = mid + Duration::from_secs(1);
                    count = client
                        .count(&self.search(self.query(field, from, to), select, 1))
                        .await?;
                } else {
                    to = mid;
                    count = c;
                }
            }
            if count <= limit as u64 {
                let rows = client
                    .search(self.search(self.query(field, from, to), select, limit))
                    .collect()
                    .await?;
                let rows = fresh(rows);
                if !rows.is_empty() {
                    // The window is read whole: the engine asks again after its largest mark.
                    return Ok(WindowPage {
                        rows,
                        next: NextPage::AfterLast,
                        total,
                    });
                }
                if to >= end {
                    return Ok(done(total));
                }
                from = to + Duration::from_secs(1);
                continue;
            }
            // More rows than a page in one second: by key range inside it, after the mark's
            // key when the mark is in this second.
            let mut q = self.query(field, from, from);
            if let Some(m) = after.filter(|m| floor_second(m.at) == from) {
                q = q.and(Dmql::at_least(&self.key_field, &m.key));
            }
            let rows = fresh(
                client
                    .search(self.search(q, select, limit + 1))
                    .collect()
                    .await?,
            );
            if rows.is_empty() {
                from += Duration::from_secs(1);
                continue;
            }
            let mut page = self.second_page(rows, from, limit);
            page.total = total;
            return Ok(page);
        }
        Err(Error::decode(
            format!("/{field}"),
            "the changed rows could not be narrowed to a page",
        ))
    }

    fn second_page(&self, mut rows: Vec<Row>, second: SystemTime, limit: usize) -> WindowPage {
        rows.truncate(limit);
        let next = match rows.last().and_then(|r| r.by_name(&self.key_field)) {
            Some(last) if rows.len() >= limit => NextPage::Token(token(second, last)),
            // The second is done: the engine goes on after its largest mark.
            _ => NextPage::AfterLast,
        };
        WindowPage {
            rows,
            next,
            total: None,
        }
    }

    fn record(&self, row: &Row, index: usize, field: &str) -> Result<SyncRecord, Error> {
        let key = row
            .by_name(&self.key_field)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::decode(
                    format!("/rows/{index}/{}", self.key_field),
                    "missing or empty",
                )
            })?;
        let at = row
            .by_name(field)
            .and_then(parse_timestamp)
            .ok_or_else(|| {
                Error::decode(
                    format!("/rows/{index}/{field}"),
                    "missing or not a timestamp",
                )
            })?;
        let fields: Fields = row.to_json();
        Ok(SyncRecord::new(key, fields)
            .updated_at(at)
            .version(Version::from_time(at)))
    }
}

/// A class of MLS listings as a [`SyncSource`]: the seed's MLS sync.
///
/// - **Reads** the listings whose `ModificationTimestamp` (or the field given) falls between
///   the request's mark and its `until`, a time window narrowed until it fits a page (see the
///   module docs); the engine's overlap and key de-duplication do the rest, and it saves its
///   high-water mark only after the sink confirms.
/// - **Cheap mode** ([`RetsListingsSource::compare_with`]): asks only for key and timestamp,
///   compares with what the host's sink holds, and fetches the full rows of what changed by
///   key, 100 per query, as MLS vendors recommend.
/// - **Live keys** for the purge pass: every key of the class (with the filter), by key range.
///
/// Record keys are the key field's values; versions and updated-at the timestamp; fields the
/// row as JSON (the `Select` list, or every field). Give the job a watched field
/// (`StandardStatus`) for status-changed events.
#[derive(Clone)]
pub struct RetsListingsSource {
    client: RetsClient,
    scope: Scope,
    select: Vec<String>,
    compare_with: Option<Arc<dyn SyncSink>>,
    fetch_batch: usize,
}

impl std::fmt::Debug for RetsListingsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetsListingsSource")
            .field("scope", &self.scope)
            .field("cheap", &self.compare_with.is_some())
            .finish_non_exhaustive()
    }
}

impl RetsListingsSource {
    /// Listings of `class` in `resource`, keyed by `ListingKey`, changed by
    /// `ModificationTimestamp`.
    pub fn new(client: RetsClient, resource: impl Into<String>, class: impl Into<String>) -> Self {
        RetsListingsSource {
            client,
            scope: Scope {
                resource: resource.into(),
                class: class.into(),
                key_field: "ListingKey".to_string(),
                timestamp_field: "ModificationTimestamp".to_string(),
                filter: None,
            },
            select: Vec::new(),
            compare_with: None,
            fetch_batch: DEFAULT_FETCH_BATCH,
        }
    }

    /// The key field (default `ListingKey`).
    #[must_use]
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.scope.key_field = field.into();
        self
    }

    /// The modification timestamp field (default `ModificationTimestamp`).
    #[must_use]
    pub fn timestamp_field(mut self, field: impl Into<String>) -> Self {
        self.scope.timestamp_field = field.into();
        self
    }

    /// Only these fields in records (the key and timestamp fields are added).
    #[must_use]
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.select = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Only listings that also match `filter` (`(StandardStatus=|Active,Pending)`).
    #[must_use]
    pub fn filter(mut self, filter: Dmql) -> Self {
        self.scope.filter = Some(filter);
        self
    }

    /// The cheap mode: compare keys and timestamps with what `sink` (the job's sink) holds
    /// and fetch only the rows that changed.
    #[must_use]
    pub fn compare_with(mut self, sink: Arc<dyn SyncSink>) -> Self {
        self.compare_with = Some(sink);
        self
    }

    /// Listing keys per fetch query in the cheap mode (default 100).
    #[must_use]
    pub fn fetch_batch(mut self, keys: usize) -> Self {
        self.fetch_batch = keys.max(1);
        self
    }

    fn full_select(&self) -> Vec<String> {
        if self.select.is_empty() {
            return Vec::new();
        }
        let mut s = self.select.clone();
        for f in [&self.scope.key_field, &self.scope.timestamp_field] {
            if !s.contains(f) {
                s.push(f.clone());
            }
        }
        s
    }

    /// The cheap mode's page: keys and timestamps, then full rows of what changed.
    async fn cheap_records(
        &self,
        sink: &Arc<dyn SyncSink>,
        rows: Vec<Row>,
    ) -> Result<Vec<SyncRecord>, Error> {
        let ts = &self.scope.timestamp_field;
        let thin: Vec<SyncRecord> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| self.scope.record(r, i, ts))
            .collect::<Result<_, _>>()?;
        let keys: Vec<String> = thin.iter().map(|r| r.key.clone()).collect();
        let held = sink.held(&keys).await?;
        let mut changed = Vec::new();
        let mut records = Vec::with_capacity(thin.len());
        for r in thin {
            match held.get(&r.key) {
                // Unchanged: the engine drops it by its version; its mark still counts.
                Some(h) if h.is_live() && h.version == r.version => {
                    records.push(SyncRecord {
                        fields: h.fields.clone().unwrap_or_default(),
                        ..r
                    });
                }
                _ => changed.push(r.key),
            }
        }
        let select = self.full_select();
        let mut full: HashMap<String, SyncRecord> = HashMap::new();
        for batch in changed.chunks(self.fetch_batch) {
            let q = Dmql::one_of(&self.scope.key_field, batch);
            let q = match &self.scope.filter {
                Some(f) => q.and(f.clone()),
                None => q,
            };
            let got = self
                .client
                .search(self.scope.search(q, &select, batch.len()))
                .collect()
                .await?;
            for (i, row) in got.iter().enumerate() {
                let r = self.scope.record(row, i, ts)?;
                full.insert(r.key.clone(), r);
            }
        }
        // A listing that left the filter between the two queries is read on the next run.
        records.extend(changed.into_iter().filter_map(|k| full.remove(&k)));
        Ok(records)
    }
}

#[async_trait]
impl SyncSource for RetsListingsSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let ts = self.scope.timestamp_field.clone();
        let select = match &self.compare_with {
            Some(_) => vec![self.scope.key_field.clone(), ts.clone()],
            None => self.full_select(),
        };
        let page = self
            .scope
            .window_page(&self.client, &ts, request, &select)
            .await?;
        let records = match &self.compare_with {
            Some(sink) => self.cheap_records(sink, page.rows).await?,
            None => page
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| self.scope.record(r, i, &ts))
                .collect::<Result<_, _>>()?,
        };
        Ok(ChangePage {
            records,
            next: page.next,
            estimated_total: page.total,
        })
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let limit = 10_000usize;
        let key = &self.scope.key_field;
        // Every listing has a timestamp: the broadest query DMQL allows on any class.
        let mut q = Dmql::since(&self.scope.timestamp_field, UNIX_EPOCH);
        if let Some(f) = &self.scope.filter {
            q = q.and(f.clone());
        }
        if let Some(after) = page {
            q = q.and(Dmql::at_least(key, after));
        }
        let rows = self
            .client
            .search(self.scope.search(q, std::slice::from_ref(key), limit + 1))
            .collect()
            .await?;
        let mut keys: Vec<String> = rows
            .iter()
            .filter_map(|r| r.by_name(key).map(str::to_string))
            .filter(|k| Some(k.as_str()) != page)
            .collect();
        keys.truncate(limit);
        let next = (keys.len() >= limit)
            .then(|| keys.last().cloned())
            .flatten();
        Ok(Some(KeyPage { keys, next }))
    }
}

/// Listing photos as a [`SyncSource`], on their own cursor: a photo change may not move the
/// listing's `ModificationTimestamp`, so this source follows `PhotosChangeTimestamp` (or the
/// field given) and fetches the photos of every listing whose photos changed (past the photo
/// cache, which may hold the old ones). A record's key is the listing key; its fields `photos_count`,
/// `photos_changed_at` and `photos` (each photo's object id, content type, location URL,
/// description and size).
#[derive(Clone, Debug)]
pub struct RetsPhotosSource {
    client: RetsClient,
    scope: Scope,
    count_field: String,
}

impl RetsPhotosSource {
    /// Photos of the listings of `class` in `resource`, keyed by `ListingKey`, followed by
    /// `PhotosChangeTimestamp`.
    pub fn new(client: RetsClient, resource: impl Into<String>, class: impl Into<String>) -> Self {
        RetsPhotosSource {
            client,
            scope: Scope {
                resource: resource.into(),
                class: class.into(),
                key_field: "ListingKey".to_string(),
                timestamp_field: "PhotosChangeTimestamp".to_string(),
                filter: None,
            },
            count_field: "PhotosCount".to_string(),
        }
    }

    /// The key field (default `ListingKey`).
    #[must_use]
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.scope.key_field = field.into();
        self
    }

    /// The photo timestamp field (default `PhotosChangeTimestamp`).
    #[must_use]
    pub fn timestamp_field(mut self, field: impl Into<String>) -> Self {
        self.scope.timestamp_field = field.into();
        self
    }

    /// The photo count field (default `PhotosCount`).
    #[must_use]
    pub fn count_field(mut self, field: impl Into<String>) -> Self {
        self.count_field = field.into();
        self
    }
}

#[async_trait]
impl SyncSource for RetsPhotosSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let ts = self.scope.timestamp_field.clone();
        let select = vec![
            self.scope.key_field.clone(),
            ts.clone(),
            self.count_field.clone(),
        ];
        let page = self
            .scope
            .window_page(&self.client, &ts, request, &select)
            .await?;
        let mut records = Vec::with_capacity(page.rows.len());
        for (i, row) in page.rows.iter().enumerate() {
            let base = self.scope.record(row, i, &ts)?;
            // Fetched anew, past the photo cache: these photos just changed.
            let request = GetObject::photos(&self.scope.resource).of(&base.key, ObjectIds::All);
            let photos =
                super::client::usable_objects(self.client.get_objects(&request).await?).await?;
            let list: Vec<Value> = photos
                .iter()
                .map(|p| {
                    json!({
                        "object_id": p.object_id,
                        "content_type": p.content_type,
                        "location": p.location,
                        "description": p.description,
                        "size": p.data.len(),
                    })
                })
                .collect();
            let mut fields = Fields::new();
            fields.insert(
                "photos_count".into(),
                json!(row
                    .by_name(&self.count_field)
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(photos.len() as u64)),
            );
            fields.insert("photos_changed_at".into(), json!(row.by_name(&ts)));
            fields.insert("photos".into(), Value::Array(list));
            records.push(SyncRecord { fields, ..base });
        }
        Ok(ChangePage {
            records,
            next: page.next,
            estimated_total: page.total,
        })
    }
}
