//! Metadata through the typed client: the catalog and a class's fields and lookups, parsed
//! from the libRETS recordings the loopback server answers with, and cached per session.

use super::server::{Auth, RetsServer};
use super::{client, config, host, listings};

#[tokio::test]
async fn metadata_is_typed_and_read_once_per_session() {
    let server = RetsServer::start("pw", Auth::Digest, listings(1, 1)).await;
    let connections = host();
    let rets = client(&connections, "acme", config(&server.login_url(), "pw")).await;
    let catalog = rets.metadata().await.unwrap();
    assert!(catalog.system.is_some());
    assert!(!catalog.resources.is_empty());
    assert!(!catalog.classes.is_empty());
    let fields = rets.class_metadata("Property", "RES").await.unwrap();
    assert!(!fields.tables.is_empty());
    assert!(!fields.lookup_types.is_empty());
    let asked = server.seen("/rets/getmetadata").len();
    assert_eq!(asked, 3 + 4);
    // Cached: concurrent and later callers ask nothing.
    let (a, b) = tokio::join!(rets.metadata(), rets.class_metadata("Property", "RES"));
    a.unwrap();
    b.unwrap();
    assert_eq!(server.seen("/rets/getmetadata").len(), asked);
    // A new session reads it again (the server may have changed it).
    rets.logout().await.unwrap();
    rets.metadata().await.unwrap();
    assert_eq!(server.seen("/rets/getmetadata").len(), asked + 3);
}
