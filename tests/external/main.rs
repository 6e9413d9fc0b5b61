//! The suite end to end against real servers that CI starts (Synapse, oidc-provider); each test says so and
//! passes when its server is not configured, except in CI, where it fails.
//!
//! A binary of its own (beside `tests/suite`): their timing is the servers' under test, so they must not
//! share the machine's cores with the mutation matrix. For the same reason they run one after the other.

#[path = "../support/mod.rs"]
mod support;

mod oidc_provider;
mod synapse;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Held by each test for its whole run: one real server under test at a time.
fn alone() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}
