//! The checked form of a case file: what the runner executes.

use std::sync::Arc;

use serde::Deserialize;

use crate::case::matcher::Matcher;
use crate::clause::Level;
pub use crate::http::Body;
use crate::http::Method;
use crate::reading::BlockReading;
use crate::source::{Pos, SourceFile};
use crate::spec_version::VersionRange;

/// Conditions a target must meet for a case to run; an unmet gate skips the case with a reason.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// `/login` with `refresh_token: true` returns a refresh token (G-rt).
    RefreshTokens,
    /// `/refresh` returns a new refresh token (rotation), rather than letting the old one be re-used.
    Rotation,
    /// Access tokens issued with a refresh token carry `expires_in_ms`, within `--max-wait` (G-exp).
    Expiry,
    /// Accounts can be registered through the client API (`m.login.dummy` or a registration token) (G-reg).
    Registration,
    /// `POST /register?kind=guest` is allowed (G-guest).
    Guest,
    /// A server-admin access token was given (`--admin-token`), as `{{admin_token}}`.
    Admin,
    /// An application service's token was given (`--as-token`), as `{{as_token}}`.
    Appservice,
    /// The user allows cases that send bursts of requests to provoke rate limiting (`--bursts`).
    Bursts,
    /// Each case gets accounts of its own (not the one `--user` account), so it may log them out or change
    /// their password.
    FreshUsers,
    /// The server offers the OAuth 2.0 API: its authorisation server metadata was found (`GET
    /// /auth_metadata`, or the discovery document of `--oauth-issuer`).
    Oauth,
    /// The harness can obtain a grant: an authoriser completes the user's login and consent (built in for
    /// the reference server, `--oauth-authorize` otherwise).
    OauthGrant,
    /// The server's metadata offers the device authorisation grant (RFC 8628: a `device_authorization_endpoint`
    /// and the `device_code` grant type), and an authoriser can approve a user code. Implies `oauth`.
    OauthDeviceGrant,
    /// The target serves the Matrix Client-Server API. Implied by every step that calls it (not by
    /// requests to OAuth endpoints): a plain `--oauth-issuer` target does not.
    MatrixApi,
    /// The server offers the legacy authentication API (`m.login.password`). Implied by fixture users
    /// and the `login`, `register` and `refresh` steps.
    LegacyApi,
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::RefreshTokens => "refresh-tokens",
            Gate::Rotation => "rotation",
            Gate::Expiry => "expiry",
            Gate::Registration => "registration",
            Gate::Guest => "guest",
            Gate::FreshUsers => "fresh-users",
            Gate::Admin => "admin",
            Gate::Appservice => "appservice",
            Gate::Bursts => "bursts",
            Gate::Oauth => "oauth",
            Gate::OauthGrant => "oauth-grant",
            Gate::OauthDeviceGrant => "oauth-device-grant",
            Gate::MatrixApi => "matrix-api",
            Gate::LegacyApi => "legacy-api",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Case {
    /// Path under the cases folder without `.yaml`, e.g. `refresh/rotation-retry-window`.
    pub id: String,
    pub source: Arc<SourceFile>,
    pub title: String,
    /// Every clause the case checks or observes; the first is its primary clause.
    pub clauses: Vec<String>,
    pub requires: Vec<Gate>,
    /// The case applies when the server advertises a version in this range.
    pub spec: Option<VersionRange>,
    /// Fixture accounts made before the first step (fresh per case where registration allows it).
    pub users: Vec<String>,
    pub steps: Vec<Step>,
    /// Clean-up that runs even when a step failed; its outcome never changes the verdict.
    pub finally: Vec<Step>,
}

impl Case {
    pub fn primary_clause(&self) -> &str {
        &self.clauses[0]
    }

    /// Gates the steps imply without the case listing them: the Matrix API for every step that calls it,
    /// the legacy authentication API for fixture users and legacy logins, registrations and refreshes.
    pub fn implied_gates(&self) -> Vec<Gate> {
        let steps = || self.steps.iter().chain(&self.finally);
        let legacy = !self.users.is_empty()
            || steps().any(|s| {
                matches!(
                    s.action,
                    Action::Login(_) | Action::Register(_) | Action::Refresh(_)
                )
            });
        let matrix = legacy || steps().any(|s| s.action.calls_matrix_api());
        let mut gates = Vec::new();
        if matrix {
            gates.push(Gate::MatrixApi);
        }
        if legacy {
            gates.push(Gate::LegacyApi);
        }
        gates
    }

    /// Whether a step sleeps (for expiry or a fixed time).
    pub fn waits(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.action, Action::Wait(_)))
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    pub action: Action,
    /// Checks on the server: a failure is a failure of their clause.
    pub expect: Vec<CheckBlock>,
    /// Preconditions: a failure makes the case an error, never a clause failure.
    pub require: Option<CheckBlock>,
    /// Assumptions about a server choice: a failure skips the case (the case does not apply to this server).
    pub assume: Option<CheckBlock>,
    pub observe: Option<Observe>,
    pub captures: Vec<Capture>,
}

#[derive(Debug, Clone)]
pub enum Action {
    Request(RequestSpec),
    Login(LoginSpec),
    Register(RegisterSpec),
    Refresh(RefreshSpec),
    Whoami(TokenSource),
    /// Registers a client and runs the authorisation code grant with PKCE (or the device authorisation
    /// grant); the step's response is the token endpoint's answer to the code exchange (or to the poll).
    OauthLogin(OauthLoginSpec),
    /// The refresh token grant at the token endpoint (form-encoded).
    OauthRefresh(OauthRefreshSpec),
    Wait(Wait),
    /// Sends the request up to `count` times, without pause, until the server answers `429`; the step's
    /// response is that `429`. No `429` at all skips the case: rate limiting is only a SHOULD.
    Burst {
        count: u32,
        request: RequestSpec,
    },
}

impl Action {
    /// Fixture actions must answer 200 unless the step itself checks the status.
    pub fn is_fixture(&self) -> bool {
        matches!(
            self,
            Action::Login(_)
                | Action::Register(_)
                | Action::Refresh(_)
                | Action::Whoami(_)
                | Action::OauthLogin(_)
                | Action::OauthRefresh(_)
        )
    }

    /// Whether the action is a request to the Matrix Client-Server API (not to an OAuth endpoint).
    pub fn calls_matrix_api(&self) -> bool {
        match self {
            Action::Request(r) | Action::Burst { request: r, .. } => {
                matches!(r.target, Target::Path(_))
            }
            Action::Login(_) | Action::Register(_) | Action::Refresh(_) | Action::Whoami(_) => true,
            Action::OauthLogin(_) | Action::OauthRefresh(_) | Action::Wait(_) => false,
        }
    }

    /// Whether the request goes to an OAuth 2.0 endpoint, whose rules are RFC 6749's, not Matrix's (A34).
    pub fn calls_oauth_endpoint(&self) -> bool {
        match self {
            Action::Request(r) | Action::Burst { request: r, .. } => {
                matches!(r.target, Target::Endpoint(_))
            }
            Action::OauthLogin(_) | Action::OauthRefresh(_) => true,
            _ => false,
        }
    }

    /// The session the action stores its tokens in (`as:`).
    pub fn session_out(&self) -> Option<&str> {
        match self {
            Action::Login(l) => l.session.as_deref(),
            Action::Register(r) => r.session.as_deref(),
            Action::Refresh(r) => r.session.as_deref(),
            Action::OauthLogin(l) => l.session.as_deref(),
            Action::OauthRefresh(r) => r.session.as_deref(),
            _ => None,
        }
    }
}

/// The grant that gives a case its first tokens (`oauth_login: { grant }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginGrant {
    /// RFC 6749 §4.1 with PKCE.
    #[default]
    AuthorizationCode,
    /// RFC 8628 (CS § Device authorisation grant, v1.18).
    DeviceCode,
}

/// Where a bearer access token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// The current access token of a session.
    Session(String),
    /// Any templated string, e.g. a refresh token used as an access token.
    Token(String),
}

impl TokenSource {
    pub fn session(&self) -> Option<&str> {
        match self {
            TokenSource::Session(name) => Some(name),
            TokenSource::Token(_) => None,
        }
    }

    pub fn template(&self) -> Option<&str> {
        match self {
            TokenSource::Token(template) => Some(template),
            TokenSource::Session(_) => None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A path on the target homeserver, starting with `/`.
    Path(String),
    /// The URL an OAuth 2.0 server metadata field holds, e.g. `token_endpoint`.
    Endpoint(String),
}

impl Target {
    pub fn describe(&self) -> &str {
        match self {
            Target::Path(path) | Target::Endpoint(path) => path,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: Method,
    pub target: Target,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub auth: Option<TokenSource>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone)]
pub struct LoginSpec {
    pub user: String,
    /// None: the field is not sent at all.
    pub refresh_token: Option<bool>,
    pub device_id: Option<String>,
    /// Sent as `initial_device_display_name`.
    pub device_name: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    User,
    Guest,
}

#[derive(Debug, Clone)]
pub struct RegisterSpec {
    pub kind: AccountKind,
    pub refresh_token: Option<bool>,
    pub inhibit_login: Option<bool>,
    pub device_id: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefreshSpec {
    /// The refresh token to send: a session's current one, or a templated string.
    pub token: TokenSource,
    pub session: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OauthLoginSpec {
    /// The grant that gives the first tokens (`grant: device_code` needs the `oauth-device-grant` gate).
    pub grant: LoginGrant,
    /// The device of the `urn:matrix:client:device:` scope; a fresh one when absent.
    pub device_id: Option<String>,
    /// Sent at the code exchange instead of the grant's PKCE verifier (to see it refused).
    pub code_verifier: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OauthRefreshSpec {
    /// The refresh token: a session's current one, or a templated string.
    pub token: TokenSource,
    /// The `client_id` sent: the session's own client when absent (none for a templated token).
    pub client_id: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Wait {
    /// Until the session's access token has expired: `expires_in_ms` after it was issued, plus a margin.
    ExpiryOf(String),
    /// Until shortly before the session's access token expires: `expires_in_ms` minus twice the margin a
    /// refusal near expiry gets (so the token is still judged on).
    BeforeExpiryOf(String),
    Millis(u64),
}

#[derive(Debug, Clone)]
pub struct CheckBlock {
    pub pos: Pos,
    /// The clause a failed check counts against.
    pub clause: String,
    /// Lowers the level of these checks below the clause's own (e.g. a SHOULD part of a MUST clause).
    pub level: Option<Level>,
    /// Where an ambiguity of the spec makes the level depend on the reading (replaces `level`).
    pub reading: Option<BlockReading>,
    /// The block applies only when the status matches (a conditional requirement such as "if 401 then ...").
    pub if_status: Option<Matcher>,
    /// The block applies only when the server advertises a version in this range.
    pub spec: Option<VersionRange>,
    pub status: Option<Matcher>,
    pub headers: Vec<(String, Matcher)>,
    /// JSON Pointer (`/errcode`, `""` for the whole body) to matcher.
    pub json: Vec<(String, Matcher)>,
}

impl CheckBlock {
    /// Every matcher of the block, conditions included.
    pub fn matchers(&self) -> impl Iterator<Item = &Matcher> {
        let named = self.headers.iter().chain(&self.json).map(|(_, m)| m);
        self.if_status.iter().chain(&self.status).chain(named)
    }

    /// The templates inside the block's matchers.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.matchers().flat_map(|m| m.templates())
    }
}

#[derive(Debug, Clone)]
pub struct Observe {
    pub clause: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub pointer: String,
}
