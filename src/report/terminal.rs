//! What the terminal shows after libtest's case lines: a block per failed step (file and line, the clause's spec
//! sentence and link, the exchange), one per erroring case, then the per-clause table, the advice and the
//! run's counts.

use std::fmt::Write;
use std::path::Path;

use colored::{ColoredString, Colorize};

use crate::cause;
use crate::clause::Level;
use crate::expected::Moved;
use crate::homeserver::{Capabilities, GateStatus};
use crate::http::pacer::{WaitKind, Waiting};
use crate::redact::Secrets;
use crate::report::failure::{Failure, failures};
use crate::report::text::{self, location};
use crate::report::{FILES, RunReport};
use crate::run::{Completion, Failed};
use crate::transcript::{Entry, Exchange};
use crate::verdict::{CaseRecord, Outcome, Verdict};

/// Longest body excerpt in a failure block; report.html and junit.xml show more.
const BODY_EXCERPT: usize = 300;

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
            first_line(&text::reason(clause, &report.cases))
        );
        for note in &clause.readings {
            let line = format!("{:id_width$}  └ {note}", "");
            let _ = writeln!(out, "{}", line.dimmed());
        }
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
    let n = |outcome: Outcome| report.totals.cases_with(outcome);
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
        130 => "interrupted (Ctrl-C)".to_owned(),
        _ => format!("{errors} case(s) ended in error, so the verdicts are incomplete"),
    };
    format!("exit code {}: {why}", report.exit_code)
}

/// The failed checks of one step, as Hurl shows a failed assert: where, which clause and what the spec says,
/// then the exchange of the step.
fn failure_block(out: &mut String, failure: &Failure) {
    let mut previous: Option<&str> = None;
    for (check, clause) in &failure.checks {
        if previous.replace(check.clause.as_str()) == Some(check.clause.as_str()) {
            let _ = writeln!(out, "   | step `{}`: {}", check.step, text::detail(check));
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
        let _ = writeln!(out, "   | step `{}`: {}", check.step, text::detail(check));
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
    for line in text::message(case).lines() {
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

/// The first line, whole (a reason cut short loses what it advises), marked when more lines follow.
pub fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if text.trim_end().contains('\n') {
        format!("{line} (…)")
    } else {
        line.to_owned()
    }
}

/// The first line, cut to `width` characters (for body excerpts; reasons are shown whole).
pub fn one_line(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= width && !text.contains('\n') {
        line.to_owned()
    } else {
        let head: String = line.chars().take(width.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// What the probe found, for stderr before the cases run.
pub fn probe(capabilities: &Capabilities) -> String {
    let server = &capabilities.server;
    let mut out = format!(
        "target {} ({}), versions {}, accounts: {}",
        server.base_url,
        server.software.as_deref().unwrap_or("unknown software"),
        server.versions.join(" "),
        server.provisioning
    );
    for (gate, status) in &capabilities.gates {
        let shown = match status {
            GateStatus::Met => "met".to_owned(),
            GateStatus::Unmet(reason) => format!("not met ({reason})"),
            GateStatus::Undecided(reason) => format!("UNDECIDED, its cases are errors ({reason})"),
        };
        out.push_str(&format!("\n  gate {}: {shown}", gate.as_str()));
    }
    out
}

/// The `--expected` comparison: every verdict as expected, or the ones that moved.
pub fn comparison(server: &str, path: &Path, moved: &[Moved]) -> String {
    if moved.is_empty() {
        return format!(
            "every clause verdict is as expected for {server} ({})",
            path.display()
        );
    }
    let mut out = format!(
        "{} clause verdict(s) moved from {}:",
        moved.len(),
        path.display()
    );
    for m in moved {
        let _ = write!(out, "\n  {m}");
    }
    out
}

/// The progress line of a long wait for a rate limit.
pub fn waiting(waiting: &Waiting) -> String {
    let what = waiting.limit.what();
    let wait = cause::shown(waiting.wait);
    let outlook = match waiting.stats.time_left() {
        Some(time) if waiting.stats.left > 0 => format!(
            "; {} password login(s) left in the run, about {} at one per {}",
            waiting.stats.left,
            cause::shown(time),
            cause::shown(waiting.stats.longest_asked)
        ),
        _ => String::new(),
    };
    match waiting.kind {
        WaitKind::Together(count) => {
            format!(
                "waiting {wait} for {what} to admit one case's {count} requests together{outlook}"
            )
        }
        WaitKind::Announced { queued } => {
            let setting = waiting
                .limit
                .synapse_setting()
                .map(|s| format!("; Synapse's `{s}`"))
                .unwrap_or_default();
            format!(
                "waiting {wait} for {what} ({queued} more request(s) queued behind it{setting}){outlook}"
            )
        }
    }
}

/// The last line of a run: where the reports are and the exit code.
pub fn written(dir: &Path, exit_code: u8) -> String {
    let files: Vec<String> = FILES
        .iter()
        .map(|name| format!("{}/{name}", dir.display()))
        .collect();
    format!("reports: {} (exit code {exit_code})", files.join(", "))
}

/// What libtest prints of a finished case: why it failed, errored or was skipped, redacted (libtest writes
/// it itself, not through the output sink).
pub fn completion(record: &CaseRecord) -> Result<Completion, Failed> {
    let message = Secrets::global().redact(&text::message(record));
    match record.outcome {
        Outcome::Passed => Ok(Completion::Completed),
        Outcome::Skipped => Ok(Completion::ignored_with(message)),
        Outcome::Failed => Err(Failed::from(message)),
        Outcome::Error => Err(Failed::from(format!(
            "error (not a verdict on the clause): {message}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cause::Limit;
    use crate::http::pacer::LimitStats;

    #[test]
    fn a_long_wait_says_what_for_and_how_much_of_the_run_is_left() {
        let paced = LimitStats {
            rate_limited: 1,
            longest_asked: Duration::from_secs(60),
            left: 3,
            ..LimitStats::default()
        };
        let line = waiting(&Waiting {
            limit: Limit::Login,
            wait: Duration::from_secs(90),
            kind: WaitKind::Announced { queued: 2 },
            stats: paced,
        });
        assert!(line.starts_with("waiting 1m 30s for "), "{line}");
        assert!(
            line.contains("(2 more request(s) queued behind it; Synapse's `rc_login"),
            "{line}"
        );
        assert!(
            line.ends_with("; 3 password login(s) left in the run, about 3m at one per 1m"),
            "{line}"
        );
        let unpaced = waiting(&Waiting {
            limit: Limit::Login,
            wait: Duration::from_secs(90),
            kind: WaitKind::Together(2),
            stats: LimitStats::default(),
        });
        assert!(
            unpaced.ends_with("to admit one case's 2 requests together"),
            "{unpaced}"
        );
    }
}
