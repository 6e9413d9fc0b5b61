//! Why a case stopped before its last step, as data; `report/` words it.

use std::time::Duration;

use serde_json::Value;

use crate::case::model::Gate;
use crate::http::HttpError;
use crate::spec_version::VersionRange;
use crate::verdict::check::{Answer, Subject};

#[derive(Debug, Clone)]
pub enum StopReason {
    /// A gate of the case (or the fresh accounts it needs) is not met.
    Unmet {
        need: Need,
        reason: String,
    },
    /// The probe could not find out whether a gate is met.
    Undecided {
        need: Need,
        reason: String,
    },
    /// The case's `spec` range holds no version the server advertises.
    NoSpecVersion(VersionRange),
    /// The server advertises no version the suite can read: whether it implements the range is unknown.
    UnreadableVersions(VersionRange),
    Interrupted,
    DeadlineBeforeStart,
    DeadlineWhileRunning,
    CaseTimeout(Duration),
    /// No response could be had.
    Transport {
        at: Place,
        error: HttpError,
    },
    /// The server refused to create an account.
    AccountRefused {
        at: Place,
        reason: String,
    },
    /// The case waited its turn behind a rate limit until a session it had opened expired.
    SessionExpiredWhileWaiting {
        step: String,
        session: String,
    },
    /// The second attempt of a case stopped as the first had.
    Twice(Box<StopReason>),
    /// The OAuth 2.0 grant of a step did not complete.
    Grant {
        step: String,
        reason: String,
    },
    /// A value the case refers to is not there (a session never created, a variable never captured).
    Unresolved {
        step: Option<String>,
        reason: String,
    },
    NoRateLimit {
        count: u32,
    },
    NoTimeBeforeExpiry {
        session: String,
        lifetime: Duration,
        slowest: Duration,
    },
    WaitOverMaxWait {
        wait: Duration,
        max_wait: Duration,
    },
    NoLifetime {
        session: String,
    },
    LifetimeNotInteger {
        session: String,
        value: Value,
    },
    /// A token refused so close to its advertised expiry that the refusal says nothing.
    NearExpiry {
        step: String,
        session: String,
        left: Duration,
        margin: Duration,
    },
    /// A fixture step needs 200.
    SetupStatus {
        step: String,
        answer: String,
    },
    /// An `assume` (skip) or `require` (error) block did not hold.
    Block {
        step: String,
        block: Block,
        unmet: Vec<Unmet>,
        answer: Box<Answer>,
    },
    /// A capture found no value.
    Capture(Box<Uncaptured>),
    /// The harness panicked: a bug of the harness, reported instead of losing the case.
    Panicked(String),
    /// Client mode: the events that would have exercised the case's clauses did not happen.
    NotExercised(String),
}

/// What a gate check needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Gate(Gate),
    /// Several accounts in one case (fresh users).
    Accounts(usize),
}

/// Where in a case a request was being made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Creating a user of the case.
    Setup {
        user: String,
    },
    /// Waiting for the case's turn at the login lane.
    LoginTurn,
    Step(String),
    Burst,
    Registration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// `assume`: the server's choice makes the case not apply.
    Assume,
    /// `require`: a precondition.
    Require,
}

/// A capture of a step that found no value in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncaptured {
    pub step: String,
    /// The variable.
    pub name: String,
    pub pointer: String,
    /// The response's summary.
    pub answer: String,
}

/// One matcher of an `assume` or `require` block that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmet {
    pub subject: Subject,
    pub mismatch: crate::case::matcher::Mismatch,
}
