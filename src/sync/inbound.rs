//! The inbound pass: pages of source changes from the saved cursor (minus the overlap) up to
//! now minus the safety lag, each batch applied before the cursor moves past it.

use super::engine::Run;
use super::record::page_marks;
use super::side::ChangeRequest;
use crate::error::Error;

impl Run<'_> {
    pub(crate) async fn inbound(&mut self) -> Result<(), Error> {
        let job = self.job;
        let until = self
            .engine
            .now()
            .checked_sub(job.safety_lag)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut after = self.cursor.source.as_ref().map(|m| m.back_by(job.overlap));
        let mut page_token: Option<String> = None;
        // Records read before the current query (the last request without a page token): a
        // side's estimate counts its query's records, and with keyset paging every page is a
        // new query that counts only what remains.
        let mut before_query = 0;
        loop {
            if page_token.is_none() {
                before_query = self.log.counts.fetched;
            }
            let request = ChangeRequest {
                after: after.clone(),
                until,
                page: page_token.clone(),
                limit: job.page_size,
            };
            let page = job.source.changes(&request).await?;
            self.log.counts.pages += 1;
            self.log.counts.fetched += page.records.len() as u64;
            if let Some(n) = page.estimated_total {
                self.estimated_total = Some(before_query.saturating_add(n));
            }
            // Everything up to the page's largest mark has now been delivered; only marks
            // before `until` may become the cursor (a later one would skip late writes).
            let (page_max, saveable) = page_marks(&page.records, until);
            self.engine
                .apply_batch(job, page.records, &mut self.log.counts)
                .await?;
            if let Some(m) = saveable {
                if self.cursor.source.as_ref().is_none_or(|c| m > *c) {
                    self.cursor.source = Some(m);
                    self.save(&[]).await?;
                }
            }
            self.progress();
            match super::bidirectional::next_request(page.next, page_max, &after, &page_token)? {
                None => return Ok(()),
                Some((a, t)) => {
                    after = a;
                    page_token = t;
                }
            }
        }
    }
}
