//! What the terminal shows after libtest's case lines: a block per failed step (file and line, the clause's spec
//! sentence and link, the exchange), one per erroring case, then the per-clause table.

use std::fmt::Write;

use colored::{ColoredString, Colorize};

use crate::clause::Level;
use crate::report::RunReport;
use crate::report::failure::{Failure, failures, location};
use crate::transcript::{Entry, Exchange};
use crate::verdict::{CaseRecord, Outcome, Verdict};

/// Longest body excerpt in a failure block; report.html and junit.xml show more.
const BODY_EXCERPT: usize = 300;

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
    for failure in failures(report) {
        failure_block(&mut out, &failure);
    }
    for case in report.cases.iter().filter(|c| c.outcome == Outcome::Error) {
        error_block(&mut out, case);
    }
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

/// The failed checks of one step, as Hurl shows a failed assert: where, which clause and what the spec says,
/// then the exchange of the step.
fn failure_block(out: &mut String, failure: &Failure) {
    let mut previous: Option<&str> = None;
    for (check, clause) in &failure.checks {
        if previous.replace(check.clause.as_str()) == Some(check.clause.as_str()) {
            let _ = writeln!(out, "   | step `{}`: {}", check.step, check.detail);
            continue;
        }
        let heading = format!("{} {}", check.level.as_str(), check.clause);
        let heading = if check.level == Level::Must {
            heading.red().bold()
        } else {
            heading.yellow().bold()
        };
        let _ = writeln!(out, "\n{heading}: case {}", failure.case.id);
        let _ = writeln!(out, "  --> {}", location(failure.case, check));
        if let Some(clause) = clause {
            let _ = writeln!(out, "   | spec: {}", clause.summary);
            let _ = writeln!(out, "   |       {}", clause.section);
        }
        let _ = writeln!(out, "   | step `{}`: {}", check.step, check.detail);
    }
    let cors = failure
        .checks
        .iter()
        .any(|(check, _)| check.clause.starts_with("cors."));
    if let Some(exchange) = failure.exchanges.last() {
        exchange_lines(out, exchange, cors);
    }
}

/// A case that could not reach its checks: its message and the last exchange it had.
fn error_block(out: &mut String, case: &CaseRecord) {
    let _ = writeln!(out, "\n{}: case {}", "error".red().bold(), case.id);
    let _ = writeln!(out, "  --> {}", case.file);
    for line in case.message.lines() {
        let _ = writeln!(out, "   | {line}");
    }
    if let Some(exchange) = stopping_exchange(case) {
        exchange_lines(out, exchange, false);
    }
}

/// The last exchange of the step where the case stopped, else its last exchange before clean-up.
fn stopping_exchange(case: &CaseRecord) -> Option<&Exchange> {
    match &case.stopped_at {
        Some(step) => case.transcript.step_exchanges(step).last().copied(),
        None => case.transcript.entries.iter().rev().find_map(|e| match e {
            Entry::Exchange(exchange) => Some(exchange),
            _ => None,
        }),
    }
}

/// The request line, its headers and body, the status, and the response headers and body excerpt. CORS
/// headers are on every response; they are shown only when a CORS clause failed.
fn exchange_lines(out: &mut String, exchange: &Exchange, cors: bool) {
    let request = &exchange.request;
    let _ = writeln!(out, "   | > {} {}", request.method, request.path());
    for (name, value) in &request.headers {
        let _ = writeln!(out, "   |   {name}: {value}");
    }
    if let Some(body) = &request.body {
        let _ = writeln!(out, "   |   {}", one_line(body, BODY_EXCERPT));
    }
    match &exchange.response {
        Some(response) => {
            let _ = writeln!(out, "   | < {}", response.status);
            for (name, value) in &response.headers {
                if cors || !name.starts_with("access-control-") {
                    let _ = writeln!(out, "   |   {name}: {value}");
                }
            }
            if !response.body.is_empty() {
                let _ = writeln!(out, "   |   {}", one_line(&response.body, BODY_EXCERPT));
            }
        }
        None => {
            let _ = writeln!(out, "   | < (no response)");
        }
    }
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
