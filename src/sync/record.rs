//! What flows through a sync: records with a key, a version and an updated-at, the compound
//! cursor mark they sort by, and the classified changes a sink applies.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields of a record: a JSON object, compared field by field to name what changed.
pub type Fields = Map<String, Value>;

/// A record's version on the side it came from: larger is newer. Providers that stamp an
/// updated-at use [`Version::from_time`]; those with a revision number use [`Version::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// A revision number.
    pub const fn new(n: u64) -> Self {
        Version(n)
    }

    /// A version from an updated-at, in microseconds since the Unix epoch (times before the
    /// epoch are version 0).
    pub fn from_time(at: SystemTime) -> Self {
        Version(
            at.duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

/// A position in a source's change order: every record sorts by `(updated_at, key)`, so rows
/// sharing one timestamp across a page break are told apart by their key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mark {
    /// The updated-at of the last record at or before this position.
    pub at: SystemTime,
    /// Its key; the empty string sorts before every key, so `Mark::start_of(t)` includes every
    /// record stamped `t`.
    pub key: String,
}

impl Mark {
    /// The position of a record.
    pub fn new(at: SystemTime, key: impl Into<String>) -> Self {
        Mark {
            at,
            key: key.into(),
        }
    }

    /// The position before every record stamped `at` or later.
    pub fn start_of(at: SystemTime) -> Self {
        Mark {
            at,
            key: String::new(),
        }
    }

    /// This mark moved back by `overlap` (to the start of that instant), so records committed
    /// late with a timestamp inside the lookback are read again.
    #[must_use]
    pub fn back_by(&self, overlap: Duration) -> Self {
        if overlap.is_zero() {
            return self.clone();
        }
        Mark::start_of(self.at.checked_sub(overlap).unwrap_or(UNIX_EPOCH))
    }
}

impl PartialOrd for Mark {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Mark {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at
            .cmp(&other.at)
            .then_with(|| self.key.cmp(&other.key))
    }
}

/// One record as a side reports it: the current state of a key, or its deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// The key both sides know the record by (a listing key, a contact id).
    pub key: String,
    /// Its version on the side that reported it; `None` when that side keeps none (the
    /// content is compared instead).
    pub version: Option<Version>,
    /// When it last changed on that side; records without one are synced but do not move
    /// the cursor.
    pub updated_at: Option<SystemTime>,
    /// The record is gone on that side.
    pub deleted: bool,
    /// Its fields (empty for a deletion).
    pub fields: Fields,
}

impl SyncRecord {
    /// A live record.
    pub fn new(key: impl Into<String>, fields: Fields) -> Self {
        SyncRecord {
            key: key.into(),
            version: None,
            updated_at: None,
            deleted: false,
            fields,
        }
    }

    /// A deletion.
    pub fn deleted(key: impl Into<String>) -> Self {
        SyncRecord {
            key: key.into(),
            version: None,
            updated_at: None,
            deleted: true,
            fields: Fields::new(),
        }
    }

    /// Sets the version.
    #[must_use]
    pub fn version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the updated-at, and the version from it when none is set yet.
    #[must_use]
    pub fn updated_at(mut self, at: SystemTime) -> Self {
        self.updated_at = Some(at);
        if self.version.is_none() {
            self.version = Some(Version::from_time(at));
        }
        self
    }

    /// The record's position in the change order, if it has an updated-at.
    pub fn mark(&self) -> Option<Mark> {
        self.updated_at.map(|at| Mark::new(at, self.key.clone()))
    }
}

/// What a side holds for a key, as a sink's [`held`](super::SyncSink::held) reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The version it holds (for an inbound job, the source version the engine gave it).
    pub version: Option<Version>,
    /// The fields, or `None` for a tombstone: a deleted key whose version is kept so an older
    /// copy arriving late is recognised as stale instead of bringing the record back.
    pub fields: Option<Fields>,
}

impl Held {
    /// A live record.
    pub fn live(version: Option<Version>, fields: Fields) -> Self {
        Held {
            version,
            fields: Some(fields),
        }
    }

    /// A tombstone.
    pub fn tombstone(version: Option<Version>) -> Self {
        Held {
            version,
            fields: None,
        }
    }

    /// Whether the record is live.
    pub fn is_live(&self) -> bool {
        self.fields.is_some()
    }
}

/// How a record changed what the sink held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChangeKind {
    /// The sink held nothing live for the key.
    Created,
    /// The sink held an older version; `fields` names the top-level fields that differ
    /// (added, removed or changed), sorted.
    Updated {
        /// The changed field names.
        fields: Vec<String>,
    },
    /// The record was live in the sink and is gone at the source.
    Deleted,
    /// A deletion of a key the sink holds no live record of: no event, but the sink should
    /// keep the tombstone's version.
    Tombstone,
}

impl ChangeKind {
    /// Whether this change raises a change event (tombstones do not).
    pub fn is_event(&self) -> bool {
        !matches!(self, ChangeKind::Tombstone)
    }
}

/// A change of the job's watched field (a listing's status, a contact's stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// Its value before (`None` when the record was new or the field absent).
    pub from: Option<Value>,
    /// Its value after (`None` when the record was deleted or the field absent).
    pub to: Option<Value>,
}

/// One classified record, as the sink applies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The new state.
    pub record: SyncRecord,
    /// How it changes what the sink held.
    pub kind: ChangeKind,
    /// The watched field's change, when the job watches one and its value changed.
    pub watched: Option<FieldChange>,
}

/// The largest mark of a page, and its largest mark stamped before `until` (the one the cursor
/// may move to), compared by reference so only the two winners are built.
pub(crate) fn page_marks(
    records: &[SyncRecord],
    until: SystemTime,
) -> (Option<Mark>, Option<Mark>) {
    let mut max: Option<(SystemTime, &str)> = None;
    let mut saveable: Option<(SystemTime, &str)> = None;
    for r in records {
        let Some(at) = r.updated_at else { continue };
        // Orders as `Mark` does: time, then key.
        let m = (at, r.key.as_str());
        if max.is_none_or(|x| m > x) {
            max = Some(m);
        }
        if at < until && saveable.is_none_or(|x| m > x) {
            saveable = Some(m);
        }
    }
    let mark = |(at, key): (SystemTime, &str)| Mark::new(at, key);
    (max.map(mark), saveable.map(mark))
}

/// The names of the top-level fields that differ between two records, sorted.
pub(crate) fn changed_fields(before: &Fields, after: &Fields) -> Vec<String> {
    let mut names: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
        .collect();
    names.sort();
    names
}

/// Classifies `record` against what the sink held. `None` when the record changes nothing:
/// the sink already holds this version or a newer one (a replay, an overlap re-read, a webhook
/// racing a poll), or the same content when neither side keeps versions.
pub(crate) fn classify(record: SyncRecord, held: Option<&Held>, watch: Option<&str>) -> Classified {
    if let Some(h) = held {
        match (record.version, h.version) {
            (Some(new), Some(old)) if new < old => return Classified::Stale,
            (Some(new), Some(old)) if new == old => return Classified::Unchanged,
            (None, _) | (_, None) => {
                let same = match (&h.fields, record.deleted) {
                    (None, true) => true,
                    (Some(f), false) => *f == record.fields,
                    _ => false,
                };
                // A copy with no version that matches what the sink holds changes nothing;
                // applying it would only wipe the sink's version, and with it the check
                // that keeps an older copy arriving later from overwriting this one.
                if same && (record.version.is_none() || record.version == h.version) {
                    return Classified::Unchanged;
                }
            }
            _ => {}
        }
    }
    let before = held.and_then(|h| h.fields.as_ref());
    change_of(record, before, watch)
}

/// Classifies `record` against the fields the sink held (`None`: nothing live), with no
/// version check (the bidirectional runner checks versions against its links instead).
pub(crate) fn change_of(
    record: SyncRecord,
    before: Option<&Fields>,
    watch: Option<&str>,
) -> Classified {
    let kind = match (before, record.deleted) {
        (None, true) => ChangeKind::Tombstone,
        (Some(_), true) => ChangeKind::Deleted,
        (None, false) => ChangeKind::Created,
        (Some(b), false) => ChangeKind::Updated {
            fields: changed_fields(b, &record.fields),
        },
    };
    let watched = watch.and_then(|field| {
        let from = before.and_then(|b| b.get(field)).cloned();
        let to = (!record.deleted)
            .then(|| record.fields.get(field).cloned())
            .flatten();
        (from != to && kind.is_event()).then(|| FieldChange {
            field: field.to_string(),
            from,
            to,
        })
    });
    Classified::Apply(Change {
        record,
        kind,
        watched,
    })
}

/// The outcome of [`classify`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Classified {
    /// Apply this change.
    Apply(Change),
    /// The sink holds this exact version (or content) already.
    Unchanged,
    /// The sink holds a newer version.
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn marks_sort_by_time_then_key_and_back_by_reaches_the_start_of_an_instant() {
        let t = UNIX_EPOCH + Duration::from_secs(100);
        assert!(Mark::new(t, "b") > Mark::new(t, "a"));
        assert!(Mark::new(t + Duration::from_secs(1), "a") > Mark::new(t, "z"));
        assert!(Mark::start_of(t) < Mark::new(t, "0"));
        let back = Mark::new(t, "k").back_by(Duration::from_secs(10));
        assert_eq!(back, Mark::start_of(t - Duration::from_secs(10)));
        assert_eq!(Mark::new(t, "k").back_by(Duration::ZERO), Mark::new(t, "k"));
    }

    #[test]
    fn page_marks_are_the_largest_mark_and_the_largest_before_until() {
        let t = UNIX_EPOCH + Duration::from_secs(100);
        let later = t + Duration::from_secs(5);
        let records = vec![
            SyncRecord::new("b", Fields::new()).updated_at(t),
            SyncRecord::new("a", Fields::new()).updated_at(t),
            SyncRecord::new("z", Fields::new()),
            SyncRecord::new("c", Fields::new()).updated_at(later),
        ];
        let (max, saveable) = page_marks(&records, later);
        assert_eq!(max, Some(Mark::new(later, "c")));
        assert_eq!(saveable, Some(Mark::new(t, "b")));
        assert_eq!(max, records.iter().filter_map(SyncRecord::mark).max());
        assert_eq!(page_marks(&records[2..3], later), (None, None));
    }

    #[test]
    fn classify_names_changed_fields_and_the_watched_field() {
        let held = Held::live(
            Some(Version(1)),
            fields(json!({"status": "active", "price": 1, "gone": true})),
        );
        let rec = SyncRecord::new(
            "k",
            fields(json!({"status": "pending", "price": 1, "new": 2})),
        )
        .version(Version(2));
        let Classified::Apply(c) = classify(rec.clone(), Some(&held), Some("status")) else {
            panic!("expected a change")
        };
        assert_eq!(
            c.kind,
            ChangeKind::Updated {
                fields: vec!["gone".into(), "new".into(), "status".into()]
            }
        );
        let w = c.watched.unwrap();
        assert_eq!(
            (w.from, w.to),
            (Some(json!("active")), Some(json!("pending")))
        );
    }

    #[test]
    fn classify_drops_replays_and_stale_versions_and_keeps_tombstones() {
        let held = Held::live(Some(Version(2)), Fields::new());
        let old = SyncRecord::new("k", Fields::new()).version(Version(1));
        assert_eq!(classify(old.clone(), Some(&held), None), Classified::Stale);
        let same = SyncRecord::new("k", Fields::new()).version(Version(2));
        assert_eq!(
            classify(same.clone(), Some(&held), None),
            Classified::Unchanged
        );
        let tomb = Held::tombstone(Some(Version(3)));
        let revived = SyncRecord::new("k", Fields::new()).version(Version(2));
        assert_eq!(
            classify(revived.clone(), Some(&tomb), None),
            Classified::Stale
        );
        let del = SyncRecord::deleted("x").version(Version(1));
        let Classified::Apply(c) = classify(del.clone(), None, Some("status")) else {
            panic!()
        };
        assert_eq!(c.kind, ChangeKind::Tombstone);
        assert!(c.watched.is_none());
    }

    #[test]
    fn records_without_versions_compare_by_content() {
        let held = Held::live(None, fields(json!({"a": 1})));
        let same = SyncRecord::new("k", fields(json!({"a": 1})));
        assert_eq!(
            classify(same.clone(), Some(&held), None),
            Classified::Unchanged
        );
        let other = SyncRecord::new("k", fields(json!({"a": 2})));
        assert!(matches!(
            classify(other.clone(), Some(&held), None),
            Classified::Apply(_)
        ));
    }

    #[test]
    fn a_versionless_copy_of_what_the_sink_holds_keeps_the_sinks_version() {
        // A versionless deletion of a key already deleted: nothing to do, and the tombstone
        // keeps its version so an older live copy stays stale.
        let tomb = Held::tombstone(Some(Version(5)));
        assert_eq!(
            classify(SyncRecord::deleted("k"), Some(&tomb), None),
            Classified::Unchanged
        );
        let older = SyncRecord::new("k", fields(json!({"a": 1}))).version(Version(4));
        assert_eq!(classify(older, Some(&tomb), None), Classified::Stale);

        // The same for a live record: the same content without a version is no update.
        let held = Held::live(Some(Version(5)), fields(json!({"a": 1})));
        let copy = SyncRecord::new("k", fields(json!({"a": 1})));
        assert_eq!(
            classify(copy, Some(&held), Some("a")),
            Classified::Unchanged
        );

        // Other content without a version is still applied, and a deletion still deletes.
        let other = SyncRecord::new("k", fields(json!({"a": 2})));
        let Classified::Apply(c) = classify(other, Some(&held), None) else {
            panic!("expected an update")
        };
        assert_eq!(
            c.kind,
            ChangeKind::Updated {
                fields: vec!["a".into()]
            }
        );
        let Classified::Apply(c) = classify(SyncRecord::deleted("k"), Some(&held), Some("a"))
        else {
            panic!("expected a deletion")
        };
        assert_eq!(c.kind, ChangeKind::Deleted);
        assert_eq!(
            c.watched.map(|w| (w.from, w.to)),
            Some((Some(json!(1)), None))
        );

        // A versioned copy of versionless content is applied, so the sink learns the version.
        let unversioned = Held::live(None, fields(json!({"a": 1})));
        let stamped = SyncRecord::new("k", fields(json!({"a": 1}))).version(Version(6));
        assert!(matches!(
            classify(stamped, Some(&unversioned), None),
            Classified::Apply(Change {
                kind: ChangeKind::Updated { .. },
                ..
            })
        ));
        // A versioned deletion of a versionless tombstone is kept silently.
        let Classified::Apply(c) = classify(
            SyncRecord::deleted("k").version(Version(6)),
            Some(&Held::tombstone(None)),
            None,
        ) else {
            panic!("expected the tombstone's version to be kept")
        };
        assert_eq!(c.kind, ChangeKind::Tombstone);
        assert!(!c.kind.is_event());
    }
}
