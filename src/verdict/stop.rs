//! Why a case stopped before its last step, as data; `report/` words it.

use std::time::Duration;

use serde_json::Value;

use crate::case::model::Gate;
use crate::case::unresolved::Unresolved;
use crate::cause::Limit;
use crate::http::HttpError;
use crate::oauth_wire::MetadataGap;
use crate::spec_version::VersionRange;
use crate::verdict::check::{Answer, Subject};
use crate::verdict::gate::{GateUndecided, GateUnmet};
use crate::verdict::traffic::NotExercised;

#[derive(Debug, Clone)]
pub enum StopReason {
    /// A gate of the case (or the fresh accounts it needs) is not met.
    Unmet {
        need: Need,
        reason: GateUnmet,
    },
    /// The probe could not find out whether a gate is met.
    Undecided {
        need: Need,
        reason: GateUndecided,
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
        reason: AccountRefusal,
    },
    /// The case waited its turn behind a rate limit until a session it had opened expired.
    SessionExpiredWhileWaiting {
        step: String,
        session: String,
        limit: Limit,
        waited: Duration,
    },
    /// The second attempt of a case stopped as the first had.
    Twice(Box<StopReason>),
    /// The OAuth 2.0 grant of a step did not complete.
    Grant {
        step: String,
        reason: GrantFailure,
    },
    /// A value the case refers to is not there (a session never created, a variable never captured).
    Unresolved {
        step: Option<String>,
        reason: Unresolved,
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
    NotExercised(NotExercised),
}

/// Why the server did not create an account; each answer is the server's, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRefusal {
    /// Client-API registration answered without a user ID.
    Registration { answer: String },
    /// Registration asks for user-interactive authentication the harness cannot complete.
    NoDoableFlow { answer: String },
    /// Registration still asked for authentication after this many rounds.
    TooManyRounds(usize),
    /// Synapse's admin registration API gave no nonce.
    NoNonce { answer: String },
    /// Synapse's admin registration API answered without a user ID.
    SharedSecret { answer: String },
}

/// Why the OAuth 2.0 grant of a step did not complete.
#[derive(Debug, Clone)]
pub enum GrantFailure {
    /// No OAuth 2.0 server was discovered or no authoriser given (the case's gates keep this from happening).
    NotConfigured,
    /// The metadata lacks an endpoint the grant needs.
    Metadata(MetadataGap),
    /// A request of the grant got no response.
    Transport {
        request: GrantRequest,
        error: HttpError,
    },
    /// A request of the grant got an answer the grant cannot go on from; the answer, described.
    Answered {
        request: GrantRequest,
        answer: String,
    },
    /// The authorisation endpoint redirected to a `location` that does not resolve against it.
    BadRedirect {
        location: String,
        error: String,
    },
    /// The URL the authoriser reported is not a URL (the parser's words).
    RedirectNotUrl(String),
    /// The device authorisation's verification URI is not a URL (the parser's words).
    VerificationNotUrl(String),
    /// The authorisation ended at `url` (redacted), not at the suite's redirect URI.
    EndedElsewhere {
        url: String,
    },
    /// The redirect carries an RFC 6749 §4.1.2.1 error.
    Refused {
        error: String,
        description: String,
    },
    /// The redirect does not carry the `state` the request sent.
    StateMismatch,
    /// The redirect carries no code.
    NoCode,
    Authoriser(AuthoriserFailure),
}

/// A request of an OAuth 2.0 grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRequest {
    /// RFC 7591 dynamic client registration.
    ClientRegistration,
    /// The authorisation request (the built-in authoriser follows it).
    Authorisation,
    /// The exchange of the code at the token endpoint.
    CodeExchange,
    /// RFC 8628 §3.1: the request for a device code.
    DeviceAuthorisation,
    /// The verification page the built-in authoriser opens.
    VerificationPage,
    /// RFC 8628 §3.4: the token request with the device code.
    DeviceToken,
}

/// Why the `--oauth-authorize` command did not complete the user's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthoriserFailure {
    /// It could not be started (the system's words).
    CannotRun(String),
    TimedOut(Duration),
    /// Waiting for it failed (the system's words).
    Lost(String),
    /// It exited unsuccessfully: its exit status and the last lines of its stderr, redacted.
    Exited {
        status: String,
        stderr: String,
    },
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
