//! The conformance suite every connector passes: one entry point a connector's tests call with
//! its integration, a valid config holding canary secrets, the attempts its docs promise, and a
//! few closures that make its typed calls. The suite owns the loopback provider and goes through
//! the path a host uses: the template, [`Connections`](crate::connections::Connections) (sealed
//! config in an in-memory store, a vault), the typed client (through the closures), and for
//! webhooks the [`WebhookRouter`](crate::webhook::router::WebhookRouter) and the axum routes over
//! real HTTP.
//!
//! ```no_run
//! # async fn demo(integration: std::sync::Arc<dyn switchboard::templates::Integration>) {
//! use switchboard::test_util::conformance::{Conformance, RetryPromise};
//!
//! let config = serde_json::json!({ "api_key": switchboard::test_util::canary("key") });
//! Conformance::new(integration, config)
//!     .retry(RetryPromise {
//!         post_reset_after_write: 1,
//!         post_connection_refused: 3,
//!         get_connection_refused: 3,
//!         post_429_retry_after: 1,
//!         get_429_retry_after: 3,
//!         post_5xx: 1,
//!         get_5xx: 3,
//!     })
//!     .post_call(|conn| Box::pin(async move { /* a typed create over `conn` */ Ok(()) }))
//!     .get_call(|conn| Box::pin(async move { /* a typed retrieve over `conn` */ Ok(()) }))
//!     .run()
//!     .await
//!     .assert_ok();
//! # }
//! ```
//!
//! # What it checks
//!
//! | check | what must hold |
//! | --- | --- |
//! | `canary.values` | every secret field of the config holds a value long enough to search for (use [`canary`](super::canary)) |
//! | `canary.debug` | no secret value in the `Debug` of the integration, template, config, record, binding, connection, typed client, typed config or webhook verifier |
//! | `canary.errors` | no secret value in the `Display` or `Debug` of any error the suite saw (calls, lists, validation, webhooks) |
//! | `canary.logs` | no secret value in any log line or span field written during the run |
//! | `config.valid` | the valid config is accepted by `Connections::create` and binds (`Connections::connection`, `Integration::bind`) |
//! | `config.invalid` | every invalid config (given, and derived from the schema: each required field removed, each field of the wrong type, each pattern broken by a canary) is refused naming its JSON pointers, never a value |
//! | `schema.typed` | with [`Conformance::typed_config`]: the typed config and the JSON Schema agree (below) |
//! | `retry.*` | the attempts [`RetryPromise`] states, for a POST reset after the write, a refused connection, a 429 with `Retry-After: 1`, and a 503, by method (the POST rows only without [`Conformance::without_posts`]) |
//! | `webhook.*` | with [`Conformance::webhooks`] (required when the template takes webhooks): an event signed for tenant A reaches A's handler through the router and over HTTP; tenant B's signature (same connection id) is refused on A's URL (with [`WebhookCase::per_config`], for providers that sign every account's events with one key: tenant B's event, naming B's account), and a body that does not match its signature is refused. A payload-routed integration's other connections get unique routing keys |
//! | `list.*` | with [`Conformance::list`] (required unless [`Conformance::without_lists`]): nothing is fetched before the stream is polled, one page at a time; the stream ends after the last page; a page that fails yields one error and then the stream ends |
//!
//! Schema agreement (`schema.typed`), generic over the typed config `T` (which should be
//! `#[serde(deny_unknown_fields)]`): every example config (the valid config and
//! [`Conformance::example_config`]s; together they should hold every schema property, which is
//! checked) is valid against the schema and deserializes into `T`; removing a schema-required
//! field fails both; removing an optional field keeps both accepting it; an unknown field fails
//! both; a value of the wrong JSON type (object, array, boolean, number) for a property fails
//! `T` wherever it fails the schema.
//!
//! # The retry promise
//! Attempts are counted at the attempt layer (refused connections included), with the suite's
//! switchboard at the default `max_attempts` of 3, and compared with what the loopback server
//! saw. Every scenario must end in an error (the server never succeeds). Error bodies are
//! [`Conformance::error_body`] (default `{}`), so a classifier that reads provider error codes
//! sees none.
//!
//! # Running it
//! Call it from a `#[tokio::test]` on the default current-thread runtime: logs are captured on
//! the test's thread ([`LogCapture`]), so a multi-threaded runtime would hide
//! the log lines of work running on other workers. The scenarios use real loopback sockets and
//! the real clock (the 429 rows wait for `Retry-After: 1`), so a run takes a few seconds.
//!
//! [`ConformanceReport::assert_ok`] panics with every failed check at once; the report also
//! lists the checks that passed.

mod config;
mod host;
mod list;
mod retry;
mod schema;
mod webhook;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use http::HeaderMap;
use serde_json::Value;

use crate::templates::{ConnectionConfig, Integration};
use crate::{BoxError, Connection};

use super::LogCapture;

/// A typed call the suite makes through a connection bound by the host path.
pub type CallFn = Arc<dyn Fn(Connection) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;
/// A typed list over a connection, as a stream of items (each mapped to `()`).
pub type ListFn = Arc<dyn Fn(Connection) -> BoxStream<'static, Result<(), BoxError>> + Send + Sync>;
/// Formats the connector's typed client over a connection with `Debug` (for the canary check).
pub type DebugFn = Arc<dyn Fn(Connection) -> Result<String, BoxError> + Send + Sync>;
/// The body of the loopback provider's answer to one list page.
pub type PageFn = Arc<dyn Fn(&PageRequest) -> String + Send + Sync>;
/// Signs a webhook body for the tenant whose full config (secrets included) is given, as the
/// provider would when posting to `url`; returns the headers to send (content type included).
pub type SignFn = Arc<dyn Fn(&Value, &[u8], &str) -> Result<HeaderMap, BoxError> + Send + Sync>;
/// The body of the `n`th distinct webhook event for the connection with config `config`
/// (distinct bodies are distinct events).
pub type EventFn = Arc<dyn Fn(&Value, usize) -> Vec<u8> + Send + Sync>;
/// Turns a full config into the typed config: `Ok(Debug of it)` or `Err(the error's text)`.
pub type TypedFn = Arc<dyn Fn(&Value) -> Result<String, String> + Send + Sync>;

/// The attempts a connector's docs promise for each failure, with the suite's switchboard
/// (default `max_attempts` of 3). Every field is required on purpose: a scenario added to the
/// suite makes every connector state its promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPromise {
    /// A POST whose connection is reset after the provider read the request.
    pub post_reset_after_write: usize,
    /// A POST to a port where nothing listens.
    pub post_connection_refused: usize,
    /// A GET to a port where nothing listens.
    pub get_connection_refused: usize,
    /// A POST answered `429` with `Retry-After: 1`.
    pub post_429_retry_after: usize,
    /// A GET answered `429` with `Retry-After: 1`.
    pub get_429_retry_after: usize,
    /// A POST answered `503`.
    pub post_5xx: usize,
    /// A GET answered `503`.
    pub get_5xx: usize,
}

/// One page request the loopback provider received during a list check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PageRequest {
    /// Which page, from 0.
    pub index: usize,
    /// Whether this is the last page (the answer must say there are no more).
    pub last: bool,
    /// How many items the page must hold ([`ListCase::items_per_page`]).
    pub items: usize,
    /// The request's path and query, as received.
    pub path: String,
}

/// How to list through the connector, and what its provider's pages look like.
#[derive(Clone)]
pub struct ListCase {
    call: ListFn,
    page: PageFn,
    items_per_page: usize,
    pages: usize,
}

impl fmt::Debug for ListCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListCase")
            .field("items_per_page", &self.items_per_page)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

impl ListCase {
    /// A list made by `call`, whose provider pages `page` writes (with
    /// [`PageRequest::items`] items each; 2 by default, over 3 pages).
    pub fn new(
        call: impl Fn(Connection) -> BoxStream<'static, Result<(), BoxError>> + Send + Sync + 'static,
        page: impl Fn(&PageRequest) -> String + Send + Sync + 'static,
    ) -> Self {
        ListCase {
            call: Arc::new(call),
            page: Arc::new(page),
            items_per_page: 2,
            pages: 3,
        }
    }

    /// Items on every page (at least 1; default 2). The list call must ask for pages this
    /// size, or accept them.
    #[must_use]
    pub fn items_per_page(mut self, n: usize) -> Self {
        self.items_per_page = n.max(1);
        self
    }
}

/// How the provider signs webhooks, and what its events look like.
#[derive(Clone)]
pub struct WebhookCase {
    sign: SignFn,
    event: EventFn,
}

impl fmt::Debug for WebhookCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookCase").finish_non_exhaustive()
    }
}

impl WebhookCase {
    /// Events from `event(n)` (distinct for distinct `n`), signed by `sign(config, body, url)`.
    pub fn new(
        sign: impl Fn(&Value, &[u8], &str) -> Result<HeaderMap, BoxError> + Send + Sync + 'static,
        event: impl Fn(usize) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        WebhookCase {
            sign: Arc::new(sign),
            event: Arc::new(move |_: &Value, n| event(n)),
        }
    }

    /// Events from `event(config, n)`: for providers that sign every account's events with one
    /// key of their own (GoHighLevel), where what ties an event to a connection is the account
    /// it names in the body, not the signature. Each tenant's events name its own account; the
    /// cross-tenant check then posts tenant B's event, validly signed, to tenant A's URL, and
    /// it must be refused.
    pub fn per_config(
        sign: impl Fn(&Value, &[u8], &str) -> Result<HeaderMap, BoxError> + Send + Sync + 'static,
        event: impl Fn(&Value, usize) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        WebhookCase {
            sign: Arc::new(sign),
            event: Arc::new(event),
        }
    }
}

/// A connector's conformance case; [`Self::run`] runs every check. See the module docs.
#[must_use]
pub struct Conformance {
    pub(crate) integration: Arc<dyn Integration>,
    pub(crate) config: Value,
    pub(crate) second_config: Option<Value>,
    pub(crate) examples: Vec<Value>,
    pub(crate) invalid: Vec<(Value, Vec<String>)>,
    pub(crate) typed: Option<TypedFn>,
    pub(crate) retry: Option<RetryPromise>,
    pub(crate) post: Option<CallFn>,
    pub(crate) get: Option<CallFn>,
    pub(crate) client_debug: Option<DebugFn>,
    pub(crate) error_body: String,
    pub(crate) list: Option<ListCase>,
    pub(crate) no_lists: Option<String>,
    pub(crate) no_posts: Option<String>,
    pub(crate) webhooks: Option<WebhookCase>,
    pub(crate) stored_token: Option<String>,
}

impl fmt::Debug for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conformance")
            .field("integration", &self.integration.template().name())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Conformance {
    /// A case for `integration`, with a valid `config` whose secret fields hold canary values
    /// ([`canary`](super::canary)). The suite points the template's endpoint URL fields at its
    /// loopback provider.
    pub fn new(integration: Arc<dyn Integration>, config: Value) -> Self {
        Conformance {
            integration,
            config,
            second_config: None,
            examples: Vec::new(),
            invalid: Vec::new(),
            typed: None,
            retry: None,
            post: None,
            get: None,
            client_debug: None,
            error_body: "{}".to_string(),
            list: None,
            no_lists: None,
            no_posts: None,
            webhooks: None,
            stored_token: None,
        }
    }

    /// For a connector whose binding authenticates with OAuth tokens
    /// ([`IntegrationBinding::with_token_grant`](crate::templates::IntegrationBinding::with_token_grant)):
    /// the suite's host gets a [`TokenManager`](crate::tokens::TokenManager)
    /// ([`Connections::with_tokens`](crate::connections::Connections::with_tokens)), and every
    /// connection it creates has a valid access token stored, a canary (`access_token`) that
    /// is searched for like the config's secrets. The grant is then never asked for a token
    /// (its endpoint would be the suite's failing provider).
    pub fn stored_token(mut self, access_token: impl Into<String>) -> Self {
        self.stored_token = Some(access_token.into());
        self
    }

    /// Tenant B's config for the webhook checks (default: the valid config with `B` appended
    /// to every top-level secret value).
    pub fn second_tenant_config(mut self, config: Value) -> Self {
        self.second_config = Some(config);
        self
    }

    /// Another valid config for the schema agreement check (another auth variant, every
    /// optional field set).
    pub fn example_config(mut self, config: Value) -> Self {
        self.examples.push(config);
        self
    }

    /// An invalid config and the JSON pointers its refusal must name.
    pub fn invalid_config(mut self, config: Value, pointers: &[&str]) -> Self {
        self.invalid
            .push((config, pointers.iter().map(|p| p.to_string()).collect()));
        self
    }

    /// Checks the typed config `T` against the template's JSON Schema, reading each config
    /// the way a connector's `bind` does, through [`crate::toolkit::typed_config`] (so its
    /// errors are checked for values too).
    pub fn typed_config<T: serde::de::DeserializeOwned + fmt::Debug + 'static>(self) -> Self {
        self.typed_config_with(|v: &Value| {
            // Every field as plain: the configs tried here include ones the schema refuses,
            // which a template cannot split into plain and secret parts.
            let config = ConnectionConfig::new(v.clone(), Default::default());
            crate::toolkit::typed_config::<T>(&config)
                .map(|t| format!("{t:?}"))
                .map_err(|e| format!("{e} {e:?}"))
        })
    }

    /// As [`Self::typed_config`], with the connector's own conversion (returning the typed
    /// config's `Debug`, or the error's text).
    pub fn typed_config_with(
        mut self,
        parse: impl Fn(&Value) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.typed = Some(Arc::new(parse));
        self
    }

    /// The attempts the connector's docs promise.
    pub fn retry(mut self, promise: RetryPromise) -> Self {
        self.retry = Some(promise);
        self
    }

    /// A typed call that POSTs (a create).
    pub fn post_call(
        mut self,
        call: impl Fn(Connection) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync + 'static,
    ) -> Self {
        self.post = Some(Arc::new(call));
        self
    }

    /// A typed call that GETs (a retrieve).
    pub fn get_call(
        mut self,
        call: impl Fn(Connection) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync + 'static,
    ) -> Self {
        self.get = Some(Arc::new(call));
        self
    }

    /// Builds the typed client over a connection and formats it with `Debug`.
    pub fn client_debug(
        mut self,
        debug: impl Fn(Connection) -> Result<String, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.client_debug = Some(Arc::new(debug));
        self
    }

    /// The body of the loopback provider's error answers (default `{}`).
    pub fn error_body(mut self, body: impl Into<String>) -> Self {
        self.error_body = body.into();
        self
    }

    /// Checks a paged list.
    pub fn list(mut self, list: ListCase) -> Self {
        self.list = Some(list);
        self
    }

    /// Says the connector has no paged list, and why (without a [`ListCase`] or this, the
    /// `list` check fails).
    pub fn without_lists(mut self, reason: impl Into<String>) -> Self {
        self.no_lists = Some(reason.into());
        self
    }

    /// Says the connector makes no POST (a read-only API such as Google Maps' web services),
    /// and why: the `retry.post_*` scenarios are then not run. Without a
    /// [`Conformance::post_call`] or this, they fail.
    pub fn without_posts(mut self, reason: impl Into<String>) -> Self {
        self.no_posts = Some(reason.into());
        self
    }

    /// Checks webhook verification through the router and the axum routes.
    pub fn webhooks(mut self, webhooks: WebhookCase) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Runs every check and reports each one.
    pub async fn run(self) -> ConformanceReport {
        let (capture, guard) = LogCapture::start();
        let mut run = Run::new(&self);
        run.canaries(self.stored_token.clone());
        config::check(&self, &mut run).await;
        if let Some(typed) = &self.typed {
            schema::check(&self, typed, &mut run);
        }
        match self.retry {
            Some(promise) => retry::check(&self, promise, &mut run).await,
            None => run.fail("retry", "no RetryPromise given: every connector states one"),
        }
        match (&self.list, &self.no_lists) {
            (Some(list), _) => list::check(&self, list, &mut run).await,
            (None, Some(_)) => {}
            (None, None) => run.fail(
                "list",
                "no ListCase given (a connector without paged lists says so with without_lists)",
            ),
        }
        match &self.webhooks {
            Some(hooks) => webhook::check(&self, hooks, &mut run).await,
            None if self.integration.template().takes_webhooks() => run.fail(
                "webhook",
                "the template takes webhooks but no WebhookCase was given",
            ),
            None => {}
        }
        drop(guard);
        run.finish(&capture.contents())
    }

    pub(crate) fn name(&self) -> &str {
        self.integration.template().name()
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The check (`retry.post_5xx`, `canary.debug`, ...).
    pub check: String,
    /// What went wrong (canary values replaced by `[canary]`).
    pub detail: String,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct ConformanceReport {
    connector: String,
    passed: Vec<String>,
    failures: Vec<Failure>,
}

impl ConformanceReport {
    /// The checks that passed.
    pub fn passed(&self) -> &[String] {
        &self.passed
    }

    /// Every failed check.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Whether a check whose name starts with `prefix` failed.
    pub fn failed(&self, prefix: &str) -> bool {
        self.failures.iter().any(|f| f.check.starts_with(prefix))
    }

    /// Panics listing every failed check.
    ///
    /// # Panics
    /// When a check failed.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|f| format!("  - {}: {}", f.check, f.detail))
                .collect();
            panic!(
                "`{}` fails {} conformance check(s):\n{}",
                self.connector,
                self.failures.len(),
                list.join("\n")
            );
        }
    }
}

/// The state of one run: canaries, every text that must not hold them, and the outcome.
pub(crate) struct Run {
    report: ConformanceReport,
    canaries: Vec<String>,
    /// (check, what, text) for every `Debug`/`Display` output the suite made.
    texts: Vec<(&'static str, String, String)>,
}

impl Run {
    fn new(case: &Conformance) -> Self {
        Run {
            report: ConformanceReport {
                connector: case.name().to_string(),
                ..Default::default()
            },
            canaries: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Adds secret values to search for.
    pub(crate) fn canaries(&mut self, values: impl IntoIterator<Item = String>) {
        for v in values {
            if !self.canaries.contains(&v) {
                self.canaries.push(v);
            }
        }
    }

    /// A `Debug` output that must hold no canary.
    pub(crate) fn debug(&mut self, what: impl Into<String>, text: String) {
        self.texts.push(("canary.debug", what.into(), text));
    }

    /// An error whose `Display` and `Debug` must hold no canary.
    pub(crate) fn error(&mut self, what: impl Into<String>, e: &(dyn std::error::Error + 'static)) {
        let what = what.into();
        self.texts
            .push(("canary.errors", format!("{what} (Display)"), e.to_string()));
        self.texts
            .push(("canary.errors", format!("{what} (Debug)"), format!("{e:?}")));
    }

    /// An error already formatted.
    pub(crate) fn error_text(&mut self, what: impl Into<String>, text: String) {
        self.texts.push(("canary.errors", what.into(), text));
    }

    pub(crate) fn pass(&mut self, check: impl Into<String>) {
        self.report.passed.push(check.into());
    }

    pub(crate) fn fail(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        let detail = self.scrub(&detail.into());
        self.report.failures.push(Failure {
            check: check.into(),
            detail,
        });
    }

    /// Passes `check` when `problems` is empty, else fails it once per problem.
    pub(crate) fn outcome(&mut self, check: &str, problems: Vec<String>) {
        if problems.is_empty() {
            self.pass(check);
        }
        for p in problems {
            self.fail(check, p);
        }
    }

    /// `text` with every canary replaced, so a report never repeats a secret.
    fn scrub(&self, text: &str) -> String {
        self.canaries
            .iter()
            .fold(text.to_string(), |t, c| t.replace(c.as_str(), "[canary]"))
    }

    fn finish(mut self, logs: &str) -> ConformanceReport {
        let texts = std::mem::take(&mut self.texts);
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        for (check, what, text) in &texts {
            if self.canaries.iter().any(|c| text.contains(c.as_str())) {
                problems.push((check, format!("a secret is in {what}: {text}")));
            }
        }
        if logs.trim().is_empty() {
            // Nothing captured means nothing was checked, not that nothing leaked.
            problems.push((
                "canary.logs",
                "no log line was captured: run the suite on a current-thread runtime".to_string(),
            ));
        }
        for line in logs.lines() {
            if self.canaries.iter().any(|c| line.contains(c.as_str())) {
                problems.push(("canary.logs", format!("a secret is in a log line: {line}")));
            }
        }
        for check in ["canary.debug", "canary.errors", "canary.logs"] {
            let mine: Vec<String> = problems
                .iter()
                .filter(|(c, _)| *c == check)
                .map(|(_, p)| p.clone())
                .collect();
            self.outcome(check, mine);
        }
        self.report
    }
}
