//! GET cache over real HTTP: coalescing, tenant isolation, no secrets in keys, invalidation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use switchboard::auth::{BearerToken, QueryKey};
use switchboard::test_util::{canary, LogCapture, LoopbackServer};

use switchboard::{Connection, Error, Response, Switchboard};

use crate::support::{builder, connect, connect_as, TestConnector};

async fn counting_server(delay: Duration) -> (LoopbackServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/items/{id}",
            get(
                move |State(h): State<Arc<AtomicUsize>>, headers: HeaderMap| async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let who = headers
                        .get("x-tenant")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?")
                        .to_string();
                    format!("{{\"tenant\":\"{who}\"}}")
                },
            )
            .post(|State(h): State<Arc<AtomicUsize>>| async move {
                h.fetch_add(1, Ordering::SeqCst);
                "{}"
            }),
        )
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "{}") }),
        )
        .route(
            "/slow-missing",
            get(move |State(h): State<Arc<AtomicUsize>>| async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                (axum::http::StatusCode::NOT_FOUND, "{}")
            }),
        )
        .route(
            "/big/{n}",
            get(move |State(h): State<Arc<AtomicUsize>>| async move {
                h.fetch_add(1, Ordering::SeqCst);
                "x".repeat(64 * 1024)
            }),
        )
        .with_state(hits.clone());
    (LoopbackServer::start(app).await, hits)
}

/// A counting server, a switchboard with the default cache, and a connection to the server.
struct Fixture {
    // Kept so the server lives as long as the test.
    _server: LoopbackServer,
    hits: Arc<AtomicUsize>,
    sb: Switchboard,
    conn: Connection,
}

async fn fixture(delay: Duration) -> Fixture {
    let (server, hits) = counting_server(delay).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    Fixture {
        _server: server,
        hits,
        sb,
        conn,
    }
}

/// Whether a cacheable GET of `path` was answered from the cache.
async fn is_hit(conn: &Connection, path: &str, ttl: Duration) -> bool {
    conn.get(path)
        .cache_for(ttl)
        .send()
        .await
        .unwrap()
        .is_cache_hit()
}

/// `n` identical cacheable GETs of `path`, all in flight together.
async fn concurrent_gets(conn: &Connection, path: &str, n: usize) -> Vec<Result<Response, Error>> {
    let calls = (0..n).map(|_| conn.get(path).cache_for(Duration::from_secs(60)).send());
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn hundred_concurrent_identical_gets_reach_upstream_once() {
    let Fixture {
        _server,
        hits,
        sb: _,
        conn,
    } = fixture(Duration::from_millis(100)).await;
    let results = concurrent_gets(&conn, "/items/1", 100).await;
    let mut hits_seen = 0;
    for r in results {
        let r = r.unwrap();
        hits_seen += usize::from(r.is_cache_hit());
        assert_eq!(r.bytes().await.unwrap(), "{\"tenant\":\"?\"}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(hits_seen, 99, "one call fetched, 99 were served by it");
}

#[tokio::test]
async fn two_tenants_never_share_an_entry() {
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let a = connect_as(
        &sb,
        TestConnector::default(),
        &server.base_url(),
        "tenant-a",
        "conn-a",
    );
    let b = connect_as(
        &sb,
        TestConnector::default(),
        &server.base_url(),
        "tenant-b",
        "conn-b",
    );
    let ttl = Duration::from_secs(60);
    for _ in 0..3 {
        let ra = a
            .get("/items/1")
            .header("x-tenant", "a")
            .cache_for(ttl)
            .send()
            .await
            .unwrap();
        assert_eq!(ra.bytes().await.unwrap(), "{\"tenant\":\"a\"}");
        let rb = b
            .get("/items/1")
            .header("x-tenant", "b")
            .cache_for(ttl)
            .send()
            .await
            .unwrap();
        assert_eq!(rb.bytes().await.unwrap(), "{\"tenant\":\"b\"}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn api_key_in_query_is_in_no_cache_key_and_no_log_line() {
    let (logs, _guard) = LogCapture::start();
    let (server, hits) = counting_server(Duration::ZERO).await;
    let secret = canary("query-key");
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(TestConnector::default()))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .auth(Arc::new(QueryKey::new("key", secret.clone())))
        .build()
        .unwrap();
    // The caller also puts a secret in the query by hand.
    let by_hand = canary("hand-token");
    for _ in 0..2 {
        conn.get("/items/1")
            .query(&[("access_token", by_hand.as_str()), ("q", "x")])
            .cache_for(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "second call is a hit");
    let keys = switchboard::test_util::cache_keys(&sb);
    assert_eq!(keys.len(), 1);
    assert!(
        !keys[0].contains(&secret) && !keys[0].contains(&by_hand),
        "{keys:?}"
    );
    assert!(
        keys[0].contains("access_token=#"),
        "a keyed hash stands in: {keys:?}"
    );
    let text = logs.contents();
    assert!(
        text.contains("switchboard.call"),
        "calls were logged: {text}"
    );
    logs.assert_absent(&secret);
    logs.assert_absent(&by_hand);
}

#[tokio::test]
async fn successful_write_invalidates_the_resource_path_and_errors_are_not_cached() {
    let Fixture {
        _server,
        hits,
        sb,
        conn,
    } = fixture(Duration::ZERO).await;
    let ttl = Duration::from_secs(60);
    conn.get("/items/1").cache_for(ttl).send().await.unwrap();
    assert!(is_hit(&conn, "/items/1", ttl).await);
    conn.post("/items/1").send().await.unwrap();
    let after = conn.get("/items/1").cache_for(ttl).send().await.unwrap();
    assert!(!after.is_cache_hit(), "the write dropped the entry");
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    for _ in 0..2 {
        let err = conn
            .get("/missing")
            .cache_for(ttl)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    }
    assert_eq!(
        switchboard::test_util::cache_keys(&sb)
            .iter()
            .filter(|k| k.contains("/missing"))
            .count(),
        0
    );
}

#[tokio::test]
async fn cached_calls_still_require_auth_to_succeed_first() {
    // Auth runs before the cache: a bad credential fails even when the entry exists.
    let (server, _) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let good = connect(&sb, TestConnector::default(), &server.base_url());
    good.get("/items/1")
        .cache_for(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let bad = sb
        .connection(Arc::new(TestConnector::default()))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .auth(Arc::new(BearerToken::new("bad\ntoken")))
        .build()
        .unwrap();
    let err = bad
        .get("/items/1")
        .cache_for(Duration::from_secs(60))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Auth);
}

#[tokio::test]
async fn concurrent_misses_share_one_non_success_answer_and_none_is_kept() {
    let Fixture {
        _server,
        hits,
        sb,
        conn,
    } = fixture(Duration::from_millis(200)).await;
    for r in concurrent_gets(&conn, "/slow-missing", 20).await {
        let err = r.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the callers waiting on the fetch share its 404 instead of asking again one by one"
    );
    assert!(switchboard::test_util::cache_keys(&sb).is_empty());
    // Not kept: the next call asks again.
    let again = conn
        .get("/slow-missing")
        .cache_for(Duration::from_secs(60))
        .send()
        .await;
    assert_eq!(again.unwrap_err().status().map(|s| s.as_u16()), Some(404));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_entry_is_served_until_its_ttl_and_fetched_again_after() {
    let Fixture {
        _server,
        hits,
        sb: _,
        conn,
    } = fixture(Duration::ZERO).await;
    let ttl = Duration::from_millis(1500);
    assert!(!is_hit(&conn, "/items/1", ttl).await);
    assert!(is_hit(&conn, "/items/1", ttl).await);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let after = conn.get("/items/1").cache_for(ttl).send().await.unwrap();
    assert!(!after.is_cache_hit(), "an expired entry is never served");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(is_hit(&conn, "/items/1", ttl).await);

    // A lifetime past what the clock counts is kept, not a panic.
    for expect_hit in [false, true] {
        let r = conn.get("/items/2").cache_for(Duration::MAX).send().await;
        assert_eq!(r.unwrap().is_cache_hit(), expect_hit);
    }
}

#[tokio::test]
async fn the_cache_keeps_to_its_byte_bound() {
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder()
        .cache(switchboard::CacheConfig::default().max_bytes(1024 * 1024))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    for n in 0..64 {
        let r = conn
            .get(format!("/big/{n}"))
            .cache_for(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), 64 * 1024);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 64);
    // 64 answers of 64 KiB are 4 MiB; a 1 MiB bound keeps at most 16 of them.
    let kept = switchboard::test_util::cache_keys(&sb).len();
    assert!((1..=16).contains(&kept), "{kept} entries kept");
}

#[tokio::test]
async fn when_the_fetching_caller_gives_up_a_waiting_one_fetches() {
    let Fixture {
        _server,
        hits,
        sb: _,
        conn,
    } = fixture(Duration::from_millis(300)).await;
    let ttl = Duration::from_secs(60);
    let first = conn
        .get("/items/1")
        .cache_for(ttl)
        .deadline(Duration::from_millis(100))
        .send();
    let second = async {
        // Starts once the first caller is fetching, so it waits on that fetch.
        tokio::time::sleep(Duration::from_millis(30)).await;
        conn.get("/items/1").cache_for(ttl).send().await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap_err().kind(), switchboard::ErrorKind::Deadline);
    let second = second.unwrap();
    assert!(!second.is_cache_hit(), "the waiting caller fetched itself");
    assert_eq!(second.bytes().await.unwrap(), "{\"tenant\":\"?\"}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// An authenticator that never answers at once (as one renewing a token would): every call
/// awaits `authenticate`, which counts itself and adds a header the server does not check.
#[derive(Debug)]
struct WaitingAuth {
    calls: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl switchboard::auth::Authenticator for WaitingAuth {
    async fn authenticate(&self, request: &mut http::Request<bytes::Bytes>) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer waited"),
        );
        Ok(())
    }
}

#[tokio::test]
async fn a_hit_behind_an_authenticator_that_must_wait_is_authenticated_once_per_call() {
    // A fresh entry is answered at once only when the credentials are too; otherwise the
    // call takes the whole pipeline, where the authenticator is awaited exactly once.
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let conn = sb
        .connection(Arc::new(TestConnector::default()))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .auth(Arc::new(WaitingAuth {
            calls: calls.clone(),
        }))
        .build()
        .unwrap();
    let ttl = Duration::from_secs(60);
    assert!(!is_hit(&conn, "/items/7", ttl).await);
    assert!(is_hit(&conn, "/items/7", ttl).await);
    assert!(is_hit(&conn, "/items/7", ttl).await);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one upstream call");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one authentication per call"
    );
}

#[tokio::test]
async fn a_write_invalidates_its_own_tenants_entries_only() {
    // Two tenants share the connection id `c1`: a write of one never drops the other's
    // entries, and a write through a second `Connection` of the same tenant and id does.
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let url = server.base_url();
    let t1 = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
    let t1_again = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
    let t2 = connect_as(&sb, TestConnector::default(), &url, "t2", "c1");
    let ttl = Duration::from_secs(60);
    for conn in [&t1, &t2] {
        assert!(!is_hit(conn, "/items/1", ttl).await);
        assert!(!is_hit(conn, "/items/2", ttl).await);
    }
    t2.post("/items/1").send().await.unwrap();
    assert!(
        is_hit(&t1, "/items/1", ttl).await,
        "tenant 2's write reached tenant 1"
    );
    assert!(
        !is_hit(&t2, "/items/1", ttl).await,
        "tenant 2's own entry was kept"
    );
    assert!(
        is_hit(&t2, "/items/2", ttl).await,
        "another path was dropped"
    );

    t1_again
        .post("/items/2")
        .invalidates("/items/1")
        .send()
        .await
        .unwrap();
    assert!(!is_hit(&t1, "/items/2", ttl).await);
    assert!(
        !is_hit(&t1, "/items/1", ttl).await,
        "a path the write named"
    );
    assert!(
        is_hit(&t2, "/items/2", ttl).await,
        "tenant 1's write reached tenant 2"
    );
    // 4 misses, 1 write, 1 miss, 1 write, 2 misses.
    assert_eq!(hits.load(Ordering::SeqCst), 9);
}

#[tokio::test]
async fn an_answer_fetched_while_a_write_lands_is_not_served_after_it() {
    // The first GET is slow; the POST lands while its answer is on the way, and a second GET
    // starts after the POST, joining the first one's fetch. The first answer may predate the
    // write: it answers the GET that fetched it, not the second one, nor any later one.
    let Fixture {
        _server,
        hits,
        conn,
        ..
    } = fixture(Duration::from_millis(300)).await;
    let ttl = Duration::from_secs(60);
    let get = |conn: Connection| {
        tokio::spawn(async move { conn.get("/items/1").cache_for(ttl).send().await })
    };
    let first = get(conn.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.post("/items/1").send().await.unwrap();
    let second = get(conn.clone());
    assert!(!first.await.unwrap().unwrap().is_cache_hit());
    assert!(
        !second.await.unwrap().unwrap().is_cache_hit(),
        "served an answer older than the write to a call that followed it"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "GET, POST, the second GET's own fetch"
    );
    assert!(
        is_hit(&conn, "/items/1", ttl).await,
        "the answer fetched after the write"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn more_writes_than_a_connection_remembers_leave_no_older_entry_served() {
    // The log keeps the last 32 writes; an entry fetched before them is fetched again.
    let Fixture {
        _server,
        hits,
        conn,
        ..
    } = fixture(Duration::ZERO).await;
    let ttl = Duration::from_secs(60);
    assert!(!is_hit(&conn, "/items/1", ttl).await);
    for i in 0..65 {
        conn.post(format!("/items/other-{i}")).send().await.unwrap();
    }
    assert!(!is_hit(&conn, "/items/1", ttl).await);
    assert!(is_hit(&conn, "/items/1", ttl).await);
    assert_eq!(hits.load(Ordering::SeqCst), 1 + 65 + 1);
}

#[tokio::test]
async fn a_connection_made_again_after_its_write_log_was_dropped_still_invalidates() {
    // Tenant 1's connection `c1` writes twice, caches /items/1 and is dropped; connections
    // made and dropped for 100 other ids let the switchboard drop the write log nobody holds.
    // Made again, `c1`'s first write must reach the entry fetched under the old log. Tenant 2
    // shares the id and holds its connection throughout: its entry is neither dropped nor
    // reached by tenant 1's write.
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let url = server.base_url();
    let ttl = Duration::from_secs(60);
    {
        let old = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
        old.post("/items/2").send().await.unwrap();
        old.post("/items/3").send().await.unwrap();
        assert!(!is_hit(&old, "/items/1", ttl).await);
    }
    let t2 = connect_as(&sb, TestConnector::default(), &url, "t2", "c1");
    assert!(!is_hit(&t2, "/items/1", ttl).await);
    for i in 0..100 {
        drop(connect_as(
            &sb,
            TestConnector::default(),
            &url,
            "t1",
            &format!("other-{i}"),
        ));
    }
    let again = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
    assert!(
        is_hit(&again, "/items/1", ttl).await,
        "the entry outlives its connection's log"
    );
    again.post("/items/1").send().await.unwrap();
    assert!(
        !is_hit(&again, "/items/1", ttl).await,
        "served an entry fetched before the write"
    );
    assert!(
        is_hit(&t2, "/items/1", ttl).await,
        "tenant 1's write reached tenant 2"
    );
    // 2 writes, 2 misses, 1 write, 1 miss.
    assert_eq!(hits.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_write_whose_log_was_dropped_still_invalidates_what_was_fetched_before_it() {
    // Tenant 1's `c1` caches /items/1, then a second connection of it writes /items/1; both
    // are dropped, and connections made and dropped for 100 other ids let the switchboard
    // drop the log that recorded the write. Made again, `c1` must not serve the entry the
    // write invalidated. Tenant 2 shares the id and holds its connection throughout.
    let (server, hits) = counting_server(Duration::ZERO).await;
    let sb = builder().build().unwrap();
    let url = server.base_url();
    let ttl = Duration::from_secs(60);
    let t2 = connect_as(&sb, TestConnector::default(), &url, "t2", "c1");
    assert!(!is_hit(&t2, "/items/1", ttl).await);
    {
        let reader = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
        assert!(!is_hit(&reader, "/items/1", ttl).await);
        assert!(is_hit(&reader, "/items/1", ttl).await);
        let writer = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
        writer.post("/items/1").send().await.unwrap();
    }
    for i in 0..100 {
        drop(connect_as(
            &sb,
            TestConnector::default(),
            &url,
            "t1",
            &format!("other-{i}"),
        ));
    }
    let again = connect_as(&sb, TestConnector::default(), &url, "t1", "c1");
    assert!(
        !is_hit(&again, "/items/1", ttl).await,
        "served an entry a write invalidated, after that write's log was dropped"
    );
    assert!(is_hit(&again, "/items/1", ttl).await);
    assert!(
        is_hit(&t2, "/items/1", ttl).await,
        "tenant 1's write or log reached tenant 2"
    );
    // 2 misses, 1 write, 1 miss.
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}
