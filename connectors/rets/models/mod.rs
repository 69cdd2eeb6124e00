//! Typed models of what a RETS server describes: its metadata.

pub(crate) mod metadata;

pub use metadata::{
    Metadata, MetadataClass, MetadataLookup, MetadataLookupType, MetadataObject, MetadataResource,
    MetadataSystem, MetadataTable,
};
