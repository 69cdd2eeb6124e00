//! [`RetsClient`]: the typed handle over a RETS connection: login and logout, metadata
//! (cached per session), searches streamed across pages, and GetObject (photos cached per
//! tenant).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::session::{Capability, LiveSession, SessionState, Transaction};
use super::{
    parse_metadata, Metadata, ObjectReader, RetsError, RetsObject, RetsSettings, Search, SearchRows,
};
use crate::{ConfigError, Connection, Error};

/// What a bound RETS connection carries in its settings: the plain settings and the session
/// shared by every connection with the same login.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub(crate) session: Arc<SessionState>,
}

/// Which objects of a listing to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectIds {
    /// Every object (`*`).
    All,
    /// These object indexes (1 is the preferred photo by convention).
    Indexes(Vec<u32>),
}

/// A GetObject transaction: one object type of some listings.
#[derive(Clone, Debug)]
#[must_use]
pub struct GetObject {
    resource: String,
    object_type: String,
    ids: Vec<(String, ObjectIds)>,
    location: bool,
}

impl GetObject {
    /// Photos (`Type=Photo`) of `resource` (`"Property"`).
    pub fn photos(resource: impl Into<String>) -> Self {
        GetObject::new(resource, "Photo")
    }

    /// Objects of `object_type` (`"Photo"`, `"HiRes"`, `"VirtualTour"`) of `resource`.
    pub fn new(resource: impl Into<String>, object_type: impl Into<String>) -> Self {
        GetObject {
            resource: resource.into(),
            object_type: object_type.into(),
            ids: Vec::new(),
            location: false,
        }
    }

    /// Adds a listing (its resource key) and which of its objects to fetch.
    pub fn of(mut self, listing_id: impl Into<String>, ids: ObjectIds) -> Self {
        self.ids.push((listing_id.into(), ids));
        self
    }

    /// Asks for URLs (`Location=1`) instead of the objects' bytes.
    pub fn location(mut self, yes: bool) -> Self {
        self.location = yes;
        self
    }

    fn id_param(&self) -> Result<String, ConfigError> {
        if self.ids.is_empty() {
            return Err(ConfigError::new(
                "rets.get_object.ids",
                "name at least one listing",
            ));
        }
        let mut out = Vec::with_capacity(self.ids.len());
        for (listing, ids) in &self.ids {
            if listing.is_empty() || listing.contains([':', ',', '*']) {
                return Err(ConfigError::new(
                    "rets.get_object.ids",
                    "a listing id must be non-empty and hold no `:`, `,` or `*`",
                ));
            }
            match ids {
                ObjectIds::All => out.push(format!("{listing}:*")),
                ObjectIds::Indexes(i) if i.is_empty() => out.push(format!("{listing}:*")),
                ObjectIds::Indexes(i) => {
                    let list: Vec<String> = i.iter().map(u32::to_string).collect();
                    out.push(format!("{listing}:{}", list.join(":")));
                }
            }
        }
        Ok(out.join(","))
    }

    fn params(&self) -> Result<Vec<(&'static str, String)>, ConfigError> {
        Ok(vec![
            ("Resource", self.resource.clone()),
            ("Type", self.object_type.clone()),
            ("ID", self.id_param()?),
            ("Location", u8::from(self.location).to_string()),
        ])
    }
}

/// The typed RETS client. Cheap to clone.
#[derive(Clone)]
pub struct RetsClient {
    connection: Connection,
    session: Arc<SessionState>,
}

impl std::fmt::Debug for RetsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetsClient")
            .field("tenant", self.connection.tenant())
            .field("connection", self.connection.id())
            .field("login_url", &self.session.settings.login_url.as_str())
            .finish()
    }
}

impl RetsClient {
    /// The client of a connection bound by the `rets` template ([`super::RetsIntegration`]).
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming `rets.connection` for a
    /// connection of another connector, or one not bound by the template.
    pub fn from_connection(connection: Connection) -> Result<RetsClient, RetsError> {
        if connection.connector().name() != "rets" {
            return Err(Error::from(ConfigError::new(
                "rets.connection",
                format!("is a `{}` connection", connection.connector().name()),
            ))
            .into());
        }
        let Some(bound) = connection.settings::<Bound>() else {
            return Err(Error::from(ConfigError::new(
                "rets.connection",
                "was not bound by the `rets` template (it carries no RETS session)",
            ))
            .into());
        };
        let session = bound.session.clone();
        Ok(RetsClient {
            connection,
            session,
        })
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The settings (login URL, version, method, page size, photo cache lifetime).
    pub fn settings(&self) -> &RetsSettings {
        &self.session.settings
    }

    pub(crate) fn session(&self) -> &SessionState {
        &self.session
    }

    /// How many logins this client's session has made (one per server session).
    pub fn logins(&self) -> u64 {
        self.session.logins()
    }

    /// The live session, logging in if there is none. Every other call logs in by itself;
    /// this is for reading the capability list.
    ///
    /// # Errors
    /// A [`RetsError`]: the login was refused (HTTP 401 twice, or a failing `ReplyCode`
    /// such as 20036, 20037 or 20022), or the reply does not parse.
    pub async fn login(&self) -> Result<Arc<LiveSession>, RetsError> {
        self.session.live(&self.connection).await
    }

    /// Ends the session at the server (the Logout transaction); the next call logs in again.
    ///
    /// # Errors
    /// A [`RetsError`] when the Logout transaction fails; the session is forgotten anyway.
    pub async fn logout(&self) -> Result<(), RetsError> {
        self.session.logout(&self.connection).await
    }

    /// A search, read as a stream of rows across pages (nothing is sent until the first
    /// row is asked for).
    pub fn search(&self, search: Search) -> SearchRows {
        SearchRows::new(self.clone(), search)
    }

    /// How many rows `search` matches (`Count=2`: the count only, no rows).
    ///
    /// # Errors
    /// As for [`RetsClient::search`].
    pub async fn count(&self, search: &Search) -> Result<u64, RetsError> {
        let query = search.query.to_query().map_err(Error::from)?;
        let params = search.params(query, 1, None, 2);
        let response = self
            .session
            .transaction(
                &self.connection,
                Transaction {
                    capability: Capability::Search,
                    endpoint: "search.count",
                    params,
                    stream: false,
                    cache_for: None,
                },
            )
            .await?;
        let body = response.bytes().await?;
        let mut reader = super::CompactReader::new(&body[..]);
        let header = reader.read_header_sync()?;
        match header.status.code {
            super::ReplyCode::SUCCESS => Ok(header.count.unwrap_or(0)),
            super::ReplyCode::NO_RECORDS => Ok(0),
            _ => Err(RetsError::from_reply("Search", header.status.clone())),
        }
    }

    async fn get_metadata(&self, kind: &str, id: &str) -> Result<Metadata, RetsError> {
        let response = self
            .session
            .transaction(
                &self.connection,
                Transaction {
                    capability: Capability::GetMetadata,
                    endpoint: "metadata",
                    params: vec![
                        ("Type", format!("METADATA-{kind}")),
                        ("ID", id.to_string()),
                        ("Format", "COMPACT".to_string()),
                    ],
                    stream: false,
                    cache_for: None,
                },
            )
            .await?;
        let body = response.bytes().await?;
        let metadata = parse_metadata(&body)?;
        match &metadata.status {
            Some(status) if !status.code.is_success() => {
                Err(RetsError::from_reply("GetMetadata", status.clone()))
            }
            _ => Ok(metadata),
        }
    }

    async fn cached_metadata(
        &self,
        key: String,
        parts: &[(&str, String)],
    ) -> Result<Arc<Metadata>, RetsError> {
        let live = self.login().await?;
        // Held across the fetch: concurrent callers wait for one fetch instead of each
        // asking the server.
        let mut cache = live.metadata.lock().await;
        if let Some(m) = cache.get(&key) {
            return Ok(m.clone());
        }
        let mut all = Metadata::default();
        for (kind, id) in parts {
            all.merge(self.get_metadata(kind, id).await?);
        }
        let all = Arc::new(all);
        cache.insert(key, all.clone());
        Ok(all)
    }

    /// The catalog: the system, its resources and their classes. Read once per session.
    ///
    /// # Errors
    /// A [`RetsError`]: a failing reply, or metadata that does not parse.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, RetsError> {
        self.cached_metadata(
            "catalog".to_string(),
            &[
                ("SYSTEM", "0".to_string()),
                ("RESOURCE", "0".to_string()),
                ("CLASS", "*".to_string()),
            ],
        )
        .await
    }

    /// The fields of `class` of `resource`, the resource's lookups and their values (to
    /// decode a `COMPACT` row) and its object types. Read once per session.
    ///
    /// # Errors
    /// As for [`RetsClient::metadata`].
    pub async fn class_metadata(
        &self,
        resource: &str,
        class: &str,
    ) -> Result<Arc<Metadata>, RetsError> {
        self.cached_metadata(
            format!("{resource}:{class}"),
            &[
                ("TABLE", format!("{resource}:{class}")),
                ("LOOKUP", resource.to_string()),
                ("LOOKUP_TYPE", format!("{resource}:*")),
                ("OBJECT", resource.to_string()),
            ],
        )
        .await
    }

    /// Objects as a stream of parts, one at a time (a multipart reply is never held whole).
    /// Not cached.
    ///
    /// # Errors
    /// A [`RetsError`]: the request (no listing named), the transport, or a reply that is
    /// not a multipart or single object.
    pub async fn get_objects(&self, request: &GetObject) -> Result<ObjectReader, RetsError> {
        let params = request.params().map_err(Error::from)?;
        let response = self
            .session
            .transaction(
                &self.connection,
                Transaction {
                    capability: Capability::GetObject,
                    endpoint: "get_object",
                    params,
                    stream: true,
                    cache_for: None,
                },
            )
            .await?;
        let headers = response.headers().clone();
        let content_type = content_type(&headers);
        Ok(ObjectReader::new(
            &content_type,
            headers,
            response.into_stream(),
        )?)
    }

    /// Every photo of `listing_id` in `resource`, cached for this tenant and connection for
    /// the connection's photo cache lifetime (24 h by default; with `GET` transactions).
    /// Parts that are RETS errors (20403 "no object") are left out.
    ///
    /// # Errors
    /// As for [`RetsClient::get_objects`].
    pub async fn photos(
        &self,
        resource: &str,
        listing_id: &str,
    ) -> Result<Vec<RetsObject>, RetsError> {
        let request = GetObject::photos(resource).of(listing_id, ObjectIds::All);
        let params = request.params().map_err(Error::from)?;
        let ttl = self.settings().photo_cache_ttl;
        let response = self
            .session
            .transaction(
                &self.connection,
                Transaction {
                    capability: Capability::GetObject,
                    endpoint: "get_object.photos",
                    params,
                    stream: false,
                    cache_for: (!ttl.is_zero()).then_some(ttl),
                },
            )
            .await?;
        let headers = response.headers().clone();
        let content_type = content_type(&headers);
        let body: Bytes = response.bytes().await?;
        let stream = futures_util::stream::once(async move { Ok::<_, Error>(body) }).boxed();
        usable_objects(ObjectReader::new(&content_type, headers, stream)?).await
    }
}

/// Every object of a reply, less the parts that are RETS errors (20403 "no object").
pub(crate) async fn usable_objects(mut reader: ObjectReader) -> Result<Vec<RetsObject>, RetsError> {
    let mut objects = Vec::new();
    while let Some(object) = reader.next_object().await? {
        if object.error.is_none() {
            objects.push(object);
        }
    }
    Ok(objects)
}

fn content_type(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string()
}
