//! `cargo run` with no --target: the suite against the built-in reference homeserver, end to end through the
//! binary, with and without a fault.

use crate::support::{RunOutput, binary};

fn run(args: &[&str]) -> RunOutput {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .args(args)
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let run = RunOutput::collect(output, dir.path());
    run.assert_junit_valid(dir.path());
    run
}

#[test]
fn the_faithful_reference_server_passes_and_says_it_is_the_target() {
    let run = run(&[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, run.stdout);
    assert!(
        run.stderr
            .contains("no --target given: running against the built-in reference homeserver")
    );
    run.assert_report_shape();
    // The reference server's tokens start with mrc_at_ / mrc_rt_, its authorisation codes with mrc_code_:
    // none may leak into any output.
    run.assert_free_of(&["mrc_at_", "mrc_rt_", "mrc_code_"]);
    let verdicts: Vec<&str> = run.json["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert!(
        !verdicts.contains(&"fail") && !verdicts.contains(&"warn"),
        "{}",
        run.stdout
    );
    assert!(
        run.summary
            .contains("| Clause | Level | Verdict | Reason |")
    );
}

#[test]
fn a_fault_is_caught_by_its_clause_and_the_exit_code() {
    let run = run(&["--reference-fault", "old-refresh-revoked-at-once"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stderr, run.stdout);
    assert_eq!(
        run.clause_verdict("refresh.rotation.old-refresh-valid-until-new-used"),
        "fail"
    );
    assert_eq!(run.json["reference_fault"], "old-refresh-revoked-at-once");
    run.assert_free_of(&["mrc_at_", "mrc_rt_"]);
    // The failure is reported as a failure (not an error) in JUnit, with the clause as the class name.
    assert!(
        run.junit
            .contains("classname=\"refresh.rotation.old-refresh-valid-until-new-used\""),
        "{}",
        run.junit
    );
    assert!(
        run.junit.contains("type=\"clause-violated\""),
        "{}",
        run.junit
    );
}

#[test]
fn a_failure_shows_its_file_spec_and_exchange_in_the_terminal_and_the_html_report() {
    let run = run(&["--reference-fault", "used-refresh-forbidden"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stderr, run.stdout);
    // The terminal block: the case file relative to the case root, the clause's spec sentence and link,
    // and the failed step's request line, status and body.
    for needle in [
        "MUST refresh.401.unknown-or-used: case rotation/revoked-after-new-access-used",
        "  --> rotation/revoked-after-new-access-used.yaml:",
        "   | spec: A refresh token that is unknown or already superseded",
        "#post_matrixclientv3refresh",
        "   | > POST /_matrix/client/v3/refresh",
        "   | < 403",
        "M_FORBIDDEN",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} missing:\n{}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains(env!("CARGO_MANIFEST_DIR")));
    // report.html: self-contained, the failed case opens to its exchange and the expectation with its line.
    let html = &run.html;
    for needle in [
        "<details class=\"case\" id=\"case-rotation/revoked-after-new-access-used\">",
        "rotation/revoked-after-new-access-used.yaml:",
        "refresh.401.unknown-or-used",
        "/_matrix/client/v3/refresh",
        "failed here",
        "M_FORBIDDEN",
        "used-refresh-forbidden",
    ] {
        assert!(html.contains(needle), "{needle:?} missing from report.html");
    }
    for fetch in ["<script", "<link", "<img", " src=", "@import", "url("] {
        assert!(
            !html.contains(fetch),
            "report.html fetches something: {fetch:?}"
        );
    }
}

#[test]
fn strict_makes_a_should_failure_fail_the_run() {
    let relaxed = run(&[
        "--reference-fault",
        "no-soft-logout-on-expiry",
        "--clause",
        "expiry.",
    ]);
    assert_eq!(
        relaxed.clause_verdict("expiry.expired-token-error"),
        "warn",
        "{}",
        relaxed.stdout
    );
    assert_eq!(relaxed.code, Some(0), "{}", relaxed.stderr);
    let strict = run(&[
        "--reference-fault",
        "no-soft-logout-on-expiry",
        "--clause",
        "expiry.",
        "--strict",
    ]);
    assert_eq!(strict.code, Some(1), "{}", strict.stderr);
}

#[test]
fn a_server_without_refresh_tokens_gets_not_applicable_not_failures() {
    let run = run(&["--reference-fault", "no-refresh-tokens"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, run.stdout);
    assert_eq!(
        run.clause_verdict("refresh.rotation.old-refresh-valid-until-new-used"),
        "not-applicable"
    );
    assert_eq!(run.clause_verdict("login.request.refresh_token"), "pass");
}

#[test]
fn advice_follows_the_table_and_is_in_the_summary() {
    // 5-minute access tokens with a 10 s --max-wait: the expiry cases cannot run, and the advice says what
    // --max-wait they need.
    let run = run(&["--reference-lifetime", "5m", "--max-wait", "10s"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, run.stdout);
    let advice = "expiry case(s) need `--max-wait 320s` (access tokens live 5m)";
    let table = run.stdout.find("Clause verdicts").expect("the table");
    let section = run.stdout.find("\nAdvice:\n").expect("an advice section");
    assert!(table < section, "{}", run.stdout);
    assert!(run.stdout[section..].contains(advice), "{}", run.stdout);
    assert!(run.summary.contains("## Advice"), "{}", run.summary);
    assert!(run.summary.contains(advice), "{}", run.summary);
    assert_eq!(run.json["advice"][0]["topic"], "expiry");
    // libtest's line and the suite's agree.
    assert!(
        run.stdout
            .contains("0 failed (0 failed a check, 0 ended in error)")
    );
}

#[test]
fn an_oauth_only_server_gets_oauth_verdicts_and_the_legacy_clauses_not_applicable() {
    let run = run(&[
        "--reference-fault",
        "oauth-only",
        "--clause",
        "oauth.refresh",
        "--clause",
        "refresh.endpoint",
    ]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, run.stdout);
    assert_eq!(
        run.clause_verdict("oauth.refresh.retry-on-lost-response"),
        "pass"
    );
    assert_eq!(
        run.clause_verdict("refresh.endpoint.path"),
        "not-applicable"
    );
    let legacy = run.json["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "refresh.endpoint.path")
        .unwrap();
    let reason = legacy["reason"].as_str().unwrap();
    assert!(reason.contains("legacy-api"), "{reason}");
    run.assert_free_of(&["mrc_at_", "mrc_rt_", "mrc_code_"]);
}
