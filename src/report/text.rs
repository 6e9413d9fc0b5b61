//! The words of a run: how check records, stop reasons, case outcomes and verdict reasons read. Everything
//! below `report/` keeps them as data; every reporter words them here, the same way.

use std::fmt;

use serde_json::Value;

use crate::case::matcher::{Mismatch, show};
use crate::cause::shown;
use crate::verdict::stop::{Block, Need, Place, Uncaptured, Unmet};
use crate::verdict::{
    Answer, CaseRecord, CheckRecord, Checked, ClauseVerdict, FormCheck, Lifetime, Observation,
    Outcome, Reason, StopReason, Subject,
};

/// What was checked and, when it did not hold, what the server did instead.
pub fn detail(check: &CheckRecord) -> String {
    match &check.checked {
        Checked::Matcher {
            subject,
            expected,
            actual,
            answer,
        } => {
            let label = label(subject, answer);
            if check.held {
                return format!("{label} as expected");
            }
            let mismatch = differs(expected, actual.as_ref());
            match subject {
                // The errcode and message say what the server meant by the status, when it gave them.
                Subject::Status if answer.errcode.is_some() => {
                    format!("{label}: {mismatch} ({})", answer.described)
                }
                Subject::Status => format!("{label}: {mismatch}"),
                _ => format!("{label}: {mismatch} (status {})", answer.status),
            }
        }
        Checked::Form(form) => form_check(form),
        Checked::Traffic(finding) => finding.clone(),
    }
}

/// `status`, `header Cache-Control`, `/access_token`: what a matcher looked at.
fn label(subject: &Subject, answer: &Answer) -> String {
    match subject {
        Subject::Status => "status".to_owned(),
        Subject::Header { name } => format!("header {name}"),
        Subject::Json { pointer } if !answer.json => format!("{pointer} (the body is not JSON)"),
        Subject::Json { pointer } => pointer.clone(),
    }
}

fn differs(expected: &str, actual: Option<&Value>) -> String {
    match actual {
        Some(value) => format!("expected {expected}, got {}", show(value)),
        None => format!("expected {expected}, but it is absent"),
    }
}

fn mismatch(mismatch: &Mismatch) -> String {
    match mismatch {
        Mismatch::Differs { expected, actual } => differs(expected, actual.as_ref()),
        Mismatch::Unrenderable(reason) => reason.clone(),
    }
}

fn form_check(form: &FormCheck) -> String {
    match form {
        FormCheck::Utf8 { status } => format!("the JSON body of a {status} response is UTF-8"),
        FormCheck::ContentType {
            status,
            content_type,
        } => format!("a JSON {status} response has Content-Type {content_type:?}"),
        FormCheck::ErrorFields {
            response,
            errcode,
            error,
        } => format!("error {response} has string errcode: {errcode}, string error: {error}"),
        FormCheck::SoftLogout { value } => format!(
            "soft_logout of a 401 M_UNKNOWN_TOKEN is {}",
            value.as_ref().map_or("absent".into(), Value::to_string)
        ),
        FormCheck::ErrorNotJson {
            status,
            content_type,
        } => format!("error {status} has a body that is not JSON (Content-Type {content_type:?})"),
    }
}

/// `refresh/unknown-token.yaml:14:9`: relative to the case root, as an editor takes it.
pub fn location(case: &CaseRecord, check: &CheckRecord) -> String {
    match check.pos {
        Some(pos) if pos.line > 0 => format!("{}:{}:{}", case.file, pos.line, pos.column),
        _ => case.file.clone(),
    }
}

/// Why the case failed, errored or was skipped; empty when it passed. A failure gives one line per failed
/// expectation of the case file (`file:line:col: [level clause] step: detail`), then what stopped the case.
pub fn message(case: &CaseRecord) -> String {
    let mut text = match case.outcome {
        Outcome::Passed => String::new(),
        Outcome::Failed => {
            let failed = case.checks.iter().filter(|c| !c.held);
            let lines: Vec<String> = failed
                .clone()
                .filter(|c| c.pos.is_some())
                .map(|c| {
                    format!(
                        "{}: [{} {}] {}: {}",
                        location(case, c),
                        c.level,
                        c.clause,
                        c.step,
                        detail(c)
                    )
                })
                .collect();
            if lines.is_empty() {
                // Checks without a place in a case file (client mode): the first says it.
                let first = failed.clone().next();
                first.map_or_else(String::new, |c| format!("{}: {}", c.step, detail(c)))
            } else {
                lines.join("\n")
            }
        }
        Outcome::Skipped | Outcome::Error => {
            return case
                .stop
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
        }
    };
    if let Some(stop) = &case.stop {
        text.push_str(&format!("\nthen the case stopped: {stop}"));
    }
    text
}

/// One line (or a few) saying why a clause got its verdict; `cases` are the run's case records.
pub fn reason(verdict: &ClauseVerdict, cases: &[CaseRecord]) -> String {
    let message_of = |id: &str| {
        cases
            .iter()
            .find(|c| c.id == id)
            .map(message)
            .unwrap_or_default()
    };
    match &verdict.reason {
        Reason::Check { case, check } => format!("{case}: {}: {}", check.step, detail(check)),
        Reason::Held { checks, cases } => format!("{checks} check(s) held in {cases} case(s)"),
        Reason::Observed(observations) => {
            let notes: Vec<String> = observations.iter().map(observation).collect();
            notes.join("; ")
        }
        Reason::NotTestable => {
            "not testable against a server (client-side requirement or definition)".to_owned()
        }
        Reason::Skipped { case } => message_of(case),
        Reason::NotRun { case } => {
            format!("not run with this run's settings: {}", message_of(case))
        }
        Reason::CutShort { case, steps } => {
            let message = message_of(case);
            let why = match message.lines().last() {
                Some(last) => format!(": {last}"),
                None => String::new(),
            };
            format!(
                "{case} stopped before its checks of this clause (step `{}` did not run){why}",
                steps.join("`, `")
            )
        }
        Reason::Errored { case } => format!("{case} ended in error: {}", message_of(case)),
        Reason::NoCase => "no case covers this clause (or none was selected)".to_owned(),
        Reason::NoCheckReached => "no case reached a check of this clause".to_owned(),
        Reason::NotExercised { cases } => {
            let mut said: Vec<String> = Vec::new();
            for text in cases.iter().map(|id| message_of(id)) {
                if !text.is_empty() && !said.contains(&text) {
                    said.push(text);
                }
            }
            if said.is_empty() {
                NO_EVENT.to_owned()
            } else {
                said.join("; ")
            }
        }
        Reason::NoEvent => NO_EVENT.to_owned(),
        Reason::JudgedUnder(clause) => format!(
            "defines what M_UNKNOWN_TOKEN covers; how the client reacts to each meaning is judged under {clause}"
        ),
    }
}

/// `refresh: 200 with expires_in_ms`: what the server chose.
pub fn observation(observation: &Observation) -> String {
    let mut note = format!("{}: {}", observation.label, observation.answer);
    if let Some(Lifetime { field, given }) = observation.lifetime {
        let with = if given { "with" } else { "without" };
        note.push_str(&format!(" {with} {field}"));
    }
    note
}

const NO_EVENT: &str = "no event of the run called for this clause";

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Gate(gate) => write!(f, "gate {}", gate.as_str()),
            Need::Accounts(n) => write!(f, "{n} accounts needed"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Setup { user } => write!(f, "setup: user `{user}`"),
            Place::LoginTurn => f.write_str("waiting to log in"),
            Place::Step(step) => write!(f, "step `{step}`"),
            Place::Burst => f.write_str("burst"),
            Place::Registration => f.write_str("registration"),
        }
    }
}

/// The reason as the reports (and the case's transcript notes) word it.
impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Unmet { need, reason } => write!(f, "{need}: {reason}"),
            StopReason::Undecided { need, reason } => {
                write!(f, "{need}: the probe could not decide it: {reason}")
            }
            StopReason::NoSpecVersion(range) => {
                write!(f, "the server advertises no spec version in {range}")
            }
            StopReason::UnreadableVersions(range) => write!(
                f,
                "the server advertises no spec version the suite can read, so whether it implements {range} is unknown"
            ),
            StopReason::Interrupted => f.write_str("not run: the run was interrupted (Ctrl-C)"),
            StopReason::DeadlineBeforeStart => {
                f.write_str("the run deadline passed before the case started")
            }
            StopReason::DeadlineWhileRunning => {
                f.write_str("the run deadline passed while the case ran")
            }
            StopReason::CaseTimeout(limit) => write!(
                f,
                "the case did not finish within --case-timeout {} (waits not counted)",
                humantime::format_duration(*limit)
            ),
            StopReason::Transport { at, error } => write!(f, "{at}: {error}"),
            StopReason::AccountRefused {
                at: Place::Setup { user },
                reason,
            } => write!(f, "setup: cannot create user `{user}`: {reason}"),
            StopReason::AccountRefused { at, reason } => write!(f, "{at}: {reason}"),
            StopReason::SessionExpiredWhileWaiting { step, session } => write!(
                f,
                "step `{step}` waited its turn behind a rate limit until session `{session}` had expired"
            ),
            StopReason::Twice(reason) => write!(f, "twice: {reason}"),
            StopReason::Grant { step, reason } => write!(f, "step `{step}`: {reason}"),
            StopReason::Unresolved {
                step: Some(step),
                reason,
            } => write!(f, "step `{step}`: {reason}"),
            StopReason::Unresolved { step: None, reason } => f.write_str(reason),
            StopReason::NoRateLimit { count } => write!(
                f,
                "no 429 after {count} requests: the server did not rate-limit them"
            ),
            StopReason::NoTimeBeforeExpiry {
                session,
                lifetime,
                slowest,
            } => write!(
                f,
                "with round trips up to {slowest:?}, a lifetime of {lifetime:?} leaves no time to use `{session}` before its expiry"
            ),
            StopReason::WaitOverMaxWait { wait, max_wait } => write!(
                f,
                "waiting {} would exceed --max-wait {}",
                shown(*wait),
                shown(*max_wait)
            ),
            StopReason::NoLifetime { session } => {
                write!(f, "the server gave `{session}` no expires_in_ms")
            }
            StopReason::LifetimeNotInteger { session, value } => write!(
                f,
                "cannot wait: expires_in_ms of `{session}` is {value}, not an integer"
            ),
            StopReason::NearExpiry {
                step,
                session,
                left,
                margin,
            } => write!(
                f,
                "step `{step}`: refused, but the answer for the access token of `{session}` arrived {left:?} before its advertised expiry, within the margin of {margin:?}: that says nothing about the clause"
            ),
            StopReason::SetupStatus { step, answer } => {
                write!(
                    f,
                    "step `{step}`: setup needs 200, the server answered {answer}"
                )
            }
            StopReason::Block {
                step,
                block,
                unmet,
                answer,
            } => {
                let what = match block {
                    Block::Assume => "the server's choice makes this case not apply",
                    Block::Require => "precondition not met",
                };
                let unmet: Vec<String> = unmet
                    .iter()
                    .map(
                        |Unmet {
                             subject,
                             mismatch: m,
                         }| {
                            format!("{}: {}", label(subject, answer), mismatch(m))
                        },
                    )
                    .collect();
                write!(
                    f,
                    "step `{step}`: {what}: {} ({})",
                    unmet.join("; "),
                    answer.described
                )
            }
            StopReason::Capture(capture) => {
                let Uncaptured {
                    step,
                    name,
                    pointer,
                    answer,
                } = capture.as_ref();
                write!(
                    f,
                    "step `{step}`: cannot capture `{name}`: the response has no {pointer} ({answer})"
                )
            }
            StopReason::Panicked(reason) => write!(f, "the harness panicked: {reason}"),
            StopReason::NotExercised(why) => f.write_str(why),
        }
    }
}
