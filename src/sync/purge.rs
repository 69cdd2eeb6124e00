//! The purge pass: finds deletions a source never announces (an MLS purge) by comparing the
//! keys the source lists as live with those the sink holds.

use std::collections::{BTreeSet, HashSet};

use super::engine::Run;
use super::events::SyncEventKind;
use super::record::SyncRecord;
use super::side::KeyPage;
use crate::error::Error;

/// How many deletions go to the sink in one batch.
const PURGE_BATCH: usize = 500;

impl Run<'_> {
    pub(crate) async fn purge(&mut self) -> Result<(), Error> {
        let job = self.job;
        // The sink's keys first: a key the sink gains while the source's listing is read (a
        // webhook's record) is then not in it, so it cannot be taken for a deletion. Each
        // listing whole before anything is deleted: one that fails part-way deletes nothing.
        // A set: a key listed on two pages (the listing shifted under its paging) counts once.
        let held: BTreeSet<String> = collect_keys("sink", |p| {
            let sink = job.sink.clone();
            async move { sink.live_keys(p.as_deref()).await }
        })
        .await?
        .into_iter()
        .collect();
        let live: HashSet<String> = collect_keys("source", |p| {
            let source = job.source.clone();
            async move { source.live_keys(p.as_deref()).await }
        })
        .await?
        .into_iter()
        .collect();
        self.log.counts.fetched = (live.len() + held.len()) as u64;
        let missing: Vec<String> = held
            .iter()
            .filter(|k| !live.contains(*k))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let share = missing.len() as f64 / held.len() as f64;
        if share > job.purge.max_share {
            self.log.counts.purge_held = missing.len() as u64;
            self.engine.emit(
                &job.key,
                SyncEventKind::PurgeHeld {
                    missing: missing.len() as u64,
                    held: held.len() as u64,
                },
            );
            return Ok(());
        }
        for chunk in missing.chunks(PURGE_BATCH) {
            let deletions = chunk.iter().map(SyncRecord::deleted).collect();
            self.engine
                .apply_batch(job, deletions, &mut self.log.counts)
                .await?;
            self.log.counts.pages += 1;
            self.progress();
        }
        Ok(())
    }
}

async fn collect_keys<F, Fut>(side: &'static str, mut page: F) -> Result<Vec<String>, Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Option<KeyPage>, Error>>,
{
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let Some(p) = page(token.clone()).await? else {
            return Err(Error::config(
                "sync.purge",
                format!("the {side} cannot list its live keys, so the purge pass cannot run"),
            ));
        };
        keys.extend(p.keys);
        match p.next {
            None => return Ok(keys),
            Some(t) if token.as_deref() == Some(t.as_str()) => {
                return Err(Error::decode(
                    "/next",
                    format!("the {side}'s key listing returned the same page token twice"),
                ))
            }
            Some(t) => token = Some(t),
        }
    }
}
