//! Helpers shared by the end-to-end tests: running the binary and checking what it wrote.

#![allow(dead_code)]

pub mod encodings;
pub mod hostile;
pub mod settings;

use std::path::Path;
use std::process::{Command, Output};

pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_refresh-conformance"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    command
}

/// Runs the binary with `args` and `--expected` on a known server's committed verdicts; the run must end 0
/// with reports of the documented shape.
pub fn run_against_expected(args: &[&str], expected: &str) -> RunOutput {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .args(args)
        .args(["--expected", expected, "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let run = RunOutput::collect(output, dir.path());
    assert_eq!(
        run.code,
        Some(0),
        "verdicts moved from {expected} (rerun with --bless after checking each one):\n{}\n{}",
        run.stderr,
        run.stdout
    );
    run.assert_report_shape();
    run.assert_junit_valid(dir.path());
    run
}

/// Stdout, stderr and the three report files of a run, for checks over everything the suite wrote.
pub struct RunOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub junit: String,
    pub json: serde_json::Value,
    pub json_text: String,
    pub summary: String,
    pub html: String,
}

impl RunOutput {
    pub fn collect(output: Output, report_dir: &Path) -> RunOutput {
        let read = |name: &str| {
            std::fs::read_to_string(report_dir.join(name)).unwrap_or_else(|e| {
                panic!(
                    "{name} missing ({e})\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )
            })
        };
        let json_text = read("report.json");
        RunOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            junit: read("junit.xml"),
            json: serde_json::from_str(&json_text).expect("report.json parses"),
            json_text,
            summary: read("summary.md"),
            html: read("report.html"),
        }
    }

    pub fn everything(&self) -> [&str; 6] {
        [
            &self.stdout,
            &self.stderr,
            &self.junit,
            &self.json_text,
            &self.summary,
            &self.html,
        ]
    }

    /// No output contains any of the needles (tokens, secrets).
    pub fn assert_free_of(&self, needles: &[&str]) {
        for text in self.everything() {
            for needle in needles {
                assert!(!needle.is_empty());
                if let Some(at) = text.find(needle) {
                    let context: String = text[at.saturating_sub(80)..].chars().take(160).collect();
                    panic!("output contains the secret-like {needle:?}: ...{context}...");
                }
            }
        }
    }

    /// The fields the README promises in report.json.
    pub fn assert_report_shape(&self) {
        let json = &self.json;
        let schema = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/report.schema.json"),
        )
        .unwrap();
        let schema = serde_json::from_str(&schema).unwrap();
        let validator = jsonschema::draft7::new(&schema).expect("a draft-07 schema");
        let problems: Vec<String> = validator
            .iter_errors(json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "report.json against its schema: {problems:#?}"
        );
        for field in [
            "schema_version",
            "target",
            "server",
            "started_at",
            "duration_ms",
            "clauses",
            "cases",
        ] {
            assert!(json.get(field).is_some(), "report.json lacks {field}");
        }
        for clause in json["clauses"].as_array().unwrap() {
            for field in ["id", "level", "verdict", "cases", "reason"] {
                assert!(
                    clause.get(field).is_some(),
                    "clause lacks {field}: {clause}"
                );
            }
        }
        let cases = json["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            for field in ["id", "outcome", "duration_ms", "clauses", "message"] {
                assert!(case.get(field).is_some(), "case lacks {field}: {case}");
            }
        }
    }

    pub fn clause_verdict(&self, id: &str) -> String {
        let clauses = self.json["clauses"].as_array().unwrap();
        let clause = clauses
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no clause {id}"));
        clause["verdict"].as_str().unwrap().to_owned()
    }

    /// Validates junit.xml with xmllint against the Jenkins xUnit schema, the strictest common consumer.
    /// Without xmllint outside CI the check is skipped with a note; in CI it is required.
    pub fn assert_junit_valid(&self, dir: &Path) {
        let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
        let status = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(dir.join("junit.xml"))
            .output();
        match status {
            Ok(out) => assert!(
                out.status.success(),
                "junit.xml does not validate:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) if std::env::var_os("CI").is_none() => {
                eprintln!("note: xmllint not installed; schema check skipped")
            }
            Err(e) => panic!("xmllint is required in CI: {e}"),
        }
    }
}
