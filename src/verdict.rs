//! What a run found: check records per case, case outcomes, and the per-clause verdicts aggregated from them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub mod check;
pub mod gate;
pub mod stop;
pub mod traffic;

pub use check::{Answer, CheckRecord, Checked, FormCheck, Subject};
pub use stop::StopReason;

use crate::cause::Cause;
use crate::clause::{Catalogue, Clause, Level, Tag, TestKind};
use crate::reading::{Reading, ReadingNote};
use crate::transcript::Transcript;

/// What the server did where the spec leaves the choice to it; never a failure.
#[derive(Debug, Clone)]
pub struct Observation {
    pub clause: String,
    pub step: String,
    /// The case's label for what it observes (the step's name by default).
    pub label: String,
    /// The response's summary (`401 M_UNKNOWN_TOKEN soft_logout=true`).
    pub answer: String,
    /// Where tokens were issued: the lifetime field the endpoint uses, and whether the server gave it.
    pub lifetime: Option<Lifetime>,
}

/// Whether issued tokens came with a lifetime, in the field their endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// `expires_in_ms` (Matrix) or `expires_in` (OAuth 2.0, in seconds).
    pub field: &'static str,
    pub given: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema, strum::EnumIter)]
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

#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub id: String,
    pub title: String,
    pub file: String,
    pub clauses: Vec<String>,
    pub outcome: Outcome,
    /// Skipped because of this run's settings (a flag not given, `--max-wait`), not because of the server.
    pub skipped_by_settings: bool,
    /// The timing cause that stopped the case (a rate limit, a wait, a timeout), when one did.
    pub cause: Option<Cause>,
    /// The step at which the case stopped early (error or skip), when it had started its steps.
    pub stopped_at: Option<String>,
    pub duration: Duration,
    /// Why the case stopped early (its error or skip; after a failure, what stopped it then).
    pub stop: Option<StopReason>,
    pub checks: Vec<CheckRecord>,
    pub observations: Vec<Observation>,
    /// The checks that did not run because the case stopped before them.
    pub unreached: Vec<Unreached>,
    /// The requests and responses, redacted.
    pub transcript: Transcript,
}

/// A check (or observation) of a clause in a step the case never got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Unreached {
    pub step: String,
    pub clause: String,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    strum::EnumIter,
)]
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

#[derive(Debug, Clone)]
pub struct ClauseVerdict {
    pub id: String,
    pub level: Level,
    pub tags: Vec<Tag>,
    pub verdict: Verdict,
    /// Why: the failing check, the skip reason, the observations, ...
    pub reason: Reason,
    /// The cases whose checks or observations count for this clause.
    pub cases: Vec<String>,
    pub section: String,
    pub summary: String,
    /// For each ambiguity of the spec that touches the clause, the reading that produced the verdict.
    pub readings: Vec<ReadingNote>,
}

/// Why a clause got its verdict. Cases are named by id; their records are in the same run.
#[derive(Debug, Clone)]
pub enum Reason {
    /// A check that did not hold: the first at MUST level, else the first.
    Check {
        case: String,
        check: Box<CheckRecord>,
    },
    /// Every check held.
    Held {
        checks: usize,
        cases: usize,
    },
    /// What the server did, where the spec leaves the choice to it.
    Observed(Vec<Observation>),
    /// A client-side requirement or a definition.
    NotTestable,
    /// Every case of the clause was skipped because of the server: the first one says why.
    Skipped {
        case: String,
    },
    /// A case of the clause was not run because of the run's settings.
    NotRun {
        case: String,
    },
    /// A case stopped before the steps that check the clause.
    CutShort {
        case: String,
        steps: Vec<String>,
    },
    Errored {
        case: String,
    },
    /// No case cites the clause (or none was selected).
    NoCase,
    NoCheckReached,
    /// Client mode: what the cases of the clause said instead of a verdict (their ids).
    NotExercised {
        cases: Vec<String>,
    },
    /// Client mode: no event of the run called for the clause.
    NoEvent,
    /// Client mode: a definition judged under another clause.
    JudgedUnder(&'static str),
}

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
        let reason = Reason::Check {
            case: record.id.clone(),
            check: Box::new((*check).clone()),
        };
        (verdict, reason)
    } else if !checks.is_empty() {
        let n_cases = {
            let mut ids: Vec<&str> = checks.iter().map(|(r, _)| r.id.as_str()).collect();
            ids.dedup();
            ids.len()
        };
        let reason = Reason::Held {
            checks: checks.len(),
            cases: n_cases,
        };
        (Verdict::Pass, reason)
    } else if !observations.is_empty() {
        let notes = observations.iter().map(|(_, o)| (*o).clone()).collect();
        (Verdict::Observed, Reason::Observed(notes))
    } else if clause.kind == TestKind::Untestable {
        (Verdict::NotApplicable, Reason::NotTestable)
    } else if let Some(skipped) = records.iter().find(|r| r.outcome == Outcome::Skipped) {
        let all_skipped = records.iter().all(|r| r.outcome == Outcome::Skipped);
        if all_skipped && records.iter().all(|r| !r.skipped_by_settings) {
            let case = skipped.id.clone();
            (Verdict::NotApplicable, Reason::Skipped { case })
        } else if let Some(not_run) = records.iter().find(|r| r.skipped_by_settings) {
            let case = not_run.id.clone();
            (Verdict::Untested, Reason::NotRun { case })
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

fn untested_reason(clause: &str, records: &[&CaseRecord]) -> Reason {
    let cut_short = records.iter().find_map(|r| {
        let steps: Vec<String> = r
            .unreached
            .iter()
            .filter(|u| u.clause == clause)
            .map(|u| u.step.clone())
            .collect();
        (!steps.is_empty()).then_some((r, steps))
    });
    if let Some((record, steps)) = cut_short {
        return Reason::CutShort {
            case: record.id.clone(),
            steps,
        };
    }
    match records.iter().find(|r| r.outcome == Outcome::Error) {
        Some(errored) => Reason::Errored {
            case: errored.id.clone(),
        },
        None if records.is_empty() => Reason::NoCase,
        None => Reason::NoCheckReached,
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
            stop: Some(StopReason::Interrupted),
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
            matches!(&verdict.reason, Reason::CutShort { case, steps }
                if case == "session-end/deactivate" && steps == &["log in after deactivation"]),
            "{:?}",
            verdict.reason
        );
    }
}
