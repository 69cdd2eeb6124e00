//! The Messages resource: send (SMS, MMS, WhatsApp), fetch, list (a paged stream), cancel,
//! delete, and a bulk send that goes through the core's rate limiter.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use futures_util::stream::{self, Stream, StreamExt};

use super::send_json;
use crate::twilio::error::TwilioError;
use crate::twilio::models::{ListMessages, Message, MessageSid, NewMessage, Page};
use crate::twilio::TwilioClient;
use crate::ConfigError;

/// The rate-limit bucket every message send spends. Give it the account's sending rate
/// (`InMemoryRateLimiter::new().with_quota("twilio", MESSAGES_BUCKET, Quota::per_second(..))`)
/// and single sends and [`Messages::send_bulk`] alike keep to it.
pub const MESSAGES_BUCKET: &str = "messages";

/// `client.messages()`.
#[derive(Debug, Clone, Copy)]
pub struct Messages<'a> {
    client: &'a TwilioClient,
}

/// Settings of [`Messages::send_bulk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkOptions {
    /// How many sends may be in flight at once (default 4). The rate itself is the rate
    /// limiter's job; this only bounds connections and memory.
    pub concurrency: NonZeroUsize,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            concurrency: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

impl BulkOptions {
    /// With `n` sends in flight at most.
    pub fn concurrency(mut self, n: NonZeroUsize) -> Self {
        self.concurrency = n;
        self
    }
}

impl<'a> Messages<'a> {
    pub(crate) fn new(client: &'a TwilioClient) -> Self {
        Messages { client }
    }

    fn path(&self, sid: Option<&MessageSid>) -> String {
        let base = self.client.account_path();
        match sid {
            Some(s) => format!("{base}/Messages/{s}.json"),
            None => format!("{base}/Messages.json"),
        }
    }

    /// `POST …/Messages.json`. When the message names neither `From` nor a Messaging Service,
    /// the connection's default sender (or service, from its config) is used.
    ///
    /// There is no idempotency key in Twilio's API, so the call is never retried once its
    /// bytes may have reached Twilio; a reset then ends in
    /// [`crate::ErrorKind::OutcomeUnknown`]: check with [`Self::list`] before sending again.
    ///
    /// # Errors
    /// A [`TwilioError`] (21211 invalid `To`, 21606 `From` not yours, ...); a config error
    /// when there is no sender or the message has neither body nor media.
    pub async fn send(&self, message: &NewMessage) -> Result<Message, TwilioError> {
        let settings = self.client.settings();
        let mut message = message.clone();
        if message.from.is_none() && message.messaging_service_sid.is_none() {
            message.from = settings.default_from().map(str::to_string);
            message.messaging_service_sid = settings
                .messaging_service_sid()
                .map(|s| s.as_str().to_string());
        }
        if message.to.is_empty() {
            return Err(ConfigError::new("message.to", "is required").into());
        }
        if message.from.is_none() && message.messaging_service_sid.is_none() {
            return Err(ConfigError::new(
                "message.from",
                "needs `from` or `messaging_service_sid` (or a default in the connection's config)",
            )
            .into());
        }
        let has_content = message.body.is_some()
            || !message.media_urls.is_empty()
            || message.params.iter().any(|(k, _)| k == "ContentSid");
        if !has_content {
            return Err(
                ConfigError::new("message.body", "needs a body, media or a ContentSid").into(),
            );
        }
        send_json(
            self.client
                .connection()
                .post(self.path(None))
                .form(&message.form())
                .bucket(MESSAGES_BUCKET)
                .endpoint("messages.create"),
        )
        .await
    }

    /// `GET …/Messages/{sid}.json`.
    ///
    /// # Errors
    /// A [`TwilioError`] (20404 when the message does not exist).
    pub async fn fetch(&self, sid: &MessageSid) -> Result<Message, TwilioError> {
        send_json(
            self.client
                .connection()
                .get(self.path(Some(sid)))
                .endpoint("messages.fetch"),
        )
        .await
    }

    /// Cancels a scheduled message (`POST …/Messages/{sid}.json` with `Status=canceled`).
    ///
    /// # Errors
    /// A [`TwilioError`] (for example when the message is no longer scheduled).
    pub async fn cancel(&self, sid: &MessageSid) -> Result<Message, TwilioError> {
        send_json(
            self.client
                .connection()
                .post(self.path(Some(sid)))
                .form(&[("Status", "canceled")])
                .endpoint("messages.cancel"),
        )
        .await
    }

    /// Deletes a message's record (`DELETE …/Messages/{sid}.json`, answered with 204).
    ///
    /// # Errors
    /// A [`TwilioError`].
    pub async fn delete(&self, sid: &MessageSid) -> Result<(), TwilioError> {
        self.client
            .connection()
            .delete(self.path(Some(sid)))
            .endpoint("messages.delete")
            .send()
            .await?;
        Ok(())
    }

    /// Every message matching `filter`, newest first, as a stream. The next page (Twilio's
    /// `next_page_uri`) is fetched only when the stream is polled past the current one; an
    /// error ends the stream after it is yielded. The stream is `Unpin`.
    pub fn list(
        &self,
        filter: &ListMessages,
    ) -> impl Stream<Item = Result<Message, TwilioError>> + Send + Unpin + 'static {
        let client = self.client.clone();
        let first = Next::First(self.path(None), filter.query());
        let state = (client, Some(first), VecDeque::<Message>::new());
        stream::unfold(state, |(client, mut next, mut buffer)| async move {
            loop {
                if let Some(m) = buffer.pop_front() {
                    return Some((Ok(m), (client, next, buffer)));
                }
                let req = match next.take()? {
                    Next::First(path, query) => client.connection().get(path).query(&query),
                    Next::Uri(uri) => client.connection().get(uri),
                };
                match send_json::<Page<Message>>(req.endpoint("messages.list")).await {
                    Ok(page) => {
                        next = page.next_page_uri.and_then(|u| relative(&u)).map(Next::Uri);
                        buffer.extend(page.items);
                    }
                    Err(e) => return Some((Err(e), (client, None, buffer))),
                }
            }
        })
        // Boxed so callers can `.next().await` without pinning it themselves.
        .boxed()
    }

    /// Sends `template` to every recipient (the seed's `sendBulkSMS`), at most
    /// `options.concurrency` at a time, each send spending the [`MESSAGES_BUCKET`] of the
    /// core's rate limiter (the pipeline waits for it, up to the switchboard's
    /// `rate_limit_max_wait`). Returns one result per recipient, in the recipients' order; a
    /// failed send is an `Err` in its place and does not stop the others.
    pub async fn send_bulk<S: AsRef<str>>(
        &self,
        template: &NewMessage,
        recipients: &[S],
        options: BulkOptions,
    ) -> Vec<Result<Message, TwilioError>> {
        let sends = recipients.iter().map(|to| {
            let message = template.clone().to(to.as_ref());
            async move { self.send(&message).await }
        });
        // `buffered` (not `buffer_unordered`) keeps the results in the input order.
        stream::iter(sends)
            .buffered(options.concurrency.get())
            .collect()
            .await
    }
}

enum Next {
    First(String, Vec<(&'static str, String)>),
    Uri(String),
}

/// `next_page_uri` is a path and query relative to the API host; an absolute URL (as mock
/// servers sometimes give) is reduced to its path and query so the call stays on the
/// connection's host and credentials never go elsewhere.
fn relative(uri: &str) -> Option<String> {
    if uri.starts_with('/') {
        return Some(uri.to_string());
    }
    let url = url::Url::parse(uri).ok()?;
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}
