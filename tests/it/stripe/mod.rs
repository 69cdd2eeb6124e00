//! Stripe connector tests (see the modules below).
