//! Reports of a run: the terminal table, JUnit XML, `report.json`, `summary.md` and `report.html`. They all
//! render one [`RunReport`]; every byte they write passes through the output sink, which redacts it.

pub mod advice;
pub mod console;
pub mod failure;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;
pub mod text;

use std::path::{Path, PathBuf};

use strum::IntoEnumIterator;

use crate::case::CaseRoot;
use crate::cause::Limit;
use crate::error::Error;
use crate::homeserver::Capabilities;
use crate::http::pacer::LimitStats;
use crate::output;
use crate::reading::Reading;
use crate::report::advice::Advice;
use crate::verdict::{CaseRecord, ClauseVerdict, Outcome, Verdict};

/// Bumped when a field of `report.json` changes meaning or disappears.
/// 2: the report's own types (`reports/report.schema.json`); checks carry subject, expected, actual and
/// position; `server` lists what the probe found, not its internal record.
pub const SCHEMA_VERSION: u32 = 2;

/// The run as the reporters see it; `report.json` has types of its own ([`json::Report`]).
#[derive(Debug)]
pub struct RunReport {
    pub schema_version: u32,
    pub suite_version: &'static str,
    pub target: String,
    /// The built-in reference homeserver's fault, when the run was against it with one switched on.
    pub reference_fault: Option<String>,
    pub server: Capabilities,
    pub spec_version: String,
    /// Where the cases came from, and the hash of their files (as `--version` shows it for the built-in set).
    pub case_root: CaseRoot,
    pub case_set: String,
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
    /// What to change so that the next run covers more, or takes less time.
    pub advice: Vec<Advice>,
    /// What the run's pacing cost per kind of request (429s, waits, timeouts).
    pub pacing: std::collections::BTreeMap<Limit, LimitStats>,
}

#[derive(Debug, Default)]
pub struct Totals {
    pub cases: std::collections::BTreeMap<&'static str, usize>,
    pub clauses: std::collections::BTreeMap<&'static str, usize>,
}

impl Totals {
    /// How many cases ended with this outcome.
    pub fn cases_with(&self, outcome: Outcome) -> usize {
        self.cases.get(outcome.as_str()).copied().unwrap_or(0)
    }

    pub fn of(cases: &[CaseRecord], clauses: &[ClauseVerdict]) -> Totals {
        let mut totals = Totals::default();
        for outcome in Outcome::iter() {
            let n = cases.iter().filter(|c| c.outcome == outcome).count();
            totals.cases.insert(outcome.as_str(), n);
        }
        for verdict in Verdict::iter() {
            let n = clauses.iter().filter(|c| c.verdict == verdict).count();
            totals.clauses.insert(verdict.as_str(), n);
        }
        totals
    }
}

/// The files a run writes into the report directory.
pub const FILES: [&str; 4] = ["junit.xml", "report.json", "summary.md", "report.html"];

/// The report directory, checked writable and cleared of a previous run's reports before any request is
/// sent: a run that ends early must never leave older results behind for CI to publish.
#[derive(Debug, Clone)]
pub struct ReportDir {
    path: PathBuf,
}

impl ReportDir {
    pub fn prepare(path: &Path) -> Result<ReportDir, Error> {
        let failed = |source| Error::Report {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path).map_err(failed)?;
        // Writability is proven by writing, not guessed from permission bits.
        tempfile::NamedTempFile::new_in(path).map_err(failed)?;
        for name in FILES {
            match std::fs::remove_file(path.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Report {
                        path: path.join(name).display().to_string(),
                        source: e,
                    });
                }
            }
        }
        Ok(ReportDir {
            path: path.to_owned(),
        })
    }

    /// Writes junit.xml, report.json, summary.md and report.html, each replaced atomically.
    pub fn write(&self, report: &RunReport) -> Result<(), Error> {
        self.write_files([
            junit::render(report),
            json::render(report),
            markdown::render(report),
            html::render(report),
        ])
    }

    /// Reports for a run that ended before its cases ran, saying why.
    pub fn write_aborted(&self, reason: &str, exit_code: u8) -> Result<(), Error> {
        self.write_files([
            junit::render_aborted(reason),
            json::render_aborted(reason, exit_code),
            markdown::render_aborted(reason, exit_code),
            html::render_aborted(reason, exit_code),
        ])
    }

    fn write_files(&self, texts: [String; FILES.len()]) -> Result<(), Error> {
        for (name, text) in FILES.into_iter().zip(texts) {
            let path = self.path.join(name);
            output::write_file(&path, &text).map_err(|source| Error::Report {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}
