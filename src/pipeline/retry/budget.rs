//! Retry budgets per (tenant, connection, host), so an outage cannot turn into a retry storm.
//! The arithmetic is tower's `TpsBudget`; this file only keeps one per key.

use std::sync::Arc;

use tower::retry::budget::{Budget as _, TpsBudget};

/// One tenant's connection-and-host retry budget.
pub(crate) type Budget = TpsBudget;

use super::policy::RetryConfig;
use crate::pipeline::registry::{ConnectionKey, Registry};

#[derive(Debug)]
pub(crate) struct Budgets {
    config: RetryConfig,
    by_key: Registry<TpsBudget>,
}

impl Budgets {
    pub(crate) fn new(config: RetryConfig) -> Self {
        Budgets {
            config,
            by_key: Registry::default(),
        }
    }

    /// The budget of one tenant's connection to one host, created on first use.
    pub(crate) fn get(&self, key: &ConnectionKey) -> Arc<TpsBudget> {
        self.by_key.get_or_insert_with(key, || {
            TpsBudget::new(
                self.config.budget_ttl,
                self.config.budget_min_per_sec,
                self.config.budget_percent,
            )
        })
    }
}

/// Records one logical call.
pub(crate) fn deposit(b: &TpsBudget) {
    b.deposit();
}

/// Takes one retry from the budget; `false` when it is spent.
pub(crate) fn withdraw(b: &TpsBudget) -> bool {
    b.withdraw()
}
