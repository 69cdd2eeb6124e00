//! The DocuSign resources, one file each, reached from [`super::DocuSignClient`].
