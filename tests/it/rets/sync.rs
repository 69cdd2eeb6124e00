//! MLS sync through the host's path (template -> `Connections` -> `RetsClient` ->
//! `RetsListingsSource` -> `SyncEngine`) against the loopback RETS server: listings sharing
//! a timestamp across page breaks, an update with its changed fields and status change, a
//! replay that applies nothing, the purge pass, the cheap key-and-timestamp mode, and photos
//! on their own cursor.

use std::sync::Arc;

use switchboard::rets::{RetsListingsSource, RetsPhotosSource};
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    ChangeKind, InMemorySyncStore, JobKey, PurgePolicy, SyncEngine, SyncJob, Trigger,
};

use super::server::{Auth, RetsServer};
use super::{client, config, host, listings};

#[tokio::test]
async fn listings_sync_incrementally_with_events_and_purge() {
    // 30 listings, ten sharing each second; pages of four.
    let server = RetsServer::start("pw", Auth::Digest, listings(30, 10)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(
        JobKey::new("acme", "mls", "listings"),
        Arc::new(RetsListingsSource::new(rets, "Property", "RES")),
        sink.clone(),
    )
    .page_size(4)
    .watch("StandardStatus")
    .purge_policy(PurgePolicy { max_share: 0.1 })
    .unwrap();
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();

    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(sink.live().len(), 30, "{:?}", log.counts);
    assert_eq!(log.counts.created, 30);
    sink.take_changes();

    // A listing changes price and status: one update naming the fields, and the status.
    server.with(|s| {
        let l = &mut s.listings[5];
        l.fields.insert("ListPrice".into(), "125000".into());
        l.fields.insert("StandardStatus".into(), "Pending".into());
        l.fields
            .insert("ModificationTimestamp".into(), "2026-06-01T00:00:00".into());
    });
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    let changes = sink.take_changes();
    assert_eq!(changes.len(), 1, "{:?}", log.counts);
    assert_eq!(changes[0].record.key, "L0005");
    assert_eq!(
        changes[0].kind,
        ChangeKind::Updated {
            fields: vec![
                "ListPrice".into(),
                "ModificationTimestamp".into(),
                "StandardStatus".into()
            ]
        }
    );
    let watched = changes[0].watched.as_ref().unwrap();
    assert_eq!(
        (watched.from.clone(), watched.to.clone()),
        (Some("Active".into()), Some("Pending".into()))
    );

    // Nothing changed: nothing applied.
    engine.run(&job, Trigger::Manual).await.unwrap();
    assert!(sink.take_changes().is_empty());

    // A listing leaves the feed without an announcement: the purge pass finds it.
    server.with(|s| s.listings.retain(|l| l.fields["ListingKey"] != "L0007"));
    engine.purge(&job, Trigger::Manual).await.unwrap();
    let changes = sink.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].record.key.as_str(), &changes[0].kind),
        ("L0007", &ChangeKind::Deleted)
    );
    assert_eq!(sink.live().len(), 29);
}

#[tokio::test]
async fn the_cheap_mode_fetches_only_what_changed() {
    let server = RetsServer::start("pw", Auth::Digest, listings(12, 3)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let sink = Arc::new(MemorySink::new());
    let source = RetsListingsSource::new(rets, "Property", "RES").compare_with(sink.clone());
    let job = SyncJob::new(
        JobKey::new("acme", "mls", "cheap"),
        Arc::new(source),
        sink.clone(),
    )
    .page_size(5);
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(sink.live().len(), 12);
    assert_eq!(sink.live()["L0003"]["ListPrice"], "100000");

    server.with(|s| s.seen.clear());
    server.with(|s| {
        let l = &mut s.listings[3];
        l.fields.insert("ListPrice".into(), "99000".into());
        l.fields
            .insert("ModificationTimestamp".into(), "2026-01-01T00:00:05".into());
    });
    // Back to the start, as after a lost cursor: the keys are compared, one row fetched.
    let job = job.overlap(std::time::Duration::from_secs(3600 * 24 * 400));
    engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(sink.live()["L0003"]["ListPrice"], "99000");
    let fetches: Vec<String> = server
        .seen("/rets/search")
        .iter()
        .filter(|r| r.params["Count"] != "2" && r.params["Query"].starts_with("(ListingKey="))
        .map(|r| r.params["Query"].clone())
        .collect();
    assert_eq!(fetches, ["(ListingKey=L0003)"]);
    for r in server.seen("/rets/search") {
        if !r.params["Query"].starts_with("(ListingKey=") && r.params["Count"] != "2" {
            assert_eq!(r.params["Select"], "ListingKey,ModificationTimestamp");
        }
    }
}

#[tokio::test]
async fn photos_follow_their_own_timestamp() {
    let mut all = listings(3, 1);
    all[1].photos = vec![b"one".to_vec(), b"two".to_vec()];
    all[1].fields.insert("PhotosCount".into(), "2".into());
    let server = RetsServer::start("pw", Auth::Digest, all).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let sink = Arc::new(MemorySink::new());
    let job = SyncJob::new(
        JobKey::new("acme", "mls", "photos"),
        Arc::new(RetsPhotosSource::new(rets, "Property", "RES")),
        sink.clone(),
    );
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    engine.run(&job, Trigger::Manual).await.unwrap();
    let held = sink.live();
    assert_eq!(held["L0001"]["photos_count"], 2);
    assert_eq!(held["L0001"]["photos"].as_array().unwrap().len(), 2);
    assert_eq!(held["L0000"]["photos"].as_array().unwrap().len(), 0);
    sink.take_changes();
    // New photos without a new ModificationTimestamp: the photo cursor sees them.
    server.with(|s| {
        let l = &mut s.listings[2];
        l.photos = vec![b"new".to_vec()];
        l.fields
            .insert("PhotosChangeTimestamp".into(), "2026-02-01T00:00:00".into());
    });
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    let changes = sink.take_changes();
    assert_eq!(
        changes.len(),
        1,
        "{:?} {:?}",
        log.counts,
        server
            .seen("/rets/search")
            .iter()
            .map(|r| r.params.get("Query").cloned())
            .collect::<Vec<_>>()
    );
    assert_eq!(changes[0].record.key, "L0002");
    assert_eq!(
        changes[0].record.fields["photos"].as_array().unwrap().len(),
        1
    );
}
