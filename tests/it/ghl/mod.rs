//! GoHighLevel connector tests: the contract (every call through Prism serving GoHighLevel's
//! own specs with `--errors`), the template and `Connections` path, tokens across replicas,
//! webhooks, and sync, one file per concern.

mod contract;
mod contract_calendars;
