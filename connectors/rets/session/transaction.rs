//! Logging in, sending a transaction (with one new login after a 401) and logging out.

use std::fmt;
use std::sync::Arc;

use http::{Method, StatusCode};
use url::Url;

use super::digest::DigestAuth;
use super::SessionState;
use crate::rets::config::{HttpAuth, RetsMethod};
use crate::rets::parse::{parse_login, parse_logout, Capabilities};
use crate::rets::{ReplyCode, RetsError};
use crate::{Connection, Error, Response};

/// A RETS transaction, named as the Login reply's capability list names its URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `Search`.
    Search,
    /// `GetMetadata`.
    GetMetadata,
    /// `GetObject`.
    GetObject,
    /// `Logout`.
    Logout,
}

impl Capability {
    /// The capability's key in the Login reply.
    pub fn key(self) -> &'static str {
        match self {
            Capability::Search => "Search",
            Capability::GetMetadata => "GetMetadata",
            Capability::GetObject => "GetObject",
            Capability::Logout => "Logout",
        }
    }
}

/// A logged-in session: the server's capability list and the URLs resolved from it.
pub struct LiveSession {
    capabilities: Capabilities,
    urls: Vec<(Capability, Url)>,
    /// Metadata read in this session, by what was asked (`"catalog"`, `"Property:RES"`).
    pub(crate) metadata:
        tokio::sync::Mutex<std::collections::HashMap<String, Arc<crate::rets::Metadata>>>,
    /// Counts logins, so a caller whose request failed with a 401 logs in again only if
    /// nobody did since it read this session.
    generation: u64,
}

impl fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSession")
            .field("urls", &self.urls)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl LiveSession {
    /// The Login reply's capability list (`MetadataVersion`, `TimeoutSeconds`, URLs...).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The URL of `capability`, when the server offers it.
    pub fn url(&self, capability: Capability) -> Option<&Url> {
        self.urls
            .iter()
            .find(|(c, _)| *c == capability)
            .map(|(_, u)| u)
    }
}

/// A transaction's parameters and how to send them.
pub(crate) struct Transaction<'a> {
    pub(crate) capability: Capability,
    pub(crate) endpoint: &'a str,
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) stream: bool,
    pub(crate) cache_for: Option<std::time::Duration>,
}

impl Transaction<'_> {
    /// A transaction without parameters (Login, Logout).
    fn bare(capability: Capability, endpoint: &'static str) -> Transaction<'static> {
        Transaction {
            capability,
            endpoint,
            params: Vec::new(),
            stream: false,
            cache_for: None,
        }
    }
}

fn transport(e: Error) -> RetsError {
    RetsError::from_core(e)
}

impl SessionState {
    /// The live session, logging in first if there is none (one caller logs in; the others
    /// wait for it and share its session).
    pub(crate) async fn live(
        &self,
        connection: &Connection,
    ) -> Result<Arc<LiveSession>, RetsError> {
        let mut live = self.live.lock().await;
        if let Some(s) = live.as_ref() {
            return Ok(s.clone());
        }
        let session = Arc::new(self.login(connection, self.next_generation()).await?);
        *live = Some(session.clone());
        Ok(session)
    }

    /// Logs in again after `failed` was refused, unless another caller already did.
    async fn relogin(
        &self,
        connection: &Connection,
        failed: &LiveSession,
    ) -> Result<Arc<LiveSession>, RetsError> {
        let mut live = self.live.lock().await;
        if let Some(s) = live.as_ref() {
            if s.generation != failed.generation {
                return Ok(s.clone());
            }
        }
        *live = None;
        self.forget_session();
        let session = Arc::new(self.login(connection, self.next_generation()).await?);
        *live = Some(session.clone());
        Ok(session)
    }

    /// Sends one request to `url` on `connection` (or a sibling connection for another
    /// origin), with the configured method.
    async fn send(
        &self,
        connection: &Connection,
        url: &Url,
        tx: &Transaction<'_>,
        accept_401: bool,
    ) -> Result<Response, Error> {
        let params = &tx.params;
        let origin = url.origin().ascii_serialization();
        let base = connection.base_url().trim_end_matches('/');
        let derived;
        let on = if origin == base {
            connection
        } else {
            derived = connection.derive_with_base_url(origin)?;
            &derived
        };
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let method = match self.settings.method {
            RetsMethod::Get => Method::GET,
            RetsMethod::Post => Method::POST,
        };
        let mut request = on
            .request(method.clone(), url.path())
            .endpoint(tx.endpoint)
            // Every RETS transaction reads; a POST only carries a long query.
            .side_effects(false);
        if method == Method::GET {
            query.extend(params.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
        } else if !params.is_empty() {
            request = request.form(params);
        }
        if !query.is_empty() {
            request = request.query(&query);
        }
        if tx.stream {
            request = request.stream();
        }
        if let Some(ttl) = tx.cache_for {
            request = request.cache_for(ttl);
        }
        if accept_401 {
            request = request.accept_status(StatusCode::UNAUTHORIZED);
        }
        request.send().await
    }

    /// The Login transaction: answers the server's challenge (Digest, or Basic under `auto`),
    /// reads the capability list and keeps the session's cookies.
    async fn login(
        &self,
        connection: &Connection,
        generation: u64,
    ) -> Result<LiveSession, RetsError> {
        let login_url = self.settings.login_url.clone();
        // Two tries: the first may only fetch the challenge (or a fresh nonce).
        let mut challenged = false;
        let response = loop {
            let response = self
                .send(
                    connection,
                    &login_url,
                    &Transaction::bare(Capability::Search, "login"),
                    true,
                )
                .await
                .map_err(transport)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                break response;
            }
            if challenged {
                return Err(RetsError::from_core(Error::auth(
                    "the RETS server refused the login (HTTP 401): check the user name and password",
                )));
            }
            challenged = true;
            self.answer_challenge(response.headers())?;
        };
        self.take_cookies(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        let reply = parse_login(&body)?;
        if reply.status.code != ReplyCode::SUCCESS {
            return Err(RetsError::from_reply("Login", reply.status));
        }
        let mut urls = Vec::new();
        for capability in [
            Capability::Search,
            Capability::GetMetadata,
            Capability::GetObject,
            Capability::Logout,
        ] {
            if let Some(url) = reply.capabilities.url(capability.key(), &login_url)? {
                urls.push((capability, url));
            }
        }
        Ok(LiveSession {
            capabilities: reply.capabilities,
            urls,
            metadata: tokio::sync::Mutex::default(),
            generation,
        })
    }

    /// Reads a 401's `WWW-Authenticate` and keeps what the next request must answer; `true`
    /// when it is a Digest challenge marked stale (the credentials were right, only the
    /// nonce expired).
    fn answer_challenge(&self, headers: &http::HeaderMap) -> Result<bool, RetsError> {
        let offers: Vec<&str> = headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mode = self.credentials.http_auth;
        let digest = offers.iter().find(|o| {
            o.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("digest"))
        });
        let basic = offers.iter().any(|o| {
            o.trim_start()
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("basic"))
        });
        match (mode, digest) {
            (HttpAuth::Auto | HttpAuth::Digest, Some(challenge)) => {
                let d = DigestAuth::from_challenge(challenge)?;
                let stale = d.is_stale();
                self.auth().digest = Some(d);
                Ok(stale)
            }
            (HttpAuth::Auto, None) if basic => {
                self.auth().basic = true;
                Ok(false)
            }
            _ => Err(RetsError::from_core(Error::auth(format!(
                "the RETS server refused the login (HTTP 401) and offers no scheme the config allows ({mode:?})"
            )))),
        }
    }

    /// Sends a transaction in the live session; on a 401 (the session expired) logs in once
    /// more and sends it again, then gives up.
    pub(crate) async fn transaction(
        &self,
        connection: &Connection,
        tx: Transaction<'_>,
    ) -> Result<Response, RetsError> {
        let mut session = self.live(connection).await?;
        let mut relogged = false;
        loop {
            let url = session.url(tx.capability).cloned().ok_or_else(|| {
                RetsError::from_core(Error::new(
                    crate::ErrorKind::Status,
                    format!(
                        "the RETS server's Login reply offers no {} URL",
                        tx.capability.key()
                    ),
                ))
            })?;
            let result = self.send(connection, &url, &tx, false).await;
            match result {
                Ok(response) => {
                    self.take_cookies(response.headers());
                    return Ok(response);
                }
                Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) && !relogged => {
                    relogged = true;
                    let stale = e
                        .headers()
                        .is_some_and(|h| self.answer_challenge(h).unwrap_or(false));
                    // Only the Digest nonce expired: the session lives, send again with the
                    // fresh nonce. Otherwise the session ended: log in again.
                    if !stale {
                        session = self.relogin(connection, &session).await?;
                    }
                }
                Err(e) => return Err(transport(e)),
            }
        }
    }

    /// The Logout transaction, when a session is live; the session is forgotten either way.
    pub(crate) async fn logout(&self, connection: &Connection) -> Result<(), RetsError> {
        let mut live = self.live.lock().await;
        let Some(session) = live.take() else {
            return Ok(());
        };
        let result = match session.url(Capability::Logout).cloned() {
            Some(url) => {
                match self
                    .send(
                        connection,
                        &url,
                        &Transaction::bare(Capability::Logout, "logout"),
                        false,
                    )
                    .await
                {
                    Ok(response) => match response.bytes().await {
                        Ok(body) => match parse_logout(&body) {
                            Ok(reply) if !reply.status.code.is_success() => {
                                Err(RetsError::from_reply("Logout", reply.status))
                            }
                            Ok(_) => Ok(()),
                            Err(e) => Err(e.into()),
                        },
                        Err(e) => Err(transport(e)),
                    },
                    Err(e) => Err(transport(e)),
                }
            }
            None => Ok(()),
        };
        self.forget_session();
        result
    }
}
