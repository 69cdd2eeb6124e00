//! [`InMemoryDedupStore`]: event ids in a map, for tests and single-process hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Claim, ClaimToken, DedupStore, DEFAULT_TTL};
use crate::error::Error;

/// Expired entries are swept once every this many claims.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug)]
enum State {
    InFlight { nonce: Arc<str> },
    Done,
}

#[derive(Debug)]
struct Entry {
    state: State,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Map {
    entries: HashMap<(Arc<str>, Arc<str>), Entry>,
    claims: u64,
}

/// Event ids in process memory. Cheap to clone: clones share one map.
///
/// Time is `tokio::time::Instant`, so tests can drive it with a paused clock
/// (`tokio::time::pause()` and `advance()`). Expired entries are swept as claims arrive.
#[derive(Debug, Clone)]
pub struct InMemoryDedupStore {
    map: Arc<Mutex<Map>>,
    ttl: Duration,
}

impl Default for InMemoryDedupStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryDedupStore {
    /// An empty store remembering completed ids for 72 hours.
    pub fn new() -> Self {
        InMemoryDedupStore {
            map: Arc::default(),
            ttl: DEFAULT_TTL,
        }
    }

    /// How long a completed id stays done (default 72 h). `Duration::MAX` keeps it for the
    /// life of the process.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still usable.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl DedupStore for InMemoryDedupStore {
    async fn claim(
        &self,
        scope: &str,
        event_id: &str,
        visibility_timeout: Duration,
    ) -> Result<Claim, Error> {
        let now = Instant::now();
        let mut map = self.lock();
        map.claims = map.claims.wrapping_add(1);
        if map.claims.is_multiple_of(SWEEP_EVERY) {
            map.entries.retain(|_, e| e.expires > now);
        }
        let key = (Arc::<str>::from(scope), Arc::<str>::from(event_id));
        if let Some(e) = map.entries.get(&key) {
            if e.expires > now {
                return Ok(match e.state {
                    State::InFlight { .. } => Claim::InFlight,
                    State::Done => Claim::Done,
                });
            }
        }
        let token = ClaimToken::new(scope, event_id);
        map.entries.insert(
            key,
            Entry {
                state: State::InFlight {
                    nonce: token.nonce.clone(),
                },
                expires: crate::clock::later(now, visibility_timeout),
            },
        );
        Ok(Claim::Fresh(token))
    }

    async fn complete(&self, token: ClaimToken) -> Result<(), Error> {
        let expires = crate::clock::later(Instant::now(), self.ttl);
        self.lock().entries.insert(
            (token.scope, token.event_id),
            Entry {
                state: State::Done,
                expires,
            },
        );
        Ok(())
    }

    async fn release(&self, token: ClaimToken) -> Result<(), Error> {
        let mut map = self.lock();
        let key = (token.scope.clone(), token.event_id.clone());
        let ours = matches!(
            map.entries.get(&key),
            Some(Entry { state: State::InFlight { nonce }, .. }) if **nonce == *token.nonce()
        );
        if ours {
            map.entries.remove(&key);
        }
        Ok(())
    }

    async fn extend(
        &self,
        token: &ClaimToken,
        visibility_timeout: Duration,
    ) -> Result<bool, Error> {
        let now = Instant::now();
        let mut map = self.lock();
        let key = (token.scope.clone(), token.event_id.clone());
        match map.entries.get_mut(&key) {
            Some(e)
                if e.expires > now
                    && matches!(&e.state, State::InFlight { nonce } if **nonce == *token.nonce()) =>
            {
                e.expires = crate::clock::later(now, visibility_timeout);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lapsed_claim_is_fresh_again_and_done_lasts_for_the_ttl() {
        let s = InMemoryDedupStore::new().ttl(Duration::from_secs(3600));
        let vt = Duration::from_secs(30);
        assert!(matches!(
            s.claim("a", "1", vt).await.unwrap(),
            Claim::Fresh(_)
        ));
        assert_eq!(s.claim("a", "1", vt).await.unwrap(), Claim::InFlight);
        tokio::time::advance(Duration::from_secs(31)).await;
        let Claim::Fresh(t) = s.claim("a", "1", vt).await.unwrap() else {
            panic!("lapsed claim must be fresh");
        };
        s.complete(t).await.unwrap();
        tokio::time::advance(Duration::from_secs(3500)).await;
        assert_eq!(s.claim("a", "1", vt).await.unwrap(), Claim::Done);
        tokio::time::advance(Duration::from_secs(101)).await;
        assert!(matches!(
            s.claim("a", "1", vt).await.unwrap(),
            Claim::Fresh(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn extended_claim_stays_in_flight_and_a_lapsed_one_cannot_be_extended() {
        let s = InMemoryDedupStore::new();
        let vt = Duration::from_secs(30);
        let Claim::Fresh(t) = s.claim("a", "1", vt).await.unwrap() else {
            panic!()
        };
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(s.extend(&t, vt).await.unwrap());
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(s.claim("a", "1", vt).await.unwrap(), Claim::InFlight);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(!s.extend(&t, vt).await.unwrap(), "lapsed");
        let Claim::Fresh(_other) = s.claim("a", "1", vt).await.unwrap() else {
            panic!()
        };
        assert!(!s.extend(&t, vt).await.unwrap(), "someone else's now");
    }

    #[tokio::test]
    async fn stale_token_cannot_release_a_newer_claim() {
        let s = InMemoryDedupStore::new();
        let Claim::Fresh(old) = s.claim("a", "1", Duration::ZERO).await.unwrap() else {
            panic!()
        };
        let Claim::Fresh(_new) = s.claim("a", "1", Duration::from_secs(60)).await.unwrap() else {
            panic!()
        };
        s.release(old).await.unwrap();
        assert_eq!(
            s.claim("a", "1", Duration::from_secs(60)).await.unwrap(),
            Claim::InFlight
        );
    }
}
