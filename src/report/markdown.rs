//! `summary.md`: the verdicts for a human, ready for `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;

use crate::report::terminal::{exit_line, first_line};
use crate::report::{RunReport, text};
use crate::verdict::{Outcome, Verdict};

pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let server = report
        .server
        .server
        .software
        .as_deref()
        .unwrap_or("unknown server");
    let _ = writeln!(out, "# Matrix refresh-token conformance\n");
    let _ = writeln!(out, "- Target: `{}` ({server})", report.target);
    if let Some(fault) = &report.reference_fault {
        let _ = writeln!(out, "- Reference server fault: `{fault}`");
    }
    let _ = writeln!(
        out,
        "- Advertised versions: {}",
        report.server.server.versions.join(", ")
    );
    let _ = writeln!(
        out,
        "- Clause catalogue: Client-Server API {}",
        report.spec_version
    );
    let _ = writeln!(out, "- Accounts: {}", report.server.server.provisioning);
    let _ = writeln!(
        out,
        "- Started: {}, took {:.1} s",
        report.started_at,
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "- Reading of the spec's ambiguities: {} (`--reading`)",
        report.reading.as_str()
    );
    let _ = writeln!(
        out,
        "- Exit code: {}{}\n",
        report.exit_code,
        if report.strict { " (--strict)" } else { "" }
    );

    let count = |verdict: &str| report.totals.clauses.get(verdict).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "**Clauses:** {} pass, {} fail, {} warn, {} observed, {} not applicable, {} untested.  ",
        count("pass"),
        count("fail"),
        count("warn"),
        count("observed"),
        count("not-applicable"),
        count("untested"),
    );
    let cases = |outcome: Outcome| report.totals.cases_with(outcome);
    let _ = writeln!(
        out,
        "**Cases:** {} passed, {} failed, {} errors, {} skipped.\n",
        cases(Outcome::Passed),
        cases(Outcome::Failed),
        cases(Outcome::Error),
        cases(Outcome::Skipped),
    );

    let _ = writeln!(out, "{}.\n", exit_line(report));
    if !report.advice.is_empty() {
        let _ = writeln!(out, "## Advice\n");
        for advice in &report.advice {
            let _ = writeln!(out, "- {}", advice.text);
        }
        let _ = writeln!(out);
    }

    let problems: Vec<_> = report
        .clauses
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "## Failures and warnings\n");
        for clause in problems {
            let _ = writeln!(
                out,
                "- **{}** `{}` ({}): {}  \n  {}",
                clause.verdict.as_str(),
                clause.id,
                clause.level,
                cell(&clause.summary),
                cell(&first_line(&text::reason(clause, &report.cases)))
            );
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## Clauses\n");
    let _ = writeln!(out, "| Clause | Level | Verdict | Reason |");
    let _ = writeln!(out, "|---|---|---|---|");
    for clause in &report.clauses {
        let tags: Vec<String> = clause
            .tags
            .iter()
            .map(|t| format!("{t:?}").to_lowercase())
            .collect();
        let level = if tags.is_empty() {
            clause.level.to_string()
        } else {
            format!("{} ({})", clause.level, tags.join(", "))
        };
        let _ = writeln!(
            out,
            "| [`{}`]({}) | {} | {} | {} |",
            clause.id,
            clause.section,
            level,
            clause.verdict.as_str(),
            cell(&first_line(&text::reason(clause, &report.cases)))
        );
    }
    let _ = writeln!(out, "\n## Readings\n");
    let _ = writeln!(
        out,
        "Where the spec's texts disagree, the verdict follows the {} reading:\n",
        report.reading.as_str()
    );
    for clause in &report.clauses {
        for note in &clause.readings {
            let _ = writeln!(out, "- `{}`: {}", clause.id, cell(&note.to_string()));
        }
    }
    let _ = writeln!(out, "\n## Cases\n");
    let _ = writeln!(out, "| Case | Outcome | ms | Message |");
    let _ = writeln!(out, "|---|---|---|---|");
    for case in &report.cases {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            case.id,
            case.outcome.as_str(),
            case.duration.as_millis(),
            cell(&first_line(&text::message(case)))
        );
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A run that ended before its cases: why, and the exit code.
pub fn render_aborted(reason: &str, exit_code: u8) -> String {
    format!(
        "# Matrix refresh-token conformance\n\n**No case ran** (exit code {exit_code}):\n\n```text\n{reason}\n```\n"
    )
}
