//! `junit.xml`: one test case per case, grouped in suites by area (the case's folder).
//!
//! failure = a clause was violated; error = the harness or the transport failed; skipped = a gate was not met.
//! The output validates against the Jenkins xUnit `junit-10.xsd`, which is why clause IDs are suite
//! properties (the schema allows no properties on a test case) and the root `skipped` count is dropped.

use std::collections::BTreeMap;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::{RunReport, text};
use crate::verdict::{CaseRecord, Outcome};

pub fn render(report: &RunReport) -> String {
    let mut junit = Report::new("refresh-conformance");
    junit.set_time(std::time::Duration::from_millis(report.duration_ms));
    let mut suites: BTreeMap<&str, Vec<&CaseRecord>> = BTreeMap::new();
    for case in &report.cases {
        let area = case.id.split('/').next().unwrap_or(&case.id);
        suites.entry(area).or_default().push(case);
    }
    for (area, cases) in suites {
        let mut suite = TestSuite::new(area);
        suite.add_property(Property::new("target", report.target.as_str()));
        if let Some(software) = &report.server.server.software {
            suite.add_property(Property::new("server", software.as_str()));
        }
        suite.add_property(Property::new("spec-version", report.spec_version.as_str()));
        for case in &cases {
            suite.add_property(Property::new(
                format!("clauses:{}", case.id),
                case.clauses.join(" "),
            ));
        }
        // Which reading of an ambiguity produced the verdicts of the suite's clauses.
        let cited: std::collections::BTreeSet<&str> = cases
            .iter()
            .flat_map(|c| c.clauses.iter().map(String::as_str))
            .collect();
        for clause in report
            .clauses
            .iter()
            .filter(|c| cited.contains(c.id.as_str()))
        {
            for note in &clause.readings {
                suite.add_property(Property::new(
                    format!("reading:{}:{}", clause.id, note.ambiguity),
                    note.to_string(),
                ));
            }
        }
        let duration: std::time::Duration = cases.iter().map(|c| c.duration).sum();
        suite.set_time(duration);
        suite.add_test_cases(cases.into_iter().map(test_case));
        junit.add_test_suite(suite);
    }
    let xml = junit.to_string().expect("JUnit serializes");
    strip_root_skipped(&xml)
}

/// A run that ended before its cases: one errored test case that says why, so that CI shows the reason
/// instead of an old run's results or nothing.
pub fn render_aborted(reason: &str) -> String {
    let mut junit = Report::new("refresh-conformance");
    let mut suite = TestSuite::new("run");
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status
        .set_message(reason.lines().next().unwrap_or(""))
        .set_type("harness-or-transport")
        .set_description(reason);
    suite.add_test_case(TestCase::new("run", status));
    junit.add_test_suite(suite);
    strip_root_skipped(&junit.to_string().expect("JUnit serializes"))
}

fn test_case(case: &CaseRecord) -> TestCase {
    let message = text::message(case);
    let first_line = message.lines().next().unwrap_or("").to_owned();
    let status = match case.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(first_line);
            status
        }
        Outcome::Failed | Outcome::Error => {
            let (kind, ty) = if case.outcome == Outcome::Failed {
                (NonSuccessKind::Failure, "clause-violated")
            } else {
                (NonSuccessKind::Error, "harness-or-transport")
            };
            let mut status = TestCaseStatus::non_success(kind);
            status
                .set_message(first_line)
                .set_type(ty)
                .set_description(message.as_str());
            status
        }
    };
    let mut test_case = TestCase::new(case.id.as_str(), status);
    test_case.set_classname(case.clauses.first().map_or("", String::as_str));
    test_case.set_time(case.duration);
    if !case.transcript.is_empty() {
        test_case.set_system_out(case.transcript.text());
    }
    test_case
}

/// quick-junit writes `skipped` on `<testsuites>`, which junit-10.xsd (and strict consumers) reject.
fn strip_root_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let head = &xml[start..end];
    let cleaned = regex::Regex::new(r#"\s+skipped="\d+""#)
        .expect("valid regex")
        .replace(head, "");
    format!("{}{}{}", &xml[..start], cleaned, &xml[end..])
}
