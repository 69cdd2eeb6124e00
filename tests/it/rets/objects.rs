//! GetObject through the typed client: multipart photos read part by part, the 20403 reply
//! of a listing without photos, and the photo cache, per tenant and connection.

use switchboard::rets::{GetObject, ObjectIds};

use super::server::{Auth, Listing, RetsServer};
use super::{client, config, host};

fn with_photos() -> Vec<Listing> {
    let mut l = Listing::new("L0001", "2026-01-01T00:00:00");
    l.photos = vec![
        b"\xff\xd8jpeg-one".to_vec(),
        b"\xff\xd8jpeg-two\r\n--not-a-boundary".to_vec(),
    ];
    vec![l, Listing::new("L0002", "2026-01-01T00:00:00")]
}

#[tokio::test]
async fn photos_stream_part_by_part_and_are_cached_per_tenant() {
    let server = RetsServer::start("pw", Auth::Digest, with_photos()).await;
    let connections = host();
    let a = client(&connections, "tenant-a", config(&server.login_url(), "pw")).await;
    let mut reader = a
        .get_objects(&GetObject::photos("Property").of("L0001", ObjectIds::All))
        .await
        .unwrap();
    let first = reader.next_object().await.unwrap().unwrap();
    assert_eq!(&first.data[..], b"\xff\xd8jpeg-one");
    assert_eq!(first.object_id.as_deref(), Some("1"));
    let second = reader.next_object().await.unwrap().unwrap();
    assert_eq!(&second.data[..], b"\xff\xd8jpeg-two\r\n--not-a-boundary");
    assert!(reader.next_object().await.unwrap().is_none());

    let photos = a.photos("Property", "L0001").await.unwrap();
    assert_eq!(photos.len(), 2);
    let fetched = server.seen("/rets/getobject").len();
    a.photos("Property", "L0001").await.unwrap();
    assert_eq!(
        server.seen("/rets/getobject").len(),
        fetched,
        "served from the cache"
    );
    // Another tenant with the same connection id (and the same login) fetches its own.
    let b = client(&connections, "tenant-b", config(&server.login_url(), "pw")).await;
    b.photos("Property", "L0001").await.unwrap();
    assert_eq!(server.seen("/rets/getobject").len(), fetched + 1);
    // No photos: 20403 is an empty list.
    assert!(a.photos("Property", "L0002").await.unwrap().is_empty());
    // The request names no listing: refused before sending.
    assert!(a.get_objects(&GetObject::photos("Property")).await.is_err());
}
