//! `report.json`: the whole run, versioned by `schema_version`.

use crate::report::RunReport;

pub fn render(report: &RunReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report serializes");
    text.push('\n');
    text
}
