//! DocuSign connector tests: Connect webhooks (the shared signature vectors, key rotation,
//! hostile header counts, event ids, typed events, secrets).

mod connect;
