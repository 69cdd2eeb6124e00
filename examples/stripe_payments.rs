//! PLACEHOLDER: replaced by the connector work of issue 6.

fn main() {}
