//! Errors that stop the harness before or around a run, and the exit codes of the product.

use std::process::ExitCode;

use crate::http::HttpError;

/// No MUST-level clause failed (with `--strict`: no SHOULD-level clause either).
pub const EXIT_OK: u8 = 0;
/// A MUST-level clause failed (with `--strict`, a SHOULD-level clause too).
pub const EXIT_NONCONFORMANT: u8 = 1;
/// The run was interrupted (Ctrl-C); the reports hold what finished.
pub const EXIT_INTERRUPTED: u8 = 130;
/// The harness could not do its job: bad arguments, invalid case files, an unreachable target, a target that
/// is not a Matrix homeserver, or cases that could not reach their checks.
pub const EXIT_HARNESS: u8 = 2;

/// The one exit rule of a run that got as far as verdicts: 1 when the verdicts are judged wrong (a MUST-level
/// clause failed, or with `--expected` a verdict moved), else 2 when a case ended in error, else 0. A failure
/// wins over errors: it is a finding about the server, whatever else kept other cases from their checks.
pub fn run_exit_code(judged_wrong: bool, cases_in_error: usize) -> u8 {
    if judged_wrong {
        EXIT_NONCONFORMANT
    } else if cases_in_error > 0 {
        EXIT_HARNESS
    } else {
        EXIT_OK
    }
}

/// Everything that makes the harness give up; each renders as a message a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    /// Case or catalogue files that do not load; already rendered with file:line:col and a snippet.
    #[error("{count} invalid case file(s)\n{rendered}")]
    InvalidCases { count: usize, rendered: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("target {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The target could be reached but gave no usable answer to a request the run cannot do without.
    #[error("target {url}: {request}: {reason}")]
    NoAnswer {
        url: String,
        request: String,
        reason: String,
    },
    #[error("target {url} does not look like a Matrix homeserver: {reason}")]
    NotMatrix { url: String, reason: String },
    #[error("cannot provision test accounts on {url}: {reason}")]
    Accounts { url: String, reason: String },
    #[error("the run deadline passed: {0}")]
    Deadline(String),
    #[error("interrupted (Ctrl-C) before any case ran")]
    Interrupted,
    #[error("cannot write reports to {path}: {source}")]
    Report {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A request that got no answer: "unreachable" only when no connection could be made.
    pub fn from_http(url: &str, request: &str, error: HttpError) -> Error {
        match error {
            HttpError::Connect(reason) => Error::Unreachable {
                url: url.to_owned(),
                reason,
            },
            other => Error::NoAnswer {
                url: url.to_owned(),
                request: request.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    pub fn code(&self) -> u8 {
        match self {
            Error::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_HARNESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_wins_over_errors() {
        assert_eq!(run_exit_code(true, 4), EXIT_NONCONFORMANT);
        assert_eq!(run_exit_code(true, 0), EXIT_NONCONFORMANT);
        assert_eq!(run_exit_code(false, 1), EXIT_HARNESS);
        assert_eq!(run_exit_code(false, 0), EXIT_OK);
    }
}
