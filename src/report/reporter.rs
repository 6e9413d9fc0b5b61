//! The reporters as consumers of a run's events. Each hears every case as it finishes and the whole run at
//! its end: what it can say of one case (a GitHub annotation) it says at once, and what needs the verdicts
//! of the whole run (the clause table, the files) waits for the end.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::case::CaseRoot;
use crate::error::Error;
use crate::expected;
use crate::output;
use crate::run::events::{Event, Listener};
use crate::verdict::CaseRecord;

use super::{RunReport, console, github, markdown, terminal};

pub trait Reporter: Send {
    /// A case ended (in the order cases end, not by id).
    fn case_finished(&mut self, _case: &CaseRecord) {}

    /// The run ended and its verdicts are known.
    fn run_finished(&mut self, run: &RunReport) -> Result<(), Error>;
}

/// A run's reporters, as one listener of its events.
pub struct Reporters(Mutex<Vec<Box<dyn Reporter>>>);

impl Reporters {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Reporters {
        Reporters(Mutex::new(reporters))
    }

    /// Hands the finished run to every reporter, in order. Each gets its turn even when one before it failed
    /// (a full disk must not also lose the terminal's table); the first failure is the result.
    pub fn run_finished(&self, run: &RunReport) -> Result<(), Error> {
        let mut reporters = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut first_failure = None;
        for reporter in reporters.iter_mut() {
            if let Err(e) = reporter.run_finished(run) {
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

impl Listener for Reporters {
    fn event(&self, event: Event<'_>) {
        if let Event::CaseFinished(case) = event {
            let mut reporters = self.0.lock().unwrap_or_else(|e| e.into_inner());
            for reporter in reporters.iter_mut() {
                reporter.case_finished(case);
            }
        }
    }
}

/// The case blocks, the clause table and the advice, on stdout.
pub struct Terminal;

impl Reporter for Terminal {
    fn run_finished(&mut self, run: &RunReport) -> Result<(), Error> {
        output::out(&terminal::render(run));
        Ok(())
    }
}

/// One file of the report directory, replaced atomically.
pub struct File {
    pub path: PathBuf,
    pub render: fn(&RunReport) -> String,
}

impl Reporter for File {
    fn run_finished(&mut self, run: &RunReport) -> Result<(), Error> {
        write(&self.path, &(self.render)(run))
    }
}

/// On GitHub Actions: an annotation per failed check as its case ends, and the Markdown summary on the
/// job's page at the end.
pub struct GitHub {
    case_root: CaseRoot,
    annotations: bool,
    step_summary: Option<PathBuf>,
}

impl GitHub {
    /// What the environment asks for; `None` outside GitHub Actions.
    pub fn from_env(case_root: CaseRoot) -> Option<GitHub> {
        let annotations = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from);
        (annotations || step_summary.is_some()).then_some(GitHub {
            case_root,
            annotations,
            step_summary,
        })
    }
}

impl Reporter for GitHub {
    fn case_finished(&mut self, case: &CaseRecord) {
        if self.annotations {
            output::out(&github::annotations(case, &self.case_root));
        }
    }

    fn run_finished(&mut self, run: &RunReport) -> Result<(), Error> {
        if let Some(path) = &self.step_summary
            && let Err(e) = output::append(path, &markdown::render(run))
        {
            // The job's page is a convenience: the reports are written all the same.
            console::warning(&format!(
                "cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                path.display()
            ));
        }
        Ok(())
    }
}

/// `--bless`: the run's verdicts become the expected ones, and its summary goes beside them.
pub struct Bless {
    pub path: PathBuf,
}

impl Reporter for Bless {
    fn run_finished(&mut self, run: &RunReport) -> Result<(), Error> {
        let server = run.server.server.software.as_deref().unwrap_or(&run.target);
        expected::write(&self.path, server, &run.clauses).map_err(Error::Usage)?;
        let summary = self.path.with_extension("md");
        write(&summary, &markdown::render(run))?;
        console::blessed(&self.path, &summary);
        Ok(())
    }
}

/// Writes a report file, replacing it atomically.
pub(super) fn write(path: &Path, text: &str) -> Result<(), Error> {
    output::write_file(path, text).map_err(|source| Error::Report {
        path: path.display().to_string(),
        source,
    })
}
