//! The recorder: a [`Hook`] on the reference homeserver that notes every exchange with the client
//! (which token went where, what came back), follows the client's sessions and tokens from the
//! traffic alone, and applies the adversities of the [`schedule`](super::schedule).
//!
//! Raw tokens stay inside the recorder: an [`Exchange`] names a token by its session, generation
//! and kind only, so nothing judged or reported can leak one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::schedule::{Adversity, Endpoint, Schedule};
use crate::redact::Secrets;
use crate::reference::{Answer, Delivery, Hook, SeenRequest, SeenResponse};
use crate::verdict::traffic::TokenPlace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

/// A token by what it is, never by its value: generation 0 comes from the login, generation n
/// from the n-th processed `/refresh` of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef {
    pub session: usize,
    pub generation: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Use {
    pub token: TokenRef,
    pub place: TokenPlace,
}

/// What the client got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Delivered {
        status: u16,
        errcode: Option<String>,
        soft_logout: Option<bool>,
    },
    /// The connection was closed without a response.
    Lost,
}

impl Reply {
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Delivered { status, .. } => Some(*status),
            Reply::Lost => None,
        }
    }
}

/// One request and its fate.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Arrival, from the start of the run.
    pub at: Duration,
    /// When the reply was handed over (or lost).
    pub done: Duration,
    pub method: String,
    pub path: String,
    pub endpoint: Endpoint,
    pub uses: Vec<Use>,
    pub reply: Reply,
    /// The generation this exchange minted (login, registration or refresh), delivered or not.
    pub issued: Option<(usize, usize)>,
    /// Login or registration: whether the body asked for a refresh token.
    pub asked_refresh_token: Option<bool>,
    /// The adversity applied to this exchange, if any.
    pub adversity: Option<Adversity>,
    /// Answered by the recorder for a token of a session it had destroyed (or killed).
    pub refused_dead: bool,
}

impl Exchange {
    pub fn uses_session(&self, session: usize) -> bool {
        self.uses.iter().any(|u| u.token.session == session)
    }

    pub fn access_token(&self) -> Option<TokenRef> {
        self.uses
            .iter()
            .find(|u| u.token.kind == Kind::Access && u.place == TokenPlace::AuthorizationHeader)
            .or_else(|| self.uses.iter().find(|u| u.token.kind == Kind::Access))
            .map(|u| u.token)
    }

    pub fn refresh_token(&self) -> Option<TokenRef> {
        self.uses
            .iter()
            .find(|u| u.token.kind == Kind::Refresh)
            .map(|u| u.token)
    }

    pub fn status(&self) -> Option<u16> {
        self.reply.status()
    }
}

/// Tokens minted together: by a login, a registration or a refresh.
#[derive(Debug, Clone)]
pub struct Generation {
    pub has_refresh_token: bool,
    /// Whether the client received the tokens.
    pub delivered: bool,
    /// When the response carrying them was handed over.
    pub done: Duration,
}

/// One device's session, as seen in the traffic.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub generations: Vec<Generation>,
    /// Destroyed by an adversity (soft_logout false).
    pub destroyed: bool,
}

/// Everything recorded, for the judge.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub exchanges: Vec<Exchange>,
    pub sessions: Vec<SessionLog>,
    /// Where the schedule stood at the end, for the reasons of untested clauses.
    pub schedule: Schedule,
    pub ended_at: Duration,
    /// The client logged out (the regular end of a run).
    pub logged_out: bool,
}

#[derive(Debug)]
struct State {
    recording: Recording,
    /// Raw token → what it is. Never leaves the recorder.
    tokens: HashMap<String, TokenRef>,
    /// Tokens the recorder answers for itself: `soft_logout` of its 401.
    dead: HashMap<String, bool>,
    /// Raw tokens per session and generation: (access, refresh).
    raw: Vec<Vec<(String, Option<String>)>>,
}

/// The [`Hook`] of a client-mode run.
#[derive(Debug)]
pub struct Recorder {
    started: Instant,
    state: Mutex<State>,
    secrets: Secrets,
    /// Woken when the client logs out.
    pub logged_out: Notify,
}

impl Recorder {
    pub fn new(secrets: Secrets) -> Recorder {
        Recorder {
            started: Instant::now(),
            state: Mutex::new(State {
                recording: Recording::default(),
                tokens: HashMap::new(),
                dead: HashMap::new(),
                raw: Vec::new(),
            }),
            secrets,
            logged_out: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recording so far, closed at this instant.
    pub fn finish(&self) -> Recording {
        let mut state = self.state();
        state.recording.ended_at = self.started.elapsed();
        state.recording.clone()
    }

    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.started)
    }
}

/// The bearer token of the Authorization header.
fn bearer(request: &SeenRequest) -> Option<String> {
    let value = request.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn body_json(bytes: &[u8]) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn unknown_token(message: &str, soft_logout: bool) -> Answer {
    Answer {
        status: StatusCode::UNAUTHORIZED,
        body: json!({"errcode": "M_UNKNOWN_TOKEN", "error": message, "soft_logout": soft_logout}),
    }
}

impl State {
    /// Every known token the request carries, wherever it carries it.
    fn uses(&self, request: &SeenRequest) -> Vec<(String, Use)> {
        let mut found = Vec::new();
        let mut note = |raw: String, place: TokenPlace| {
            if let Some(token) = self.tokens.get(&raw) {
                found.push((
                    raw,
                    Use {
                        token: *token,
                        place,
                    },
                ));
            }
        };
        if let Some(token) = bearer(request) {
            note(token, TokenPlace::AuthorizationHeader);
        }
        if let Some(query) = request.uri.query() {
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                note(value.into_owned(), TokenPlace::Query(key.into_owned()));
            }
        }
        if let Some(body) = body_json(&request.body) {
            for (key, value) in body {
                if let Value::String(value) = value {
                    note(value, TokenPlace::Body(key));
                }
            }
        }
        found
    }

    /// The session's newest delivered generation.
    fn current(&self, session: usize) -> Option<usize> {
        self.recording.sessions[session]
            .generations
            .iter()
            .rposition(|g| g.delivered)
    }

    fn is_current(&self, token: TokenRef) -> bool {
        !self.recording.sessions[token.session].destroyed
            && self.current(token.session) == Some(token.generation)
    }

    fn destroy(&mut self, session: usize) {
        self.recording.sessions[session].destroyed = true;
        for (access, refresh) in &self.raw[session] {
            self.dead.insert(access.clone(), false);
            if let Some(refresh) = refresh {
                self.dead.insert(refresh.clone(), false);
            }
        }
    }

    /// Notes tokens minted by a successful login, registration or refresh.
    fn mint(
        &mut self,
        endpoint: Endpoint,
        refreshed: Option<TokenRef>,
        body: &serde_json::Map<String, Value>,
        delivered: bool,
        done: Duration,
    ) -> Option<(usize, usize)> {
        let access = body.get("access_token")?.as_str()?.to_owned();
        let refresh = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let session = match endpoint {
            Endpoint::Login | Endpoint::Register => {
                self.recording.sessions.push(SessionLog {
                    generations: Vec::new(),
                    destroyed: false,
                });
                self.raw.push(Vec::new());
                self.recording.sessions.len() - 1
            }
            Endpoint::Refresh => refreshed?.session,
            _ => return None,
        };
        let generation = self.raw[session].len();
        // Without a new refresh token the old one goes on (refresh.200.refresh_token-optional).
        let has_refresh_token = refresh.is_some();
        self.tokens.insert(
            access.clone(),
            TokenRef {
                session,
                generation,
                kind: Kind::Access,
            },
        );
        if let Some(refresh) = &refresh {
            self.tokens.insert(
                refresh.clone(),
                TokenRef {
                    session,
                    generation,
                    kind: Kind::Refresh,
                },
            );
        }
        self.raw[session].push((access, refresh));
        self.recording.sessions[session]
            .generations
            .push(Generation {
                has_refresh_token,
                delivered,
                done,
            });
        Some((session, generation))
    }
}

impl Hook for Recorder {
    fn before(&self, request: &SeenRequest) -> Option<Answer> {
        let mut state = self.state();
        let uses = state.uses(request);
        let endpoint = Endpoint::of(&request.method, request.uri.path());
        let fresh_login = matches!(endpoint, Endpoint::Login | Endpoint::Register);
        let dead = (!fresh_login)
            .then(|| {
                uses.iter()
                    .find_map(|(raw, _)| state.dead.get(raw).copied())
            })
            .flatten();
        let mut adversity = None;
        let answer = if let Some(soft_logout) = dead {
            Some(unknown_token(
                "The session of this token has ended",
                soft_logout,
            ))
        } else {
            let token = match endpoint {
                Endpoint::Refresh => uses.iter().find(|(_, u)| {
                    u.token.kind == Kind::Refresh
                        && u.place == TokenPlace::Body("refresh_token".into())
                }),
                Endpoint::Other => uses.iter().find(|(_, u)| {
                    u.token.kind == Kind::Access && u.place == TokenPlace::AuthorizationHeader
                }),
                _ => None,
            };
            let eligible = token.filter(|(_, u)| state.is_current(u.token)).cloned();
            match (state.recording.schedule.due(endpoint), eligible) {
                (Some(Adversity::SoftLogoutTrue), Some((raw, _))) => {
                    adversity = Some(Adversity::SoftLogoutTrue);
                    state.dead.insert(raw, true);
                    Some(unknown_token("Access token has expired", true))
                }
                (
                    Some(due @ (Adversity::SoftLogoutFalse | Adversity::Refresh4xx)),
                    Some((_, u)),
                ) => {
                    adversity = Some(due);
                    state.destroy(u.token.session);
                    Some(unknown_token("The session has been logged out", false))
                }
                _ => None,
            }
        };
        let answer = answer?;
        if let Some(applied) = adversity {
            state.recording.schedule.applied(applied);
        }
        let now = self.since_start(Instant::now());
        let reply = Reply::Delivered {
            status: answer.status.as_u16(),
            errcode: Some("M_UNKNOWN_TOKEN".into()),
            soft_logout: answer.body.get("soft_logout").and_then(Value::as_bool),
        };
        state.recording.exchanges.push(Exchange {
            at: self.since_start(request.received),
            done: now,
            method: request.method.to_string(),
            path: request.uri.path().to_owned(),
            endpoint,
            uses: uses.into_iter().map(|(_, u)| u).collect(),
            reply,
            issued: None,
            asked_refresh_token: None,
            adversity,
            refused_dead: dead.is_some(),
        });
        Some(answer)
    }

    fn after(&self, request: &SeenRequest, response: &SeenResponse) -> Delivery {
        let mut state = self.state();
        let request_body = body_json(&request.body);
        if let Some(body) = &request_body {
            self.secrets.add_from_json(&Value::Object(body.clone()));
        }
        let response_body = body_json(&response.body);
        if let Some(body) = &response_body {
            self.secrets.add_from_json(&Value::Object(body.clone()));
        }
        let uses = state.uses(request);
        let endpoint = Endpoint::of(&request.method, request.uri.path());
        let ok = response.status == StatusCode::OK;
        let presented = uses
            .iter()
            .find(|(_, u)| {
                u.token.kind == Kind::Refresh && u.place == TokenPlace::Body("refresh_token".into())
            })
            .map(|(_, u)| u.token);
        let mut adversity = None;
        let mut delivery = Delivery::Deliver;
        if endpoint == Endpoint::Refresh && ok && presented.is_some_and(|t| state.is_current(t)) {
            match state.recording.schedule.due(endpoint) {
                Some(Adversity::LostRefreshClosed) => {
                    adversity = Some(Adversity::LostRefreshClosed);
                    delivery = Delivery::Lose;
                }
                Some(Adversity::LostRefresh5xx) => {
                    adversity = Some(Adversity::LostRefresh5xx);
                    delivery = Delivery::Replace(Answer {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        body: json!({"errcode": "M_UNKNOWN", "error": "Internal server error"}),
                    });
                }
                _ => {}
            }
        }
        let done = self.since_start(Instant::now());
        let delivered = matches!(delivery, Delivery::Deliver);
        let issued = match (&response_body, ok) {
            (Some(body), true) => state.mint(endpoint, presented, body, delivered, done),
            _ => None,
        };
        if let Some(applied) = adversity {
            state.recording.schedule.applied(applied);
        }
        // What re-arms the schedule: the client got past the last adversity.
        if delivered && ok {
            match endpoint {
                Endpoint::Refresh => state.recording.schedule.refreshed(),
                Endpoint::Login | Endpoint::Register if issued.is_some() => {
                    let with_refresh = issued.is_some_and(|(s, g)| {
                        state.recording.sessions[s].generations[g].has_refresh_token
                    });
                    state.recording.schedule.logged_in(with_refresh);
                }
                Endpoint::Logout => {
                    state.recording.logged_out = true;
                    self.logged_out.notify_one();
                }
                _ => {}
            }
        }
        let reply = match &delivery {
            Delivery::Lose => Reply::Lost,
            Delivery::Replace(answer) => Reply::Delivered {
                status: answer.status.as_u16(),
                errcode: answer
                    .body
                    .get("errcode")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                soft_logout: None,
            },
            Delivery::Deliver => Reply::Delivered {
                status: response.status.as_u16(),
                errcode: response_body
                    .as_ref()
                    .and_then(|b| b.get("errcode"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                soft_logout: response_body
                    .as_ref()
                    .and_then(|b| b.get("soft_logout"))
                    .and_then(Value::as_bool),
            },
        };
        let asked_refresh_token =
            matches!(endpoint, Endpoint::Login | Endpoint::Register).then(|| {
                request_body
                    .as_ref()
                    .and_then(|b| b.get("refresh_token"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            });
        state.recording.exchanges.push(Exchange {
            at: self.since_start(request.received),
            done,
            method: request.method.to_string(),
            path: request.uri.path().to_owned(),
            endpoint,
            uses: uses.into_iter().map(|(_, u)| u).collect(),
            reply,
            issued,
            asked_refresh_token,
            adversity,
            refused_dead: false,
        });
        delivery
    }
}
