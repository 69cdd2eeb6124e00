//! `list.*`: a paged list fetches lazily, ends after the last page, and carries a failed
//! page as one error before ending.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;

use super::host::{pointed_at, Host, TENANT_A};
use super::{Conformance, ListCase, PageRequest, Run};
use crate::test_util::{RawAction, RawRequest, RawServer};

pub(crate) async fn check(case: &Conformance, list: &ListCase, run: &mut Run) {
    let host = match Host::new(case) {
        Ok(h) => h,
        Err(e) => {
            run.fail("list", format!("cannot build the host: {e}"));
            return;
        }
    };
    ends(case, list, &host, run).await;
    carries_errors(case, list, &host, run).await;
}

/// A server answering pages `0..pages` in order; from page `fail_from` on, a 400.
async fn pages(list: &ListCase, fail_from: Option<usize>, error_body: String) -> RawServer {
    let served = Arc::new(AtomicUsize::new(0));
    let (page, items, total) = (list.page.clone(), list.items_per_page, list.pages);
    RawServer::start(move |req: &RawRequest| {
        let index = served.fetch_add(1, Ordering::SeqCst);
        if fail_from.is_some_and(|f| index >= f) {
            return RawAction::status(400, &error_body)
                .with_header("content-type", "application/json");
        }
        let body = page(&PageRequest {
            index,
            last: index + 1 >= total,
            items,
            path: req.path.clone(),
        });
        RawAction::status(200, &body).with_header("content-type", "application/json")
    })
    .await
}

async fn ends(case: &Conformance, list: &ListCase, host: &Host, run: &mut Run) {
    let mut problems = Vec::new();
    let server = pages(list, None, case.error_body.clone()).await;
    let config = pointed_at(case.integration.as_ref(), &case.config, &server.base_url());
    let conn = match host
        .connect_another(case.name(), TENANT_A, "list-ends", &config)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            run.error("the host path", &e);
            run.fail(
                "list.ends",
                format!("the host path refused the valid config: {e}"),
            );
            return;
        }
    };
    let mut stream = (list.call)(conn);
    let mut lazy = Vec::new();
    if server.requests() != 0 {
        lazy.push(format!(
            "{} page(s) fetched before the stream was polled",
            server.requests()
        ));
    }
    let expected = list.items_per_page * list.pages;
    let mut items: usize = 0;
    let mut ended = false;
    // A bound, so a list that never ends fails the check instead of hanging the test.
    for _ in 0..expected + 2 * list.items_per_page + 1 {
        match stream.next().await {
            None => {
                ended = true;
                break;
            }
            Some(Ok(())) => {
                items += 1;
                let pages_needed = items.div_ceil(list.items_per_page);
                if server.requests() != pages_needed {
                    lazy.push(format!(
                        "{} page(s) fetched after {items} item(s), not {pages_needed}",
                        server.requests()
                    ));
                }
            }
            Some(Err(e)) => {
                run.error("a list item", e.as_ref());
                problems.push(format!("item {items} failed: {e}"));
                break;
            }
        }
    }
    if !ended {
        problems.push(format!("the stream did not end after {items} item(s)"));
    } else if items != expected {
        problems.push(format!(
            "{items} item(s) over {} page(s), expected {expected}",
            list.pages
        ));
    }
    if server.requests() != list.pages {
        problems.push(format!(
            "{} page(s) fetched for {} page(s) served",
            server.requests(),
            list.pages
        ));
    }
    lazy.dedup();
    run.outcome("list.ends", problems);
    run.outcome("list.lazy", lazy);
}

async fn carries_errors(case: &Conformance, list: &ListCase, host: &Host, run: &mut Run) {
    let mut problems = Vec::new();
    let server = pages(list, Some(1), case.error_body.clone()).await;
    let config = pointed_at(case.integration.as_ref(), &case.config, &server.base_url());
    let conn = match host
        .connect_another(case.name(), TENANT_A, "list-error", &config)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            run.fail(
                "list.error",
                format!("the host path refused the valid config: {e}"),
            );
            return;
        }
    };
    let mut stream = (list.call)(conn);
    let mut seen = Vec::new();
    for _ in 0..list.items_per_page + 3 {
        match stream.next().await {
            None => {
                seen.push("end".to_string());
                break;
            }
            Some(Ok(())) => seen.push("item".to_string()),
            Some(Err(e)) => {
                run.error("a failed page", e.as_ref());
                seen.push("error".to_string());
            }
        }
    }
    let mut want = vec!["item".to_string(); list.items_per_page];
    want.push("error".to_string());
    want.push("end".to_string());
    if seen != want {
        problems.push(format!(
            "a second page answering 400 gave {seen:?}, expected {want:?}"
        ));
    }
    run.outcome("list.error", problems);
}
