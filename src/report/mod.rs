//! Reports of a run: the terminal table, JUnit XML, `report.json` and `summary.md`. They all render one
//! [`RunReport`]; every byte they write passes through the redactor.

pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;

use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::reading::Reading;
use crate::redact::Secrets;
use crate::target::Capabilities;
use crate::verdict::{CaseRecord, ClauseVerdict, Outcome, Verdict};

/// Bumped when a field of `report.json` changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub suite_version: &'static str,
    pub target: String,
    /// The built-in reference homeserver's fault, when the run was against it with one switched on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_fault: Option<String>,
    pub server: Capabilities,
    pub spec_version: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub strict: bool,
    /// How the ambiguities of the spec were read (`--reading`).
    pub reading: Reading,
    pub exit_code: u8,
    pub totals: Totals,
    pub clauses: Vec<ClauseVerdict>,
    /// Sorted by id.
    pub cases: Vec<CaseRecord>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub cases: std::collections::BTreeMap<&'static str, usize>,
    pub clauses: std::collections::BTreeMap<&'static str, usize>,
}

impl Totals {
    pub fn of(cases: &[CaseRecord], clauses: &[ClauseVerdict]) -> Totals {
        let mut totals = Totals::default();
        for outcome in [
            Outcome::Passed,
            Outcome::Failed,
            Outcome::Error,
            Outcome::Skipped,
        ] {
            let n = cases.iter().filter(|c| c.outcome == outcome).count();
            totals.cases.insert(outcome.as_str(), n);
        }
        for verdict in [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Warn,
            Verdict::NotApplicable,
            Verdict::Observed,
            Verdict::Untested,
        ] {
            let n = clauses.iter().filter(|c| c.verdict == verdict).count();
            totals.clauses.insert(verdict.as_str(), n);
        }
        totals
    }
}

/// Writes junit.xml, report.json and summary.md into `dir`.
pub fn write_all(report: &RunReport, dir: &Path, secrets: &Secrets) -> Result<(), Error> {
    let failed = |path: &Path, source| Error::Report {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let files = [
        ("junit.xml", junit::render(report)),
        ("report.json", json::render(report)),
        ("summary.md", markdown::render(report)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, secrets.redact(&text)).map_err(|e| failed(&path, e))?;
    }
    Ok(())
}
