//! Running the cases: one shared tokio runtime, one libtest-mimic trial per case, records collected for the
//! reports.

pub mod ambient;
pub mod case_run;
pub mod http;
pub mod scope;
pub mod step;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::{Completion, Failed, Trial};

use crate::case::Case;
use crate::clause::Catalogue;
use crate::run::http::Http;
use crate::target::accounts::Accounts;
use crate::target::Capabilities;
use crate::verdict::{CaseRecord, Outcome};

/// Everything the trials share.
pub struct RunContext {
    pub http: Http,
    pub accounts: Accounts,
    pub capabilities: Capabilities,
    pub catalogue: Catalogue,
    pub max_wait: Duration,
    pub case_timeout: Duration,
}

/// The records of the cases that ran, filled by the trials as they finish.
pub type Records = Arc<Mutex<Vec<CaseRecord>>>;

/// One trial per case, named by case id, with the primary clause as its kind (so that a libtest filter can
/// select by clause as well as by id).
pub fn trials(
    cases: Vec<Case>,
    ctx: Option<Arc<RunContext>>,
    runtime: tokio::runtime::Handle,
    records: Records,
) -> Vec<Trial> {
    cases
        .into_iter()
        .map(|case| {
            let name = case.id.clone();
            let kind = case.primary_clause().to_owned();
            let ctx = ctx.clone();
            let runtime = runtime.clone();
            let records = records.clone();
            Trial::ignorable_test(name, move || {
                let Some(ctx) = ctx else {
                    return Err(Failed::from("no target"));
                };
                let record = runtime.block_on(case_run::run_case(&ctx, &case));
                let result = completion(&record);
                records.lock().unwrap_or_else(|e| e.into_inner()).push(record);
                result
            })
            .with_kind(kind)
        })
        .collect()
}

fn completion(record: &CaseRecord) -> Result<Completion, Failed> {
    match record.outcome {
        Outcome::Passed => Ok(Completion::Completed),
        Outcome::Skipped => Ok(Completion::ignored_with(&record.message)),
        Outcome::Failed => Err(Failed::from(&record.message)),
        Outcome::Error => Err(Failed::from(format!("error (not a verdict on the clause): {}", record.message))),
    }
}
