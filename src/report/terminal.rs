//! The per-clause table printed after libtest's case lines, the advice, and the run's counts.

use std::fmt::Write;

use colored::{ColoredString, Colorize};

use crate::report::RunReport;
use crate::verdict::{Outcome, Verdict};

pub fn render(report: &RunReport) -> String {
    let id_width = report
        .clauses
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nClause verdicts ({} against {}):",
        report.spec_version, report.target
    );
    let _ = writeln!(
        out,
        "{:id_width$}  {:6}  {:14}  reason",
        "clause", "level", "verdict"
    );
    for clause in &report.clauses {
        let verdict = format!("{:14}", clause.verdict.as_str());
        let _ = writeln!(
            out,
            "{:id_width$}  {:6}  {}  {}",
            clause.id,
            clause.level.as_str(),
            paint(clause.verdict, verdict),
            first_line(&clause.reason)
        );
    }
    if !report.advice.is_empty() {
        let _ = writeln!(out, "\nAdvice:");
        for advice in &report.advice {
            let _ = writeln!(out, "- {}", advice.text);
        }
    }
    let totals = |map: &std::collections::BTreeMap<&str, usize>| {
        map.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "\nclauses: {}", totals(&report.totals.clauses));
    let _ = writeln!(out, "{}", case_counts(report));
    let _ = writeln!(out, "{}", exit_line(report));
    out
}

/// The suite's count of cases, in libtest's terms too, so that its `test result` line is not contradicted:
/// libtest counts a case in error as failed and a skipped one as ignored.
pub fn case_counts(report: &RunReport) -> String {
    let n = |outcome: Outcome| {
        report
            .totals
            .cases
            .get(outcome.as_str())
            .copied()
            .unwrap_or(0)
    };
    let (failed, errors) = (n(Outcome::Failed), n(Outcome::Error));
    format!(
        "cases: {} passed; {} failed ({failed} failed a check, {errors} ended in error); {} skipped (libtest: ignored)",
        n(Outcome::Passed),
        failed + errors,
        n(Outcome::Skipped)
    )
}

/// Why the run exits as it does, by the one rule (see [`crate::error::run_exit_code`]).
pub fn exit_line(report: &RunReport) -> String {
    let errors = report
        .totals
        .cases
        .get(Outcome::Error.as_str())
        .copied()
        .unwrap_or(0);
    let why = match report.exit_code {
        0 => "no MUST-level clause failed".to_owned(),
        1 if errors > 0 => format!(
            "the verdicts are judged wrong (a failure wins over the {errors} case(s) in error)"
        ),
        1 => "the verdicts are judged wrong".to_owned(),
        _ => format!("{errors} case(s) ended in error, so the verdicts are incomplete"),
    };
    format!("exit code {}: {why}", report.exit_code)
}

fn paint(verdict: Verdict, text: String) -> ColoredString {
    match verdict {
        Verdict::Pass => text.green(),
        Verdict::Fail => text.red().bold(),
        Verdict::Warn => text.yellow(),
        Verdict::Observed => text.cyan(),
        Verdict::NotApplicable | Verdict::Untested => text.dimmed(),
    }
}

/// The first line, whole (a reason cut short loses what it advises), marked when more lines follow.
pub fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if text.trim_end().contains('\n') {
        format!("{line} (…)")
    } else {
        line.to_owned()
    }
}
