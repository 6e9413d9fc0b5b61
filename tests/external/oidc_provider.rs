//! The OAuth cases end to end against a real, independently written OAuth 2.0 authorisation server:
//! oidc-provider from npm (started by `scripts/oidc-provider.sh`, as `.ci/run` does), named with
//! `--oauth-issuer` and driven through its development login pages by `scripts/oidc-provider/authorize.sh`.
//! Every verdict must be the committed expected one, the reports valid, and no token, code or PKCE verifier
//! may appear anywhere.
//!
//! Needs OIDC_ISSUER (`eval "$(scripts/oidc-provider.sh env)"`). Without it the test says so and passes,
//! except in CI, where it fails.

use crate::support::run_against_expected;

/// The expected verdicts of the pinned oidc-provider with scripts/oidc-provider/provider.mjs.
const EXPECTED: &str = "reports/expected/oidc-provider-9.13.3.json";

#[test]
fn oidc_provider_verdicts_are_the_expected_ones() {
    let Ok(issuer) = std::env::var("OIDC_ISSUER") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test against oidc-provider: export OIDC_ISSUER"
        );
        eprintln!("note: OIDC_ISSUER not set; the oidc-provider end-to-end test did not run");
        return;
    };
    let _alone = crate::alone();
    let authorize = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/oidc-provider/authorize.sh"
    );
    let run = run_against_expected(
        &["--oauth-issuer", &issuer, "--oauth-authorize", authorize],
        EXPECTED,
    );
    // oidc-provider's tokens and codes are opaque random strings: every place one would show must show
    // the redaction mark instead.
    for text in run.everything() {
        for key in [
            "\"access_token\":\"",
            "\"refresh_token\":\"",
            "code=",
            "code_verifier=",
            "refresh_token=",
            "token=",
        ] {
            for (at, _) in text.match_indices(key) {
                let rest = &text[at + key.len()..];
                // A login step's name says `refresh_token=true`: a flag, not a token.
                let flag = rest.starts_with("true") || rest.starts_with("false");
                assert!(
                    flag || rest.starts_with("‹secret:")
                        || rest.starts_with('"')
                        || rest.starts_with('&'),
                    "unredacted value after {key:?}: {}",
                    rest.chars().take(40).collect::<String>()
                );
            }
        }
    }
    // The plain OAuth server is no Matrix homeserver: the Matrix clauses say so.
    assert!(
        run.clause_verdict("versions.endpoint")
            .contains("not-applicable"),
        "{}",
        run.clause_verdict("versions.endpoint")
    );
}
