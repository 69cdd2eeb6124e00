//! Lists page lazily with `starting_after` = the last id, and stop on `has_more: false`.

use futures_util::StreamExt;
use switchboard::stripe::ListCustomers;

use super::client;
use super::mock::MockStripe;

#[tokio::test]
async fn a_list_over_three_pages_fetches_lazily_with_starting_after() {
    let mock = MockStripe::with_collection(5).await;
    let stripe = client(&mock.base_url());
    let mut list = stripe.customers().list(ListCustomers::new().limit(2u32));
    assert!(
        mock.requests().is_empty(),
        "nothing is fetched before the stream is polled"
    );

    let first = list.next().await.unwrap().unwrap();
    assert_eq!(first.id.as_str(), "cus_1");
    assert_eq!(mock.requests().len(), 1);
    let second = list.next().await.unwrap().unwrap();
    assert_eq!(second.id.as_str(), "cus_2");
    assert_eq!(
        mock.requests().len(),
        1,
        "the page is used up before the next is fetched"
    );

    let rest: Vec<_> = list
        .map(|r| r.unwrap().id.as_str().to_owned())
        .collect()
        .await;
    assert_eq!(rest, ["cus_3", "cus_4", "cus_5"]);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3, "stops after the page with has_more: false");
    let cursors: Vec<Option<String>> = reqs
        .iter()
        .map(|r| {
            assert!(r.query_pairs().contains(&("limit".into(), "2".into())));
            r.query_pairs()
                .into_iter()
                .find(|(k, _)| k == "starting_after")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(cursors, [None, Some("cus_2".into()), Some("cus_4".into())]);
    mock.assert_contract_kept();
}

#[tokio::test]
async fn an_empty_list_makes_one_request() {
    let mock = MockStripe::with_collection(0).await;
    let stripe = client(&mock.base_url());
    assert_eq!(
        stripe.customers().list(ListCustomers::new()).count().await,
        0
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_failed_page_ends_the_stream_with_the_error() {
    let mock = MockStripe::with_collection(5).await;
    mock.push(super::mock::Scripted::new(
        404,
        r#"{"error":{"type":"invalid_request_error","code":"resource_missing"}}"#,
    ));
    let stripe = client(&mock.base_url());
    let items: Vec<_> = stripe
        .customers()
        .list(ListCustomers::new())
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].as_ref().unwrap_err().code(),
        Some("resource_missing")
    );
}

#[tokio::test]
async fn a_clients_connect_account_goes_on_every_page() {
    let mock = MockStripe::with_collection(3).await;
    let stripe = client(&mock.base_url()).with_account("acct_pages");
    let all: Vec<_> = stripe
        .customers()
        .list(ListCustomers::new().limit(1u32))
        .collect()
        .await;
    assert_eq!(all.len(), 3);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.header("stripe-account"), Some("acct_pages"));
    }
    mock.assert_contract_kept();
}
