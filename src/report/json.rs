//! `report.json`: the whole run, versioned by `schema_version`, in types of its own (the run's internal
//! records can change without changing the file). `reports/report.schema.json` is generated from them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::cause::Cause;
use crate::homeserver::GateStatus;
use crate::reading::Reading;
use crate::report::{RunReport, SCHEMA_VERSION, text};
use crate::verdict::{
    CaseRecord, CheckRecord, Checked, ClauseVerdict, FormCheck, Outcome, Reason, Subject,
    Unreached, Verdict,
};

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "report.json of matrix-refresh-conformance")]
pub struct Report {
    pub schema_version: u32,
    pub suite_version: String,
    pub target: String,
    /// The built-in reference homeserver's fault, when the run was against it with one switched on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_fault: Option<String>,
    pub server: Server,
    pub spec_version: String,
    /// Where the cases came from (`built-in cases` or a folder).
    pub case_root: String,
    /// The hash of the case files.
    pub case_set: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub strict: bool,
    /// How the ambiguities of the spec were read (`--reading`): `default` or `strict`.
    pub reading: String,
    pub exit_code: u8,
    pub totals: Totals,
    pub clauses: Vec<Clause>,
    /// Sorted by id.
    pub cases: Vec<Case>,
    /// What to change so that the next run covers more, or takes less time.
    pub advice: Vec<Advice>,
    /// What the run's pacing cost per kind of request (429s, waits, timeouts).
    pub pacing: BTreeMap<String, Value>,
}

/// What the probe found out about the server.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Server {
    pub base_url: String,
    /// The `Server` response header, when the server sends one.
    pub software: Option<String>,
    /// As advertised by `GET /_matrix/client/versions`.
    pub versions: Vec<String>,
    pub provisioning: String,
    pub server_name: Option<String>,
    pub gates: BTreeMap<String, Gate>,
    /// Gates that the run's own settings left unmet.
    pub unmet_by_settings: Vec<String>,
    pub access_token_lifetime_ms: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Gate {
    pub met: bool,
    /// The probe got no usable answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undecided: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Totals {
    pub cases: BTreeMap<String, usize>,
    pub clauses: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Clause {
    pub id: String,
    pub level: String,
    pub tags: Vec<String>,
    pub verdict: Verdict,
    /// Why, in one line (or a few).
    pub reason: String,
    /// The check the verdict rests on, for `fail` and `warn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<Check>,
    pub cases: Vec<String>,
    pub section: String,
    pub summary: String,
    /// For each ambiguity of the spec that touches the clause, the reading that produced the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readings: Vec<ReadingNote>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReadingNote {
    pub ambiguity: String,
    pub reading: String,
    pub note: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Case {
    pub id: String,
    pub title: String,
    /// Relative to the case root.
    pub file: String,
    pub clauses: Vec<String>,
    pub outcome: Outcome,
    /// Skipped because of this run's settings, not because of the server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped_by_settings: bool,
    /// The timing cause that stopped the case, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The step at which the case stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    pub duration_ms: u64,
    /// Why the case failed, errored or was skipped; empty when it passed.
    pub message: String,
    /// Why the case stopped early, when it did (also after a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    pub checks: Vec<Check>,
    pub observations: Vec<Observation>,
    /// The checks that did not run because the case stopped before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<Unreached>,
}

/// One check of a clause.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Check {
    pub clause: String,
    pub level: String,
    pub held: bool,
    pub step: String,
    /// What was checked and, when it did not hold, what the server did instead.
    pub detail: String,
    /// The part of the response an `expect` matcher looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// The matcher, described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The subject's value; absent when the response did not have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    /// The status of the response the check looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A check of the form every response must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<FormCheck>,
    /// Where the case file states the expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Position {
    /// Relative to the case root.
    pub file: String,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Observation {
    pub clause: String,
    pub step: String,
    pub note: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Advice {
    pub topic: String,
    pub text: String,
}

impl Report {
    pub fn of(report: &RunReport) -> Report {
        let capabilities = &report.server;
        let info = &capabilities.server;
        let gates = capabilities
            .gates
            .iter()
            .map(|(gate, status)| {
                let gate_json = match status {
                    GateStatus::Met => Gate {
                        met: true,
                        undecided: false,
                        reason: None,
                    },
                    GateStatus::Unmet(reason) => Gate {
                        met: false,
                        undecided: false,
                        reason: Some(reason.to_string()),
                    },
                    GateStatus::Undecided(reason) => Gate {
                        met: false,
                        undecided: true,
                        reason: Some(reason.to_string()),
                    },
                };
                (gate.as_str().to_owned(), gate_json)
            })
            .collect();
        let named = |map: &BTreeMap<&'static str, usize>| {
            map.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
        };
        Report {
            schema_version: SCHEMA_VERSION,
            suite_version: report.suite_version.to_owned(),
            target: report.target.clone(),
            reference_fault: report.reference_fault.clone(),
            server: Server {
                base_url: info.base_url.clone(),
                software: info.software.clone(),
                versions: info.versions.clone(),
                provisioning: info.provisioning.clone(),
                server_name: info.server_name.clone(),
                gates,
                unmet_by_settings: capabilities
                    .unmet_by_settings
                    .iter()
                    .map(|g| g.as_str().to_owned())
                    .collect(),
                access_token_lifetime_ms: capabilities.access_token_lifetime_ms,
            },
            spec_version: report.spec_version.clone(),
            case_root: report.case_root.to_string(),
            case_set: report.case_set.clone(),
            started_at: report.started_at.clone(),
            duration_ms: report.duration_ms,
            strict: report.strict,
            reading: reading(report.reading),
            exit_code: report.exit_code,
            totals: Totals {
                cases: named(&report.totals.cases),
                clauses: named(&report.totals.clauses),
            },
            clauses: report
                .clauses
                .iter()
                .map(|c| clause(c, &report.cases))
                .collect(),
            cases: report.cases.iter().map(case).collect(),
            advice: report
                .advice
                .iter()
                .map(|a| Advice {
                    topic: plain(&a.topic),
                    text: a.text.clone(),
                })
                .collect(),
            pacing: report
                .pacing
                .iter()
                .map(|(limit, stats)| {
                    (
                        plain(limit),
                        serde_json::to_value(stats).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

/// A unit enum's serde name (`login`, `expiry`).
fn plain<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        other => other.map(|v| v.to_string()).unwrap_or_default(),
    }
}

fn reading(reading: Reading) -> String {
    reading.as_str().to_owned()
}

fn clause(verdict: &ClauseVerdict, cases: &[CaseRecord]) -> Clause {
    let failed_check = match &verdict.reason {
        Reason::Check { case, check } => {
            let file = cases
                .iter()
                .find(|c| &c.id == case)
                .map(|c| c.file.as_str());
            Some(self::check(check, file.unwrap_or_default()))
        }
        _ => None,
    };
    Clause {
        id: verdict.id.clone(),
        level: verdict.level.as_str().to_owned(),
        tags: verdict.tags.iter().map(plain).collect(),
        verdict: verdict.verdict,
        reason: text::reason(verdict, cases),
        failed_check,
        cases: verdict.cases.clone(),
        section: verdict.section.clone(),
        summary: verdict.summary.clone(),
        readings: verdict
            .readings
            .iter()
            .map(|r| ReadingNote {
                ambiguity: r.ambiguity.clone(),
                reading: reading(r.reading),
                note: r.note.clone(),
            })
            .collect(),
    }
}

fn case(record: &CaseRecord) -> Case {
    Case {
        id: record.id.clone(),
        title: record.title.clone(),
        file: record.file.clone(),
        clauses: record.clauses.clone(),
        outcome: record.outcome,
        skipped_by_settings: record.skipped_by_settings,
        cause: record.cause.clone(),
        stopped_at: record.stopped_at.clone(),
        duration_ms: record.duration.as_millis() as u64,
        message: text::message(record),
        stop: record.stop.as_ref().map(ToString::to_string),
        checks: record
            .checks
            .iter()
            .map(|c| check(c, &record.file))
            .collect(),
        observations: record
            .observations
            .iter()
            .map(|o| Observation {
                clause: o.clause.clone(),
                step: o.step.clone(),
                note: text::observation(o),
            })
            .collect(),
        unreached: record.unreached.clone(),
    }
}

fn check(record: &CheckRecord, file: &str) -> Check {
    let mut out = Check {
        clause: record.clause.clone(),
        level: record.level.as_str().to_owned(),
        held: record.held,
        step: record.step.clone(),
        detail: text::detail(record),
        subject: None,
        expected: None,
        actual: None,
        status: None,
        form: None,
        position: record.pos.filter(|p| p.line > 0).map(|p| Position {
            file: file.to_owned(),
            line: p.line,
            column: p.column,
        }),
    };
    match &record.checked {
        Checked::Matcher {
            subject,
            expected,
            actual,
            answer,
        } => {
            out.subject = Some(subject.clone());
            out.expected = Some(expected.clone());
            out.actual = actual.clone();
            out.status = Some(answer.status);
        }
        Checked::Form(form) => out.form = Some(form.clone()),
        Checked::Traffic(_) => {}
    }
    out
}

pub fn render(report: &RunReport) -> String {
    let mut text = serde_json::to_string_pretty(&Report::of(report)).expect("a report serializes");
    text.push('\n');
    text
}

/// A run that ended before its cases: why, and the exit code (no clauses, no cases).
pub fn render_aborted(reason: &str, exit_code: u8) -> String {
    let report = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
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

/// The JSON Schema of `report.json` (`reports/report.schema.json`), generated from the types above.
pub fn schema() -> Value {
    schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Report>()
        .to_value()
}

#[cfg(test)]
mod tests {
    /// After a change to the report types, `REGENERATE_SCHEMA=1 cargo test --lib report::json` writes the
    /// file anew.
    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/report.schema.json");
        let generated = serde_json::to_string_pretty(&super::schema()).unwrap() + "\n";
        if std::env::var_os("REGENERATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is not the schema the report types generate: rerun with REGENERATE_SCHEMA=1",
            path.display()
        );
    }
}
