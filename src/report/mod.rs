//! Reports of a run: the terminal table, JUnit XML, `report.json`, `summary.md`, `report.html` and GitHub's
//! annotations and job summary. Each is a [`reporter::Reporter`] that consumes the run's events; what needs
//! the whole run renders one [`RunReport`]. Every byte they write passes through the output sink, which
//! redacts it.

pub mod advice;
pub mod console;
pub mod failure;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod reporter;
pub mod terminal;
pub mod text;

use std::path::{Path, PathBuf};

use strum::IntoEnumIterator;

use crate::case::CaseRoot;
use crate::cause::Limit;
use crate::error::Error;
use crate::homeserver::Capabilities;
use crate::http::pacer::LimitStats;
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

/// How each of [`FILES`] renders a run.
const RENDER: [fn(&RunReport) -> String; FILES.len()] =
    [junit::render, json::render, markdown::render, html::render];

/// How each of [`FILES`] renders a run that ended before its cases ran, from the reason and the exit code.
const RENDER_ABORTED: [fn(&str, u8) -> String; FILES.len()] = [
    |reason, _| junit::render_aborted(reason),
    json::render_aborted,
    markdown::render_aborted,
    html::render_aborted,
];

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

    /// A reporter per file: junit.xml, report.json, summary.md and report.html.
    pub fn reporters(&self) -> impl Iterator<Item = Box<dyn reporter::Reporter>> + '_ {
        FILES.into_iter().zip(RENDER).map(|(name, render)| {
            Box::new(reporter::File {
                path: self.path.join(name),
                render,
            }) as Box<dyn reporter::Reporter>
        })
    }

    /// Reports for a run that ended before its cases ran, saying why.
    pub fn write_aborted(&self, reason: &str, exit_code: u8) -> Result<(), Error> {
        for (name, render) in FILES.into_iter().zip(RENDER_ABORTED) {
            reporter::write(&self.path.join(name), &render(reason, exit_code))?;
        }
        Ok(())
    }
}
