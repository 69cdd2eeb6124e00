//! Every call through the path a host uses (template → `Connections` → `GoogleMapsClient`)
//! against the loopback Google: the path and parameters Google reads, the tenant's defaults,
//! and the key: in the `key` query parameter of every request, and nowhere else (no log line,
//! span, error, metric label, cache key or `Debug` output), with a canary over every call.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use metrics_util::debugging::DebuggingRecorder;
use switchboard::google_maps::{
    Autocomplete, Avoid, Departure, FindPlace, Geocode, GetDirections, GetDistanceMatrix,
    GetPlaceDetails, GetTimeZone, LatLng, MapsStatus, ReverseGeocode, SearchNearby, SearchText,
    SessionToken, TrafficModel, TravelMode, Units,
};
use switchboard::test_util::{cache_keys, canary, LogCapture};

use super::mock::FakeMaps;
use super::{client, config, host_with};

#[test]
fn every_call_sends_googles_parameters_and_the_key_only_in_the_query() {
    let key = canary("api_key");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (logs, guard) = LogCapture::start();
    let mut outputs: Vec<String> = Vec::new();
    let fake = metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let fake = FakeMaps::start().await;
            let sb = crate::support::builder()
                .allow_endpoint_host("127.0.0.1")
                .build()
                .unwrap();
            let connections = host_with(sb.clone());
            let mut cfg = config(&fake.url(), &key);
            cfg["language"] = "en".into();
            cfg["region"] = "us".into();
            let maps = client(&connections, "acme", cfg).await;
            outputs.push(format!("{maps:?}"));
            let session = SessionToken::new();
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);

            let g = maps
                .geocoding()
                .forward(
                    Geocode::address("Winnetka")
                        .component("country", "US")
                        .bounds(
                            LatLng::new(34.172684, -118.604794),
                            LatLng::new(34.236144, -118.500938),
                        )
                        .language("fr"),
                )
                .await
                .unwrap();
            assert_eq!(g.status, MapsStatus::Ok);
            assert!(!g.results.is_empty());
            outputs.push(format!("{g:?}"));
            let r = maps
                .geocoding()
                .reverse(
                    ReverseGeocode::new(LatLng::new(40.714224, -73.961452))
                        .result_type("street_address"),
                )
                .await
                .unwrap();
            outputs.push(format!("{r:?}"));
            let d = maps
                .places()
                .details(
                    GetPlaceDetails::new("ChIJN1t_tDeuEmsRUsoyG83frY4")
                        .fields(["name", "geometry/location"])
                        .session_token(&session),
                )
                .await
                .unwrap();
            assert!(d.result.is_some());
            outputs.push(format!("{d:?}"));
            let n = maps
                .places()
                .nearby(
                    SearchNearby::new(LatLng::new(-33.8670522, 151.1957362), 1500)
                        .kind("restaurant")
                        .keyword("cruise"),
                )
                .await
                .unwrap();
            assert!(!n.results.is_empty());
            outputs.push(format!("{n:?}"));
            let by_distance = maps
                .places()
                .nearby(
                    SearchNearby::by_distance(LatLng::new(-33.8670522, 151.1957362)).kind("cafe"),
                )
                .await
                .unwrap();
            outputs.push(format!("{by_distance:?}"));
            let t = maps
                .places()
                .text(
                    SearchText::new("restaurants in Sydney").near(LatLng::new(-33.8, 151.2), 2000),
                )
                .await
                .unwrap();
            outputs.push(format!("{t:?}"));
            let f = maps
                .places()
                .find(
                    FindPlace::text("Museum of Contemporary Art Australia")
                        .fields(["name", "place_id"])
                        .location_bias("circle:2000@-33.86,151.20"),
                )
                .await
                .unwrap();
            assert!(!f.candidates.is_empty());
            outputs.push(format!("{f:?}"));
            let a = maps
                .places()
                .autocomplete(
                    Autocomplete::new("1600 Amphi")
                        .session_token(&session)
                        .component("country", "us"),
                )
                .await
                .unwrap();
            assert_eq!(a.predictions.len(), 1);
            outputs.push(format!("{a:?}"));
            let m = maps
                .routes()
                .distance_matrix(
                    GetDistanceMatrix::new(
                        ["Boston, MA", "Charlestown, MA"],
                        ["Lexington, MA", "Concord, MA"],
                    )
                    .mode(TravelMode::Driving)
                    .departure(Departure::At(at))
                    .traffic_model(TrafficModel::Pessimistic)
                    .units(Units::Imperial)
                    .avoid([Avoid::Tolls, Avoid::Highways]),
                )
                .await
                .unwrap();
            assert_eq!(m.rows.len(), 2);
            outputs.push(format!("{m:?}"));
            let dir = maps
                .routes()
                .directions(
                    GetDirections::new("Office", "Office")
                        .waypoints(["A", "B"])
                        .optimize_waypoints()
                        .departure(Departure::Now),
                )
                .await
                .unwrap();
            assert_eq!(dir.routes.len(), 1);
            assert_eq!(dir.routes[0].waypoint_order, vec![1, 0]);
            assert_eq!(
                m.rows[0].elements[0].distance.as_ref().map(|d| d.value),
                Some(33253)
            );
            outputs.push(format!("{dir:?}"));
            let tz = maps
                .time_zones()
                .get(GetTimeZone::new(LatLng::new(39.6034810, -119.6822510), at))
                .await
                .unwrap();
            assert_eq!(tz.time_zone_id.as_deref(), Some("America/Los_Angeles"));
            let by_address = maps
                .time_zones()
                .for_address("1600 Amphitheatre Parkway, Mountain View, CA", at)
                .await
                .unwrap();
            outputs.push(format!("{by_address:?}"));
            // Failures too: their Display and Debug must not carry the key.
            for bad in ["INVALID", "BUSY", "DAILY"] {
                let e = maps
                    .geocoding()
                    .forward(Geocode::address(bad))
                    .await
                    .unwrap_err();
                outputs.push(format!("{e} {e:?}"));
            }
            let e = maps
                .geocoding()
                .forward(Geocode::components())
                .await
                .unwrap_err();
            outputs.push(format!("{e} {e:?}"));
            let keys = cache_keys(&sb);
            assert!(!keys.is_empty(), "geocodes and details are cached");
            outputs.extend(keys);
            let record = connections
                .get(&"acme".into(), &super::CONNECTION.into())
                .await
                .unwrap();
            outputs.push(format!("{record:?}"));
            fake
        })
    });
    drop(guard);

    let seen = fake.seen();
    let by_path = |p: &str| {
        seen.iter()
            .filter(|s| s.path == p)
            .cloned()
            .collect::<Vec<_>>()
    };
    // The key reaches Google on every request, in the query, and the tenant's defaults apply
    // where a call set none.
    assert!(seen.len() >= 15, "{}", seen.len());
    for s in &seen {
        assert_eq!(s.param("key"), Some(key.as_str()), "{}", s.path);
    }
    let geocodes = by_path("/maps/api/geocode/json");
    let fwd = &geocodes[0];
    assert_eq!(fwd.param("address"), Some("Winnetka"));
    assert_eq!(fwd.param("components"), Some("country:US"));
    assert_eq!(
        fwd.param("bounds"),
        Some("34.172684,-118.604794|34.236144,-118.500938")
    );
    assert_eq!(fwd.param("language"), Some("fr"), "the call's own wins");
    assert_eq!(fwd.param("region"), Some("us"), "the tenant's default");
    let rev = &geocodes[1];
    assert_eq!(rev.param("latlng"), Some("40.714224,-73.961452"));
    assert_eq!(rev.param("result_type"), Some("street_address"));
    assert_eq!(rev.param("language"), Some("en"));
    assert_eq!(
        rev.param("region"),
        None,
        "reverse geocoding takes no region"
    );
    let det = &by_path("/maps/api/place/details/json")[0];
    assert_eq!(det.param("fields"), Some("name,geometry/location"));
    let auto = &by_path("/maps/api/place/autocomplete/json")[0];
    assert_eq!(det.param("sessiontoken"), auto.param("sessiontoken"));
    assert_eq!(auto.param("components"), Some("country:us"));
    let near = &by_path("/maps/api/place/nearbysearch/json");
    assert_eq!(near[0].param("location"), Some("-33.8670522,151.1957362"));
    assert_eq!(near[0].param("radius"), Some("1500"));
    assert_eq!(near[0].param("type"), Some("restaurant"));
    assert_eq!(near[1].param("rankby"), Some("distance"));
    assert_eq!(
        near[1].param("radius"),
        None,
        "Google refuses a radius with rankby=distance"
    );
    let find = &by_path("/maps/api/place/findplacefromtext/json")[0];
    assert_eq!(find.param("inputtype"), Some("textquery"));
    let dm = &by_path("/maps/api/distancematrix/json")[0];
    assert_eq!(dm.param("origins"), Some("Boston, MA|Charlestown, MA"));
    assert_eq!(dm.param("departure_time"), Some("1900000000"));
    assert_eq!(dm.param("traffic_model"), Some("pessimistic"));
    assert_eq!(dm.param("avoid"), Some("tolls|highways"));
    assert_eq!(dm.param("units"), Some("imperial"));
    let dir = &by_path("/maps/api/directions/json")[0];
    assert_eq!(dir.param("waypoints"), Some("optimize:true|A|B"));
    assert_eq!(dir.param("departure_time"), Some("now"));
    let tz = by_path("/maps/api/timezone/json");
    assert_eq!(tz[0].param("timestamp"), Some("1900000000"));
    assert_eq!(tz.len(), 2, "for_address looked the geocoded point up");
    assert!(
        seen.iter().all(|s| s.param("address") != Some("")),
        "the refused geocode sent nothing"
    );

    // The key is nowhere else.
    for out in &outputs {
        assert!(!out.contains(&key), "key in output: {out}");
    }
    logs.assert_absent(&key);
    let mut labels: HashMap<String, usize> = HashMap::new();
    for (k, _, _, _) in snapshotter.snapshot().into_vec() {
        let (_, k) = k.into_parts();
        for l in k.labels() {
            *labels
                .entry(format!("{}={}", l.key(), l.value()))
                .or_default() += 1;
        }
    }
    assert!(!labels.is_empty(), "metrics were recorded");
    for label in labels.keys() {
        assert!(!label.contains(&key), "key in a metric label: {label}");
    }
    assert!(logs.contents().contains("geocode"), "the run was logged");
}
