//! The words of a run: how check records, stop reasons, case outcomes and verdict reasons read. Everything
//! below `report/` keeps them as data; every reporter words them here, the same way.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::case::builtin::Builtin;
use crate::case::matcher::{Mismatch, show};
use crate::case::unresolved::Unresolved;
use crate::cause::shown;
use crate::homeserver::accounts::SHARED_SECRET_REGISTER_PATH;
use crate::matrix::{LOGIN_PATH, REFRESH_PATH, REGISTER_PATH};
use crate::oauth_wire::{DEVICE_CODE_GRANT, MetadataGap};
use crate::run::oauth::REDIRECT_URI;
use crate::verdict::gate::{GateUndecided, GateUnmet, ProbeRequest, Setting};
use crate::verdict::stop::{
    AccountRefusal, AuthoriserFailure, Block, GrantFailure, GrantRequest, Need, Place, Uncaptured,
    Unmet,
};
use crate::verdict::traffic::{
    Expected, NotExercised, NotReached, Reaction, TokenPlace, Unjudged, Waiting,
};
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
        Checked::Traffic(reaction) => reaction.to_string(),
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
        Mismatch::Unrenderable(reason) => reason.to_string(),
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

impl fmt::Display for ProbeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeRequest::LoginFlows => write!(f, "GET {LOGIN_PATH}"),
            ProbeRequest::RefreshLogin => write!(f, "POST {LOGIN_PATH} with refresh_token: true"),
            ProbeRequest::Refresh => write!(f, "POST {REFRESH_PATH}"),
            ProbeRequest::Registration => write!(f, "POST {REGISTER_PATH}?kind=user"),
            ProbeRequest::GuestRegistration => write!(f, "POST {REGISTER_PATH}?kind=guest"),
            ProbeRequest::Discovery(target) => write!(f, "GET {target}"),
        }
    }
}

impl fmt::Display for GateUnmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateUnmet::NotGiven(setting) => f.write_str(match setting {
                Setting::FreshAccounts => {
                    "needs accounts of its own; only the --user account is available"
                }
                Setting::AdminToken => "no --admin-token given",
                Setting::AsToken => "no --as-token given",
                Setting::Bursts => "bursts of requests are not allowed (--bursts)",
                Setting::Authoriser => {
                    "no --oauth-authorize command given: nothing can complete a user's login and consent"
                }
            }),
            GateUnmet::NotMatrix(why) => write!(
                f,
                "the target is not a Matrix homeserver ({why}); only its OAuth 2.0 server is tested"
            ),
            GateUnmet::NoPasswordFlow { status } => write!(
                f,
                "{} offers no m.login.password flow ({status})",
                ProbeRequest::LoginFlows
            ),
            GateUnmet::NoRefreshToken => f.write_str(
                "the server issues no refresh token to a login with refresh_token: true",
            ),
            GateUnmet::NoRotation => f.write_str(
                "/refresh returns no new refresh token (the old one stays usable, as the spec allows)",
            ),
            GateUnmet::NoLifetime => {
                f.write_str("access tokens issued with a refresh token carry no expires_in_ms")
            }
            GateUnmet::LifetimeOverMaxWait {
                lifetime,
                needed,
                max_wait,
            } => write!(
                f,
                "access tokens live {} ms; with the margin that is {needed:?}, over --max-wait {max_wait:?}",
                lifetime.as_millis()
            ),
            GateUnmet::RegistrationClosed { answer } => write!(
                f,
                "client-API registration is not open to the harness ({answer})"
            ),
            GateUnmet::GuestsRefused { answer } => {
                write!(f, "guest registration is not allowed ({answer})")
            }
            GateUnmet::NoOauthApi { request, answer } => write!(
                f,
                "the server offers no OAuth 2.0 API: {request} answered {answer}"
            ),
            GateUnmet::NoDeviceGrant { source } => write!(
                f,
                "the server does not offer the device authorisation grant: grant_types_supported (GET {source}) lacks {DEVICE_CODE_GRANT}"
            ),
            GateUnmet::Metadata(gap) => gap.fmt(f),
        }
    }
}

impl fmt::Display for GateUndecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateUndecided::Failed {
                request: request @ ProbeRequest::Discovery(_),
                error,
            } => write!(f, "OAuth 2.0 discovery: {request}: {error}"),
            GateUndecided::Failed { request, error } => write!(f, "{request}: {error}"),
            GateUndecided::Answered { request, answer } => match request {
                ProbeRequest::RefreshLogin => write!(
                    f,
                    "{request} with the probe account's password answered {answer}"
                ),
                ProbeRequest::Refresh => write!(
                    f,
                    "{request} of a fresh refresh token answered {answer}, so rotation cannot be probed"
                ),
                ProbeRequest::Discovery(_) => {
                    write!(f, "{request} answered {answer} (no JSON object)")
                }
                _ => write!(f, "{request} answered {answer}"),
            },
            GateUndecided::NotALogin => write!(
                f,
                "POST {LOGIN_PATH} answered 200 without an access_token: not a login response"
            ),
            GateUndecided::NotProbed(gate) => write!(f, "gate {} was not probed", gate.as_str()),
        }
    }
}

impl fmt::Display for MetadataGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataGap::Missing { source, field } => write!(
                f,
                "the OAuth 2.0 server metadata (GET {source}) has no `{field}`"
            ),
            MetadataGap::NotUrl { field, value } => write!(
                f,
                "`{field}` of the OAuth 2.0 server metadata is not an absolute http(s) URL: {value}"
            ),
        }
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::Malformed(why) => f.write_str(why),
            Unresolved::Builtin(Builtin::AdminToken) => f.write_str("no --admin-token given"),
            Unresolved::Builtin(Builtin::AsToken) => f.write_str("no --as-token given"),
            Unresolved::Builtin(Builtin::ServerName) => {
                f.write_str("the probe learned no server name")
            }
            Unresolved::Builtin(builtin) => write!(f, "`{}` has no value", builtin.name()),
            Unresolved::NotCaptured(name) => write!(
                f,
                "variable `{name}` was not captured (its step failed or it was absent)"
            ),
            Unresolved::UserNotCreated(user) => write!(f, "user `{user}` was not created"),
            Unresolved::SessionNotCreated(name) => write!(
                f,
                "session `{name}` was not created: the step that names it got no access token"
            ),
            Unresolved::NoUserField(field) => write!(f, "users have no `{field}`"),
            Unresolved::NoSessionField(field) => write!(f, "sessions have no `{field}`"),
            Unresolved::NotReturned { variable, field } => {
                write!(f, "`{variable}`: the server returned no {field}")
            }
            Unresolved::NotOauth { variable } => write!(
                f,
                "`{variable}`: the session was not issued through OAuth 2.0"
            ),
            Unresolved::NoRefreshToken { session } => {
                write!(f, "session `{session}` has no refresh token")
            }
            Unresolved::NoOauthServer => f.write_str("the server offers no OAuth 2.0 API"),
            Unresolved::Metadata(gap) => gap.fmt(f),
        }
    }
}

impl fmt::Display for AccountRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountRefusal::Registration { answer } => write!(f, "registration answered {answer}"),
            AccountRefusal::NoDoableFlow { answer } => {
                write!(f, "no registration flow the harness can complete: {answer}")
            }
            AccountRefusal::TooManyRounds(rounds) => write!(
                f,
                "registration did not complete after {rounds} rounds of user-interactive authentication"
            ),
            AccountRefusal::NoNonce { answer } => {
                write!(f, "{SHARED_SECRET_REGISTER_PATH} gave no nonce ({answer})")
            }
            AccountRefusal::SharedSecret { answer } => {
                write!(f, "shared-secret registration answered {answer}")
            }
        }
    }
}

impl fmt::Display for GrantRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantRequest::ClientRegistration => "client registration",
            GrantRequest::Authorisation => "authorisation request",
            GrantRequest::CodeExchange => "code exchange",
            GrantRequest::DeviceAuthorisation => "device authorisation request",
            GrantRequest::VerificationPage => "verification page",
            GrantRequest::DeviceToken => "device access token request",
        })
    }
}

impl fmt::Display for GrantFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantFailure::NotConfigured => f.write_str("no OAuth 2.0 server or no authoriser"),
            GrantFailure::Metadata(gap) => gap.fmt(f),
            GrantFailure::Transport { request, error } => write!(f, "{request}: {error}"),
            GrantFailure::Answered { request, answer } => match request {
                GrantRequest::Authorisation => write!(
                    f,
                    "the authorisation endpoint did not redirect back: {answer}"
                ),
                GrantRequest::DeviceAuthorisation => write!(
                    f,
                    "the device authorisation endpoint answered {answer} without device_code, user_code and verification_uri"
                ),
                GrantRequest::VerificationPage => write!(
                    f,
                    "the verification page did not approve the user code: {answer}"
                ),
                GrantRequest::DeviceToken => write!(
                    f,
                    "the token endpoint still answered {answer} after the authoriser approved the user code"
                ),
                GrantRequest::ClientRegistration | GrantRequest::CodeExchange => {
                    write!(f, "{request} answered {answer}")
                }
            },
            GrantFailure::BadRedirect { location, error } => {
                write!(f, "bad redirect {location:?}: {error}")
            }
            GrantFailure::RedirectNotUrl(error) => {
                write!(f, "the authoriser's redirected URL is not a URL ({error})")
            }
            GrantFailure::VerificationNotUrl(error) => {
                write!(f, "the verification URI is not a URL: {error}")
            }
            GrantFailure::EndedElsewhere { url } => write!(
                f,
                "the authorisation ended at {url}, not at the redirect URI {REDIRECT_URI}"
            ),
            GrantFailure::Refused { error, description } => write!(
                f,
                "the authorisation server refused the request: error={error} {description}"
            ),
            GrantFailure::StateMismatch => {
                f.write_str("the redirect does not carry the state the request sent")
            }
            GrantFailure::NoCode => f.write_str("the redirect carries no code"),
            GrantFailure::Authoriser(failure) => failure.fmt(f),
        }
    }
}

impl fmt::Display for AuthoriserFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthoriserFailure::CannotRun(error) => {
                write!(f, "cannot run the --oauth-authorize command: {error}")
            }
            AuthoriserFailure::TimedOut(limit) => write!(
                f,
                "the --oauth-authorize command did not finish within {limit:?}"
            ),
            AuthoriserFailure::Lost(error) => {
                write!(f, "the --oauth-authorize command failed: {error}")
            }
            AuthoriserFailure::Exited { status, stderr } => write!(
                f,
                "the --oauth-authorize command failed ({status}): {stderr}"
            ),
        }
    }
}

/// `3.2 s`: times in client mode's findings.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} s", self.0.as_secs_f64())
    }
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reaction::Refreshed { after } => write!(f, "refreshed {} after the 401", Secs(*after)),
            Reaction::LoggedInAnew { after } => write!(
                f,
                "stopped using the session and logged in anew {} later",
                Secs(*after)
            ),
            Reaction::StoppedUsing { silence } => write!(
                f,
                "stopped using the session (no request with its tokens in the {} that followed)",
                Secs(*silence)
            ),
            Reaction::RepeatedRefresh { after } => write!(
                f,
                "repeated the refresh with the same refresh token {} later",
                Secs(*after)
            ),
            Reaction::UsedNewTokens { after } => write!(
                f,
                "used the new tokens from {} after the refresh",
                Secs(*after)
            ),
            Reaction::RefreshTokenInBody => {
                f.write_str("in the refresh_token field of the POST /refresh body only")
            }
            Reaction::LoggedInInsteadOfRefreshing { after } => write!(
                f,
                "logged in again {} after the 401 instead of refreshing",
                Secs(*after)
            ),
            Reaction::LoggedOutInsteadOfRefreshing { after } => write!(
                f,
                "logged out {} after the 401 instead of refreshing",
                Secs(*after)
            ),
            Reaction::ResentAccessToken { request, after } => write!(
                f,
                "sent an access token of the session again ({} {}, {} after the 401) without refreshing first",
                request.method,
                request.path,
                Secs(*after)
            ),
            Reaction::NoReaction { expected, silence } => {
                let what = match expected {
                    Expected::Refresh => "never refreshed",
                    Expected::RepeatedRefresh => "never repeated the refresh",
                };
                write!(f, "{what} in the {} that followed", Secs(*silence))
            }
            Reaction::KeptUsingEndedSession {
                refreshes,
                uses,
                first,
            } => {
                let mut what = Vec::new();
                if let Some(refreshes) = refreshes {
                    what.push(format!("tried /refresh {refreshes} time(s)"));
                }
                if *uses > 0 {
                    what.push(format!("sent {uses} request(s) with its access tokens"));
                }
                write!(
                    f,
                    "kept using the ended session: {}, the first {} after",
                    what.join(" and "),
                    Secs(*first)
                )
            }
            Reaction::LoggedInInsteadOfRepeating { after } => write!(
                f,
                "logged in again {} later instead of repeating the refresh",
                Secs(*after)
            ),
            Reaction::LoggedOutInsteadOfRepeating { after } => write!(
                f,
                "logged out {} later instead of repeating the refresh",
                Secs(*after)
            ),
            Reaction::RefreshedWithOtherToken {
                after,
                presented,
                lost,
            } => write!(
                f,
                "the next refresh ({} later) presented a refresh token of generation {presented} instead of the one whose response was lost (generation {lost})",
                Secs(*after)
            ),
            Reaction::ReplayedSupersededRefreshToken { generation, after } => write!(
                f,
                "replayed a superseded refresh token (generation {generation}) {} after the refresh that replaced it",
                Secs(*after)
            ),
            Reaction::SentSupersededAccessToken {
                generation,
                request,
                after,
            } => write!(
                f,
                "sent a superseded access token (generation {generation}) to {} {} {} after the refresh that replaced it",
                request.method,
                request.path,
                Secs(*after)
            ),
            Reaction::RefreshTokenMisplaced { request, places } => write!(
                f,
                "sent a refresh token to {} {} in {}, not in the refresh_token field of a POST {REFRESH_PATH} body",
                request.method,
                request.path,
                token_places(places)
            ),
            Reaction::RefreshTokenAlsoElsewhere { request, places } => write!(
                f,
                "also sent the refresh token in {} of {} {}: tokens in URLs end up in access logs (CS § Using access tokens deprecates query-string tokens for this reason)",
                token_places(places),
                request.method,
                request.path
            ),
        }
    }
}

/// `the Authorization header and the query string (?refresh_token=)`.
fn token_places(places: &[TokenPlace]) -> String {
    let shown: Vec<String> = places
        .iter()
        .map(|place| match place {
            TokenPlace::AuthorizationHeader => "the Authorization header".to_owned(),
            TokenPlace::Query(key) => format!("the query string (?{key}=)"),
            TokenPlace::Body(key) => format!("the body field {key:?}"),
        })
        .collect();
    shown.join(" and ")
}

impl fmt::Display for Unjudged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unjudged::EndedBeforeReaction { silence } => write!(
                f,
                "the run ended {} later, before the client showed its reaction",
                Secs(*silence)
            ),
            Unjudged::EndedTooSoon { silence } => write!(
                f,
                "the run ended {} later, too soon to tell whether the client stopped",
                Secs(*silence)
            ),
            Unjudged::NoFollowUp { silence } => write!(
                f,
                "no request with the session's tokens followed (the run ended {} later)",
                Secs(*silence)
            ),
        }
    }
}

impl fmt::Display for NotExercised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotExercised::Unjudged(events) => {
                let shown: Vec<String> = events
                    .iter()
                    .map(|(step, why)| format!("{step}: {why}"))
                    .collect();
                f.write_str(&shown.join("; "))
            }
            NotExercised::NotReached(why) => why.fmt(f),
        }
    }
}

impl fmt::Display for NotReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReached::NeverLoggedIn => f.write_str("the client never logged in"),
            NotReached::NoRefreshToken => f.write_str(
                "the client never obtained a refresh token (it did not log in with refresh_token: true): no refresh-token support",
            ),
            NotReached::NeverRefreshed => f.write_str(
                "the client never refreshed its access token, so no adversity was scheduled",
            ),
            NotReached::RefreshedAheadOfExpiry => f.write_str(
                "the client never used an expired access token (it refreshed ahead of expiry)",
            ),
            NotReached::Applied(adversity) => write!(f, "{} was applied", adversity.name()),
            NotReached::Stuck {
                adversity,
                at,
                waiting,
            } => {
                let waiting = match waiting {
                    Waiting::Relogin => {
                        "waiting for the client to log in again after its session was ended"
                    }
                    Waiting::Recovery => {
                        "waiting for the client to refresh successfully after the previous adversity"
                    }
                    Waiting::Refresh => "waiting for the client's next /refresh, which never came",
                    Waiting::Request => {
                        "waiting for the client's next authenticated request, which never came"
                    }
                };
                write!(f, "the client never got to {}: ", adversity.name())?;
                if at != adversity {
                    write!(f, "the schedule stopped at {}, ", at.name())?;
                }
                f.write_str(waiting)
            }
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
            StopReason::SessionExpiredWhileWaiting {
                step,
                session,
                limit,
                waited,
            } => write!(
                f,
                "step `{step}` waited its turn behind {} ({}) until session `{session}` had expired",
                limit.what(),
                crate::cause::shown(*waited)
            ),
            StopReason::Twice(reason) => write!(f, "twice: {reason}"),
            StopReason::Grant { step, reason } => write!(f, "step `{step}`: {reason}"),
            StopReason::Unresolved {
                step: Some(step),
                reason,
            } => write!(f, "step `{step}`: {reason}"),
            StopReason::Unresolved { step: None, reason } => reason.fmt(f),
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
            StopReason::NotExercised(why) => why.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::case::model::Gate;
    use crate::http::HttpError;

    /// The typed reasons read as the sentences the reports have always shown.
    #[test]
    fn typed_reasons_read_as_before() {
        let undecided = GateUndecided::Answered {
            request: ProbeRequest::Refresh,
            answer: "502".to_owned(),
        };
        assert_eq!(
            undecided.to_string(),
            "POST /_matrix/client/v3/refresh of a fresh refresh token answered 502, so rotation cannot be probed"
        );
        let failed = GateUndecided::Failed {
            request: ProbeRequest::Discovery("/_matrix/client/v1/auth_metadata".to_owned()),
            error: HttpError::Timeout(Duration::from_secs(5)),
        };
        assert_eq!(
            failed.to_string(),
            "OAuth 2.0 discovery: GET /_matrix/client/v1/auth_metadata: timed out: no answer within 5s (--request-timeout)"
        );
        let stop = StopReason::Undecided {
            need: Need::Gate(Gate::Guest),
            reason: GateUndecided::Answered {
                request: ProbeRequest::GuestRegistration,
                answer: "429 M_LIMIT_EXCEEDED".to_owned(),
            },
        };
        assert_eq!(
            stop.to_string(),
            "gate guest: the probe could not decide it: POST /_matrix/client/v3/register?kind=guest answered 429 M_LIMIT_EXCEEDED"
        );
        let not_matrix =
            GateUnmet::NotMatrix("GET /_matrix/client/versions answered 404".to_owned());
        assert_eq!(
            not_matrix.to_string(),
            "the target is not a Matrix homeserver (GET /_matrix/client/versions answered 404); only its OAuth 2.0 server is tested"
        );
        let gap = GateUnmet::Metadata(MetadataGap::Missing {
            source: "/_matrix/client/v1/auth_metadata".to_owned(),
            field: "device_authorization_endpoint".to_owned(),
        });
        assert_eq!(
            gap.to_string(),
            "the OAuth 2.0 server metadata (GET /_matrix/client/v1/auth_metadata) has no `device_authorization_endpoint`"
        );
        let grant = StopReason::Grant {
            step: "login".to_owned(),
            reason: GrantFailure::Answered {
                request: GrantRequest::ClientRegistration,
                answer: "400 invalid_client_metadata".to_owned(),
            },
        };
        assert_eq!(
            grant.to_string(),
            "step `login`: client registration answered 400 invalid_client_metadata"
        );
        let unresolved = StopReason::Unresolved {
            step: None,
            reason: Unresolved::SessionNotCreated("s1".to_owned()),
        };
        assert_eq!(
            unresolved.to_string(),
            "session `s1` was not created: the step that names it got no access token"
        );
        let refused = StopReason::AccountRefused {
            at: Place::Setup {
                user: "alice".to_owned(),
            },
            reason: AccountRefusal::TooManyRounds(4),
        };
        assert_eq!(
            refused.to_string(),
            "setup: cannot create user `alice`: registration did not complete after 4 rounds of user-interactive authentication"
        );
    }

    #[test]
    fn client_findings_read_as_before() {
        use crate::verdict::traffic::{Adversity, Request};
        let stuck = NotExercised::NotReached(NotReached::Stuck {
            adversity: Adversity::Refresh4xx,
            at: Adversity::LostRefresh5xx,
            waiting: Waiting::Refresh,
        });
        assert_eq!(
            stuck.to_string(),
            "the client never got to refresh-4xx: the schedule stopped at lost-refresh-5xx, waiting for the client's next /refresh, which never came"
        );
        let misplaced = Reaction::RefreshTokenAlsoElsewhere {
            request: Request {
                method: "POST".to_owned(),
                path: "/_matrix/client/v3/refresh".to_owned(),
            },
            places: vec![
                TokenPlace::AuthorizationHeader,
                TokenPlace::Query("refresh_token".to_owned()),
            ],
        };
        assert!(misplaced.to_string().starts_with(
            "also sent the refresh token in the Authorization header and the query string (?refresh_token=) of POST /_matrix/client/v3/refresh:"
        ));
        let unjudged = NotExercised::Unjudged(vec![(
            "tokens rotated at 3.0 s (POST /_matrix/client/v3/refresh)".to_owned(),
            Unjudged::NoFollowUp {
                silence: Duration::from_millis(1500),
            },
        )]);
        assert_eq!(
            unjudged.to_string(),
            "tokens rotated at 3.0 s (POST /_matrix/client/v3/refresh): no request with the session's tokens followed (the run ended 1.5 s later)"
        );
    }
}
