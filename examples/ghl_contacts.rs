//! GoHighLevel contacts the way a host runs them: the `ghl` template and the connection
//! service, the connection's check (the location's name and the API version), a new lead with
//! a tag and a note, every contact through the search stream, and the location's contacts
//! synced into the host's store with the sync engine.
//!
//! Runs offline by default against an in-process stand-in (loopback). With `GHL_TOKEN` (a
//! Private Integration Token with the contacts and locations scopes) and `GHL_LOCATION_ID`
//! set it runs against the real API, and creates one contact there.
//!
//! ```text
//! cargo run --example ghl_contacts
//! GHL_TOKEN=pit-… GHL_LOCATION_ID=ve9EPM428h8vShlRW1KT cargo run --example ghl_contacts
//! ```

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::ghl::{
    AddNote, CreateContact, GhlClient, GhlContactsSource, GhlIntegration, SearchContacts,
    CONTACTS_JOB,
};
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{InMemorySyncStore, JobKey, SyncEngine, SyncJob, Trigger};
use switchboard::templates::Registry;
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::{ConnectionId, Switchboard, TenantId};

#[path = "mocks/ghl.rs"]
mod mock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let real = std::env::var("GHL_TOKEN")
        .ok()
        .zip(std::env::var("GHL_LOCATION_ID").ok());
    let location = real
        .as_ref()
        .map_or_else(|| "loc_oak_realty".to_string(), |(_, l)| l.clone());
    let stand_in = match real {
        Some(_) => None,
        None => Some(mock::start(&location).await),
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
    registry.register(Arc::new(GhlIntegration::new()))?;
    let connections = Connections::new(switchboard.build()?, vault, registry);

    let (tenant, id) = (TenantId::new("oak-realty"), ConnectionId::new("ghl"));
    let config = match (&real, &stand_in) {
        (Some((token, _)), _) => json!({"apiKey": token, "locationId": location}),
        (None, Some(server)) => json!({
            "apiKey": "pit-offline-demo-0000",
            "locationId": location,
            "baseUrl": server.base_url(),
        }),
        (None, None) => unreachable!("offline runs have a stand-in"),
    };
    connections
        .create(&tenant, &id, "ghl", "Oak Realty CRM", &config)
        .await?;
    let record = connections.test_connection(&tenant, &id).await?;
    assert_eq!(record.status, ConnectionStatus::Active, "{record:?}");

    let ghl = GhlClient::from_connection(connections.connection(&tenant, &id).await?)?;
    let check = ghl.check().await?;
    println!(
        "connected to {} (API version {})",
        check.location_name, check.api_version
    );

    let lead = ghl
        .contacts()
        .create(
            CreateContact::new()
                .first_name("Ada")
                .last_name("Lovelace")
                .email("ada@example.com")
                .source("switchboard example"),
        )
        .await?;
    let tags = ghl.contacts().add_tags(lead.id.as_str(), ["buyer"]).await?;
    ghl.contacts()
        .add_note(
            lead.id.as_str(),
            AddNote::new("Wants a 3-bed near the park"),
        )
        .await?;
    println!("new lead {} tagged {:?}", lead.id, tags.tags);

    let mut all = ghl.contacts().search(SearchContacts::new().page_limit(1));
    let mut seen = 0;
    while let Some(contact) = all.next().await {
        let contact = contact?;
        seen += 1;
        println!(
            "  contact {}: {}",
            contact.id,
            contact.email.as_deref().unwrap_or("-")
        );
    }

    // The location's contacts into the host's store (here in memory).
    let sink = Arc::new(MemorySink::new());
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new()))
        .connections(connections.clone())
        .build();
    let job = SyncJob::new(
        JobKey::new(tenant.clone(), id.clone(), CONTACTS_JOB),
        Arc::new(GhlContactsSource::new(ghl.clone())),
        sink.clone(),
    );
    let log = engine.run(&job, Trigger::Manual).await?;
    println!(
        "synced: {} created, {} updated ({} contacts held)",
        log.counts.created,
        log.counts.updated,
        sink.live().len()
    );
    if stand_in.is_some() {
        assert_eq!(seen, 3, "the stand-in's two contacts and the new lead");
        assert_eq!(sink.live().len(), 3);
    }
    Ok(())
}
