//! `retry.*`: the attempts each failure gets, against the connector's promise. Each scenario
//! has its own loopback server and connection (so no breaker or budget carries over).

use super::host::{pointed_at, Host, TENANT_A};
use super::{CallFn, Conformance, RetryPromise, Run};
use crate::test_util::{refused_addr, RawAction, RawRequest, RawServer};

#[derive(Debug, Clone, Copy)]
enum Upstream {
    ResetAfterRead,
    Refused,
    TooManyRequests,
    Unavailable,
}

pub(crate) async fn check(case: &Conformance, promise: RetryPromise, run: &mut Run) {
    let host = match Host::new(case) {
        Ok(h) => h,
        Err(e) => {
            run.fail("retry", format!("cannot build the host: {e}"));
            return;
        }
    };
    let scenarios = [
        (
            "retry.post_reset_after_write",
            Upstream::ResetAfterRead,
            true,
            promise.post_reset_after_write,
        ),
        (
            "retry.post_connection_refused",
            Upstream::Refused,
            true,
            promise.post_connection_refused,
        ),
        (
            "retry.get_connection_refused",
            Upstream::Refused,
            false,
            promise.get_connection_refused,
        ),
        (
            "retry.post_429_retry_after",
            Upstream::TooManyRequests,
            true,
            promise.post_429_retry_after,
        ),
        (
            "retry.get_429_retry_after",
            Upstream::TooManyRequests,
            false,
            promise.get_429_retry_after,
        ),
        (
            "retry.post_5xx",
            Upstream::Unavailable,
            true,
            promise.post_5xx,
        ),
        (
            "retry.get_5xx",
            Upstream::Unavailable,
            false,
            promise.get_5xx,
        ),
    ];
    for (n, (name, upstream, post, promised)) in scenarios.into_iter().enumerate() {
        if post && case.post.is_none() && case.no_posts.is_some() {
            continue;
        }
        let call = if post { &case.post } else { &case.get };
        let Some(call) = call else {
            let which = if post { "post_call" } else { "get_call" };
            run.fail(name, format!("no {which} given: every connector gives one"));
            continue;
        };
        let problems = scenario(case, &host, run, n, upstream, call, promised).await;
        run.outcome(name, problems);
    }
}

async fn scenario(
    case: &Conformance,
    host: &Host,
    run: &mut Run,
    n: usize,
    upstream: Upstream,
    call: &CallFn,
    promised: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let body = case.error_body.clone();
    let server = match upstream {
        Upstream::Refused => None,
        _ => Some(
            RawServer::start(move |_: &RawRequest| {
                let answer = |status| {
                    RawAction::status(status, &body).with_header("content-type", "application/json")
                };
                match upstream {
                    Upstream::TooManyRequests => answer(429).with_header("Retry-After", "1"),
                    Upstream::Unavailable => answer(503),
                    _ => RawAction::Reset,
                }
            })
            .await,
        ),
    };
    let base = server
        .as_ref()
        .map_or_else(|| format!("http://{}", refused_addr()), RawServer::base_url);
    let config = pointed_at(case.integration.as_ref(), &case.config, &base);
    let conn = match host
        .connect_another(case.name(), TENANT_A, &format!("retry-{n}"), &config)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            run.error("the host path", &e);
            return vec![format!("the host path refused the valid config: {e}")];
        }
    };
    let before = host.attempts();
    let result = call(conn).await;
    let attempts = host.attempts() - before;
    match result {
        Ok(()) => problems.push("the call succeeded against a failing provider".to_string()),
        Err(e) => run.error(format!("the error of {upstream:?}"), e.as_ref()),
    }
    if attempts != promised {
        problems.push(format!(
            "{attempts} attempt(s) made, the connector promises {promised}"
        ));
    }
    if let Some(server) = &server {
        if server.requests() != attempts {
            problems.push(format!(
                "the provider saw {} request(s) for {attempts} attempt(s)",
                server.requests()
            ));
        }
    }
    problems
}
