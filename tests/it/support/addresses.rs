//! Where the test databases and Redis are: one place reads the environment, so a machine
//! whose services listen elsewhere sets two variables instead of editing tests.
//!
//! - `SWITCHBOARD_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! - `SWITCHBOARD_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/`
//!
//! (`scripts/test.sh` starts both services at the defaults.) Shared with the benches through
//! `#[path]`.

#![allow(dead_code)] // each includer uses a subset

/// The PostgreSQL URL of the test database.
pub(crate) fn postgres_url() -> String {
    from_env(
        "SWITCHBOARD_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// The Redis URL of the test server.
pub(crate) fn redis_url() -> String {
    from_env("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/")
}

/// The test Redis server's `host:port`, for tests that reach it through a proxy or build a
/// URL with credentials.
pub(crate) fn redis_addr() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn from_env(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_string(),
    }
}
