//! The outbound and bidirectional passes: the sink's own changes go to the source, source
//! changes come to the sink, and a key both sides changed since it was last synced is settled
//! by the job's [`ConflictPolicy`].
//!
//! The link table holds, per key, the version each side had when the engine last synced it.
//! A side's record whose version is at or below its link is the engine's own write-back (or an
//! older copy), not a change; a key whose two sides both moved past their links is a
//! conflict. A key both sides changed to the same content is linked without a write, which is
//! also how a run after a crash between a write and its link save recovers without writing
//! again.
//!
//! Both passes read each side up to "now", not "now minus the safety lag": a change inside the
//! lag must still count as a change, or a run would overwrite it. The saved cursors stay below
//! the lag as in the inbound pass, so what they read early they read again (as echoes) later.
//!
//! Neither side's trait offers a conditional write, so two windows stay open: the sink edited
//! between the engine's `held` and `apply` calls for a key, and the source edited after its
//! page was read and before the sink's record is written there. The engine checks what it can
//! around them (the sink's version before writing, its content after), and documents the rest.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::engine::Run;
use super::events::SyncEventKind;
use super::job::ConflictPolicy;
use super::record::{change_of, Change, ChangeKind, Classified, Held, Mark, SyncRecord, Version};
use super::side::{ChangeRequest, NextPage};
use super::store::{Conflict, Link};
use crate::error::{Error, ErrorKind};

/// Which side's record a host keeps when it resolves a parked conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Write the source's record to the sink.
    KeepSource,
    /// Write the sink's record to the source.
    KeepSink,
}

/// The sink's changes a run read: newest per key, echoes dropped.
struct SinkRead {
    pending: HashMap<String, SyncRecord>,
    /// The largest mark read below `until`: the sink cursor once every pending record is
    /// written.
    max: Option<Mark>,
    /// "Now minus the safety lag" when the sink was read; no sink cursor may reach it.
    until: SystemTime,
}

/// What the engine expects the sink to hold for a key before it writes the source's record
/// there.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The key was never synced: whatever the sink holds predates the job and is replaced.
    Anything,
    /// This version: the link's, or that of the sink change the source's record beat. Another
    /// version means the sink changed after the engine read its changes.
    Version(Option<Version>),
}

/// The outcome of writing source records to the sink.
#[derive(Debug, Default)]
struct Applied {
    links: Vec<(String, Link)>,
    /// The smallest mark of a record left for the next run (the sink changed under it): the
    /// source cursor must stay below it so the record is read again.
    hold: Option<Mark>,
    /// How many records were left for the next run.
    deferred: usize,
}

/// Which record a conflict policy keeps.
enum Winner {
    Source,
    Sink,
    Park,
}

impl Run<'_> {
    /// Sink changes to the source.
    pub(crate) async fn outbound(&mut self) -> Result<(), Error> {
        let read = self.sink_changes().await?;
        let records = in_change_order(read.pending);
        self.write_to_source(records, Some((read.max, read.until)))
            .await
    }

    /// Both ways: the sink's changes are read first (they are what a source record could
    /// overwrite), then the source's pages are applied with conflicts settled, then the sink's
    /// remaining changes are written to the source.
    pub(crate) async fn bidirectional(&mut self) -> Result<(), Error> {
        let job = self.job;
        let mut parked: HashMap<String, Conflict> = self
            .engine
            .inner
            .store
            .conflicts(&job.key)
            .await?
            .into_iter()
            .map(|c| (c.key.clone(), c))
            .collect();
        let SinkRead {
            mut pending,
            max: sink_max,
            until: sink_until,
        } = self.sink_changes().await?;
        let (read_to, until) = self.bounds();
        let mut after = self.cursor.source.as_ref().map(|m| m.back_by(job.overlap));
        let mut page_token: Option<String> = None;
        // The smallest mark of a source record left for the next run; the cursor stays below.
        let mut hold: Option<Mark> = None;
        // As in the inbound pass: a side's estimate counts what its query has left.
        let mut before_query = 0;
        loop {
            if page_token.is_none() {
                before_query = self.log.counts.fetched;
            }
            let request = ChangeRequest {
                after: after.clone(),
                until: read_to,
                page: page_token.clone(),
                limit: job.page_size,
            };
            let page = job.source.changes(&request).await?;
            self.log.counts.pages += 1;
            self.log.counts.fetched += page.records.len() as u64;
            if let Some(n) = page.estimated_total {
                self.estimated_total = Some(before_query.saturating_add(n));
            }
            let marks: Vec<Mark> = page.records.iter().filter_map(SyncRecord::mark).collect();
            let page_max = marks.iter().max().cloned();
            let applied = self
                .source_page(page.records, &mut pending, &mut parked)
                .await?;
            hold = min_mark(hold, applied.hold);
            let saveable = marks
                .into_iter()
                .filter(|m| m.at < until && hold.as_ref().is_none_or(|h| m < h))
                .max();
            if let Some(m) = saveable {
                if self.cursor.source.as_ref().is_none_or(|c| m > *c) {
                    self.cursor.source = Some(m);
                }
            }
            self.save(&applied.links).await?;
            self.progress();
            match next_request(page.next, page_max, &after, &page_token)? {
                None => break,
                Some((a, t)) => {
                    after = a;
                    page_token = t;
                }
            }
        }
        self.join_parked(&mut pending, &mut parked).await?;
        let records = in_change_order(pending);
        self.write_to_source(records, Some((sink_max, sink_until)))
            .await
    }

    /// Settles a parked conflict the way the host chose. The conflict leaves the list only
    /// once the chosen record is written and linked, so a failed write keeps it parked.
    pub(crate) async fn resolve(&mut self, key: &str, side: Resolution) -> Result<(), Error> {
        let job = self.job;
        let store = &self.engine.inner.store;
        let Some(conflict) = store
            .conflicts(&job.key)
            .await?
            .into_iter()
            .find(|c| c.key == key)
        else {
            return Err(no_conflict(job, key));
        };
        match side {
            Resolution::KeepSource => {
                let expect = Expect::Version(conflict.sink.version);
                let applied = self
                    .apply_to_sink(vec![(conflict.source.clone(), expect)])
                    .await?;
                if applied.deferred > 0 {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "key {key:?} changed in the sink after its conflict was parked in sync job {}; the next run parks the newer record, resolve it then",
                            job.key
                        ),
                    ));
                }
                self.save(&applied.links).await?;
            }
            Resolution::KeepSink => {
                self.write_to_source(vec![conflict.sink.clone()], None)
                    .await?;
            }
        }
        self.engine.inner.store.take_conflict(&job.key, key).await?;
        Ok(())
    }

    /// "Now" (how far each side is read) and "now minus the safety lag" (how far a cursor may
    /// move).
    fn bounds(&self) -> (SystemTime, SystemTime) {
        let now = self.engine.now();
        let until = now
            .checked_sub(self.job.safety_lag)
            .unwrap_or(std::time::UNIX_EPOCH);
        (now, until)
    }

    /// Every sink change since the sink cursor (minus the overlap), newest per key, without
    /// the echoes of the engine's own writes.
    ///
    /// They are all held in memory for the run: a source record is checked against them to
    /// find conflicts, and the sink's `held` carries no timestamp to settle one with.
    async fn sink_changes(&mut self) -> Result<SinkRead, Error> {
        let job = self.job;
        let (read_to, until) = self.bounds();
        let mut after = self.cursor.sink.as_ref().map(|m| m.back_by(job.overlap));
        let mut page_token: Option<String> = None;
        let mut pending: HashMap<String, SyncRecord> = HashMap::new();
        let mut max = self.cursor.sink.clone();
        loop {
            let request = ChangeRequest {
                after: after.clone(),
                until: read_to,
                page: page_token.clone(),
                limit: job.page_size,
            };
            let page = job.sink.changes(&request).await?;
            self.log.counts.pages += 1;
            self.log.counts.fetched += page.records.len() as u64;
            let page_max: Option<Mark> = page.records.iter().filter_map(SyncRecord::mark).max();
            for m in page
                .records
                .iter()
                .filter_map(SyncRecord::mark)
                .filter(|m| m.at < until)
            {
                if max.as_ref().is_none_or(|c| m > *c) {
                    max = Some(m);
                }
            }
            for r in page.records {
                if r.version.is_none() {
                    return Err(Error::decode(
                        "/version",
                        format!(
                            "the sink reported a change of key {:?} without a version; outbound and bidirectional jobs need the sink's own version to tell a host edit from the engine's write-back",
                            r.key
                        ),
                    ));
                }
                match pending.get(&r.key) {
                    Some(p) if p.version > r.version => self.log.counts.stale += 1,
                    _ => {
                        pending.insert(r.key.clone(), r);
                    }
                }
            }
            match next_request(page.next, page_max, &after, &page_token)? {
                None => break,
                Some((a, t)) => {
                    after = a;
                    page_token = t;
                }
            }
        }
        let keys: Vec<String> = pending.keys().cloned().collect();
        let links = self.engine.inner.store.links(&job.key, &keys).await?;
        pending.retain(|k, r| {
            let echo = links.get(k).is_some_and(|l| l.sink >= r.version);
            if echo {
                self.log.counts.unchanged += 1;
            }
            !echo
        });
        Ok(SinkRead {
            pending,
            max,
            until,
        })
    }

    /// One page of source records: echoes dropped, parked keys kept apart, conflicts with
    /// pending sink changes settled, the rest applied to the sink. Returns the links to save
    /// with the cursor and what was left for the next run.
    async fn source_page(
        &mut self,
        records: Vec<SyncRecord>,
        pending: &mut HashMap<String, SyncRecord>,
        parked: &mut HashMap<String, Conflict>,
    ) -> Result<Applied, Error> {
        let job = self.job;
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        let links = self.engine.inner.store.links(&job.key, &keys).await?;
        // Key order, so events come in the same order whatever order the page had.
        let mut newest: BTreeMap<String, SyncRecord> = BTreeMap::new();
        for r in records {
            match newest.get(&r.key) {
                Some(p) if p.version > r.version => self.log.counts.stale += 1,
                _ => {
                    newest.insert(r.key.clone(), r);
                }
            }
        }
        let mut settled: Vec<(String, Link)> = Vec::new();
        let mut to_sink: Vec<(SyncRecord, Expect)> = Vec::with_capacity(newest.len());
        for (key, r) in newest {
            let link = links.get(&key).copied();
            if let Some(l) = link {
                if r.version.is_some() && l.source >= r.version {
                    if l.source > r.version {
                        self.log.counts.stale += 1;
                    } else {
                        self.log.counts.unchanged += 1;
                    }
                    continue;
                }
            }
            if let Some(c) = parked.get_mut(&key) {
                // A parked key stays apart until the host resolves it; a newer record of
                // either side replaces that side's in the parked pair.
                if supersedes(&r, &c.source) {
                    c.source = r;
                    c.detected_at = self.engine.now();
                    let updated = c.clone();
                    if let Some(link) = self.update_parked(updated).await? {
                        parked.remove(&key);
                        settled.push((key, link));
                    }
                } else {
                    self.log.counts.unchanged += 1;
                }
                continue;
            }
            let expect = link.map_or(Expect::Anything, |l| Expect::Version(l.sink));
            let Some(theirs) = pending.get(&key) else {
                to_sink.push((r, expect));
                continue;
            };
            if same_content(&r, theirs) {
                // Both sides say the same (one edit made twice, or the write-back of a run
                // that stopped before saving its links): link them, write nothing.
                settled.push((
                    key.clone(),
                    Link {
                        source: r.version,
                        sink: theirs.version,
                    },
                ));
                pending.remove(&key);
                self.log.counts.unchanged += 1;
                continue;
            }
            self.log.counts.conflicts += 1;
            match winner(job.conflicts, &r, theirs) {
                Winner::Park => {
                    let Some(sink) = pending.remove(&key) else {
                        continue;
                    };
                    let conflict = Conflict {
                        key: key.clone(),
                        source: r,
                        sink,
                        detected_at: self.engine.now(),
                    };
                    self.park(&conflict).await?;
                    parked.insert(key.clone(), conflict);
                    self.engine
                        .emit(&job.key, SyncEventKind::Conflict { key, parked: true });
                }
                Winner::Source => {
                    self.engine.emit(
                        &job.key,
                        SyncEventKind::Conflict {
                            key: key.clone(),
                            parked: false,
                        },
                    );
                    let expect = Expect::Version(theirs.version);
                    pending.remove(&key);
                    to_sink.push((r, expect));
                }
                Winner::Sink => {
                    // The sink's record stays pending and overwrites the source's.
                    self.engine
                        .emit(&job.key, SyncEventKind::Conflict { key, parked: false });
                }
            }
        }
        let mut applied = self.apply_to_sink(to_sink).await?;
        applied.links.extend(settled);
        Ok(applied)
    }

    /// Sink changes to keys that are parked join the parked pair instead of going to the
    /// source.
    async fn join_parked(
        &mut self,
        pending: &mut HashMap<String, SyncRecord>,
        parked: &mut HashMap<String, Conflict>,
    ) -> Result<(), Error> {
        let mut keys: Vec<String> = pending
            .keys()
            .filter(|k| parked.contains_key(*k))
            .cloned()
            .collect();
        keys.sort();
        let mut settled = Vec::new();
        for key in keys {
            let (Some(r), Some(c)) = (pending.remove(&key), parked.get_mut(&key)) else {
                continue;
            };
            if supersedes(&r, &c.sink) {
                c.sink = r;
                c.detected_at = self.engine.now();
                let updated = c.clone();
                if let Some(link) = self.update_parked(updated).await? {
                    parked.remove(&key);
                    settled.push((key, link));
                }
            } else {
                self.log.counts.unchanged += 1;
            }
        }
        if !settled.is_empty() {
            self.save(&settled).await?;
        }
        Ok(())
    }

    /// Parks a parked pair with a side's newer record, raising the conflict again. A pair
    /// whose sides now say the same (the host edited its record to match) is unparked
    /// instead, and its link returned to be saved: nothing is left to write.
    async fn update_parked(&mut self, conflict: Conflict) -> Result<Option<Link>, Error> {
        let job = self.job;
        let store = &self.engine.inner.store;
        if same_content(&conflict.source, &conflict.sink) {
            store.take_conflict(&job.key, &conflict.key).await?;
            return Ok(Some(Link {
                source: conflict.source.version,
                sink: conflict.sink.version,
            }));
        }
        self.park(&conflict).await?;
        self.engine.emit(
            &job.key,
            SyncEventKind::Conflict {
                key: conflict.key,
                parked: true,
            },
        );
        Ok(None)
    }

    /// Applies source records to the sink, classified against its fields (its versions are
    /// its own), and links each to the version the sink then holds.
    ///
    /// A record whose sink version is not the one expected is left for the next run: the sink
    /// changed after its changes were read, and that change is read (and settled) then. A
    /// record the sink already holds is linked without a write. After the write the sink's
    /// content is read back: if it is not what was written, the host edited the key in
    /// between and the sink side of the link is left unknown, so that edit still goes out.
    async fn apply_to_sink(
        &mut self,
        records: Vec<(SyncRecord, Expect)>,
    ) -> Result<Applied, Error> {
        let mut out = Applied::default();
        if records.is_empty() {
            return Ok(out);
        }
        let job = self.job;
        let keys: Vec<String> = records.iter().map(|(r, _)| r.key.clone()).collect();
        let held = job.sink.held(&keys).await?;
        let mut changes: Vec<Change> = Vec::with_capacity(records.len());
        for (r, expect) in records {
            let h = held.get(&r.key);
            if holds(h, &r) {
                out.links.push((
                    r.key.clone(),
                    Link {
                        source: r.version,
                        sink: h.and_then(|h| h.version),
                    },
                ));
                self.log.counts.unchanged += 1;
                continue;
            }
            if let (Expect::Version(v), Some(h)) = (expect, h) {
                if h.version != v {
                    tracing::debug!(job = %job.key, key = %r.key, "the sink changed a key during the run; its source record waits for the next run");
                    out.deferred += 1;
                    out.hold = min_mark(out.hold, r.mark());
                    continue;
                }
            }
            let before = h.and_then(|h| h.fields.as_ref());
            if let Classified::Apply(c) = change_of(r, before, job.watch.as_deref()) {
                changes.push(c);
            }
        }
        if changes.is_empty() {
            return Ok(out);
        }
        job.sink.apply(&changes).await?;
        self.engine
            .announce(&job.key, &changes, &mut self.log.counts);
        let written: Vec<String> = changes.iter().map(|c| c.record.key.clone()).collect();
        let after = job.sink.held(&written).await?;
        for c in &changes {
            let h = after.get(&c.record.key);
            let sink = if holds(h, &c.record) {
                h.and_then(|h| h.version)
            } else {
                None
            };
            out.links.push((
                c.record.key.clone(),
                Link {
                    source: c.record.version,
                    sink,
                },
            ));
        }
        Ok(out)
    }

    /// Writes sink records to the source in pages (in the sink's change order), saving each
    /// page's links with it. With `advance` (the largest mark read and the bound no cursor may
    /// reach), the sink cursor moves with each page to the last mark written, and to the
    /// largest mark read at the end: a run that stops part-way sends the rest next time, and
    /// what it sent is an echo by its link.
    async fn write_to_source(
        &mut self,
        records: Vec<SyncRecord>,
        advance: Option<(Option<Mark>, SystemTime)>,
    ) -> Result<(), Error> {
        let job = self.job;
        for chunk in records.chunks(job.page_size) {
            let keys: Vec<String> = chunk.iter().map(|r| r.key.clone()).collect();
            let known = self.engine.inner.store.links(&job.key, &keys).await?;
            let versions = job.source.write(chunk).await?;
            if versions.len() != chunk.len() {
                return Err(Error::decode(
                    "/write",
                    format!(
                        "the source wrote {} records but reported {} versions",
                        chunk.len(),
                        versions.len()
                    ),
                ));
            }
            let mut links = Vec::with_capacity(chunk.len());
            for (r, v) in chunk.iter().zip(versions) {
                links.push((
                    r.key.clone(),
                    Link {
                        source: v,
                        sink: r.version,
                    },
                ));
                // The source's previous content is unknown here, so an update names no fields.
                let kind = if r.deleted {
                    ChangeKind::Deleted
                } else if known.contains_key(&r.key) {
                    ChangeKind::Updated { fields: Vec::new() }
                } else {
                    ChangeKind::Created
                };
                self.engine.emit(
                    &job.key,
                    SyncEventKind::Changed {
                        key: r.key.clone(),
                        change: kind,
                        watched: None,
                    },
                );
            }
            self.log.counts.written += chunk.len() as u64;
            if let Some((_, until)) = advance {
                let last = chunk
                    .iter()
                    .filter_map(SyncRecord::mark)
                    .filter(|m| m.at < until)
                    .max();
                if let Some(m) = last {
                    if self.cursor.sink.as_ref().is_none_or(|c| m > *c) {
                        self.cursor.sink = Some(m);
                    }
                }
            }
            self.save(&links).await?;
            self.progress();
        }
        if let Some((Some(max), _)) = advance {
            if self.cursor.sink.as_ref().is_none_or(|c| max > *c) {
                self.cursor.sink = Some(max);
                self.save(&[]).await?;
            }
        }
        Ok(())
    }
}

/// The error of resolving a key with no parked conflict.
pub(crate) fn no_conflict(job: &super::SyncJob, key: &str) -> Error {
    Error::not_found(format!(
        "no conflict is parked for key {key:?} in sync job {}",
        job.key
    ))
}

/// Records in the order the sink changed them (undated first, by key), so the sink cursor can
/// follow the writes.
fn in_change_order(pending: HashMap<String, SyncRecord>) -> Vec<SyncRecord> {
    let mut records: Vec<SyncRecord> = pending.into_values().collect();
    records.sort_by(|a, b| a.mark().cmp(&b.mark()).then_with(|| a.key.cmp(&b.key)));
    records
}

fn min_mark(a: Option<Mark>, b: Option<Mark>) -> Option<Mark> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Which record the policy keeps. Newer-wins compares the sides' `updated_at`; a tie, or a
/// side without one, goes to the source, so the outcome never depends on read order.
fn winner(policy: ConflictPolicy, source: &SyncRecord, sink: &SyncRecord) -> Winner {
    match policy {
        ConflictPolicy::SourceWins => Winner::Source,
        ConflictPolicy::SinkWins => Winner::Sink,
        ConflictPolicy::Park => Winner::Park,
        ConflictPolicy::NewerWins => match (source.updated_at, sink.updated_at) {
            (Some(s), Some(k)) if k > s => Winner::Sink,
            _ => Winner::Source,
        },
    }
}

/// Whether two records say the same: both deleted, or both live with equal fields.
fn same_content(a: &SyncRecord, b: &SyncRecord) -> bool {
    a.deleted == b.deleted && (a.deleted || a.fields == b.fields)
}

/// Whether what the sink holds already says what `r` says.
fn holds(held: Option<&Held>, r: &SyncRecord) -> bool {
    match held.and_then(|h| h.fields.as_ref()) {
        None => r.deleted,
        Some(f) => !r.deleted && *f == r.fields,
    }
}

/// Whether `r` is a newer record of its side than `parked` (by version; by content when
/// either has none).
fn supersedes(r: &SyncRecord, parked: &SyncRecord) -> bool {
    match (r.version, parked.version) {
        (Some(a), Some(b)) => a > b,
        _ => !same_content(r, parked),
    }
}

/// The `after` and page token of the next request.
pub(crate) type NextRequest = (Option<Mark>, Option<String>);

/// The next request's `after` and page token, or `None` after the last page.
pub(crate) fn next_request(
    next: NextPage,
    page_max: Option<Mark>,
    after: &Option<Mark>,
    token: &Option<String>,
) -> Result<Option<NextRequest>, Error> {
    match next {
        NextPage::Done => Ok(None),
        NextPage::AfterLast => {
            let Some(m) = page_max.filter(|m| after.as_ref().is_none_or(|a| m > a)) else {
                return Err(Error::decode(
                    "/next",
                    "the side asked to page after the last record, but the page moved no further than the one before (an empty page, or records all at or before `after`)",
                ));
            };
            Ok(Some((Some(m), None)))
        }
        NextPage::Token(t) => {
            if token.as_deref() == Some(t.as_str()) {
                return Err(Error::decode(
                    "/next",
                    "the side returned the same page token twice in a row",
                ));
            }
            Ok(Some((after.clone(), Some(t))))
        }
    }
}
