//! One step, in a fixed order: render the request, send it, check preconditions, evaluate expectations and
//! observations, store the session and captures.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::case::matcher::{Matcher, Mismatch};
use crate::case::model::*;
use crate::case::template;
use crate::case::unresolved::Unresolved;
use crate::cause::{Cause, Limit};
use crate::clause::{Catalogue, Level};
use crate::homeserver::accounts::AccountError;
use crate::homeserver::probe::expiry_margin;
use crate::http::pacer::Reservation;
use crate::http::{self, HttpError, Method, Outgoing, Response};
use crate::matrix;
use crate::reading::Reading;
use crate::run::RunContext;
use crate::run::ambient;
use crate::run::oauth;
use crate::run::scope::{Scope, Session};
use crate::transcript::Transcript;
use crate::verdict::stop::{Block, GrantFailure, Place, Uncaptured, Unmet};
use crate::verdict::{Answer, CheckRecord, Checked, Lifetime, Observation, StopReason, Subject};

/// What must be escaped in a value put into a path segment: everything but RFC 3986's unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A step that waited at least this long for its turn, and outlived a session meanwhile, restarts its case.
const RESTART_AFTER_WAIT: Duration = Duration::from_secs(1);

/// Which part of a case a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The case's steps, judged.
    Steps,
    /// Its `finally` steps: sent for their effect (a clean-up), never judged.
    Finally,
}

/// Why a case stops before its last step, and what that makes of it.
#[derive(Debug)]
pub enum Stop {
    /// The case could not reach its checks.
    Error(StopReason),
    /// The case does not apply to this server (a feature it lacks, a choice the spec leaves to it).
    Skip(StopReason),
    /// The run's own settings keep the case from running (missing flags): untested, not "not applicable".
    NotRun(StopReason),
    /// A matter of time (a rate limit, a wait over `--max-wait` or the budget, a timeout): the same outcome
    /// wherever in the case it strikes, account creation included.
    Timing(Cause, StopReason),
    /// The case waited its turn behind a rate limit for so long that a session it had opened expired: what
    /// follows would judge a token the wait killed, so the case starts again (with its logins reserved).
    Restart {
        limit: Limit,
        waited: Duration,
        reason: StopReason,
    },
}

impl Stop {
    /// A transport failure at `at`: a timing cause keeps its type, anything else keeps the case from its
    /// checks.
    pub fn from_http(at: Place, error: HttpError) -> Stop {
        let cause = error.cause();
        let reason = StopReason::Transport { at, error };
        match cause {
            Some(cause) => Stop::Timing(cause, reason),
            None => Stop::Error(reason),
        }
    }

    pub fn into_reason(self) -> StopReason {
        match self {
            Stop::Error(r)
            | Stop::Skip(r)
            | Stop::NotRun(r)
            | Stop::Timing(_, r)
            | Stop::Restart { reason: r, .. } => r,
        }
    }
}

/// A value the case refers to is missing, in `step` when it is known.
fn unresolved(step: Option<&Step>) -> impl FnOnce(Unresolved) -> Stop + '_ {
    move |reason| {
        Stop::Error(StopReason::Unresolved {
            step: step.map(|s| s.name.clone()),
            reason,
        })
    }
}

/// What the steps of one case found.
#[derive(Debug, Default)]
pub struct Findings {
    pub checks: Vec<CheckRecord>,
    /// Checks made on every response (form of errors, content type); they count for their clauses but do not
    /// change the outcome of the case, whose own clauses are elsewhere.
    pub ambient: Vec<CheckRecord>,
    pub observations: Vec<Observation>,
}

pub struct StepRunner<'a> {
    pub ctx: &'a RunContext,
    pub case: &'a Case,
    pub scope: Scope,
    pub transcript: Transcript,
    pub findings: Findings,
    /// Steps whose expectations and observations were all evaluated, in order from the first.
    pub judged: usize,
    /// The case's hold on the login lane until its last login (see [`crate::http::pacer::Reservation`]).
    pub logins: Option<(Reservation, usize)>,
    /// The slowest round trip of the case so far (logins and registrations aside): part of the margin
    /// before an advertised expiry.
    pub slowest: Duration,
    /// The step under way (clean-up aside): where the case stopped when it stops early.
    pub current_step: Option<String>,
}

/// The password logins a case sends (fixture steps and requests to `/login`; bursts provoke 429s and are not
/// paced). `appservice`: set-up logins are the application service's (see [`appservice_login`]).
pub fn password_logins(case: &Case, appservice: bool) -> usize {
    case.steps
        .iter()
        .filter(|s| password_login(s, appservice))
        .count()
}

fn password_login(step: &Step, appservice: bool) -> bool {
    match &step.action {
        Action::Login(_) => !(appservice && appservice_login(step)),
        Action::Request(RequestSpec {
            method,
            target: Target::Path(path),
            ..
        }) => http::limit_of(*method, path) == Limit::Login,
        _ => false,
    }
}

/// The password logins a case reserves before its first step (see [`crate::http::pacer::Reservation`]), or 0.
/// A case reserves when one of its password logins must go out while something it obtained earlier is still
/// alive: a session (a set-up login's included), a token captured from a login, a registration. Waiting its
/// turn between the two could outlast that session's lifetime (five minutes on a stock Synapse, against one
/// login per five and a half minutes), so it waits up front for all of them. Only the logins before the
/// case's first deliberate wait count: that wait releases the reservation, since the sessions opened before
/// it are meant to expire.
pub fn reserved_logins(case: &Case, appservice: bool) -> usize {
    let before_wait = case
        .steps
        .iter()
        .take_while(|s| !matches!(s.action, Action::Wait(_)));
    let mut holds_something = false;
    let mut needed = false;
    let mut count = 0;
    for step in before_wait {
        let paced = password_login(step, appservice);
        needed |= paced && holds_something;
        count += usize::from(paced);
        holds_something |= step.action.session_out().is_some()
            || !step.captures.is_empty()
            || matches!(step.action, Action::Login(_) | Action::Register(_))
            || paced;
    }
    if needed { count } else { 0 }
}

/// Whether a `login` step only sets its case up: nothing judges its answer (no `expect`, `observe` or
/// `assume`; a `require` is a precondition). Such a login may be the application service's, which stock
/// Synapse does not hold to `rc_login`; a login whose answer a clause is judged on keeps the password.
pub fn appservice_login(step: &Step) -> bool {
    matches!(step.action, Action::Login(_))
        && step.expect.is_empty()
        && step.observe.is_none()
        && step.assume.is_none()
}

impl StepRunner<'_> {
    /// Ends every session the case holds (after Ctrl-C, when its own clean-up steps will not run); the
    /// answers do not matter.
    pub async fn log_out_everything(&mut self) {
        let mut tokens: Vec<String> = self
            .scope
            .sessions
            .values()
            .map(|s| s.access_token.clone())
            .collect();
        tokens.sort();
        tokens.dedup();
        self.transcript
            .note("interrupted: logging out the sessions this case holds");
        for token in tokens {
            let request = matrix::logout(&token);
            let _ = self
                .ctx
                .http
                .send_once(&request, &mut self.transcript)
                .await;
        }
    }

    pub async fn run(&mut self, step: &Step, part: Part) -> Result<(), Stop> {
        let cleanup = part == Part::Finally;
        self.transcript.step(&step.name);
        if !cleanup {
            self.current_step = Some(step.name.clone());
        }
        if let Action::Wait(wait) = &step.action {
            // Sessions opened before a deliberate wait are meant to expire: the logins after it need not go
            // out with those before, and other cases need not wait for this one.
            self.logins = None;
            self.transcript.reserved = None;
            self.wait(wait).await?;
            // Nothing to evaluate: the steps after it are the ones a stop leaves unjudged.
            if !cleanup {
                self.judged += 1;
            }
            return Ok(());
        }
        // A refresh keeps what the response does not restate: the refresh token when none is new ("If not
        // given, the old refresh token can be re-used"), and for OAuth the client and the device.
        let previous = match &step.action {
            Action::Refresh(RefreshSpec {
                token: TokenSource::Session(s),
                ..
            })
            | Action::OauthRefresh(OauthRefreshSpec {
                token: TokenSource::Session(s),
                ..
            }) => self.scope.session(s).ok().cloned(),
            _ => None,
        };
        let mut granted = None;
        let sent_at = Instant::now();
        let response = match &step.action {
            Action::Register(spec) => self.register(spec).await?,
            Action::Burst { count, request } => self.burst(*count, request).await?,
            Action::OauthLogin(spec) => {
                // A login at the authorisation server checks a password: paced as the logins are, a few at a
                // time for the whole run (its requests' 429s are learned by their endpoints' lanes).
                let ctx = self.ctx;
                let queued = self.transcript.clock().waiting();
                let turn = ctx
                    .http
                    .pacer
                    .turn(Limit::OauthLogin, "", &self.transcript)
                    .await;
                drop(queued);
                let grant = self.oauth_login(step, spec).await;
                drop(turn);
                let grant = grant.map_err(Stop::Error)?;
                granted = Some((grant.client_id, grant.device_id));
                grant.response
            }
            action => {
                let outgoing = match action {
                    Action::Login(login) => self.login(login, appservice_login(step)),
                    action => self.outgoing(action),
                }
                .map_err(unresolved(None))?;
                let (sent, waited) = (Instant::now(), self.transcript.clock().total());
                self.transcript.sessions_expire = self.scope.first_expiry().map(|expires| {
                    tokio::time::Instant::now() + expires.saturating_duration_since(sent)
                });
                let response = self.ctx.http.send(&outgoing, &mut self.transcript).await;
                self.transcript.sessions_expire = None;
                if outgoing.limit() == Limit::Login {
                    self.login_sent();
                }
                let response = response.map_err(|e| match e {
                    HttpError::OutlivesSession { limit, wait } => Stop::Restart {
                        limit,
                        waited: wait,
                        reason: StopReason::Transport {
                            at: Place::Step(step.name.clone()),
                            error: e,
                        },
                    },
                    e => Stop::from_http(Place::Step(step.name.clone()), e),
                })?;
                // A real wait (a turn behind a rate limit), not the moment any request spends in its lane.
                let waited = self.transcript.clock().total().saturating_sub(waited);
                if waited >= RESTART_AFTER_WAIT
                    && let Some(name) = self.scope.expired_since(sent)
                {
                    return Err(Stop::Restart {
                        limit: outgoing.limit(),
                        waited,
                        reason: StopReason::SessionExpiredWhileWaiting {
                            step: step.name.clone(),
                            session: name.to_owned(),
                            limit: outgoing.limit(),
                            waited,
                        },
                    });
                }
                response
            }
        };
        let received_at = Instant::now();
        // Login and registration hash passwords: their time says nothing about how long a request with a
        // token takes.
        if !matches!(step.action, Action::Login(_) | Action::Register(_)) {
            self.slowest = self.slowest.max(received_at - sent_at);
        }
        if cleanup {
            return Ok(());
        }
        let near_expiry = self.near_expiry(step, sent_at, received_at);
        // The OAuth endpoints «use their own rules» (A34): the Matrix form checks are not theirs.
        if !step.action.calls_oauth_endpoint() {
            ambient::check(
                &self.ctx.catalogue,
                &step.name,
                &response,
                &mut self.findings.ambient,
            );
        }
        self.preconditions(step, &response)?;
        let before = self.findings.checks.len();
        for block in &step.expect {
            self.expectations(step, block, &response)?;
        }
        // A token refused close to its advertised expiry may simply have expired: no verdict either way.
        // Only where the step expected the token to work: a check that the token is dead stands.
        let expected_success = step.expect.iter().any(|b| {
            b.status
                .as_ref()
                .is_some_and(|m| m.check(Some(&json!(200)), &|v| self.render(v)).is_ok())
        });
        if let Some(reason) = near_expiry
            && expected_success
            && response.status == 401
            && self.findings.checks[before..].iter().any(|c| !c.held)
        {
            self.findings.checks.truncate(before);
            return Err(Stop::Error(reason));
        }
        if let Some(observe) = &step.observe {
            let label = observe.label.as_deref().unwrap_or(&step.name);
            // Where tokens were issued, whether they come with a lifetime is part of what the server chose.
            let issued = response.status == 200 && response.pointer("/access_token").is_some();
            let lifetime = issued.then(|| {
                // The OAuth token endpoint states the lifetime in seconds (RFC 6749 `expires_in`).
                let field = match step.action {
                    Action::OauthLogin(_) | Action::OauthRefresh(_) => "expires_in",
                    _ => "expires_in_ms",
                };
                let given = response.pointer(&format!("/{field}")).is_some();
                Lifetime { field, given }
            });
            self.findings.observations.push(Observation {
                clause: observe.clause.clone(),
                step: step.name.clone(),
                label: label.to_owned(),
                answer: response.summary(),
                lifetime,
            });
        }
        self.judged += 1;
        if let Some(name) = step.action.session_out() {
            let previous_refresh = previous.as_ref().and_then(|p| p.refresh_token.clone());
            match Session::from_response(&response, previous_refresh, sent_at, received_at) {
                Some(mut session) if response.status == 200 => {
                    if let Some((client_id, device_id)) = granted {
                        session.client_id = Some(client_id);
                        session.device_id.get_or_insert(Value::String(device_id));
                    } else if let (Action::OauthRefresh(_), Some(previous)) =
                        (&step.action, previous)
                    {
                        session.client_id = previous.client_id;
                        if session.device_id.is_none() {
                            session.device_id = previous.device_id;
                        }
                    }
                    self.scope.sessions.insert(name.to_owned(), session);
                }
                _ => self.transcript.note(&format!(
                    "no session `{name}`: the response has no access token"
                )),
            }
        }
        for capture in &step.captures {
            let value = response.pointer(&capture.pointer).ok_or_else(|| {
                Stop::Error(StopReason::Capture(Box::new(Uncaptured {
                    step: step.name.clone(),
                    name: capture.name.clone(),
                    pointer: capture.pointer.clone(),
                    answer: response.summary(),
                })))
            })?;
            self.scope.vars.insert(capture.name.clone(), value.clone());
        }
        Ok(())
    }

    /// One login of the case went out: after the last, the login lane is free for other cases.
    fn login_sent(&mut self) {
        if let Some((_, left)) = &mut self.logins {
            *left = left.saturating_sub(1);
            self.transcript.reserved_left = *left as u32;
            if *left == 0 {
                self.logins = None;
                self.transcript.reserved = None;
            }
        }
    }

    fn lookup(&self) -> impl Fn(&str) -> Result<Value, Unresolved> + '_ {
        |name| self.scope.lookup(name)
    }

    fn text(&self, template: &str) -> Result<String, Unresolved> {
        template::render_text(template, &self.lookup())
    }

    /// A request path: the case's own text as written, each variable's value percent-encoded, so that a
    /// captured `@user:server` or a device ID with a `/` stays one path segment.
    fn path(&self, template: &str) -> Result<String, Unresolved> {
        let encoded = |name: &str| -> Result<Value, Unresolved> {
            let text = match self.scope.lookup(name)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let encoded = percent_encoding::utf8_percent_encode(&text, PATH_SEGMENT);
            Ok(Value::String(encoded.to_string()))
        };
        template::render_text(template, &encoded)
    }

    /// The access token a step names: a session's, or one written out.
    fn access_token(&self, source: &TokenSource) -> Result<String, Unresolved> {
        match source {
            TokenSource::Token(template) => self.text(template),
            TokenSource::Session(name) => Ok(self.scope.session(name)?.access_token.clone()),
        }
    }

    /// The refresh token a step names: a session's (which may have none), or one written out.
    fn refresh_token(&self, source: &TokenSource) -> Result<String, Unresolved> {
        match source {
            TokenSource::Token(template) => self.text(template),
            TokenSource::Session(name) => self
                .scope
                .session(name)?
                .refresh_token
                .clone()
                .ok_or_else(|| Unresolved::NoRefreshToken {
                    session: name.clone(),
                }),
        }
    }

    fn outgoing(&self, action: &Action) -> Result<Outgoing, Unresolved> {
        Ok(match action {
            Action::Request(r) => {
                let mut out = match &r.target {
                    Target::Path(path) => Outgoing::new(r.method, self.path(path)?),
                    Target::Endpoint(field) => Outgoing::to_url(r.method, self.endpoint(field)?),
                };
                for (name, value) in &r.query {
                    out.query.push((name.clone(), self.text(value)?));
                }
                for (name, value) in &r.headers {
                    out.headers.push((name.clone(), self.text(value)?));
                }
                out.bearer = r.auth.as_ref().map(|a| self.access_token(a)).transpose()?;
                out.body = match &r.body {
                    Some(Body::Json(json)) => {
                        Some(Body::Json(template::render_value(json, &self.lookup())?))
                    }
                    Some(Body::Raw(raw)) => Some(Body::Raw(self.text(raw)?)),
                    Some(Body::Form(fields)) => Some(Body::Form(self.fields(fields)?)),
                    None => None,
                };
                out
            }
            Action::Login(l) => self.login(l, false)?,
            Action::Refresh(r) => matrix::refresh(&self.refresh_token(&r.token)?),
            Action::Whoami(source) => {
                Outgoing::new(Method::Get, matrix::WHOAMI_PATH).bearer(self.access_token(source)?)
            }
            Action::OauthRefresh(r) => {
                let token = self.refresh_token(&r.token)?;
                let client_id = match (&r.client_id, &r.token) {
                    (Some(template), _) => Some(self.text(template)?),
                    (None, TokenSource::Session(name)) => {
                        self.scope.session(name)?.client_id.clone()
                    }
                    (None, TokenSource::Token(_)) => None,
                };
                let mut fields = vec![
                    ("grant_type".to_owned(), "refresh_token".to_owned()),
                    ("refresh_token".to_owned(), token),
                ];
                fields.extend(client_id.map(|id| ("client_id".to_owned(), id)));
                Outgoing::to_url(Method::Post, self.endpoint("token_endpoint")?).form(fields)
            }
            Action::Register(_)
            | Action::Wait(_)
            | Action::Burst { .. }
            | Action::OauthLogin(_) => {
                unreachable!("handled by the caller")
            }
        })
    }

    /// `POST /login` for a fixture user: with the password, or, for a set-up login (`setup`) when the run has
    /// an application service whose namespace holds the fixture users, as that service.
    fn login(&self, l: &LoginSpec, setup: bool) -> Result<Outgoing, Unresolved> {
        let account = self
            .scope
            .users
            .get(&l.user)
            .ok_or_else(|| Unresolved::UserNotCreated(l.user.clone()))?;
        let as_token = self.ctx.settings.privileges.as_token.as_ref();
        let (mut body, as_token) = match as_token {
            Some(token) if setup && self.ctx.accounts.appservice_logins() => {
                (matrix::appservice_login(&account.localpart), Some(token))
            }
            _ => (
                matrix::password_login(&account.localpart, &account.password),
                None,
            ),
        };
        if let Some(flag) = l.refresh_token {
            body["refresh_token"] = json!(flag);
        }
        if let Some(device) = &l.device_id {
            body["device_id"] = json!(self.text(device)?);
        }
        if let Some(name) = &l.device_name {
            body["initial_device_display_name"] = json!(self.text(name)?);
        }
        let mut out = Outgoing::new(Method::Post, matrix::LOGIN_PATH).json(body);
        if let Some(token) = as_token {
            out.bearer = Some(token.clone());
            out.limit = Some(Limit::AppserviceLogin);
        }
        Ok(out)
    }

    /// The URL of an OAuth 2.0 endpoint of the server's metadata.
    fn endpoint(&self, field: &str) -> Result<url::Url, Unresolved> {
        let server = self.ctx.oauth.as_ref().ok_or(Unresolved::NoOauthServer)?;
        server.endpoint(field).map_err(Unresolved::Metadata)
    }

    fn fields(&self, fields: &[(String, String)]) -> Result<Vec<(String, String)>, Unresolved> {
        fields
            .iter()
            .map(|(name, value)| Ok((name.clone(), self.text(value)?)))
            .collect()
    }

    async fn oauth_login(
        &mut self,
        step: &Step,
        spec: &OauthLoginSpec,
    ) -> Result<oauth::Grant, StopReason> {
        let unresolved = |reason| StopReason::Unresolved {
            step: Some(step.name.clone()),
            reason,
        };
        let not_granted = |reason| StopReason::Grant {
            step: step.name.clone(),
            reason,
        };
        let (Some(server), Some(authoriser)) = (&self.ctx.oauth, &self.ctx.settings.authoriser)
        else {
            return Err(not_granted(GrantFailure::NotConfigured));
        };
        let device_id = match &spec.device_id {
            Some(template) => self.text(template).map_err(unresolved)?,
            None => format!("MRC{}", rand_password()[..10].to_uppercase()),
        };
        let granted = match spec.grant {
            LoginGrant::AuthorizationCode => {
                let verifier = spec
                    .code_verifier
                    .as_ref()
                    .map(|t| self.text(t))
                    .transpose()
                    .map_err(unresolved)?;
                oauth::authorization_code_grant(
                    &self.ctx.http,
                    server,
                    authoriser,
                    &device_id,
                    verifier,
                    &mut self.transcript,
                )
                .await
            }
            LoginGrant::DeviceCode => {
                oauth::device_authorization_grant(
                    &self.ctx.http,
                    server,
                    authoriser,
                    &device_id,
                    &mut self.transcript,
                )
                .await
            }
        };
        granted.map_err(not_granted)
    }

    async fn burst(&mut self, count: u32, request: &RequestSpec) -> Result<Response, Stop> {
        let outgoing = self
            .outgoing(&Action::Request(request.clone()))
            .map_err(unresolved(None))?;
        for sent in 1..=count {
            // The transcript keeps only the answer that matters: the first 429.
            let mut quiet = Transcript::default();
            let response = self.ctx.http.send_once(&outgoing, &mut quiet).await;
            let response = response.map_err(|e| Stop::from_http(Place::Burst, e))?;
            if response.status == 429 {
                self.transcript.note(&format!(
                    "burst: the first 429 came at request {sent} of {count}"
                ));
                self.transcript.extend(quiet);
                return Ok(response);
            }
        }
        Err(Stop::Skip(StopReason::NoRateLimit { count }))
    }

    async fn register(&mut self, spec: &RegisterSpec) -> Result<Response, Stop> {
        let mut body = json!({});
        if spec.kind == AccountKind::User {
            let password = rand_password();
            self.ctx.http.secrets.add(&password);
            body =
                json!({"username": self.ctx.accounts.fresh_localpart("reg"), "password": password});
        }
        if let Some(flag) = spec.refresh_token {
            body["refresh_token"] = json!(flag);
        }
        if let Some(flag) = spec.inhibit_login {
            body["inhibit_login"] = json!(flag);
        }
        if let Some(device) = &spec.device_id {
            body["device_id"] = json!(self.text(device).map_err(unresolved(None))?);
        }
        let kind = match spec.kind {
            AccountKind::User => "user",
            AccountKind::Guest => "guest",
        };
        self.ctx
            .accounts
            .register(&self.ctx.http, kind, body, &mut self.transcript)
            .await
            .map_err(|e| match e {
                AccountError::Http(e) => Stop::from_http(Place::Registration, e),
                AccountError::Refused(reason) => Stop::Error(StopReason::AccountRefused {
                    at: Place::Registration,
                    reason,
                }),
            })
    }

    async fn wait(&mut self, wait: &Wait) -> Result<(), Stop> {
        let until = match wait {
            Wait::Millis(ms) => Instant::now() + Duration::from_millis(*ms),
            Wait::ExpiryOf(name) => {
                let (_, received_at, lifetime) = self.lifetime_of(name)?;
                received_at + lifetime + expiry_margin(lifetime)
            }
            Wait::BeforeExpiryOf(name) => {
                let (requested_at, _, lifetime) = self.lifetime_of(name)?;
                let before = self.near_expiry_margin(lifetime) * 2;
                if before >= lifetime || requested_at + lifetime - before <= Instant::now() {
                    return Err(Stop::NotRun(StopReason::NoTimeBeforeExpiry {
                        session: name.clone(),
                        lifetime,
                        slowest: self.slowest,
                    }));
                }
                requested_at + lifetime - before
            }
        };
        let wait_for = until.saturating_duration_since(Instant::now());
        if wait_for > self.ctx.settings.timing.max_wait {
            return Err(Stop::Timing(
                Cause::Expiry { needed: wait_for },
                StopReason::WaitOverMaxWait {
                    wait: wait_for,
                    max_wait: self.ctx.settings.timing.max_wait,
                },
            ));
        }
        self.transcript.note(&format!("waiting {wait_for:?}"));
        self.transcript.clock().add(wait_for);
        tokio::time::sleep_until(until.into()).await;
        Ok(())
    }

    /// When a session's tokens were requested and arrived, and how long the server said its access token
    /// lives.
    fn lifetime_of(&self, name: &str) -> Result<(Instant, Instant, Duration), Stop> {
        let session = self.scope.session(name).map_err(unresolved(None))?;
        let lifetime = match &session.expires_in_ms {
            None => {
                return Err(Stop::Skip(StopReason::NoLifetime {
                    session: name.to_owned(),
                }));
            }
            Some(value) => value.as_u64().map(Duration::from_millis).ok_or_else(|| {
                Stop::Error(StopReason::LifetimeNotInteger {
                    session: name.to_owned(),
                    value: value.clone(),
                })
            })?,
        };
        Ok((session.requested_at, session.received_at, lifetime))
    }

    /// How close to its advertised expiry a refused token gives no verdict: a tenth of the lifetime, or
    /// twice the slowest round trip of the case, whichever is longer.
    fn near_expiry_margin(&self, lifetime: Duration) -> Duration {
        (lifetime / 10).max(self.slowest * 2)
    }

    /// Why the access token an action sends was too close to its advertised expiry for a refusal to count:
    /// its answer arrived after `E - margin` (margin: a tenth of the lifetime, or twice the slowest round trip
    /// of the case, whichever is longer; the server may have handled the request at any time before the answer
    /// arrived), and it was sent before the wait that deliberately lets it expire would have ended.
    fn near_expiry(
        &self,
        step: &Step,
        sent_at: Instant,
        received_at: Instant,
    ) -> Option<StopReason> {
        let source = match &step.action {
            Action::Whoami(source) => Some(source),
            // At /refresh an access token sent along is incidental: a refusal there is about the refresh token.
            Action::Request(r) | Action::Burst { request: r, .. } if !matches!(&r.target, Target::Path(p) if p.ends_with("/refresh")) => {
                r.auth.as_ref()
            }
            _ => None,
        };
        let name = source?.session()?;
        let session = self.scope.session(name).ok()?;
        let lifetime = Duration::from_millis(session.expires_in_ms.as_ref()?.as_u64()?);
        // The earliest the server's clock may end the token: counted from when it was requested.
        let expiry = session.requested_at + lifetime;
        let margin = self.near_expiry_margin(lifetime);
        let deliberately_expired = session.received_at + lifetime + expiry_margin(lifetime);
        (received_at + margin > expiry && sent_at < deliberately_expired).then(|| {
            StopReason::NearExpiry {
                step: step.name.clone(),
                session: name.to_owned(),
                left: expiry.saturating_duration_since(received_at),
                margin,
            }
        })
    }

    /// Fixture steps must answer 200 unless the step checks the status itself; `require:` blocks likewise stop
    /// the case with an error, never a failure.
    fn preconditions(&mut self, step: &Step, response: &Response) -> Result<(), Stop> {
        let blocks = step.expect.iter().chain(&step.require).chain(&step.assume);
        let checks_status = blocks
            .into_iter()
            .any(|b| b.status.is_some() && b.if_status.is_none() && b.spec.is_none());
        if step.action.is_fixture()
            && !checks_status
            && step.observe.is_none()
            && response.status != 200
        {
            return Err(Stop::Error(StopReason::SetupStatus {
                step: step.name.clone(),
                answer: response.describe(),
            }));
        }
        // An unmet assumption means the case does not apply to this server; an unmet precondition means it
        // could not reach its checks.
        self.holds(step, Block::Assume, step.assume.as_ref(), response)
            .map_err(Stop::Skip)?;
        self.holds(step, Block::Require, step.require.as_ref(), response)
            .map_err(Stop::Error)?;
        Ok(())
    }

    /// `Err` saying what does not hold in the block, if anything.
    fn holds(
        &self,
        step: &Step,
        kind: Block,
        block: Option<&CheckBlock>,
        response: &Response,
    ) -> Result<(), StopReason> {
        let unmet = block.map(|b| self.unmet(b, response)).unwrap_or_default();
        if unmet.is_empty() {
            return Ok(());
        }
        Err(StopReason::Block {
            step: step.name.clone(),
            block: kind,
            unmet,
            answer: Box::new(answer(response)),
        })
    }

    /// The matchers of a block that do not hold.
    fn unmet(&self, block: &CheckBlock, response: &Response) -> Vec<Unmet> {
        if !self.applies(block, response) {
            return Vec::new();
        }
        targets(block, response)
            .into_iter()
            .filter_map(|(subject, matcher, actual)| {
                let result = matcher.check(actual.as_ref(), &|v| self.render(v));
                result.err().map(|mismatch| Unmet { subject, mismatch })
            })
            .collect()
    }

    /// A block's conditions: `if_status` matches and the server advertises a version in its `spec` range.
    fn applies(&self, block: &CheckBlock, response: &Response) -> bool {
        let status = json!(response.status);
        let status_ok = block
            .if_status
            .as_ref()
            .is_none_or(|c| c.check(Some(&status), &|v| self.render(v)).is_ok());
        let version_ok = block
            .spec
            .as_ref()
            .is_none_or(|r| r.any_advertised(&self.ctx.capabilities.versions));
        status_ok && version_ok
    }

    fn render(&self, value: &Value) -> Result<Value, Unresolved> {
        template::render_value(value, &self.lookup())
    }

    fn expectations(
        &mut self,
        step: &Step,
        block: &CheckBlock,
        response: &Response,
    ) -> Result<(), Stop> {
        if !self.applies(block, response) {
            return Ok(());
        }
        // A value the expectation refers to but an earlier response did not give (say, a device_id) is not
        // this clause's failure: the case cannot reach this check.
        for template in block.templates() {
            template::render(template, &self.lookup()).map_err(unresolved(Some(step)))?;
        }
        let Some(level) = level_of(&self.ctx.catalogue, self.ctx.settings.reading, block) else {
            // Not checked under this run's reading of an ambiguity.
            return Ok(());
        };
        let mut records = Vec::new();
        for (subject, matcher, actual) in targets(block, response) {
            let render = |v: &Value| self.render(v);
            let (held, expected) = match matcher.check(actual.as_ref(), &render) {
                Ok(()) => (true, matcher.expected(&render)),
                Err(Mismatch::Differs { expected, .. }) => (false, expected),
                // Rendered above: a value missing now is the case's, not the server's.
                Err(Mismatch::Unrenderable(reason)) => return Err(unresolved(Some(step))(reason)),
            };
            records.push(CheckRecord {
                clause: block.clause.clone(),
                level,
                held,
                step: step.name.clone(),
                checked: Checked::Matcher {
                    subject,
                    expected,
                    actual,
                    answer: answer(response),
                },
                pos: Some(block.pos),
            });
        }
        self.findings.checks.extend(records);
        Ok(())
    }
}

/// The response in brief, for check records and stop reasons.
fn answer(response: &Response) -> Answer {
    Answer {
        status: response.status,
        errcode: response.errcode().map(str::to_owned),
        described: response.describe(),
        json: response.json.is_some(),
    }
}

/// The level a block's checks count at under `reading`; `None` when the reading does not check it.
fn level_of(catalogue: &Catalogue, reading: Reading, block: &CheckBlock) -> Option<Level> {
    let own = catalogue
        .get(&block.clause)
        .map_or(Level::Must, |c| c.level);
    let lowered = match &block.reading {
        Some(readings) => readings.level(reading)?,
        None => block.level.unwrap_or(own),
    };
    Some(lowered.max(own))
}

/// (subject, matcher, actual value) for every matcher of a block.
fn targets<'b>(
    block: &'b CheckBlock,
    response: &Response,
) -> Vec<(Subject, &'b Matcher, Option<Value>)> {
    let mut out = Vec::new();
    if let Some(status) = &block.status {
        out.push((Subject::Status, status, Some(json!(response.status))));
    }
    for (name, matcher) in &block.headers {
        let value = response.header(name).map(|v| Value::String(v.to_owned()));
        let subject = Subject::Header { name: name.clone() };
        out.push((subject, matcher, value));
    }
    for (pointer, matcher) in &block.json {
        let value = match &response.json {
            Some(json) => json.pointer(pointer).cloned(),
            None => None,
        };
        let subject = Subject::Json {
            pointer: pointer.clone(),
        };
        out.push((subject, matcher, value));
    }
    out
}

fn rand_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn suite() -> Vec<Case> {
        crate::case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases"))
            .expect("the suite loads")
            .cases
    }

    fn case<'a>(cases: &'a [Case], id: &str) -> &'a Case {
        cases.iter().find(|c| c.id == id).expect("case")
    }

    /// The deactivation case's one password login comes after two set-up logins as the application
    /// service: its turn is taken before the first of them, so that the wait cannot outlast their sessions.
    #[test]
    fn a_password_login_after_a_set_up_login_is_reserved_up_front() {
        let cases = suite();
        let deactivate = case(&cases, "session-end/deactivate");
        assert_eq!(password_logins(deactivate, true), 1);
        assert_eq!(reserved_logins(deactivate, true), 1);
        assert_eq!(reserved_logins(deactivate, false), 3);
    }

    /// Reserving holds back every other case's logins: a case whose one password login comes first holds
    /// nothing that could expire, and does not reserve.
    #[test]
    fn a_first_and_only_password_login_is_not_reserved() {
        let cases = suite();
        let single = case(&cases, "token-use/bearer-header");
        assert_eq!(password_logins(single, false), 1);
        assert_eq!(reserved_logins(single, false), 0);
    }
}
