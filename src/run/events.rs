//! The one way a case runs, for the command line and for the suite's own tests alike: as a task of its own,
//! so that a panic (a bug of the harness) becomes an error record instead of losing the case, reporting
//! what happens as events to a [`Listener`].

use std::sync::{Arc, Mutex};

use crate::case::Case;
use crate::redact::Secrets;
use crate::run::{RunContext, case_run};
use crate::verdict::{CaseRecord, CheckRecord, StopReason};

/// What a run reports while it goes.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    CaseStarted(&'a Case),
    /// A check that counts for its clause. A case's checks are reported when it ends: until then, a check
    /// that held may still be dropped (a clause is not judged on the half of a case that ran).
    CheckRecorded {
        case: &'a str,
        check: &'a CheckRecord,
    },
    CaseFinished(&'a CaseRecord),
}

/// Whoever consumes a run's events (the reports' record collector, a progress display, a test).
pub trait Listener: Send + Sync {
    fn event(&self, event: Event<'_>);
}

/// Collects the finished cases' records, for the verdicts and the reports.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<CaseRecord>>>);

impl Recorder {
    /// The records so far, sorted by case id.
    pub fn take_sorted(&self) -> Vec<CaseRecord> {
        let mut records = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records
    }
}

impl Listener for Recorder {
    fn event(&self, event: Event<'_>) {
        if let Event::CaseFinished(record) = event {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record.clone());
        }
    }
}

/// Several listeners, each told every event in turn.
impl Listener for Vec<Arc<dyn Listener>> {
    fn event(&self, event: Event<'_>) {
        for listener in self {
            listener.event(event);
        }
    }
}

/// Runs one case as its own task and reports it to `listener`; a panic of the harness ends the case in error.
pub async fn run_contained(
    ctx: Arc<RunContext>,
    case: Case,
    listener: &dyn Listener,
) -> CaseRecord {
    listener.event(Event::CaseStarted(&case));
    let task = tokio::spawn({
        let (ctx, case) = (ctx.clone(), case.clone());
        async move { case_run::run_case(&ctx, &case).await }
    });
    let record = contained(&case, &ctx.http.secrets, task).await;
    for check in &record.checks {
        listener.event(Event::CheckRecorded {
            case: &record.id,
            check,
        });
    }
    listener.event(Event::CaseFinished(&record));
    record
}

/// The record a case's task ends with, or, when the harness panicked, an error of the case that says so.
async fn contained(
    case: &Case,
    secrets: &Secrets,
    task: tokio::task::JoinHandle<CaseRecord>,
) -> CaseRecord {
    match task.await {
        Ok(record) => record,
        Err(failed) => {
            let reason = match failed.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default(),
                Err(cancelled) => cancelled.to_string(),
            };
            case_run::harness_failure(case, StopReason::Panicked(secrets.redact(&reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseRoot;
    use crate::verdict::Outcome;

    #[tokio::test]
    async fn a_panicking_case_ends_in_error_and_stays_in_the_report() {
        let suite = crate::case::load_from(&CaseRoot::BuiltIn).unwrap();
        let case = suite.cases[0].clone();
        let secrets = Secrets::default();
        secrets.add("hunter2");
        let task = tokio::spawn(async { panic!("a bug, with hunter2 in it") });
        let record = contained(&case, &secrets, task).await;
        assert_eq!(record.id, case.id);
        assert_eq!(record.outcome, Outcome::Error);
        match &record.stop {
            Some(StopReason::Panicked(reason)) => {
                assert!(
                    reason.contains("a bug") && !reason.contains("hunter2"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
