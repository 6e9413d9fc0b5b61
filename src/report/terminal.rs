//! The per-clause table printed after libtest's case lines.

use std::fmt::Write;

use colored::{ColoredString, Colorize};

use crate::report::RunReport;
use crate::verdict::Verdict;

/// Longest reason shown in the table; report.json has them whole.
const REASON_WIDTH: usize = 110;

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
        "\nClause verdicts ({} against {}, {} reading of the ambiguities):",
        report.spec_version,
        report.target,
        report.reading.as_str()
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
            one_line(&clause.reason, REASON_WIDTH)
        );
        for note in &clause.readings {
            let line = format!(
                "{:id_width$}  └ {}",
                "",
                one_line(&note.to_string(), REASON_WIDTH + 20)
            );
            let _ = writeln!(out, "{}", line.dimmed());
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
    let _ = writeln!(out, "cases: {}", totals(&report.totals.cases));
    out
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

/// The first line, cut to `width` characters.
pub fn one_line(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= width && !text.contains('\n') {
        line.to_owned()
    } else {
        let head: String = line.chars().take(width.saturating_sub(1)).collect();
        format!("{head}…")
    }
}
