//! The integration tests that need nothing but this checkout: the binary's edges, the case loader, the
//! reference homeserver end to end, the mutation matrix, the client-mode matrix, the CI recipes and the
//! snapshots of what the suite renders. One binary, so that axum, reqwest and tokio are linked once.
//!
//! The tests against real servers (Synapse, oidc-provider) are the other binary, `tests/external`: their
//! verdicts are compared with committed files, and they run with the two cores to themselves rather than
//! beside the mutation matrix, as libtest would schedule them within one binary.

#[path = "../support/mod.rs"]
mod support;

mod case_files;
mod case_schema;
mod ci_recipes;
mod cli;
mod clients;
mod docs;
mod events;
mod fuzz_cases;
mod hostile;
mod mutation;
mod pacing;
mod reference;
mod rendered;
