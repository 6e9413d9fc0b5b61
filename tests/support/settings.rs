//! Run settings for the tests that drive the runner in-process against a reference server on loopback.

use std::time::Duration;

use refresh_conformance::run::{Settings, Timing};

/// Generous timeouts (a loaded CI machine is slow, a loopback server is not unreliable), no bursts, no
/// OAuth authoriser, the default reading; a test changes what it is about with `..loopback()`.
pub fn loopback() -> Settings {
    Settings {
        timing: Timing {
            request_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(30),
            wait_budget: None,
            case_timeout: Duration::from_secs(120),
            deadline: None,
        },
        progress: None,
        insecure: false,
        privileges: Default::default(),
        bursts: false,
        oauth_issuer: None,
        authoriser: None,
        reading: Default::default(),
    }
}
