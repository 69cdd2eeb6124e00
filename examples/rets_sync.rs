//! MLS listings synced over RETS the way a host runs it: the `rets` template and the
//! connection service, the check (login, then logout), the catalog from the metadata, a
//! DMQL search streamed row by row, the listings synced into the host's store with the sync
//! engine (a second run after a price and status change raises one update with its
//! status change), and a listing's photos.
//!
//! Runs offline by default against an in-process RETS server (loopback) holding 2,500
//! listings. With `RETS_LOGIN_URL`, `RETS_USERNAME` and `RETS_PASSWORD` set (and optionally
//! `RETS_USER_AGENT`, `RETS_UA_PASSWORD`, `RETS_CLASS`) it runs against a real MLS, reading
//! only.
//!
//! ```text
//! cargo run --example rets_sync
//! RETS_LOGIN_URL=https://rets.example-mls.com/rets/login RETS_USERNAME=… RETS_PASSWORD=… cargo run --example rets_sync
//! ```

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::rets::{Dmql, RetsClient, RetsIntegration, RetsListingsSource, Search};
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{ChangeKind, InMemorySyncStore, JobKey, SyncEngine, SyncJob, Trigger};
use switchboard::templates::Registry;
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::{ConnectionId, Switchboard, TenantId};

#[path = "mocks/rets.rs"]
mod mock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let real = match (
        env("RETS_LOGIN_URL"),
        env("RETS_USERNAME"),
        env("RETS_PASSWORD"),
    ) {
        (Some(url), Some(user), Some(password)) => Some((url, user, password)),
        _ => None,
    };
    let stand_in = match real {
        Some(_) => None,
        None => {
            let listings = (0..2_500)
                .map(|i| {
                    mock::Listing::new(
                        &format!("L{i:06}"),
                        &format!("2026-01-{:02}T{:02}:00:00", 1 + i / 100, i % 24),
                    )
                    .set("ListPrice", &format!("{}", 250_000 + i * 1_000))
                    .set("City", ["Springfield", "Riverside", "Franklin"][i % 3])
                })
                .collect();
            Some(mock::RetsServer::start("demo-password", mock::Auth::Digest, listings).await)
        }
    };

    let vault = Vault::new(KeyRing::new(
        KeyId::new("demo")?,
        MasterKey::from_bytes(&[7u8; 32])?,
    ));
    let mut switchboard = Switchboard::builder();
    if stand_in.is_some() {
        switchboard = switchboard.allow_endpoint_host("127.0.0.1");
    }
    let mut registry = Registry::new();
    registry.register(Arc::new(RetsIntegration::new()))?;
    let connections = Connections::new(switchboard.build()?, vault, registry);

    let (tenant, id) = (TenantId::new("oak-realty"), ConnectionId::new("mls"));
    let mut config = match (&real, &stand_in) {
        (Some((url, user, password)), _) => {
            json!({"login_url": url, "username": user, "password": password})
        }
        (None, Some(server)) => json!({
            "login_url": server.login_url(),
            "username": mock::USER,
            "password": "demo-password",
            "page_size": 500,
        }),
        (None, None) => unreachable!("a stand-in runs whenever no MLS is configured"),
    };
    if let Some(ua) = env("RETS_USER_AGENT") {
        config["user_agent"] = ua.into();
    }
    if let Some(p) = env("RETS_UA_PASSWORD") {
        config["user_agent_password"] = p.into();
    }
    connections
        .create(&tenant, &id, "rets", "Oak Realty MLS", &config)
        .await?;
    let record = connections.test_connection(&tenant, &id).await?;
    println!("check (login + logout): {:?}", record.status);
    if record.status != ConnectionStatus::Active {
        println!("  {}", record.last_error.unwrap_or_default());
        return Ok(());
    }
    let rets = RetsClient::from_connection(connections.connection(&tenant, &id).await?)?;

    let class = env("RETS_CLASS").unwrap_or_else(|| "RES".to_string());
    if real.is_some() {
        let catalog = rets.metadata().await?;
        for c in catalog.classes.iter().take(10) {
            println!("class {}:{}", c.resource, c.class_name);
        }
    }

    // The seed's query, streamed: rows are parsed as they arrive.
    let since = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
    let mut rows = rets.search(
        Search::new(
            "Property",
            &class,
            Dmql::since("ModificationTimestamp", since),
        )
        .key_field("ListingKey")
        .limit(5),
    );
    while let Some(row) = rows.next_row().await? {
        println!(
            "listing {} at {}",
            row.by_name("ListingKey").unwrap_or_default(),
            row.by_name("ListPrice").unwrap_or_default()
        );
    }
    println!("{} listings match", rows.count().unwrap_or(0));

    if real.is_some() {
        // Reading a whole MLS into memory is not a demo; stop here against a real one.
        rets.logout().await?;
        return Ok(());
    }
    let server = stand_in.as_ref().expect("offline");

    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(
        JobKey::new(tenant.as_str(), id.as_str(), "listings"),
        Arc::new(RetsListingsSource::new(rets.clone(), "Property", &class)),
        sink.clone(),
    )
    .page_size(1_000)
    .watch("StandardStatus");
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let log = engine.run(&job, Trigger::Manual).await?;
    println!(
        "first run: {} listings created in {} pages",
        log.counts.created, log.counts.pages
    );
    if log.counts.created != 2_500 {
        return Err(format!("expected 2,500 listings, got {:?}", log.counts).into());
    }
    sink.take_changes();

    server.with(|s| {
        let listing = &mut s.listings[42];
        listing.fields.insert("ListPrice".into(), "199000".into());
        listing
            .fields
            .insert("StandardStatus".into(), "Pending".into());
        listing
            .fields
            .insert("ModificationTimestamp".into(), "2026-02-01T09:30:00".into());
        listing.photos = vec![b"\xff\xd8front".to_vec(), b"\xff\xd8kitchen".to_vec()];
    });
    engine.run(&job, Trigger::Manual).await?;
    let changes = sink.take_changes();
    let status_changed = changes.iter().filter(|c| c.watched.is_some()).count();
    if changes.len() != 1 || status_changed != 1 {
        return Err(format!("expected one update with a status change, got {changes:?}").into());
    }
    for change in changes {
        if let ChangeKind::Updated { fields } = &change.kind {
            println!("updated {}: {}", change.record.key, fields.join(", "));
        }
        if let Some(w) = &change.watched {
            println!("  {} {:?} -> {:?}", w.field, w.from, w.to);
        }
    }
    let photos = rets.photos("Property", "L000042").await?;
    println!("L000042 has {} photos (cached for 24 h)", photos.len());
    if photos.len() != 2 {
        return Err("expected two photos".into());
    }
    rets.logout().await?;
    Ok(())
}
