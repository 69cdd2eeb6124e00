//! Typed RETS metadata (from GetMetadata in COMPACT format): the system, resources, classes,
//! tables (fields), lookups and their values, and object types. Each row keeps the standard
//! columns a client needs as fields and every other column in `extra`, so a server's own
//! columns are never lost.

use std::collections::BTreeMap;

use crate::rets::reply::ReplyStatus;

/// Metadata read from one or more COMPACT GetMetadata replies (see [`Metadata::merge`]);
/// STANDARD-XML metadata is not read (request `Format=COMPACT`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Metadata {
    /// The status of the reply it was read from (`None` for a bare `METADATA-*` document
    /// without a `<RETS>` envelope). A reply with a `ReplyCode` other than 0 (20503 "no
    /// metadata found") usually holds no rows: check it.
    pub status: Option<ReplyStatus>,
    /// `METADATA-SYSTEM`.
    pub system: Option<MetadataSystem>,
    /// `METADATA-RESOURCE` rows.
    pub resources: Vec<MetadataResource>,
    /// `METADATA-CLASS` rows.
    pub classes: Vec<MetadataClass>,
    /// `METADATA-TABLE` rows (one per field of a class).
    pub tables: Vec<MetadataTable>,
    /// `METADATA-LOOKUP` rows.
    pub lookups: Vec<MetadataLookup>,
    /// `METADATA-LOOKUP_TYPE` rows (one per value of a lookup).
    pub lookup_types: Vec<MetadataLookupType>,
    /// `METADATA-OBJECT` rows.
    pub objects: Vec<MetadataObject>,
}

/// `METADATA-SYSTEM`: the server's system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataSystem {
    /// `SystemID`.
    pub system_id: String,
    /// `SystemDescription`.
    pub description: Option<String>,
    /// The metadata `Version` (of `METADATA-SYSTEM`).
    pub version: Option<String>,
    /// The metadata `Date` (of `METADATA-SYSTEM`).
    pub date: Option<String>,
    /// `TimeZoneOffset` (RETS 1.7+).
    pub time_zone_offset: Option<String>,
    /// `COMMENTS`.
    pub comments: Option<String>,
    /// Every other attribute of `SYSTEM`.
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-RESOURCE` row: a resource (Property, Agent, Office, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataResource {
    /// `ResourceID`.
    pub resource_id: String,
    /// `StandardName`.
    pub standard_name: Option<String>,
    /// `VisibleName`.
    pub visible_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `KeyField`: the field that identifies a record.
    pub key_field: Option<String>,
    /// `ClassCount`.
    pub class_count: Option<u32>,
    /// Every other column (and a numeric column whose value is not a number, as sent).
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-CLASS` row: a class of a resource (what a Search names in `Class`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataClass {
    /// The resource (the block's `Resource` attribute).
    pub resource: String,
    /// `ClassName`.
    pub class_name: String,
    /// `StandardName`.
    pub standard_name: Option<String>,
    /// `VisibleName`.
    pub visible_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// Every other column.
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-TABLE` row: one field of a class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataTable {
    /// The resource (the block's `Resource` attribute).
    pub resource: String,
    /// The class (the block's `Class` attribute).
    pub class: String,
    /// `SystemName`: the name searches and rows use.
    pub system_name: String,
    /// `StandardName`.
    pub standard_name: Option<String>,
    /// `LongName`.
    pub long_name: Option<String>,
    /// `ShortName`.
    pub short_name: Option<String>,
    /// `DataType` (`Character`, `Int`, `Decimal`, `Date`, `DateTime`, `Boolean`, ...).
    pub data_type: Option<String>,
    /// `Interpretation` (`Lookup`, `LookupMulti`, `LookupBitstring`, `Number`, ...).
    pub interpretation: Option<String>,
    /// `LookupName`: the lookup that decodes this field's values.
    pub lookup_name: Option<String>,
    /// `MaximumLength`.
    pub max_length: Option<u32>,
    /// `Precision` (digits after the decimal point).
    pub precision: Option<u32>,
    /// Every other column (and a numeric column whose value is not a number, as sent).
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-LOOKUP` row: a lookup of a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataLookup {
    /// The resource (the block's `Resource` attribute).
    pub resource: String,
    /// `LookupName`.
    pub lookup_name: String,
    /// `VisibleName`.
    pub visible_name: Option<String>,
    /// Every other column.
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-LOOKUP_TYPE` row: one value of a lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataLookupType {
    /// The resource (the block's `Resource` attribute).
    pub resource: String,
    /// The lookup (the block's `Lookup` attribute).
    pub lookup: String,
    /// `Value`: what a row holds.
    pub value: String,
    /// `LongValue`: what the value means.
    pub long_value: Option<String>,
    /// `ShortValue`.
    pub short_value: Option<String>,
    /// Every other column.
    pub extra: BTreeMap<String, String>,
}

/// A `METADATA-OBJECT` row: an object type GetObject serves for a resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetadataObject {
    /// The resource (the block's `Resource` attribute).
    pub resource: String,
    /// `ObjectType` (`Photo`, `Thumbnail`, ...): what GetObject names in `Type`.
    pub object_type: String,
    /// `MIMEType`.
    pub mime_type: Option<String>,
    /// `VisibleName`.
    pub visible_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// Every other column.
    pub extra: BTreeMap<String, String>,
}

impl Metadata {
    /// Adds the rows of `other` (the reply to another GetMetadata request) to these; its
    /// system replaces this one's when it has one. The status stays this one's unless it has
    /// none.
    pub fn merge(&mut self, other: Metadata) {
        if self.status.is_none() {
            self.status = other.status;
        }
        if other.system.is_some() {
            self.system = other.system;
        }
        self.resources.extend(other.resources);
        self.classes.extend(other.classes);
        self.tables.extend(other.tables);
        self.lookups.extend(other.lookups);
        self.lookup_types.extend(other.lookup_types);
        self.objects.extend(other.objects);
    }

    /// The class `class` of resource `resource`.
    pub fn class(&self, resource: &str, class: &str) -> Option<&MetadataClass> {
        self.classes
            .iter()
            .find(|c| c.resource == resource && c.class_name == class)
    }

    /// The fields of class `class` of resource `resource`, in metadata order.
    pub fn table(&self, resource: &str, class: &str) -> impl Iterator<Item = &MetadataTable> {
        let (resource, class) = (resource.to_owned(), class.to_owned());
        self.tables
            .iter()
            .filter(move |t| t.resource == resource && t.class == class)
    }

    /// What `value` of lookup `lookup` of resource `resource` means: its `LongValue` (its
    /// `ShortValue` when the long one is empty), or `None` for a value the lookup does not
    /// list.
    ///
    /// This scans the lookup values; to decode many rows, collect one lookup's values into a
    /// map first.
    pub fn decode(&self, resource: &str, lookup: &str, value: &str) -> Option<&str> {
        let value = value.trim();
        self.lookup_types
            .iter()
            .find(|t| t.resource == resource && t.lookup == lookup && t.value == value)
            .and_then(|t| t.long_value.as_deref().or(t.short_value.as_deref()))
    }

    /// Decodes a multi-value lookup field (`LookupMulti`: values separated by commas), in
    /// order; blank pieces are skipped and a value the lookup does not list is kept as sent,
    /// so no value is lost.
    pub fn decode_multi<'a>(
        &'a self,
        resource: &str,
        lookup: &str,
        values: &'a str,
    ) -> Vec<&'a str> {
        values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| self.decode(resource, lookup, v).unwrap_or(v))
            .collect()
    }
}

/// The attributes of a `METADATA-*` block that its rows inherit.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockAttrs {
    pub(crate) resource: String,
    pub(crate) class: String,
    pub(crate) lookup: String,
}

/// A row being mapped: takes the standard columns out, leaves the rest for `extra`.
struct Row(BTreeMap<String, String>);

impl Row {
    /// The column named `name` (matched without regard to case: `MIMEType` and `MimeType`
    /// both occur), removed from the row.
    fn take(&mut self, name: &str) -> String {
        let key = self
            .0
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned();
        key.and_then(|k| self.0.remove(&k)).unwrap_or_default()
    }

    /// [`take`](Self::take), empty as `None`.
    fn opt(&mut self, name: &str) -> Option<String> {
        Some(self.take(name)).filter(|v| !v.is_empty())
    }

    /// A numeric column; a value that is not a number stays in the row (so in `extra`).
    fn number(&mut self, name: &str) -> Option<u32> {
        let key = self
            .0
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()?;
        let n = self.0.get(&key)?.trim().parse().ok()?;
        self.0.remove(&key);
        Some(n)
    }
}

/// Builds a row of `kind` (`RESOURCE`, `CLASS`, ...) from its columns and the block's
/// attributes, and adds it to `metadata`. Unknown kinds were skipped earlier.
pub(crate) fn add_row(
    metadata: &mut Metadata,
    kind: &str,
    attrs: &BlockAttrs,
    columns: BTreeMap<String, String>,
) {
    let mut row = Row(columns);
    match kind {
        "RESOURCE" => metadata.resources.push(MetadataResource {
            resource_id: row.take("ResourceID"),
            standard_name: row.opt("StandardName"),
            visible_name: row.opt("VisibleName"),
            description: row.opt("Description"),
            key_field: row.opt("KeyField"),
            class_count: row.number("ClassCount"),
            extra: row.0,
        }),
        "CLASS" => metadata.classes.push(MetadataClass {
            resource: attrs.resource.clone(),
            class_name: row.take("ClassName"),
            standard_name: row.opt("StandardName"),
            visible_name: row.opt("VisibleName"),
            description: row.opt("Description"),
            extra: row.0,
        }),
        "TABLE" => metadata.tables.push(MetadataTable {
            resource: attrs.resource.clone(),
            class: attrs.class.clone(),
            system_name: row.take("SystemName"),
            standard_name: row.opt("StandardName"),
            long_name: row.opt("LongName"),
            short_name: row.opt("ShortName"),
            data_type: row.opt("DataType"),
            interpretation: row.opt("Interpretation"),
            lookup_name: row.opt("LookupName"),
            max_length: row.number("MaximumLength"),
            precision: row.number("Precision"),
            extra: row.0,
        }),
        "LOOKUP" => metadata.lookups.push(MetadataLookup {
            resource: attrs.resource.clone(),
            lookup_name: row.take("LookupName"),
            visible_name: row.opt("VisibleName"),
            extra: row.0,
        }),
        "LOOKUP_TYPE" => metadata.lookup_types.push(MetadataLookupType {
            resource: attrs.resource.clone(),
            lookup: attrs.lookup.clone(),
            value: row.take("Value"),
            long_value: row.opt("LongValue"),
            short_value: row.opt("ShortValue"),
            extra: row.0,
        }),
        "OBJECT" => metadata.objects.push(MetadataObject {
            resource: attrs.resource.clone(),
            object_type: row.take("ObjectType"),
            mime_type: row.opt("MIMEType"),
            visible_name: row.opt("VisibleName"),
            description: row.opt("Description"),
            extra: row.0,
        }),
        _ => {}
    }
}

/// Builds the system from `SYSTEM`'s attributes, the block's `Version` and `Date`, and
/// `COMMENTS`.
pub(crate) fn system(
    attributes: Vec<(String, String)>,
    version: Option<String>,
    date: Option<String>,
    comments: Option<String>,
) -> MetadataSystem {
    let mut row = Row(attributes.into_iter().collect());
    MetadataSystem {
        system_id: row.take("SystemID"),
        description: row.opt("SystemDescription"),
        version: version.filter(|v| !v.is_empty()),
        date: date.filter(|v| !v.is_empty()),
        time_zone_offset: row.opt("TimeZoneOffset"),
        comments: comments.filter(|v| !v.trim().is_empty()),
        extra: row.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_type(value: &str, long: &str, short: &str) -> MetadataLookupType {
        MetadataLookupType {
            resource: "Property".into(),
            lookup: "Status".into(),
            value: value.into(),
            long_value: Some(long.to_owned()).filter(|s| !s.is_empty()),
            short_value: Some(short.to_owned()).filter(|s| !s.is_empty()),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn decodes_single_and_multi_lookup_values() {
        let mut m = Metadata::default();
        m.lookup_types.push(lookup_type("A", "Active", "Act"));
        m.lookup_types.push(lookup_type("P", "", "Pend"));
        assert_eq!(m.decode("Property", "Status", "A"), Some("Active"));
        assert_eq!(m.decode("Property", "Status", " A "), Some("Active"));
        assert_eq!(m.decode("Property", "Status", "P"), Some("Pend"));
        assert_eq!(m.decode("Property", "Status", "X"), None);
        assert_eq!(m.decode("Agent", "Status", "A"), None);
        assert_eq!(
            m.decode_multi("Property", "Status", "A, X,,P"),
            vec!["Active", "X", "Pend"]
        );
        assert!(m.decode_multi("Property", "Status", "").is_empty());
    }

    #[test]
    fn merge_adds_rows_and_keeps_the_first_status() {
        let mut a = Metadata {
            status: Some(ReplyStatus::new(crate::rets::ReplyCode(0), "first")),
            ..Metadata::default()
        };
        a.classes.push(MetadataClass {
            resource: "Property".into(),
            class_name: "RES".into(),
            ..MetadataClass::default()
        });
        let mut b = Metadata {
            status: Some(ReplyStatus::new(crate::rets::ReplyCode(0), "second")),
            system: Some(MetadataSystem::default()),
            ..Metadata::default()
        };
        b.tables.push(MetadataTable {
            resource: "Property".into(),
            class: "RES".into(),
            system_name: "LIST_PRICE".into(),
            ..MetadataTable::default()
        });
        a.merge(b);
        assert_eq!(a.status.as_ref().map(|s| s.text.as_str()), Some("first"));
        assert!(a.system.is_some());
        assert!(a.class("Property", "RES").is_some());
        assert!(a.class("Property", "CON").is_none());
        assert_eq!(a.table("Property", "RES").count(), 1);
        assert_eq!(a.table("Property", "CON").count(), 0);
    }

    #[test]
    fn a_column_that_is_not_a_number_stays_in_extra() {
        let mut m = Metadata::default();
        let cols = [
            ("SystemName", "X"),
            ("MaximumLength", "ten"),
            ("Precision", " 2 "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        add_row(&mut m, "TABLE", &BlockAttrs::default(), cols);
        let t = &m.tables[0];
        assert_eq!(t.max_length, None);
        assert_eq!(
            t.extra.get("MaximumLength").map(String::as_str),
            Some("ten")
        );
        assert_eq!(t.precision, Some(2));
        assert!(!t.extra.contains_key("Precision"));
    }
}
