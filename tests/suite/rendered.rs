//! Snapshots of what a run renders: the terminal (libtest lines, the clause table, a failure block), junit.xml
//! and summary.md, for a small run against the reference homeserver with one fault, one case at a time.
//! What changes from run to run (durations, ports, clock times, secrets' digests, transcripts with the
//! server's random names) is redacted by the filters below; everything else must read as the snapshot (`cargo insta review` after a change).

use crate::support::{RunOutput, binary};

fn faulty_run() -> RunOutput {
    faulty_run_with(&[])
}

fn faulty_run_with(env: &[(&str, &std::path::Path)]) -> RunOutput {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .envs(env.iter().copied())
        .args([
            "--reference-fault",
            "used-refresh-forbidden",
            "--clause",
            "refresh.401.unknown-or-used",
            "--test-threads",
            "1",
            "--report-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    RunOutput::collect(output, dir.path())
}

/// The volatile parts of a run's output, each replaced by a name for what it was.
fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (volatile, name) in [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]"),
        (r#"time="[0-9.]+""#, r#"time="[duration]""#),
        (r#"timestamp="[^"]+""#, r#"timestamp="[time]""#),
        (r"\b\d+(\.\d+)?\s?(ms|s)\b", "[duration]"),
        (r"\| \d+ \|", "| [ms] |"),
        (r"‹secret:[0-9a-f]+›", "‹secret›"),
        // A case's whole exchange, with the server's random names: the terminal's failure block shows the
        // exchange that failed.
        (
            r"(?s)<system-out>.*?</system-out>",
            "<system-out>[transcript]</system-out>",
        ),
    ] {
        settings.add_filter(volatile, name);
    }
    settings
}

#[test]
fn a_failing_run_renders_as_the_snapshots() {
    let run = faulty_run();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stderr, run.stdout);
    redactions().bind(|| {
        insta::assert_snapshot!("terminal", run.stdout);
        insta::assert_snapshot!("junit", run.junit);
        insta::assert_snapshot!("summary", run.summary);
    });
}

#[test]
fn on_github_actions_failed_checks_are_annotated_as_their_case_ends() {
    let work = tempfile::tempdir().unwrap();
    let step_summary = work.path().join("step-summary.md");
    let run = faulty_run_with(&[
        ("GITHUB_ACTIONS", std::path::Path::new("true")),
        ("GITHUB_STEP_SUMMARY", &step_summary),
    ]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stderr, run.stdout);
    let annotations: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("::")).collect();
    redactions().bind(|| insta::assert_snapshot!("annotations", annotations.join("\n")));
    // Streamed: each annotation is out before the run's clause table.
    let table = run.stdout.find("Clause verdicts").unwrap();
    let last = run.stdout.rfind("\n::").unwrap();
    assert!(last < table, "{}", run.stdout);
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert_eq!(summary, run.summary);
}
