//! The contract every [`SyncStore`] keeps, written once against the trait: the in-memory, SQLite
//! and PostgreSQL stores run it, and so can a host's own store.
//!
//! ```no_run
//! # async fn demo() {
//! use switchboard::sync::InMemorySyncStore;
//! use switchboard::test_util::sync_store::sync_store_contract;
//!
//! sync_store_contract(&InMemorySyncStore::new()).await;
//! # }
//! ```
//!
//! [`sync_store_contract`] runs every check on one store; each check is also public, so a test
//! suite can give each its own store and its own test name. The checks use job keys whose
//! tenants start with `contract-` and never share a key, so they can run on one store, in any
//! order, once per store.
//!
//! | check | what must hold |
//! | --- | --- |
//! | [`fences_grow_and_begin_returns_the_saved_cursor`] | each `begin` takes a larger fence and returns what the last `save` stored; a job never saved has no cursor; a mark comes back at most a microsecond early and never later |
//! | [`a_stale_fence_writes_nothing`] | once a newer runner has begun, a `save` or `park` with the old fence is `ErrorKind::Conflict` and writes nothing, links included |
//! | [`concurrent_steps_are_atomic`] | concurrent `begin`s take distinct fences and leave one run running; a `save` racing a `begin` either lands before it (the begin returns that cursor) or is fenced out |
//! | [`running_runs_are_interrupted_by_the_next_begin`] | `begin` marks the job's running runs interrupted; `finish` replaces a run by id, or adds it as the newest |
//! | [`the_run_log_is_newest_first_and_capped`] | `runs` lists the newest first, at most `limit`, and the store keeps [`RUN_LOG_KEEP`] per job |
//! | [`links_round_trip_every_version`] | links come back exactly, with `None` versions and every `u64` up to `u64::MAX`; a later link for a key replaces the earlier one |
//! | [`conflicts_are_replaced_listed_oldest_first_and_taken`] | one conflict per key, oldest first (a replaced one becomes the newest), records exact; `take_conflict` removes it |
//! | [`tenants_sharing_a_connection_share_nothing`] | two tenants with one connection id and job name never see each other's cursor, links, runs or conflicts, and one's `begin` never fences out the other |
//!
//! Stores may keep times to the microsecond (rounded toward the past), so the checks build run
//! and conflict times in whole microseconds and hold marks to "never later, at most a
//! microsecond earlier".

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use serde_json::json;

use crate::error::ErrorKind;
use crate::sync::store::RUN_LOG_KEEP;
use crate::sync::{
    Conflict, Fence, Fields, JobKey, Link, Mark, RunCounts, RunLog, RunStatus, SyncCursor,
    SyncRecord, SyncStore, Trigger, Version,
};

/// Runs every check of the contract on `store`.
///
/// # Panics
/// When `store` breaks the contract (the message names the check and what differed), or
/// fails a call.
pub async fn sync_store_contract(store: &dyn SyncStore) {
    fences_grow_and_begin_returns_the_saved_cursor(store).await;
    a_stale_fence_writes_nothing(store).await;
    concurrent_steps_are_atomic(store).await;
    running_runs_are_interrupted_by_the_next_begin(store).await;
    the_run_log_is_newest_first_and_capped(store).await;
    links_round_trip_every_version(store).await;
    conflicts_are_replaced_listed_oldest_first_and_taken(store).await;
    tenants_sharing_a_connection_share_nothing(store).await;
}

/// A time `us` microseconds after an instant in 2023.
fn at(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_000 + us)
}

fn job(name: &str) -> JobKey {
    JobKey::new("contract-tenant", "contract-connection", name)
}

fn run(id: &str, trigger: Trigger, started_us: u64) -> RunLog {
    RunLog {
        id: id.to_string(),
        trigger,
        started_at: at(started_us),
        finished_at: None,
        status: RunStatus::Running,
        counts: RunCounts::default(),
        error: None,
    }
}

fn link(source: Option<u64>, sink: Option<u64>) -> Link {
    Link {
        source: source.map(Version),
        sink: sink.map(Version),
    }
}

fn fields(v: serde_json::Value) -> Fields {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("fields must be a JSON object, got {other}"),
    }
}

/// A conflict whose records hold what a provider may send: nested JSON, a NUL character,
/// text outside ASCII, the largest version, a nanosecond updated-at, a deletion.
fn conflict(key: &str, n: u64) -> Conflict {
    Conflict {
        key: key.to_string(),
        source: SyncRecord::new(
            key,
            fields(json!({
                "n": n,
                "name": "Zoë \u{0000} 'quoted' \"double\"",
                "nested": {"list": [1, 2.5, null, true], "empty": {}},
                "big": u64::MAX,
            })),
        )
        .version(Version(u64::MAX - n))
        .updated_at(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789 + n)),
        sink: SyncRecord::deleted(key).version(Version(n)),
        detected_at: at(n),
    }
}

fn ids(runs: &[RunLog]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

/// Each `begin` takes a larger fence and returns the cursor the last `save` stored; a job
/// never saved has no cursor (`begin` alone saves none); every part of a cursor round-trips
/// (both sides, an empty key, a side set back to none), and a sub-microsecond mark comes back
/// never later and at most a microsecond earlier.
///
/// # Panics
/// When the store breaks this.
pub async fn fences_grow_and_begin_returns_the_saved_cursor(store: &dyn SyncStore) {
    let job = job("fences-and-cursor");
    assert_eq!(store.cursor(&job).await.unwrap(), None, "a job never run");
    let first = store
        .begin(&job, &run("r1", Trigger::Manual, 1))
        .await
        .unwrap();
    assert_eq!(first.cursor, SyncCursor::default(), "a first begin");
    assert_eq!(
        store.cursor(&job).await.unwrap(),
        None,
        "begin alone saves no cursor"
    );

    let saved = SyncCursor {
        source: Some(Mark::new(at(10), "k-10")),
        sink: None,
    };
    store.save(&job, first.fence, &saved, &[]).await.unwrap();
    assert_eq!(store.cursor(&job).await.unwrap(), Some(saved.clone()));
    let second = store
        .begin(&job, &run("r2", Trigger::Manual, 2))
        .await
        .unwrap();
    assert!(
        second.fence > first.fence,
        "fences grow: {:?} then {:?}",
        first.fence,
        second.fence
    );
    assert_eq!(second.cursor, saved, "begin returns the saved cursor");

    let both = SyncCursor {
        source: Some(Mark::start_of(at(20))),
        sink: Some(Mark::new(at(30), "ключ 'quoted' %_\\")),
    };
    store.save(&job, second.fence, &both, &[]).await.unwrap();
    assert_eq!(store.cursor(&job).await.unwrap(), Some(both.clone()));
    let emptied = SyncCursor {
        source: both.source.clone(),
        sink: None,
    };
    store.save(&job, second.fence, &emptied, &[]).await.unwrap();
    assert_eq!(store.cursor(&job).await.unwrap(), Some(emptied));
    store
        .save(&job, second.fence, &SyncCursor::default(), &[])
        .await
        .unwrap();
    assert_eq!(
        store.cursor(&job).await.unwrap(),
        Some(SyncCursor::default()),
        "a saved empty cursor is still saved"
    );

    let fine = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    let precise = SyncCursor {
        source: Some(Mark::new(fine, "k")),
        sink: None,
    };
    store.save(&job, second.fence, &precise, &[]).await.unwrap();
    let third = store
        .begin(&job, &run("r3", Trigger::Manual, 3))
        .await
        .unwrap();
    assert!(third.fence > second.fence);
    let got = third.cursor.source.expect("the saved source mark");
    assert_eq!(got.key, "k");
    assert!(got.at <= fine, "a mark never comes back later than saved");
    assert!(
        fine.duration_since(got.at).unwrap_or_default() < Duration::from_micros(1),
        "a mark comes back at most a microsecond early"
    );
}

/// Once a newer runner has begun the job, a `save` or `park` carrying the old fence (or a
/// fence never issued) is [`ErrorKind::Conflict`] and writes nothing: the cursor, the links
/// and the conflicts stay as they were. The newer runner's writes still land.
///
/// # Panics
/// When the store breaks this.
pub async fn a_stale_fence_writes_nothing(store: &dyn SyncStore) {
    let job = job("stale-fence");
    let old = store
        .begin(&job, &run("r1", Trigger::Schedule, 1))
        .await
        .unwrap();
    let kept = SyncCursor {
        source: Some(Mark::new(at(1), "a")),
        sink: None,
    };
    store
        .save(
            &job,
            old.fence,
            &kept,
            &[("a".into(), link(Some(1), Some(1)))],
        )
        .await
        .unwrap();
    let new = store
        .begin(&job, &run("r2", Trigger::Schedule, 2))
        .await
        .unwrap();

    let moved = SyncCursor {
        source: Some(Mark::new(at(2), "b")),
        sink: Some(Mark::new(at(2), "b")),
    };
    let stale_links = [
        ("a".to_string(), link(Some(2), Some(2))),
        ("b".to_string(), link(Some(1), None)),
    ];
    for fence in [old.fence, Fence(new.fence.0 + 1), Fence(u64::MAX)] {
        let err = store
            .save(&job, fence, &moved, &stale_links)
            .await
            .expect_err("a save with a stale fence");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{fence:?}: {err}");
        let err = store
            .park(&job, fence, &conflict("k", 1))
            .await
            .expect_err("a park with a stale fence");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{fence:?}: {err}");
    }
    assert_eq!(store.cursor(&job).await.unwrap(), Some(kept.clone()));
    let links = store.links(&job, &["a".into(), "b".into()]).await.unwrap();
    assert_eq!(
        links,
        HashMap::from([("a".to_string(), link(Some(1), Some(1)))]),
        "a fenced-out save writes no link"
    );
    assert!(store.conflicts(&job).await.unwrap().is_empty());

    store
        .save(&job, new.fence, &moved, &stale_links)
        .await
        .unwrap();
    store
        .park(&job, new.fence, &conflict("k", 1))
        .await
        .unwrap();
    assert_eq!(store.cursor(&job).await.unwrap(), Some(moved));
    assert_eq!(
        store.links(&job, &["a".into()]).await.unwrap()["a"],
        link(Some(2), Some(2))
    );
    assert_eq!(store.conflicts(&job).await.unwrap().len(), 1);
}

/// Concurrent `begin`s of one job take distinct fences and leave exactly one run running (the
/// newest); a `save` racing a `begin` either lands first (the begin returns its cursor) or is
/// fenced out (the begin returns the cursor before it).
///
/// # Panics
/// When the store breaks this.
pub async fn concurrent_steps_are_atomic(store: &dyn SyncStore) {
    let job = job("concurrent");
    let runs: Vec<RunLog> = (0..8)
        .map(|i| run(&format!("c{i}"), Trigger::Schedule, i))
        .collect();
    let begun = join_all(runs.iter().map(|r| store.begin(&job, r))).await;
    let fences: BTreeSet<Fence> = begun.into_iter().map(|b| b.unwrap().fence).collect();
    assert_eq!(fences.len(), runs.len(), "distinct fences: {fences:?}");
    let log = store.runs(&job, 100).await.unwrap();
    assert_eq!(log.len(), runs.len());
    assert_eq!(log[0].status, RunStatus::Running, "the newest runs on");
    assert!(
        log[1..].iter().all(|r| r.status == RunStatus::Interrupted),
        "every other run is interrupted: {log:?}"
    );

    let mut fence = store
        .begin(&job, &run("race-0", Trigger::Manual, 100))
        .await
        .unwrap()
        .fence;
    let mut before = store.cursor(&job).await.unwrap().unwrap_or_default();
    for round in 1..=10u64 {
        let cursor = SyncCursor {
            source: Some(Mark::new(at(round), format!("race-{round}"))),
            sink: None,
        };
        let next = run(&format!("race-{round}"), Trigger::Manual, 100 + round);
        let (saved, begun) = tokio::join!(
            store.save(&job, fence, &cursor, &[]),
            store.begin(&job, &next)
        );
        let begun = begun.unwrap();
        match saved {
            Ok(()) => assert_eq!(begun.cursor, cursor, "round {round}: the save came first"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Conflict, "round {round}: {e}");
                assert_eq!(
                    begun.cursor, before,
                    "round {round}: the save wrote nothing"
                );
            }
        }
        before = begun.cursor;
        fence = begun.fence;
    }
}

/// `begin` marks the job's running runs interrupted (a process that died mid-run is never
/// reported as done) and leaves ended ones alone; `finish` replaces a run by id, in place, and
/// adds a run the log never saw as the newest. Every field round-trips.
///
/// # Panics
/// When the store breaks this.
pub async fn running_runs_are_interrupted_by_the_next_begin(store: &dyn SyncStore) {
    let job = job("interrupted");
    let r1 = run("r1", Trigger::Schedule, 1);
    let r2 = run("r2", Trigger::Manual, 2);
    store.begin(&job, &r1).await.unwrap();
    store.begin(&job, &r2).await.unwrap();
    let interrupted = |r: &RunLog| RunLog {
        status: RunStatus::Interrupted,
        ..r.clone()
    };
    assert_eq!(
        store.runs(&job, 10).await.unwrap(),
        vec![r2.clone(), interrupted(&r1)]
    );

    let r2_done = RunLog {
        finished_at: Some(at(3)),
        status: RunStatus::Succeeded,
        counts: RunCounts {
            fetched: 1,
            pages: 2,
            created: 3,
            updated: 4,
            deleted: 5,
            watched_changed: 6,
            unchanged: 7,
            stale: 8,
            written: 9,
            conflicts: 10,
            purge_held: u64::MAX,
        },
        ..r2.clone()
    };
    store.finish(&job, &r2_done).await.unwrap();
    let r3 = run("r3", Trigger::Webhook, 4);
    store.begin(&job, &r3).await.unwrap();
    assert_eq!(
        store.runs(&job, 10).await.unwrap(),
        vec![r3.clone(), r2_done.clone(), interrupted(&r1)],
        "an ended run stays as it ended"
    );

    // The runner of r1 lost its job and records that; finish is not fenced.
    let r1_end = RunLog {
        finished_at: Some(at(5)),
        status: RunStatus::Interrupted,
        error: Some("taken over by a newer run: 'r2' \u{2014} ok".into()),
        ..r1.clone()
    };
    store.finish(&job, &r1_end).await.unwrap();
    let unseen = RunLog {
        finished_at: Some(at(7)),
        status: RunStatus::Failed,
        error: Some("boom".into()),
        ..run("r-unseen", Trigger::Manual, 6)
    };
    store.finish(&job, &unseen).await.unwrap();
    assert_eq!(
        store.runs(&job, 10).await.unwrap(),
        vec![unseen, r3, r2_done, r1_end],
        "finish replaces by id in place and adds an unseen run as the newest"
    );
}

/// `runs` lists the newest first and at most `limit`; the store keeps the newest
/// [`RUN_LOG_KEEP`] runs of a job.
///
/// # Panics
/// When the store breaks this.
pub async fn the_run_log_is_newest_first_and_capped(store: &dyn SyncStore) {
    let job = job("run-log");
    let extra = 5;
    let total = RUN_LOG_KEEP + extra;
    for i in 0..total {
        let id = format!("run-{i:04}");
        store
            .begin(
                &job,
                &run(&id, Trigger::Schedule, u64::try_from(i).unwrap_or(0)),
            )
            .await
            .unwrap();
    }
    let all = store.runs(&job, usize::MAX).await.unwrap();
    let want: Vec<String> = (extra..total)
        .rev()
        .map(|i| format!("run-{i:04}"))
        .collect();
    assert_eq!(ids(&all), want, "newest first, the oldest trimmed");
    assert_eq!(all[0].status, RunStatus::Running);
    assert!(all[1..].iter().all(|r| r.status == RunStatus::Interrupted));
    let three = store.runs(&job, 3).await.unwrap();
    assert_eq!(ids(&three), &want[..3]);
    assert!(store.runs(&job, 0).await.unwrap().is_empty());
}

/// Links come back exactly as saved: `None` versions, zero, `i64::MAX` and every `u64` above
/// it; keys never synced are absent; a later link for a key replaces the earlier one (within
/// one batch too: the later wins); a thousand keys go in one save and come back in one read.
///
/// # Panics
/// When the store breaks this.
pub async fn links_round_trip_every_version(store: &dyn SyncStore) {
    let job = job("links");
    let b = store
        .begin(&job, &run("r1", Trigger::Manual, 1))
        .await
        .unwrap();
    let i64_max = u64::MAX >> 1;
    let saved: Vec<(String, Link)> = vec![
        ("plain".into(), link(Some(1), Some(2))),
        ("no-source".into(), link(None, Some(3))),
        ("none".into(), link(None, None)),
        ("zero".into(), link(Some(0), None)),
        ("i64-max".into(), link(Some(i64_max), Some(i64_max))),
        ("above-i64".into(), link(Some(i64_max + 1), Some(u64::MAX))),
        ("ключ 'quoted' %_\\".into(), link(Some(7), Some(8))),
    ];
    store
        .save(&job, b.fence, &SyncCursor::default(), &saved)
        .await
        .unwrap();
    let mut asked: Vec<String> = saved.iter().map(|(k, _)| k.clone()).collect();
    asked.push("never-synced".into());
    asked.push("plain".into());
    let got = store.links(&job, &asked).await.unwrap();
    let want: HashMap<String, Link> = saved.iter().cloned().collect();
    assert_eq!(got, want);
    assert!(store.links(&job, &[]).await.unwrap().is_empty());

    store
        .save(
            &job,
            b.fence,
            &SyncCursor::default(),
            &[
                ("plain".into(), link(Some(9), None)),
                ("twice".into(), link(Some(1), Some(1))),
                ("twice".into(), link(Some(2), Some(2))),
            ],
        )
        .await
        .unwrap();
    let got = store
        .links(&job, &["plain".into(), "no-source".into(), "twice".into()])
        .await
        .unwrap();
    assert_eq!(got["plain"], link(Some(9), None), "a later link replaces");
    assert_eq!(got["no-source"], link(None, Some(3)), "others stay");
    assert_eq!(
        got["twice"],
        link(Some(2), Some(2)),
        "the later of a batch wins"
    );

    let many: Vec<(String, Link)> = (0..1000u64)
        .map(|i| (format!("many-{i:04}"), link(Some(i), Some(u64::MAX - i))))
        .collect();
    store
        .save(&job, b.fence, &SyncCursor::default(), &many)
        .await
        .unwrap();
    let keys: Vec<String> = many.iter().map(|(k, _)| k.clone()).collect();
    let got = store.links(&job, &keys).await.unwrap();
    assert_eq!(got, many.into_iter().collect::<HashMap<_, _>>());

    let sibling = JobKey::new(job.tenant.clone(), job.connection.clone(), "links-sibling");
    assert!(
        store.links(&sibling, &asked).await.unwrap().is_empty(),
        "another job of the connection has its own links"
    );
}

/// One conflict per key, listed oldest first; parking a key again replaces its conflict and
/// makes it the newest; records come back exactly; `take_conflict` removes and returns it
/// (then none).
///
/// # Panics
/// When the store breaks this.
pub async fn conflicts_are_replaced_listed_oldest_first_and_taken(store: &dyn SyncStore) {
    let job = job("conflicts");
    let b = store
        .begin(&job, &run("r1", Trigger::Manual, 1))
        .await
        .unwrap();
    assert!(store.conflicts(&job).await.unwrap().is_empty());
    let (k1, k2, k3) = (conflict("k1", 1), conflict("k2", 2), conflict("k3", 3));
    for c in [&k1, &k2, &k3] {
        store.park(&job, b.fence, c).await.unwrap();
    }
    assert_eq!(
        store.conflicts(&job).await.unwrap(),
        vec![k1.clone(), k2.clone(), k3.clone()]
    );
    let k1_again = conflict("k1", 4);
    store.park(&job, b.fence, &k1_again).await.unwrap();
    assert_eq!(
        store.conflicts(&job).await.unwrap(),
        vec![k2.clone(), k3.clone(), k1_again.clone()],
        "a replaced conflict is the newest"
    );
    assert_eq!(store.take_conflict(&job, "k2").await.unwrap(), Some(k2));
    assert_eq!(store.take_conflict(&job, "k2").await.unwrap(), None);
    assert_eq!(store.take_conflict(&job, "never").await.unwrap(), None);
    assert_eq!(
        store.conflicts(&job).await.unwrap(),
        vec![k3, k1_again],
        "take removes only its key"
    );
}

/// Two tenants sharing a connection id and a job name never see each other's cursor, links,
/// runs or conflicts; one tenant's `begin` neither fences out nor interrupts the other's run.
/// Keys whose parts only differ in where a `/` falls are different jobs too.
///
/// # Panics
/// When the store breaks this.
pub async fn tenants_sharing_a_connection_share_nothing(store: &dyn SyncStore) {
    let a = JobKey::new("contract-tenant-a", "shared", "contacts");
    let b = JobKey::new("contract-tenant-b", "shared", "contacts");
    let ra = run("a1", Trigger::Schedule, 1);
    let rb = run("b1", Trigger::Schedule, 2);
    let fa = store.begin(&a, &ra).await.unwrap().fence;
    let fb = store.begin(&b, &rb).await.unwrap().fence;
    let ca = SyncCursor {
        source: Some(Mark::new(at(1), "a's")),
        sink: None,
    };
    store
        .save(&a, fa, &ca, &[("k".into(), link(Some(1), Some(1)))])
        .await
        .unwrap();
    store.park(&a, fa, &conflict("k", 1)).await.unwrap();

    assert_eq!(store.cursor(&b).await.unwrap(), None, "b never saved");
    assert!(store.links(&b, &["k".into()]).await.unwrap().is_empty());
    assert!(store.conflicts(&b).await.unwrap().is_empty());
    assert_eq!(store.take_conflict(&b, "k").await.unwrap(), None);
    assert_eq!(
        store.conflicts(&a).await.unwrap().len(),
        1,
        "b took nothing"
    );
    assert_eq!(ids(&store.runs(&b, 10).await.unwrap()), ["b1"]);

    // b begins twice more: a's runner keeps its fence and its run keeps running.
    store
        .begin(&b, &run("b2", Trigger::Manual, 3))
        .await
        .unwrap();
    let fb = {
        let again = store
            .begin(&b, &run("b3", Trigger::Manual, 4))
            .await
            .unwrap();
        assert!(again.fence > fb);
        again.fence
    };
    let ca2 = SyncCursor {
        source: Some(Mark::new(at(2), "a's")),
        sink: None,
    };
    store.save(&a, fa, &ca2, &[]).await.unwrap();
    assert_eq!(store.runs(&a, 10).await.unwrap(), vec![ra]);

    let cb = SyncCursor {
        source: Some(Mark::new(at(9), "b's")),
        sink: None,
    };
    store
        .save(&b, fb, &cb, &[("k".into(), link(Some(2), None))])
        .await
        .unwrap();
    assert_eq!(store.cursor(&a).await.unwrap(), Some(ca2));
    assert_eq!(store.cursor(&b).await.unwrap(), Some(cb));
    assert_eq!(
        store.links(&a, &["k".into()]).await.unwrap()["k"],
        link(Some(1), Some(1))
    );
    assert_eq!(
        store.links(&b, &["k".into()]).await.unwrap()["k"],
        link(Some(2), None)
    );

    // "contract-x/y", "z" and "contract-x", "y/z" print alike; they are two jobs.
    let c = JobKey::new("contract-x/y", "z", "w");
    let d = JobKey::new("contract-x", "y/z", "w");
    let fc = store
        .begin(&c, &run("c1", Trigger::Manual, 1))
        .await
        .unwrap()
        .fence;
    store
        .save(&c, fc, &ca, &[("k".into(), link(Some(5), None))])
        .await
        .unwrap();
    assert_eq!(store.cursor(&d).await.unwrap(), None);
    assert!(store.links(&d, &["k".into()]).await.unwrap().is_empty());
    assert!(store.runs(&d, 10).await.unwrap().is_empty());
}
