//! The Messages resource: send (create) SMS, MMS and WhatsApp messages, fetch, list (a paged
//! stream), cancel, delete, and a bulk send that goes through the core's rate limiter.

use std::future::IntoFuture;
use std::num::NonZeroUsize;

use futures_util::stream::{self, StreamExt};

use super::refused;
use crate::toolkit::{self, segment, Call, Pager, Pages};
use crate::twilio::error::TwilioError;
use crate::twilio::models::{CreateMessage, ListMessages, Message, MessageSid, Page};
use crate::twilio::TwilioClient;
use crate::ConfigError;

/// The rate-limit bucket every message send spends. Give it the account's sending rate
/// (`InMemoryRateLimiter::new().with_quota("twilio", MESSAGES_BUCKET, Quota::per_second(..))`)
/// and single sends and [`Messages::send_bulk`] alike keep to it.
pub const MESSAGES_BUCKET: &str = "messages";

/// `client.messages()`. Owns a clone of the client.
#[derive(Debug, Clone)]
pub struct Messages {
    client: TwilioClient,
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

impl Messages {
    pub(crate) fn new(client: TwilioClient) -> Self {
        Messages { client }
    }

    fn path(&self, sid: Option<&MessageSid>) -> String {
        let base = self.client.account_path();
        match sid {
            Some(s) => format!("{base}/Messages/{}.json", segment(s.as_str())),
            None => format!("{base}/Messages.json"),
        }
    }

    /// `POST …/Messages.json`: sends a message. When it names neither `From` nor a Messaging
    /// Service, the connection's default sender (or service, from its config) is used.
    ///
    /// There is no idempotency key in Twilio's API, so the call is never retried once its
    /// bytes may have reached Twilio; a reset then ends in
    /// [`crate::ErrorKind::OutcomeUnknown`]: check with [`Self::list`] before sending again.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited (21211 invalid `To`, 21606 `From` not yours, ...); a
    /// config error, with nothing sent, when there is no recipient, no sender, or neither
    /// body nor media.
    pub fn create(&self, message: CreateMessage) -> Call<Message, TwilioError> {
        let settings = self.client.settings();
        let mut message = message;
        if message.from.is_none() && message.messaging_service_sid.is_none() {
            message.from = settings.default_from().map(str::to_string);
            message.messaging_service_sid = settings
                .messaging_service_sid()
                .map(|s| s.as_str().to_string());
        }
        if message.to.is_empty() {
            return refused(ConfigError::new("message.to", "is required"));
        }
        if message.from.is_none() && message.messaging_service_sid.is_none() {
            return refused(ConfigError::new(
                "message.from",
                "needs `from` or `messaging_service_sid` (or a default in the connection's config)",
            ));
        }
        let has_content = message.body.is_some()
            || !message.media_urls.is_empty()
            || message.params.iter().any(|(k, _)| k == "ContentSid");
        if !has_content {
            return refused(ConfigError::new(
                "message.body",
                "needs a body, media or a ContentSid",
            ));
        }
        Call::new(
            self.client
                .connection()
                .post(self.path(None))
                .form(&message.form())
                .bucket(MESSAGES_BUCKET)
                .endpoint("messages.create"),
        )
    }

    /// `GET …/Messages/{sid}.json`.
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited (20404 when the message does not exist).
    pub fn fetch(&self, sid: &MessageSid) -> Call<Message, TwilioError> {
        Call::new(
            self.client
                .connection()
                .get(self.path(Some(sid)))
                .endpoint("messages.fetch"),
        )
    }

    /// Cancels a scheduled message (`POST …/Messages/{sid}.json` with `Status=canceled`).
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited (for example when the message is no longer scheduled).
    pub fn cancel(&self, sid: &MessageSid) -> Call<Message, TwilioError> {
        Call::new(
            self.client
                .connection()
                .post(self.path(Some(sid)))
                .form(&[("Status", "canceled")])
                .endpoint("messages.cancel"),
        )
    }

    /// Deletes a message's record (`DELETE …/Messages/{sid}.json`, answered with 204).
    ///
    /// # Errors
    /// A [`TwilioError`] when awaited.
    pub fn delete(&self, sid: &MessageSid) -> Call<(), TwilioError> {
        Call::no_content(
            self.client
                .connection()
                .delete(self.path(Some(sid)))
                .endpoint("messages.delete"),
        )
    }

    /// Every message matching `filter`, newest first, as a stream. The next page (Twilio's
    /// `next_page_uri`, a path on the API host) is fetched only when the stream is polled past
    /// the current one; an error ends the stream after it is yielded.
    pub fn list(&self, filter: ListMessages) -> Pages<Message, TwilioError> {
        Pager::new(self.client.connection().clone(), self.path(None))
            .query(&filter.query())
            .endpoint("messages.list")
            .next_url(|page: Page<Message>| toolkit::Page::new(page.items).next(page.next_page_uri))
    }

    /// Sends `template` to every recipient (the seed's `sendBulkSMS`), at most
    /// `options.concurrency` at a time, each send spending the [`MESSAGES_BUCKET`] of the
    /// core's rate limiter (the pipeline waits for it, up to the switchboard's
    /// `rate_limit_max_wait`). Returns one result per recipient, in the recipients' order; a
    /// failed send is an `Err` in its place and does not stop the others.
    pub async fn send_bulk<S: AsRef<str>>(
        &self,
        template: CreateMessage,
        recipients: &[S],
        options: BulkOptions,
    ) -> Vec<Result<Message, TwilioError>> {
        let sends = recipients
            .iter()
            .map(|to| self.create(template.clone().to(to.as_ref())).into_future());
        // `buffered` (not `buffer_unordered`) keeps the results in the input order.
        stream::iter(sends)
            .buffered(options.concurrency.get())
            .collect()
            .await
    }
}
