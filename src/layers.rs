//! The test that keeps the core's layers free of import cycles (see `docs/architecture.md`,
//! "Layers"). It reads the sources rather than trusting review: a `use crate::client::...` in
//! a plug-in trait's file fails it.
//!
//! Each layer lists its files and the modules it must not name. A module also counts when it
//! is named through the crate root's re-exports (`crate::Connection` is `client`'s).

use std::path::{Path, PathBuf};

/// The plug-in traits and what they stand on: they name nothing above them.
const BOTTOM: &[&str] = &[
    "src/connector.rs",
    "src/auth/",
    "src/credentials/",
    "src/rate_limit/mod.rs",
    "src/webhook/mod.rs",
    "src/error.rs",
    "src/ids.rs",
    "src/observe.rs",
    "src/redact.rs",
    "src/endpoint_policy.rs",
    "src/outbound/ssrf.rs",
    "src/sync/record.rs",
    "src/sync/side.rs",
    "src/sync/store/",
];

/// Modules above the bottom layer.
const ABOVE_BOTTOM: &[&str] = &["client", "pipeline", "response", "connections", "templates"];

/// The crate root's re-exports of those modules' items.
const ROOT_REEXPORTS: &[&str] = &[
    "CallObserver",
    "Connection",
    "ConnectionBuilder",
    "ConnectionSettings",
    "RequestBuilder",
    "Switchboard",
    "SwitchboardBuilder",
    "BreakerConfig",
    "BreakerReport",
    "BreakerState",
    "CacheConfig",
    "RetryConfig",
    "Response",
    "decode_json",
];

/// The pipeline sits under the client: it never names the handles built on it.
const PIPELINE: &[&str] = &["src/pipeline/"];
const ABOVE_PIPELINE: &[&str] = &["client", "response", "connections", "templates"];

/// The client sits under templates and `Connections` (which bind integrations into it).
const CLIENT: &[&str] = &["src/client/", "src/response.rs"];
const ABOVE_CLIENT: &[&str] = &["connections", "templates"];

fn files(entries: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for e in entries {
        let p = root.join(e);
        if e.ends_with('/') {
            collect(&p, &mut out);
        } else {
            out.push(p);
        }
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The first path segment of every `crate::` path in `src`, comments removed; grouped imports
/// (`crate::{a::b, c}`) give each member's first segment.
fn crate_paths(src: &str) -> Vec<String> {
    let code: String = src
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // Split the group's top level on commas.
            let (mut depth, mut item) = (0usize, String::new());
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(ch);
            }
            out.push(first_segment(&item));
        } else {
            out.push(first_segment(after));
        }
        rest = after;
    }
    out.retain(|s| !s.is_empty());
    out
}

fn first_segment(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every (file, name) where a file of `layer` names a module in `forbidden` (or one of
/// `reexports`).
fn violations(layer: &[&str], forbidden: &[&str], reexports: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in files(layer) {
        let src = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for seg in crate_paths(&src) {
            if forbidden.contains(&seg.as_str()) || reexports.contains(&seg.as_str()) {
                found.push(format!("{} names crate::{seg}", path.display()));
            }
        }
    }
    found
}

#[test]
fn plug_in_traits_name_nothing_from_the_client_the_pipeline_or_above() {
    let v = violations(BOTTOM, ABOVE_BOTTOM, ROOT_REEXPORTS);
    assert!(
        v.is_empty(),
        "the bottom layer imports upward:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_pipeline_names_nothing_from_the_client_or_above() {
    let v = violations(PIPELINE, ABOVE_PIPELINE, &[]);
    assert!(
        v.is_empty(),
        "the pipeline imports upward:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_client_names_nothing_from_templates_or_connections() {
    let v = violations(CLIENT, ABOVE_CLIENT, &[]);
    assert!(v.is_empty(), "the client imports upward:\n{}", v.join("\n"));
}

#[test]
fn the_reader_finds_paths_in_plain_grouped_and_inline_forms() {
    let src = "use crate::error::Error;\n\
               use crate::{ids::TenantId, client::{Connection, Switchboard}};\n\
               // use crate::templates::Nothing;\n\
               fn f() { let _ = crate::pipeline::x(); }\n";
    assert_eq!(crate_paths(src), ["error", "ids", "client", "pipeline"]);
    // The bottom layer's files are found and read (a typo in the list would pass vacuously).
    let bottom = files(BOTTOM);
    assert!(bottom.len() >= BOTTOM.len());
    assert!(bottom.iter().all(|p| p.is_file()), "{bottom:?}");
    let connector = std::fs::read_to_string(&bottom[0]).expect("connector.rs");
    assert!(crate_paths(&connector).contains(&"error".to_string()));
}
