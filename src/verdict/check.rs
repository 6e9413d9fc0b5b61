//! One expectation evaluated against the server, as data: what was looked at, what was expected, what the
//! server gave and where the case file asked for it. `report/` words it.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::clause::Level;
use crate::source::Pos;
use crate::verdict::traffic::Reaction;

/// One check, attributed to one clause.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRecord {
    pub clause: String,
    /// The level this check counts at: the clause's, or lower where the case says so.
    pub level: Level,
    pub held: bool,
    pub step: String,
    pub checked: Checked,
    /// The expectation in the case file; `None` for the checks the harness makes itself.
    pub pos: Option<Pos>,
}

/// What a check looked at, and what it found.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// A matcher of a case's `expect` block on one part of a response.
    Matcher {
        subject: Subject,
        /// The matcher, described: its first operator that did not hold, or all of them when it held.
        expected: String,
        /// The subject's value in the response; `None` when it is absent.
        actual: Option<Value>,
        answer: Answer,
    },
    /// The form every response must have (see `run/ambient.rs`).
    Form(FormCheck),
    /// A client-side clause judged from recorded traffic (client mode): what the client did.
    Traffic(Reaction),
}

/// The part of a response a matcher looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Subject {
    Status,
    Header {
        name: String,
    },
    /// A JSON pointer into the body.
    Json {
        pointer: String,
    },
}

/// The response a check looked at, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Answer {
    pub status: u16,
    pub errcode: Option<String>,
    /// `401 M_UNKNOWN_TOKEN: "..."`: the summary and the server's own words.
    pub described: String,
    /// Whether the body was JSON.
    pub json: bool,
}

/// A check of the form of a response, whatever the case is about.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FormCheck {
    /// A JSON body is UTF-8.
    Utf8 { status: u16 },
    /// A JSON response says so in its Content-Type.
    ContentType { status: u16, content_type: String },
    /// An error response has a string `errcode` and a string `error`.
    ErrorFields {
        /// The response's summary (`401 M_UNKNOWN_TOKEN soft_logout=true`).
        response: String,
        errcode: bool,
        error: bool,
    },
    /// `soft_logout` of a 401 M_UNKNOWN_TOKEN is a boolean when present.
    SoftLogout { value: Option<Value> },
    /// An error response whose body is not JSON.
    ErrorNotJson { status: u16, content_type: String },
}
