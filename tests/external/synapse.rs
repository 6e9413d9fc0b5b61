//! The suite end to end against a real Synapse (started by `scripts/synapse.sh`, as `.ci/run` does): the
//! clause verdicts must be the committed expected ones for that version, the reports must be valid, and no
//! token or secret may appear anywhere.
//!
//! Needs SYNAPSE_URL, SYNAPSE_SHARED_SECRET and SYNAPSE_AS_TOKEN (`eval "$(scripts/synapse.sh env)"`).
//! Without them the test says so and passes, except in CI, where it fails.

use crate::support::run_against_expected;

/// The expected verdicts of the pinned Synapse, with the lifetimes `scripts/synapse.sh` configures.
const EXPECTED: &str = "reports/expected/synapse-1.163.2.json";

#[test]
fn synapse_verdicts_are_the_expected_ones() {
    let (Ok(url), Ok(secret), Ok(as_token)) = (
        std::env::var("SYNAPSE_URL"),
        std::env::var("SYNAPSE_SHARED_SECRET"),
        std::env::var("SYNAPSE_AS_TOKEN"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test against Synapse: export SYNAPSE_URL, SYNAPSE_SHARED_SECRET, SYNAPSE_AS_TOKEN"
        );
        eprintln!("note: SYNAPSE_URL not set; the Synapse end-to-end test did not run");
        return;
    };
    let _alone = crate::alone();
    let run = run_against_expected(
        &[
            "--target",
            &url,
            "--register",
            &format!("shared-secret={secret}"),
            "--bursts",
            "--as-token",
            &as_token,
        ],
        EXPECTED,
    );
    // Synapse's access and refresh tokens start with syt_ / syr_; guest tokens are macaroons (MDAx...).
    run.assert_free_of(&[&secret, &as_token, "syt_", "syr_", "MDAx"]);
    assert!(run.stdout.contains("Clause verdicts"), "{}", run.stdout);
}
