//! [`SessionState`]: what one login holds (cookies, the Digest challenge, the live session's
//! capability URLs) and the lock that makes concurrent callers share one login.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::ExposeSecret;
use sha2::{Digest as _, Sha256};

use super::digest::DigestAuth;
use super::transaction::LiveSession;
use crate::rets::config::{HttpAuth, RetsSettings};
use crate::SecretString;

/// A login: user name, passwords and the scheme. `Debug` prints the user name only.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: SecretString,
    pub(crate) ua_password: Option<SecretString>,
    pub(crate) http_auth: HttpAuth,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("http_auth", &self.http_auth)
            .finish_non_exhaustive()
    }
}

/// Which server session a binding belongs to: the login URL, the user, and a digest of the
/// secrets and protocol settings (so a changed password is a new session, and the key holds
/// no secret).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    login_url: String,
    username: String,
    fingerprint: [u8; 32],
}

impl SessionKey {
    pub(crate) fn new(settings: &RetsSettings, credentials: &Credentials) -> Self {
        let mut h = Sha256::new();
        for part in [
            credentials.password.expose_secret(),
            credentials
                .ua_password
                .as_ref()
                .map_or("", |p| p.expose_secret()),
            settings.user_agent.as_str(),
            settings.version.as_str(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.update([credentials.http_auth as u8, settings.method as u8]);
        SessionKey {
            login_url: settings.login_url.to_string(),
            username: credentials.username.clone(),
            fingerprint: h.finalize().into(),
        }
    }
}

/// What the authenticator adds to each request; changed by login, logout and every answer
/// that sets a cookie.
#[derive(Default)]
pub(crate) struct AuthState {
    pub(crate) digest: Option<DigestAuth>,
    /// The server answered a challenge that asked for Basic (`http_auth: auto`).
    pub(crate) basic: bool,
    pub(crate) cookies: BTreeMap<String, String>,
    /// `RETS-Session-ID`, from its cookie (or the login reply's header).
    pub(crate) session_id: Option<String>,
}

/// One credential's session, shared by its connections.
pub(crate) struct SessionState {
    pub(crate) settings: RetsSettings,
    pub(crate) credentials: Credentials,
    auth: Mutex<AuthState>,
    /// The live session; the async lock makes one caller log in while the others wait.
    pub(crate) live: tokio::sync::Mutex<Option<Arc<LiveSession>>>,
    logins: AtomicU64,
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("login_url", &self.settings.login_url.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl SessionState {
    pub(crate) fn new(settings: RetsSettings, credentials: Credentials) -> Self {
        SessionState {
            settings,
            credentials,
            auth: Mutex::new(AuthState::default()),
            live: tokio::sync::Mutex::new(None),
            logins: AtomicU64::new(0),
        }
    }

    /// The auth state. A poisoned lock (a panic while it was held) still holds consistent
    /// data: every write to it is a single assignment.
    pub(crate) fn auth(&self) -> MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the cookies an answer sets (`Set-Cookie`), and the `RETS-Session-ID` among them.
    pub(crate) fn take_cookies(&self, headers: &http::HeaderMap) {
        let mut auth = self.auth();
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(cookie) = cookie::Cookie::parse(text) else {
                continue;
            };
            let (name, value) = (cookie.name().to_string(), cookie.value().to_string());
            if name.eq_ignore_ascii_case("RETS-Session-ID") {
                auth.session_id = Some(value.clone());
            }
            // An expired cookie (`Max-Age=0`) is the server deleting it.
            if cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
            {
                auth.cookies.remove(&name);
            } else {
                auth.cookies.insert(name, value);
            }
        }
        if let Some(id) = headers.get("RETS-Session-ID").and_then(|v| v.to_str().ok()) {
            auth.session_id = Some(id.to_string());
        }
    }

    /// A number for the next login, never seen before in this state.
    pub(crate) fn next_generation(&self) -> u64 {
        self.logins.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How many logins this state made (a test's way to see sessions are shared).
    pub(crate) fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// Forgets the server session (after a logout, or before a new login).
    pub(crate) fn forget_session(&self) {
        let mut auth = self.auth();
        auth.cookies.clear();
        auth.session_id = None;
    }
}
