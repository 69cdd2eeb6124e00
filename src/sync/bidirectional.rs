//! The outbound and bidirectional passes: the sink's own changes go to the source, source
//! changes come to the sink, and a key both sides changed since it was last synced is settled
//! by the job's [`ConflictPolicy`]. The link table (what each side held when a key was last
//! synced) is how the engine tells a real change from the echo of its own write-back.

use std::collections::HashMap;
use std::time::SystemTime;

use super::engine::Run;
use super::events::SyncEventKind;
use super::job::ConflictPolicy;
use super::record::{change_of, Change, ChangeKind, Classified, Mark, SyncRecord, Version};
use super::side::{ChangePage, ChangeRequest, NextPage, SyncSink};
use super::store::{Conflict, Link};
use crate::error::Error;

/// Which side's record a host keeps when it resolves a parked conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Write the source's record to the sink.
    KeepSource,
    /// Write the sink's record to the source.
    KeepSink,
}

impl Run<'_> {
    /// Sink changes to the source.
    pub(crate) async fn outbound(&mut self) -> Result<(), Error> {
        let (pending, sink_max) = self.sink_changes().await?;
        let pending: Vec<SyncRecord> = pending.into_values().collect();
        self.write_to_source(pending, sink_max).await
    }

    /// Both ways.
    pub(crate) async fn bidirectional(&mut self) -> Result<(), Error> {
        let (mut pending, sink_max) = self.sink_changes().await?;
        let job = self.job;
        let until = self.until();
        let mut after = self.cursor.source.as_ref().map(|m| m.back_by(job.overlap));
        let mut page_token: Option<String> = None;
        loop {
            let request = ChangeRequest {
                after: after.clone(),
                until,
                page: page_token.clone(),
                limit: job.page_size,
            };
            let page = job.source.changes(&request).await?;
            self.log.counts.pages += 1;
            self.log.counts.fetched += page.records.len() as u64;
            if page.estimated_total.is_some() {
                self.estimated_total = page.estimated_total;
            }
            let page_max: Option<Mark> = page.records.iter().filter_map(|r| r.mark()).max();
            let saveable = page
                .records
                .iter()
                .filter_map(|r| r.mark())
                .filter(|m| m.at < until)
                .max();
            let links = self.source_page(page.records, &mut pending).await?;
            if let Some(m) = saveable {
                if self.cursor.source.as_ref().is_none_or(|c| m > *c) {
                    self.cursor.source = Some(m);
                }
            }
            self.save(&links).await?;
            self.progress();
            match next_request(page.next, page_max, &after, &page_token)? {
                None => break,
                Some((a, t)) => {
                    after = a;
                    page_token = t;
                }
            }
        }
        let pending: Vec<SyncRecord> = pending.into_values().collect();
        self.write_to_source(pending, sink_max).await
    }

    /// Settles a parked conflict the way the host chose.
    pub(crate) async fn resolve(&mut self, key: &str, side: Resolution) -> Result<(), Error> {
        let job = self.job;
        let Some(conflict) = self.engine.inner.store.take_conflict(&job.key, key).await? else {
            return Err(Error::not_found(format!(
                "no conflict is parked for key {key:?} in sync job {}",
                job.key
            )));
        };
        let result = match side {
            Resolution::KeepSource => {
                let links = self.apply_to_sink(vec![conflict.source.clone()]).await;
                match links {
                    Ok(links) => self.save(&links).await,
                    Err(e) => Err(e),
                }
            }
            Resolution::KeepSink => {
                let cursor_sink = self.cursor.sink.clone();
                self.write_to_source(vec![conflict.sink.clone()], cursor_sink)
                    .await
            }
        };
        if result.is_err() {
            // Put it back so the host can try again; nothing was lost.
            let _ = self
                .engine
                .inner
                .store
                .park(&job.key, self.fence, &conflict)
                .await;
        }
        result
    }

    fn until(&self) -> SystemTime {
        self.engine
            .now()
            .checked_sub(self.job.safety_lag)
            .unwrap_or(std::time::UNIX_EPOCH)
    }

    /// Every sink change since the sink cursor (minus the overlap), newest per key, without
    /// the echoes of the engine's own writes; and the largest mark to save once they are
    /// written.
    async fn sink_changes(&mut self) -> Result<(HashMap<String, SyncRecord>, Option<Mark>), Error> {
        let job = self.job;
        let until = self.until();
        let mut after = self.cursor.sink.as_ref().map(|m| m.back_by(job.overlap));
        let mut page_token: Option<String> = None;
        let mut pending: HashMap<String, SyncRecord> = HashMap::new();
        let mut sink_max = self.cursor.sink.clone();
        loop {
            let request = ChangeRequest {
                after: after.clone(),
                until,
                page: page_token.clone(),
                limit: job.page_size,
            };
            let page: ChangePage = job.sink.changes(&request).await?;
            self.log.counts.pages += 1;
            self.log.counts.fetched += page.records.len() as u64;
            let page_max: Option<Mark> = page.records.iter().filter_map(|r| r.mark()).max();
            for m in page
                .records
                .iter()
                .filter_map(|r| r.mark())
                .filter(|m| m.at < until)
            {
                if sink_max.as_ref().is_none_or(|c| m > *c) {
                    sink_max = Some(m);
                }
            }
            for r in page.records {
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
            let echo = r.version.is_some() && links.get(k).is_some_and(|l| l.sink >= r.version);
            if echo {
                self.log.counts.unchanged += 1;
            }
            !echo
        });
        Ok((pending, sink_max))
    }

    /// One page of source records: echoes dropped, conflicts with pending sink changes
    /// settled, the rest applied to the sink. Returns the links to save with the cursor.
    async fn source_page(
        &mut self,
        records: Vec<SyncRecord>,
        pending: &mut HashMap<String, SyncRecord>,
    ) -> Result<Vec<(String, Link)>, Error> {
        let job = self.job;
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        let links = self.engine.inner.store.links(&job.key, &keys).await?;
        let mut newest: HashMap<String, SyncRecord> = HashMap::with_capacity(records.len());
        for r in records {
            match newest.get(&r.key) {
                Some(p) if p.version > r.version => self.log.counts.stale += 1,
                _ => {
                    newest.insert(r.key.clone(), r);
                }
            }
        }
        let mut to_sink = Vec::with_capacity(newest.len());
        for (key, r) in newest {
            let link = links.get(&key).copied().unwrap_or_default();
            if r.version.is_some() && link.source >= r.version {
                if link.source > r.version {
                    self.log.counts.stale += 1;
                } else {
                    self.log.counts.unchanged += 1;
                }
                continue;
            }
            let Some(theirs) = pending.get(&key) else {
                to_sink.push(r);
                continue;
            };
            self.log.counts.conflicts += 1;
            let source_wins = match job.conflicts {
                ConflictPolicy::SourceWins => true,
                ConflictPolicy::SinkWins => false,
                ConflictPolicy::NewerWins => match (r.updated_at, theirs.updated_at) {
                    (Some(a), Some(b)) => a >= b,
                    _ => true,
                },
                ConflictPolicy::Park => {
                    let sink = pending.remove(&key).expect("checked above");
                    let conflict = Conflict {
                        key: key.clone(),
                        source: r,
                        sink,
                        detected_at: self.engine.now(),
                    };
                    self.engine
                        .inner
                        .store
                        .park(&job.key, self.fence, &conflict)
                        .await?;
                    self.engine
                        .emit(&job.key, SyncEventKind::Conflict { key, parked: true });
                    continue;
                }
            };
            self.engine.emit(
                &job.key,
                SyncEventKind::Conflict {
                    key: key.clone(),
                    parked: false,
                },
            );
            if source_wins {
                pending.remove(&key);
                to_sink.push(r);
            }
            // Otherwise the sink's record stays pending and overwrites the source's.
        }
        self.apply_to_sink(to_sink).await
    }

    /// Applies source records to the sink (classified against its fields, not its versions,
    /// which are its own here) and reads back the sink's new versions for the links.
    async fn apply_to_sink(
        &mut self,
        records: Vec<SyncRecord>,
    ) -> Result<Vec<(String, Link)>, Error> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let job = self.job;
        let keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
        let held = job.sink.held(&keys).await?;
        let mut changes: Vec<Change> = Vec::with_capacity(records.len());
        let mut versions: Vec<(String, Option<Version>)> = Vec::with_capacity(records.len());
        for r in records {
            let before = held.get(&r.key).and_then(|h| h.fields.as_ref());
            versions.push((r.key.clone(), r.version));
            if let Classified::Apply(c) = change_of(r, before, job.watch.as_deref()) {
                changes.push(c);
            }
        }
        job.sink.apply(&changes).await?;
        self.engine
            .announce(&job.key, &changes, &mut self.log.counts);
        let after = held_versions(job.sink.as_ref(), &keys).await?;
        Ok(versions
            .into_iter()
            .map(|(k, source)| {
                let sink = after.get(&k).copied().flatten();
                (k, Link { source, sink })
            })
            .collect())
    }

    /// Writes sink records to the source in pages, saving links and, at the end, the sink
    /// cursor.
    async fn write_to_source(
        &mut self,
        records: Vec<SyncRecord>,
        sink_max: Option<Mark>,
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
            self.save(&links).await?;
            self.progress();
        }
        if sink_max != self.cursor.sink {
            self.cursor.sink = sink_max;
            self.save(&[]).await?;
        }
        Ok(())
    }
}

async fn held_versions(
    sink: &dyn SyncSink,
    keys: &[String],
) -> Result<HashMap<String, Option<Version>>, Error> {
    Ok(sink
        .held(keys)
        .await?
        .into_iter()
        .map(|(k, h)| (k, h.version))
        .collect())
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
