//! GoHighLevel connector tests.

mod events;
