//! Searches through the typed client against the loopback server: paging by `Offset` and by
//! key range (chosen, forced, and forced by a server without `Offset`), `Limit`, `Select`,
//! `Count`, the empty reply (20201), DMQL the builder refuses (nothing sent), and the lending
//! row API.

use switchboard::rets::{Dmql, Paging, Search};
use switchboard::ErrorKind;
use switchboard::ProviderError;

use super::server::{Auth, RetsServer};
use super::{client, config, host, listings};

fn all() -> Search {
    Search::new("Property", "RES", Dmql::at_least("ListPrice", "0"))
}

async fn keys(rets: &switchboard::rets::RetsClient, search: Search) -> Vec<String> {
    let mut rows = rets.search(search);
    let mut keys = Vec::new();
    while let Some(row) = rows.next_row().await.unwrap() {
        keys.push(row.by_name("ListingKey").unwrap().into_owned());
    }
    keys
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("L{i:04}")).collect()
}

#[tokio::test]
async fn pages_by_offset_until_every_row_is_read() {
    let server = RetsServer::start("pw", Auth::Digest, listings(25, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let got = keys(&rets, all().page_size(10).paging(Paging::Offset)).await;
    assert_eq!(got, expected(25));
    let offsets: Vec<Option<String>> = server
        .seen("/rets/search")
        .iter()
        .map(|r| r.params.get("Offset").cloned())
        .collect();
    assert_eq!(offsets, [None, Some("11".into()), Some("21".into())]);
    // The server caps a page below the asked Limit (MAXROWS): paging goes on.
    server.with(|s| s.max_rows = 4);
    assert_eq!(
        keys(&rets, all().page_size(10).paging(Paging::Offset)).await,
        expected(25)
    );
}

#[tokio::test]
async fn pages_by_key_range_when_the_key_field_is_known() {
    let server = RetsServer::start("pw", Auth::Digest, listings(25, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let got = keys(&rets, all().page_size(10).key_field("ListingKey")).await;
    assert_eq!(got, expected(25));
    let seen = server.seen("/rets/search");
    assert!(seen.iter().all(|r| !r.params.contains_key("Offset")));
    assert_eq!(
        seen[1].params["Query"],
        "(ListPrice=0+),(ListingKey=L0009+)"
    );
    // A listing changing between pages (a row inserted before the boundary) neither skips
    // nor repeats a row with key ranges.
    let mut rows = rets.search(all().page_size(10).key_field("ListingKey"));
    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(
            rows.next()
                .await
                .unwrap()
                .unwrap()
                .by_name("ListingKey")
                .unwrap()
                .to_string(),
        );
    }
    server.with(|s| {
        s.listings.insert(
            0,
            super::server::Listing::new("L0000a", "2026-01-01T00:00:00"),
        )
    });
    while let Some(r) = rows.next().await.unwrap() {
        got.push(r.by_name("ListingKey").unwrap().to_string());
    }
    assert_eq!(got, expected(25));
}

#[tokio::test]
async fn a_server_without_offset_is_paged_by_key_range() {
    let server = RetsServer::start("pw", Auth::Digest, listings(12, 1)).await;
    server.with(|s| s.offset_supported = false);
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let got = keys(
        &rets,
        all()
            .page_size(5)
            .paging(Paging::Offset)
            .key_field("ListingKey"),
    )
    .await;
    assert_eq!(got, expected(12));
    // Without a key field there is no way on: the 20203 is the caller's.
    let e = rets
        .search(all().page_size(5).paging(Paging::Offset))
        .collect()
        .await
        .unwrap_err();
    assert_eq!(e.reply_code(), Some(switchboard::rets::ReplyCode(20203)));
}

#[tokio::test]
async fn limit_select_count_and_empty_results() {
    let server = RetsServer::start("pw", Auth::Digest, listings(30, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let rows = rets
        .search(
            all()
                .limit(7)
                .page_size(5)
                .select(["ListingKey", "ListPrice"]),
        )
        .collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(&rows[0].columns()[..], ["ListingKey", "ListPrice"]);
    let limits: Vec<String> = server
        .seen("/rets/search")
        .iter()
        .map(|r| r.params["Limit"].clone())
        .collect();
    assert_eq!(limits, ["5", "2"]);
    assert_eq!(rets.count(&all()).await.unwrap(), 30);
    let mut s = rets.search(all());
    s.next_row().await.unwrap();
    assert_eq!(s.count(), Some(30));
    let none = Search::new("Property", "RES", Dmql::eq("City", "Nowhere"));
    assert!(rets
        .search(none.clone())
        .collect()
        .await
        .unwrap()
        .is_empty());
    assert_eq!(rets.count(&none).await.unwrap(), 0);
}

#[tokio::test]
async fn a_refused_query_sends_nothing() {
    let server = RetsServer::start("pw", Auth::Digest, listings(1, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let bad = Search::new("Property", "RES", Dmql::eq("City", "a),(ListPrice=0+"));
    let e = rets.search(bad).collect().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("rets.query.value"), "{e}");
    assert!(server.seen("/rets/search").is_empty());
}
