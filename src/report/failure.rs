//! The failed checks of a run with everything a person needs to act on them: the case file and line, the
//! clause's spec sentence and link, and the exchange of the step that failed. The terminal and report.html
//! both show these.

use crate::report::RunReport;
use crate::transcript::Exchange;
use crate::verdict::{CaseRecord, CheckRecord, ClauseVerdict};

/// The failed checks of one step of one case: they share the step's exchange.
pub struct Failure<'a> {
    pub case: &'a CaseRecord,
    pub step: &'a str,
    /// Each failed check with its clause's verdict (for its summary and spec link).
    pub checks: Vec<(&'a CheckRecord, Option<&'a ClauseVerdict>)>,
    /// The requests of the step, in order; the last is the one the checks looked at.
    pub exchanges: Vec<&'a Exchange>,
}

/// The failed steps of one case, in the order their checks were made.
pub fn failures_of<'a>(report: &'a RunReport, case: &'a CaseRecord) -> Vec<Failure<'a>> {
    let mut out: Vec<Failure<'a>> = Vec::new();
    for check in case.checks.iter().filter(|check| !check.held) {
        let clause = report.clauses.iter().find(|c| c.id == check.clause);
        match out.iter_mut().find(|f| f.step == check.step) {
            Some(failure) => failure.checks.push((check, clause)),
            None => out.push(Failure {
                case,
                step: &check.step,
                checks: vec![(check, clause)],
                exchanges: case.transcript.step_exchanges(&check.step),
            }),
        }
    }
    out
}

/// Every failed step of the run, case by case in report order.
pub fn failures(report: &RunReport) -> Vec<Failure<'_>> {
    report
        .cases
        .iter()
        .flat_map(|case| failures_of(report, case))
        .collect()
}
