//! `report.html`: one self-contained page (inline CSS, no script, nothing fetched) for a person triaging a
//! run: the header with the target and the counts, a bar of verdicts per spec section, every clause with
//! its reason and spec link, and each failed or erroring case opening to its exchanges.
//!
//! Every string it shows was redacted when recorded; the output sink redacts the page once more.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::report::RunReport;
use crate::report::failure::failures_of;
use crate::report::text::{self, location};
use crate::transcript::{Entry, Exchange};
use crate::verdict::{CaseRecord, ClauseVerdict, Outcome, Verdict};

const CSS: &str = include_str!("html.css");

/// The verdicts in the order the bars and counts show them: the ones that need attention first.
const VERDICTS: [Verdict; 6] = [
    Verdict::Fail,
    Verdict::Warn,
    Verdict::Pass,
    Verdict::Observed,
    Verdict::NotApplicable,
    Verdict::Untested,
];

pub fn render(report: &RunReport) -> String {
    let title = format!("Refresh-token conformance of {}", report.target);
    let sections = sections(&report.clauses);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (header(report))
                main {
                    (overview(&sections))
                    (cases_block(report))
                    h2 { "Clauses by spec section" }
                    @for (section, clauses) in &sections {
                        (section_block(section, clauses, report))
                    }
                }
            }
        }
    };
    page.into_string()
}

fn header(report: &RunReport) -> Markup {
    let server = &report.server.server;
    let verdict_of_run = if report.clauses.iter().any(|c| c.verdict == Verdict::Fail) {
        ("fail", "MUST-level clauses failed")
    } else if report.clauses.iter().any(|c| c.verdict == Verdict::Warn) {
        ("warn", "no MUST-level failure; SHOULD-level clauses failed")
    } else {
        ("pass", "no clause failed")
    };
    html! {
        header {
            h1 { "Matrix refresh-token conformance" }
            p.run-verdict.(verdict_of_run.0) { (verdict_of_run.1) " (exit code " (report.exit_code) ")" }
            dl.facts {
                dt { "Target" } dd { code { (report.target) } }
                @if let Some(fault) = &report.reference_fault {
                    dt { "Reference fault" } dd { code { (fault) } }
                }
                dt { "Server" } dd { (server.software.as_deref().unwrap_or("unknown (no Server header)")) }
                dt { "Advertised versions" } dd { (server.versions.join(" ")) }
                dt { "Accounts" } dd { (server.provisioning) }
                dt { "Catalogue" } dd { "Client-Server API " (report.spec_version) }
                dt { "Suite" } dd {
                    (report.suite_version) ", " (report.case_root) " (case set " code { (report.case_set) } ")"
                    @if report.strict { ", strict" }
                }
                dt { "Started" } dd { (report.started_at) ", " (format!("{:.1}", report.duration_ms as f64 / 1000.0)) " s" }
            }
            div.counts {
                @for verdict in VERDICTS {
                    @let n = report.clauses.iter().filter(|c| c.verdict == verdict).count();
                    @if n > 0 { span.count.(verdict.as_str()) { b { (n) } " " (verdict.as_str()) } }
                }
                span.cases {
                    "cases: "
                    @for (outcome, n) in &report.totals.cases {
                        @if *n > 0 { span.outcome.(outcome) { (n) " " (outcome) } " " }
                    }
                }
            }
        }
    }
}

/// Clauses grouped by their spec section, sections in catalogue order.
fn sections(clauses: &[ClauseVerdict]) -> Vec<(&str, Vec<&ClauseVerdict>)> {
    let mut out: Vec<(&str, Vec<&ClauseVerdict>)> = Vec::new();
    for clause in clauses {
        match out.iter_mut().find(|(s, _)| *s == clause.section) {
            Some((_, list)) => list.push(clause),
            None => out.push((&clause.section, vec![clause])),
        }
    }
    out
}

/// `#post_matrixclientv3refresh` -> `POST …/v3/refresh`; `#soft-logout` -> `Soft logout`.
fn section_name(url: &str) -> String {
    let anchor = section_anchor(url);
    for method in ["get", "post", "put", "delete"] {
        if let Some(rest) = anchor.strip_prefix(&format!("{method}_")) {
            let path = rest
                .strip_prefix("matrixclientv3")
                .map(|p| format!("…/v3/{p}"))
                .or_else(|| {
                    rest.strip_prefix("matrixclient")
                        .map(|p| format!("…/client/{p}"))
                })
                .unwrap_or_else(|| rest.to_owned());
            return format!("{} {path}", method.to_uppercase());
        }
    }
    let words = anchor
        .split('-')
        .map(|w| if w == "api" { "API" } else { w })
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = words.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// One row per spec section: which areas are green at a glance, each linking to its clauses below.
fn overview(sections: &[(&str, Vec<&ClauseVerdict>)]) -> Markup {
    html! {
        h2 { "Spec sections" }
        table.overview {
            @for (section, clauses) in sections {
                tr {
                    td.name { a href=(format!("#{}", section_anchor(section))) { (section_name(section)) } }
                    td.bar-cell { (bar(clauses)) }
                    td.section-counts { (counts(clauses)) }
                }
            }
        }
    }
}

fn bar(clauses: &[&ClauseVerdict]) -> Markup {
    html! {
        div.bar role="img" aria-label="verdicts of this section" {
            @for verdict in VERDICTS {
                @let n = clauses.iter().filter(|c| c.verdict == verdict).count();
                @if n > 0 {
                    span.(verdict.as_str()) style=(format!("flex-grow:{n}")) title=(format!("{n} {}", verdict.as_str())) {}
                }
            }
        }
    }
}

fn counts(clauses: &[&ClauseVerdict]) -> Markup {
    html! {
        @for verdict in VERDICTS {
            @let n = clauses.iter().filter(|c| c.verdict == verdict).count();
            @if n > 0 { span.(verdict.as_str()) { (n) " " (verdict.as_str()) } " " }
        }
    }
}

/// The id of a section's block in the page: its spec anchor.
fn section_anchor(url: &str) -> &str {
    url.rsplit_once('#').map_or(url, |(_, a)| a)
}

fn section_block(section: &str, clauses: &[&ClauseVerdict], report: &RunReport) -> Markup {
    html! {
        section.spec-section id=(section_anchor(section)) {
            h3 {
                a href=(section) { (section_name(section)) }
                span.section-counts { (counts(clauses)) }
            }
            (bar(clauses))
            table.clauses {
                @for clause in clauses {
                    tr {
                        td.verdict { span.badge.(clause.verdict.as_str()) { (clause.verdict.as_str()) } }
                        td.level { (clause.level.as_str()) }
                        td {
                            a.clause-id href=(clause.section) { (clause.id) }
                            div.summary { (clause.summary) }
                            div.reason { (text::reason(clause, &report.cases)) }
                            @if matches!(clause.verdict, Verdict::Fail | Verdict::Warn) {
                                div.case-links {
                                    "see "
                                    @for case in report.cases.iter().filter(|c| {
                                        clause.cases.contains(&c.id) && c.outcome == Outcome::Failed
                                    }) {
                                        a href=(format!("#case-{}", case.id)) { (case.id) } " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn cases_block(report: &RunReport) -> Markup {
    // Failures (the server is wrong) before errors (the case could not get to its checks).
    let mut troubled: Vec<&CaseRecord> = report
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Error))
        .collect();
    troubled.sort_by_key(|c| c.outcome != Outcome::Failed);
    html! {
        h2 { "Failed and erroring cases" }
        @if troubled.is_empty() {
            p.none { "Every case passed or was skipped." }
        }
        @for case in troubled {
            (case_block(report, case))
        }
    }
}

fn case_block(report: &RunReport, case: &CaseRecord) -> Markup {
    let failures = failures_of(report, case);
    let failed_steps: Vec<&str> = failures.iter().map(|f| f.step).collect();
    html! {
        details.case id=(format!("case-{}", case.id)) {
            summary {
                span.badge.(case.outcome.as_str()) { (case.outcome.as_str()) }
                " " code { (case.id) } " " span.title { (case.title) }
            }
            div.case-body {
                p.file { "Case file " code { (case.file) } }
                @if case.outcome == Outcome::Error {
                    p.error-message { (text::message(case)) }
                }
                @for failure in &failures {
                    @for (check, clause) in &failure.checks {
                        div.expectation.(check.level.as_str()) {
                            div {
                                b { (check.level.as_str()) " " (check.clause) }
                                " at " code { (location(case, check)) }
                            }
                            @if let Some(clause) = clause {
                                div.summary { (clause.summary) " " a href=(clause.section) { "spec" } }
                            }
                            div { "step " q { (check.step) } ": " (text::detail(check)) }
                        }
                    }
                }
                h4 { "Exchange, step by step" }
                ol.transcript {
                    (transcript(case, &failed_steps))
                }
            }
        }
    }
}

/// The transcript as a list of steps, each with its exchanges; the failed steps stand out.
fn transcript(case: &CaseRecord, failed_steps: &[&str]) -> Markup {
    // Entries before the first step are the set-up (accounts).
    let mut steps: Vec<(Option<&str>, Vec<&Entry>)> = vec![(None, Vec::new())];
    for entry in &case.transcript.entries {
        match entry {
            Entry::Step { name } => steps.push((Some(name), Vec::new())),
            other => steps.last_mut().expect("one group").1.push(other),
        }
    }
    html! {
        @for (name, entries) in steps {
            @if name.is_some() || !entries.is_empty() {
                @let failed = name.is_some_and(|n| failed_steps.contains(&n));
                @let stopped = name.is_some() && name == case.stopped_at.as_deref();
                li.step.failed[failed || stopped] {
                    div.step-name {
                        @match name {
                            Some(name) => { "step " q { (name) } }
                            None => { "set-up" }
                        }
                        @if failed { " " span.badge.fail { "failed here" } }
                        @if stopped && !failed { " " span.badge.error { "stopped here" } }
                    }
                    @for entry in entries {
                        @match entry {
                            Entry::Note { text } => div.note { (text) },
                            Entry::Exchange(exchange) => (exchange_block(exchange)),
                            Entry::Step { .. } => {},
                        }
                    }
                }
            }
        }
    }
}

fn exchange_block(exchange: &Exchange) -> Markup {
    let request = &exchange.request;
    html! {
        div.exchange {
            div.request {
                div.line { span.method { (request.method) } " " code { (request.path()) } }
                @for (name, value) in &request.headers { div.header { (name) ": " (value) } }
                @if let Some(body) = &request.body { pre { (body) } }
            }
            @match &exchange.response {
                Some(response) => div.response {
                    div.line { span.status.(status_class(response.status)) { (response.status) } }
                    @for (name, value) in &response.headers { div.header { (name) ": " (value) } }
                    @if !response.body.is_empty() { pre { (response.body) } }
                },
                None => div.response { div.line { span.status.s5 { "no response" } } },
            }
        }
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "s2",
        400..=499 => "s4",
        _ => "s5",
    }
}

/// The page for a run that ended before its cases ran, saying why.
pub fn render_aborted(reason: &str, exit_code: u8) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Refresh-token conformance: no case ran" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "Matrix refresh-token conformance" }
                    p.run-verdict.fail { "No case ran (exit code " (exit_code) ")" }
                }
                main { pre { (reason) } }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_read_as_words_or_endpoints() {
        let base = "https://spec.matrix.org/v1.19/client-server-api/";
        assert_eq!(
            section_name(&format!("{base}#post_matrixclientv3refresh")),
            "POST …/v3/refresh"
        );
        assert_eq!(
            section_name(&format!("{base}#get_matrixclientversions")),
            "GET …/client/versions"
        );
        assert_eq!(section_name(&format!("{base}#soft-logout")), "Soft logout");
        assert_eq!(
            section_name(&format!("{base}#api-standards")),
            "API standards"
        );
    }
}
