//! What a run found: check records per case, case outcomes, and the per-clause verdicts aggregated from them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::cause::Cause;
use crate::clause::{Catalogue, Clause, Level, Tag, TestKind};
use crate::reading::{Reading, ReadingNote};
use crate::source::Pos;
use crate::transcript::Transcript;

/// One expectation evaluated against the server, attributed to one clause.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub clause: String,
    /// The level this check counts at: the clause's, or lower where the case says so.
    pub level: Level,
    pub held: bool,
    pub step: String,
    /// What was checked and, when it did not hold, what the server did instead.
    pub detail: String,
    #[serde(skip)]
    pub pos: Pos,
}

/// What the server did where the spec leaves the choice to it; never a failure.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub clause: String,
    pub step: String,
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::EnumIter)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check held.
    Passed,
    /// A check did not hold: the server is wrong about a clause under test.
    Failed,
    /// The case could not reach its checks (setup, transport, timeout): says nothing about the clauses.
    Error,
    /// A gate was not met.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub title: String,
    pub file: String,
    pub clauses: Vec<String>,
    pub outcome: Outcome,
    /// Skipped because of this run's settings (a flag not given, `--max-wait`), not because of the server.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped_by_settings: bool,
    /// The timing cause that stopped the case (a rate limit, a wait, a timeout), when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The step at which the case stopped early (error or skip), when it had started its steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Why the case failed, errored or was skipped; empty when it passed.
    pub message: String,
    pub checks: Vec<CheckRecord>,
    pub observations: Vec<Observation>,
    /// The checks that did not run because the case stopped before them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<Unreached>,
    /// The requests and responses, redacted.
    #[serde(skip)]
    pub transcript: Transcript,
}

/// A check (or observation) of a clause in a step the case never got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreached {
    pub step: String,
    pub clause: String,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// A SHOULD-level (or lowered) check failed.
    Warn,
    /// The server legitimately does not offer the feature, or the clause is not testable against a server.
    NotApplicable,
    /// A server-choice clause: what the server did, no verdict.
    Observed,
    /// No case reached a check.
    Untested,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::NotApplicable => "not-applicable",
            Verdict::Observed => "observed",
            Verdict::Untested => "untested",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClauseVerdict {
    pub id: String,
    pub level: Level,
    pub tags: Vec<Tag>,
    pub verdict: Verdict,
    /// One line: the failing check, the skip reason, the observations, ...
    pub reason: String,
    /// The cases whose checks or observations count for this clause.
    pub cases: Vec<String>,
    pub section: String,
    pub summary: String,
    /// For each ambiguity of the spec that touches the clause, the reading that produced the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readings: Vec<ReadingNote>,
}

/// The reason given for clauses that only a client can honour, or that only define terms.
pub const NOT_TESTABLE: &str =
    "not testable against a server (client-side requirement or definition)";

/// Aggregates case records into one verdict per catalogue clause, in catalogue order.
pub fn aggregate(
    catalogue: &Catalogue,
    reading: Reading,
    records: &[CaseRecord],
) -> Vec<ClauseVerdict> {
    let mut citing: BTreeMap<&str, Vec<&CaseRecord>> = BTreeMap::new();
    for record in records {
        for clause in &record.clauses {
            citing.entry(clause.as_str()).or_default().push(record);
        }
    }
    catalogue
        .iter()
        .map(|clause| {
            let mut verdict = verdict_for(
                clause,
                citing
                    .get(clause.id.as_str())
                    .map_or(&[][..], Vec::as_slice),
            );
            verdict.readings = catalogue
                .ambiguities_of(&clause.id)
                .map(|a| ReadingNote {
                    ambiguity: a.id.clone(),
                    reading,
                    note: reading.reads(a).to_owned(),
                })
                .collect();
            verdict
        })
        .collect()
}

fn verdict_for(clause: &Clause, records: &[&CaseRecord]) -> ClauseVerdict {
    let checks: Vec<(&CaseRecord, &CheckRecord)> = records
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .filter(|c| c.clause == clause.id)
                .map(move |c| (*r, c))
        })
        .collect();
    let observations: Vec<(&CaseRecord, &Observation)> = records
        .iter()
        .flat_map(|r| {
            r.observations
                .iter()
                .filter(|o| o.clause == clause.id)
                .map(move |o| (*r, o))
        })
        .collect();
    let failed = checks
        .iter()
        .find(|(_, c)| !c.held && c.level == Level::Must);
    let warned = checks.iter().find(|(_, c)| !c.held);
    let mut cases: Vec<String> = checks.iter().map(|(r, _)| r.id.clone()).collect();
    cases.extend(observations.iter().map(|(r, _)| r.id.clone()));
    if cases.is_empty() {
        cases.extend(records.iter().map(|r| r.id.clone()));
    }
    let mut seen = std::collections::HashSet::new();
    cases.retain(|id| seen.insert(id.clone()));
    let (verdict, reason) = if let Some((record, check)) = failed.or(warned) {
        let verdict = if failed.is_some() {
            Verdict::Fail
        } else {
            Verdict::Warn
        };
        (
            verdict,
            format!("{}: {}: {}", record.id, check.step, check.detail),
        )
    } else if !checks.is_empty() {
        let n_cases = {
            let mut ids: Vec<&str> = checks.iter().map(|(r, _)| r.id.as_str()).collect();
            ids.dedup();
            ids.len()
        };
        (
            Verdict::Pass,
            format!("{} check(s) held in {n_cases} case(s)", checks.len()),
        )
    } else if !observations.is_empty() {
        let notes: Vec<String> = observations.iter().map(|(_, o)| o.note.clone()).collect();
        (Verdict::Observed, notes.join("; "))
    } else if clause.kind == TestKind::Untestable {
        (Verdict::NotApplicable, NOT_TESTABLE.to_owned())
    } else if let Some(skipped) = records.iter().find(|r| r.outcome == Outcome::Skipped) {
        let all_skipped = records.iter().all(|r| r.outcome == Outcome::Skipped);
        if all_skipped && records.iter().all(|r| !r.skipped_by_settings) {
            (Verdict::NotApplicable, skipped.message.clone())
        } else if let Some(not_run) = records.iter().find(|r| r.skipped_by_settings) {
            let reason = format!("not run with this run's settings: {}", not_run.message);
            (Verdict::Untested, reason)
        } else {
            (Verdict::Untested, untested_reason(&clause.id, records))
        }
    } else {
        (Verdict::Untested, untested_reason(&clause.id, records))
    };
    ClauseVerdict {
        id: clause.id.clone(),
        level: clause.level,
        tags: clause.tags.clone(),
        verdict,
        reason,
        cases,
        section: clause.section.clone(),
        summary: clause.summary.clone(),
        readings: Vec::new(),
    }
}

fn untested_reason(clause: &str, records: &[&CaseRecord]) -> String {
    let cut_short = records.iter().find_map(|r| {
        let steps: Vec<&str> = r
            .unreached
            .iter()
            .filter(|u| u.clause == clause)
            .map(|u| u.step.as_str())
            .collect();
        (!steps.is_empty()).then_some((r, steps))
    });
    if let Some((record, steps)) = cut_short {
        let why = if record.message.is_empty() {
            String::new()
        } else {
            format!(": {}", record.message.lines().last().unwrap_or_default())
        };
        return format!(
            "{} stopped before its checks of this clause (step `{}` did not run){why}",
            record.id,
            steps.join("`, `")
        );
    }
    match records.iter().find(|r| r.outcome == Outcome::Error) {
        Some(errored) => format!("{} ended in error: {}", errored.id, errored.message),
        None if records.is_empty() => {
            "no case covers this clause (or none was selected)".to_owned()
        }
        None => "no case reached a check of this clause".to_owned(),
    }
}

/// The clause verdicts that make the run non-conformant: MUST failures, and with `strict` also warnings.
pub fn nonconformant(verdicts: &[ClauseVerdict], strict: bool) -> bool {
    verdicts
        .iter()
        .any(|v| v.verdict == Verdict::Fail || (strict && v.verdict == Verdict::Warn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(id: &str) -> Clause {
        Clause {
            id: id.into(),
            level: Level::Must,
            tags: vec![],
            kind: TestKind::Functional,
            since: "v1.3".parse().unwrap(),
            until: None,
            section: String::new(),
            summary: String::new(),
        }
    }

    #[test]
    fn a_clause_whose_checks_did_not_run_is_untested_and_says_which() {
        let record = CaseRecord {
            id: "session-end/deactivate".into(),
            title: String::new(),
            file: String::new(),
            clauses: vec!["deactivate.no-login".into()],
            outcome: Outcome::Error,
            skipped_by_settings: false,
            cause: None,
            duration: Duration::ZERO,
            message: "step `deactivate`: precondition not met".into(),
            // What the case kept: its observation of the clause was dropped with the unreached check.
            checks: vec![],
            observations: vec![],
            unreached: vec![Unreached {
                step: "log in after deactivation".into(),
                clause: "deactivate.no-login".into(),
            }],
            transcript: Default::default(),
            stopped_at: None,
        };
        let verdict = verdict_for(&clause("deactivate.no-login"), &[&record]);
        assert_eq!(verdict.verdict, Verdict::Untested);
        assert!(
            verdict
                .reason
                .contains("step `log in after deactivation` did not run"),
            "{}",
            verdict.reason
        );
    }
}
