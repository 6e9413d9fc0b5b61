//! `report.json`: the whole run, versioned by `schema_version`.

use crate::report::RunReport;

pub fn render(report: &RunReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report serializes");
    text.push('\n');
    text
}

/// A run that ended before its cases: why, and the exit code, in the same schema (no clauses, no cases).
pub fn render_aborted(reason: &str, exit_code: u8) -> String {
    let report = serde_json::json!({
        "schema_version": crate::report::SCHEMA_VERSION,
        "suite_version": env!("CARGO_PKG_VERSION"),
        "aborted": reason,
        "exit_code": exit_code,
        "clauses": [],
        "cases": [],
    });
    let mut text = serde_json::to_string_pretty(&report).expect("a report serializes");
    text.push('\n');
    text
}
