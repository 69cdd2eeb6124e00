//! `RETS-UA-Authorization`: the header by which a client proves it is a registered user
//! agent (RETS 1.7.2 §3.10), for servers that give a user-agent password.

use md5::{Digest, Md5};

/// The value of the `RETS-UA-Authorization` header:
/// `Digest hex(MD5(hex(MD5(product ":" ua_password)) ":" request_id ":" session_id ":"
/// rets_version))`.
///
/// `product` is what [`ua_product`] answers for the User-Agent sent; `request_id` the
/// `RETS-Request-ID` sent with the request (empty when none); `session_id` the
/// `RETS-Session-ID` cookie of the session (empty before Login); `rets_version` the
/// `RETS-Version` header sent (`RETS/1.7.2`). Empty ids still contribute their `:`.
pub fn ua_authorization(
    product: &str,
    ua_password: &str,
    request_id: &str,
    session_id: &str,
    rets_version: &str,
) -> String {
    // Hashed in pieces so the password is never copied into a string of its own.
    let a1 = Md5::new()
        .chain_update(product)
        .chain_update(":")
        .chain_update(ua_password)
        .finalize();
    let digest = Md5::new()
        .chain_update(hex::encode(a1))
        .chain_update(":")
        .chain_update(request_id)
        .chain_update(":")
        .chain_update(session_id)
        .chain_update(":")
        .chain_update(rets_version)
        .finalize();
    format!("Digest {}", hex::encode(digest))
}

/// The product string [`ua_authorization`] hashes: the whole User-Agent (the RETS 1.7
/// rule), or with `legacy_product_only`, the User-Agent up to its first `/` (what older
/// Interealty servers expect: `VieleRETS/1.1.0` hashes as `VieleRETS`).
pub fn ua_product(user_agent: &str, legacy_product_only: bool) -> &str {
    if legacy_product_only {
        user_agent.split('/').next().unwrap_or(user_agent)
    } else {
        user_agent
    }
}

#[cfg(test)]
pub(super) mod vectors {
    //! The sections of the shared vector files.

    use crate::rets::parse::fixtures::vectors_dir;

    /// Every vector of the `section` of every `*.json` file in the vector folder, with the
    /// file's name.
    pub(in crate::rets::session) fn sections(section: &str) -> Vec<(String, serde_json::Value)> {
        let dir = vectors_dir();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("vectors dir {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut out = Vec::new();
        for file in files {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
            let doc: serde_json::Value =
                serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Some(vectors) = doc[section]["vectors"].as_array() {
                out.extend(vectors.iter().map(|v| (name.clone(), v.clone())));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::vectors::sections;
    use super::*;

    #[test]
    fn matches_every_ua_authorization_vector() {
        let vectors = sections("rets_ua_authorization");
        assert!(!vectors.is_empty(), "no rets_ua_authorization vector found");
        let mut failures = Vec::new();
        for (file, v) in &vectors {
            let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{file}: {k}"));
            let legacy = s("product_used") != s("user_agent");
            let product = ua_product(s("user_agent"), legacy);
            let got = ua_authorization(
                product,
                s("ua_password"),
                s("rets_request_id"),
                s("session_id"),
                s("rets_version"),
            );
            if product != s("product_used") || got != s("expected_header_value") {
                failures.push(format!(
                    "{file}:{}: got {got} for product {product}",
                    s("name")
                ));
            }
        }
        println!("rets_ua_authorization vectors: {} run", vectors.len());
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn legacy_product_is_the_user_agent_up_to_its_first_slash() {
        assert_eq!(ua_product("VieleRETS/1.1.0", true), "VieleRETS");
        assert_eq!(ua_product("VieleRETS/1.1.0", false), "VieleRETS/1.1.0");
        assert_eq!(ua_product("NoVersion", true), "NoVersion");
        assert_eq!(ua_product("", true), "");
    }
}
