//! Conformance suite for the Matrix refresh-token lifecycle.
//!
//! ```text
//! cases/**/*.yaml --load--> Case --validate--> checked Case            (case)
//! target URL --probe--> Capabilities                                  (homeserver)
//! checked Cases + Capabilities --trials--> steps over HTTP             (run, over http)
//!   --> CheckRecords, each attributed to one clause --> CaseRecord
//! CaseRecords --aggregate--> ClauseVerdicts                           (verdict)
//! --> terminal table, junit.xml, report.json, summary.md              (report)
//! ```
//!
//! The modules form layers, each using only those below it: see `layers.rs` and ARCHITECTURE.md.

// Every byte the suite writes goes through `output`, which redacts it: nothing else prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod case;
pub mod cause;
pub mod clause;
pub mod cli;
pub mod client;
pub mod colour;
pub mod config;
pub mod error;
pub mod expected;
pub mod homeserver;
pub mod http;
#[cfg(test)]
mod layers;
pub mod listing;
pub mod matrix;
pub mod oauth_wire;
pub mod output;
pub mod reading;
pub mod redact;
pub mod reference;
pub mod report;
pub mod run;
pub mod selection;
pub mod source;
pub mod spec_version;
pub mod transcript;
pub mod verdict;
