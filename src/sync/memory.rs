//! An in-memory source and sink: for tests, examples, benchmarks, and a host trying the
//! engine before writing its own sink.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::engine::Clock;
use super::record::{Change, Fields, Held, SyncRecord, Version};
use super::side::{ChangePage, ChangeRequest, KeyPage, NextPage, SyncSink, SyncSource};
use crate::error::Error;

/// The latest state of each key, indexed by the change order `(updated_at, key)` (records
/// with no updated-at first), so a page is a range read rather than a scan of every record.
#[derive(Debug, Default)]
struct Feed {
    by_key: BTreeMap<String, SyncRecord>,
    order: BTreeSet<(SystemTime, String)>,
}

/// Where a record sits in the memory sides' change order.
fn order_of(r: &SyncRecord) -> (SystemTime, String) {
    (r.updated_at.unwrap_or(UNIX_EPOCH), r.key.clone())
}

impl Feed {
    fn insert(&mut self, record: SyncRecord) {
        if let Some(old) = self.by_key.get(&record.key) {
            self.order.remove(&order_of(old));
        }
        self.order.insert(order_of(&record));
        self.by_key.insert(record.key.clone(), record);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_key.remove(key) {
            self.order.remove(&order_of(&old));
        }
    }

    /// One page for `request`, paged by a token that holds the position of the last record
    /// returned. Undated records cannot be placed after a mark, so they come on every run.
    fn page(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let from = match &request.page {
            None => None,
            Some(t) => Some(decode_token(t)?),
        };
        let wanted = request.limit.saturating_add(1);
        let mut matching: Vec<&SyncRecord> = Vec::new();
        let after_from = |o: &(SystemTime, String)| from.as_ref().is_none_or(|f| o > f);
        // The undated records (and any stamped at or before the epoch) sort first.
        if from.as_ref().is_none_or(|f| f.0 <= UNIX_EPOCH) {
            let epoch = self
                .order
                .iter()
                .take_while(|(at, _)| *at <= UNIX_EPOCH)
                .filter(|o| after_from(o));
            for (_, key) in epoch {
                let Some(r) = self.by_key.get(key) else {
                    continue;
                };
                if r.updated_at.is_none() || self.dated_in(r, request) {
                    matching.push(r);
                    if matching.len() == wanted {
                        break;
                    }
                }
            }
        }
        // Then the dated ones, from the later of the token and `after`.
        let mut lower = from.clone();
        if let Some(a) = &request.after {
            let a = (a.at, a.key.clone());
            if lower.as_ref().is_none_or(|l| a > *l) {
                lower = Some(a);
            }
        }
        let range = match lower {
            Some(l) => self.order.range((Bound::Excluded(l), Bound::Unbounded)),
            None => self.order.range::<(SystemTime, String), _>(..),
        };
        for (at, key) in range {
            if matching.len() >= wanted || *at >= request.until {
                break;
            }
            if *at <= UNIX_EPOCH {
                continue;
            }
            if let Some(r) = self.by_key.get(key) {
                matching.push(r);
            }
        }
        let more = matching.len() > request.limit;
        matching.truncate(request.limit);
        let next = match (more, matching.last()) {
            (true, Some(last)) => {
                let (at, key) = order_of(last);
                NextPage::Token(encode_token(at, &key))
            }
            _ => NextPage::Done,
        };
        Ok(ChangePage {
            records: matching.into_iter().cloned().collect(),
            next,
            estimated_total: None,
        })
    }

    /// Whether a dated record passes the request's `after` and `until`.
    fn dated_in(&self, r: &SyncRecord, request: &ChangeRequest) -> bool {
        match (r.mark(), &request.after) {
            (None, _) => false,
            (Some(m), after) => m.at < request.until && after.as_ref().is_none_or(|a| m > *a),
        }
    }
}

/// The token of the mark `(at, key)`, to the nanosecond: a coarser one (microseconds) sorts
/// before records stamped within the same microsecond, so a page of them, as one batch stamped
/// at one instant is, came back again and again.
fn encode_token(at: SystemTime, key: &str) -> String {
    let nanos = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos}:{key}")
}

fn decode_token(t: &str) -> Result<(SystemTime, String), Error> {
    let bad = || Error::decode("/page", format!("not a memory page token: {t:?}"));
    let (nanos, key) = t.split_once(':').ok_or_else(bad)?;
    let nanos: u128 = nanos.parse().map_err(|_| bad())?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
    let at = UNIX_EPOCH
        .checked_add(std::time::Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        ))
        .ok_or_else(bad)?;
    Ok((at, key.to_string()))
}

/// The clock the memory sides stamp their own writes with (the system clock by default).
#[derive(Clone, Default)]
struct Stamp(Option<Clock>);

impl Stamp {
    fn now(&self) -> SystemTime {
        self.0.as_ref().map_or_else(SystemTime::now, |c| c())
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock"
        } else {
            "SystemTime::now"
        })
    }
}

/// A source holding the latest state of each key (deletions as dated tombstones), paged in
/// `(updated_at, key)` order.
#[derive(Debug, Default)]
pub struct MemorySource {
    records: Mutex<Feed>,
    // The last version `write` gave: every write gets a larger one.
    next_version: Mutex<u64>,
    stamp: Stamp,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stamps the records [`write`](SyncSource::write) stores with `clock` instead of the
    /// system clock (give it the engine's clock in tests, so every side shares one timeline).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.stamp = Stamp(Some(clock));
        self
    }

    /// Sets a key's latest state (a deletion is a record with `deleted` set).
    pub fn put(&self, record: SyncRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record);
    }

    /// Removes a key without a trace (an MLS purge: the source never announces it).
    pub fn purge(&self, key: &str) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The latest state of a key.
    pub fn get(&self, key: &str) -> Option<SyncRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .get(key)
            .cloned()
    }

    /// The live records, by key.
    pub fn live(&self) -> BTreeMap<String, Fields> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .values()
            .filter(|r| !r.deleted)
            .map(|r| (r.key.clone(), r.fields.clone()))
            .collect()
    }

    /// How many keys it holds (tombstones included).
    pub fn len(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SyncSource for MemorySource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .page(request)
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let _ = page;
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Some(KeyPage {
            keys: records
                .by_key
                .values()
                .filter(|r| !r.deleted)
                .map(|r| r.key.clone())
                .collect(),
            next: None,
        }))
    }

    /// Stores each record with a new version, larger than any it held or gave before, and
    /// `updated_at` now (by its clock), as a provider stamps an update.
    async fn write(&self, records: &[SyncRecord]) -> Result<Vec<Option<Version>>, Error> {
        let now = self.stamp.now();
        let mut next = self.next_version.lock().unwrap_or_else(|p| p.into_inner());
        let mut held = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let floor = held
                .by_key
                .get(&r.key)
                .and_then(|h| h.version)
                .map_or(0, |v| v.0);
            *next = (*next).max(floor) + 1;
            let mut stored = r.clone();
            stored.version = Some(Version(*next));
            stored.updated_at = Some(now);
            out.push(stored.version);
            held.insert(stored);
        }
        Ok(out)
    }
}

/// A host's records in memory. For inbound jobs it keeps the version the engine gives it and
/// a tombstone for each deletion; [`MemorySink::own_versions`] makes it keep versions of its
/// own instead (as a host's table with a version and an `updated_at` column does), for
/// outbound and bidirectional jobs, with [`MemorySink::edit`] standing for the host's users
/// editing. Its change feed (for [`SyncSink::changes`]) holds the latest state of each key the
/// host edited or, with own versions, the engine wrote.
#[derive(Debug, Default)]
pub struct MemorySink {
    state: Mutex<SinkState>,
    stamp: Stamp,
}

#[derive(Debug, Default)]
struct SinkState {
    held: HashMap<String, Held>,
    // For bidirectional use: the sink's own change feed (latest per key).
    feed: Feed,
    own_versions: bool,
    next_version: u64,
    applied_batches: u64,
    changes: Vec<Change>,
}

impl MemorySink {
    /// An empty sink that keeps the versions it is given.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty sink that versions its records itself: each write, the engine's or the
    /// host's, gets the next version and shows in its change feed stamped now (by its clock),
    /// as a row's `updated_at` column would.
    pub fn own_versions() -> Self {
        let sink = Self::default();
        sink.lock().own_versions = true;
        sink
    }

    /// Stamps the engine's writes with `clock` instead of the system clock (give it the
    /// engine's clock in tests, so every side shares one timeline).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.stamp = Stamp(Some(clock));
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host edits (or, with `None`, deletes) a record at `at`: the next own version,
    /// in the change feed. Meant for a sink made with [`own_versions`](Self::own_versions);
    /// in one that keeps the source's versions, the versions it gives are not comparable.
    pub fn edit(&self, key: &str, fields: Option<Fields>, at: SystemTime) {
        let mut s = self.lock();
        s.next_version += 1;
        let version = Some(Version(s.next_version));
        let record = match &fields {
            Some(f) => SyncRecord::new(key, f.clone()),
            None => SyncRecord::deleted(key),
        };
        let mut record = record;
        record.version = version;
        record.updated_at = Some(at);
        s.feed.insert(record);
        let held = match fields {
            Some(f) => Held::live(version, f),
            None => Held::tombstone(version),
        };
        s.held.insert(key.to_string(), held);
    }

    /// The live records, by key.
    pub fn live(&self) -> BTreeMap<String, Fields> {
        self.lock()
            .held
            .iter()
            .filter_map(|(k, h)| h.fields.clone().map(|f| (k.clone(), f)))
            .collect()
    }

    /// What it holds for one key.
    pub fn get(&self, key: &str) -> Option<Held> {
        self.lock().held.get(key).cloned()
    }

    /// How many batches it applied.
    pub fn applied_batches(&self) -> u64 {
        self.lock().applied_batches
    }

    /// Every change applied, in order (kept only for inspection in tests; cleared by
    /// [`take_changes`](Self::take_changes)).
    pub fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut self.lock().changes)
    }
}

#[async_trait]
impl SyncSink for MemorySink {
    async fn held(&self, keys: &[String]) -> Result<HashMap<String, Held>, Error> {
        let s = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| s.held.get(k).map(|h| (k.clone(), h.clone())))
            .collect())
    }

    async fn apply(&self, batch: &[Change]) -> Result<(), Error> {
        let now = self.stamp.now();
        let mut s = self.lock();
        for c in batch {
            let r = &c.record;
            let version = if s.own_versions {
                s.next_version += 1;
                Some(Version(s.next_version))
            } else {
                // Conditional, as a host's `UPDATE ... WHERE version < $new` is: a racing
                // older copy never replaces a newer one.
                let old = s.held.get(&r.key).and_then(|h| h.version);
                if let (Some(new), Some(old)) = (r.version, old) {
                    if new < old {
                        continue;
                    }
                }
                // A versionless record keeps the version held, so an older versioned copy
                // arriving later is still recognised as stale.
                r.version.or(old)
            };
            let held = if r.deleted {
                Held::tombstone(version)
            } else {
                Held::live(version, r.fields.clone())
            };
            s.held.insert(r.key.clone(), held);
            if s.own_versions {
                // The engine's own write shows in the feed with the sink's version and time,
                // as a host's row would: the engine must know it for its own echo.
                let mut fed = r.clone();
                fed.version = version;
                fed.updated_at = Some(now);
                s.feed.insert(fed);
            }
        }
        s.applied_batches += 1;
        s.changes.extend_from_slice(batch);
        Ok(())
    }

    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let s = self.lock();
        s.feed.page(request)
    }

    async fn live_keys(&self, page: Option<&str>) -> Result<Option<KeyPage>, Error> {
        let _ = page;
        let s = self.lock();
        let mut keys: Vec<String> = s
            .held
            .iter()
            .filter(|(_, h)| h.is_live())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        Ok(Some(KeyPage { keys, next: None }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sync::Mark;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn keys(p: &ChangePage) -> Vec<&str> {
        p.records.iter().map(|r| r.key.as_str()).collect()
    }

    #[test]
    fn a_feed_pages_undated_records_first_then_by_time_and_key_within_after_and_until() {
        let mut feed = Feed::default();
        feed.insert(SyncRecord::new("u", Fields::new()));
        for (k, t) in [("b", 10), ("a", 10), ("c", 20), ("d", 30), ("late", 99)] {
            feed.insert(SyncRecord::new(k, Fields::new()).updated_at(at(t)));
        }
        // Moving a key keeps one entry for it.
        feed.insert(SyncRecord::new("c", Fields::new()).updated_at(at(25)));
        let mut request = ChangeRequest {
            after: Some(Mark::new(at(10), "a")),
            until: at(50),
            page: None,
            limit: 2,
        };
        let first = feed.page(&request).unwrap();
        assert_eq!(keys(&first), ["u", "b"]);
        let NextPage::Token(t) = first.next else {
            panic!("expected a token, got {:?}", first.next)
        };
        request.page = Some(t);
        let second = feed.page(&request).unwrap();
        assert_eq!(keys(&second), ["c", "d"]);
        assert_eq!(second.next, NextPage::Done);
        feed.remove("d");
        assert_eq!(keys(&feed.page(&request).unwrap()), ["c"]);
        request.page = Some("garbage".into());
        assert_eq!(
            feed.page(&request).unwrap_err().kind(),
            crate::ErrorKind::Decode
        );
    }
}
