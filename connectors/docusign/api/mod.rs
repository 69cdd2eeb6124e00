//! The DocuSign resources, one file each, reached from [`super::DocuSignClient`].

mod documents;

pub use documents::{DocumentStream, Documents};
