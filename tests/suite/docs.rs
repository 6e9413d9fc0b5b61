//! The documentation stays in step with the code: every fault of the reference server is listed in the README,
//! and every case-file key the loader knows is described in cases/README.md.

use std::path::Path;

use refresh_conformance::client::schedule::SCHEDULE;
use refresh_conformance::reference::Fault;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

#[test]
fn readme_lists_every_reference_fault() {
    let readme = read("README.md");
    let missing: Vec<&str> = Fault::ALL
        .iter()
        .map(|f| f.name())
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not list these faults: {missing:?}"
    );
}

#[test]
fn case_format_guide_names_every_action_and_gate() {
    let guide = read("cases/README.md");
    for word in [
        "login:",
        "register:",
        "refresh:",
        "whoami:",
        "request:",
        "wait:",
        "burst:",
        "expect",
        "require",
        "observe",
        "capture",
        "finally",
        "refresh-tokens",
        "rotation",
        "expiry",
        "registration",
        "guest",
        "fresh-users",
        "admin",
        "appservice",
        "server_name",
        "bursts",
        "if_status",
        "level:",
        "reading:",
        "ambiguities",
        "assume",
        "each",
        "optional",
        "oauth_login:",
        "oauth_refresh:",
        "endpoint:",
        "form",
        "oauth-grant",
        "matrix-api",
        "legacy-api",
        "client_id",
    ] {
        assert!(
            guide.contains(word),
            "cases/README.md does not describe `{word}`"
        );
    }
}

#[test]
fn readme_names_every_client_mode_adversity() {
    let readme = read("README.md");
    for adversity in SCHEDULE {
        assert!(
            readme.contains(&format!("`{}`", adversity.name())),
            "README.md does not describe the adversity {}",
            adversity.name()
        );
    }
}
