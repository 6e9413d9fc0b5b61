//! Client-side clauses judged from a [`Recording`]: what the client did after each event that calls
//! for a reaction (a 401, a lost or failed `/refresh`, a rotation), and where it sent its refresh
//! tokens.
//!
//! Readings the judge applies (the spec leaves them open):
//! - A request that arrives within `grace` of the reply that made its token stale was in flight
//!   before the client could know: it is not held against the client.
//! - `token.use.client-reaction` lists «attempt to refresh the token, if it has a refresh token»
//!   first, so after `soft_logout: false` one refresh attempt is allowed; after that fails, the
//!   client must stop using the session.
//! - A `5xx` from `/refresh` is a transient failure (as the OAuth 2.0 API says since v1.15), not the
//!   «error response» without `soft_logout: true` that means logged out: the client repeats the
//!   refresh with the same refresh token, as it must after a lost connection.
//! - Refreshing ahead of expiry, or only after a 401, are both fine («Clients can also refresh their
//!   access token at any time»).

use std::time::Duration;

use super::record::{Exchange, Kind, Recording, Reply, TokenRef};
use super::schedule::{Adversity, Endpoint};
use crate::clause::Level;
use crate::verdict::traffic::{
    Expected, NotExercised, NotReached, Reaction, Request, TokenPlace, Unjudged,
};
use crate::verdict::{CaseRecord, CheckRecord, Checked, Outcome, StopReason};

pub const REFRESHES_ON_ERROR: &str = "expiry.client-refreshes-on-error";
pub const CLIENT_REACTION: &str = "token.use.client-reaction";
pub const REFRESH_FAILURE: &str = "expiry.refresh-failure-soft-logout";
pub const USE_NEW_TOKENS: &str = "refresh.client.use-new-tokens";
pub const RETRY_LOST: &str = "rotation.client.retry-lost-refresh";
pub const REFRESH_ENDPOINT: &str = "expiry.legacy-uses-refresh-endpoint";

/// How long the judge waits for a reaction.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// Requests arriving this soon after a reply were sent before the client read it.
    pub grace: Duration,
    /// Without any reaction for this long, the client did not react.
    pub reaction: Duration,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            grace: Duration::from_secs(1),
            reaction: Duration::from_secs(20),
        }
    }
}

enum Finding {
    Held(Reaction),
    Violated(Reaction),
    /// The run ended before the client showed its reaction.
    Open(Unjudged),
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

struct Judge<'a> {
    rec: &'a Recording,
    windows: Windows,
    /// Indices of the exchanges in order of arrival.
    order: Vec<usize>,
}

/// A case of the report: one kind of event, with a check per occurrence.
struct Case {
    id: &'static str,
    title: &'static str,
    clauses: &'static [&'static str],
    checks: Vec<CheckRecord>,
    open: Vec<(String, Unjudged)>,
}

impl Case {
    fn new(id: &'static str, title: &'static str, clauses: &'static [&'static str]) -> Case {
        Case {
            id,
            title,
            clauses,
            checks: Vec::new(),
            open: Vec::new(),
        }
    }

    fn note(&mut self, clauses: &[&str], level: Level, step: String, finding: Finding) {
        let (held, detail) = match finding {
            Finding::Held(detail) => (true, detail),
            Finding::Violated(detail) => (false, detail),
            Finding::Open(why) => {
                self.open.push((step, why));
                return;
            }
        };
        for clause in clauses {
            self.checks.push(CheckRecord {
                clause: (*clause).to_owned(),
                level,
                held,
                step: step.clone(),
                checked: Checked::Traffic(detail.clone()),
                pos: None,
            });
        }
    }

    fn into_record(self, not_reached: NotReached) -> CaseRecord {
        let failed = self.checks.iter().find(|c| !c.held);
        let (outcome, stop) = match (failed, self.checks.is_empty()) {
            (Some(_), _) => (Outcome::Failed, None),
            (None, false) => (Outcome::Passed, None),
            (None, true) if !self.open.is_empty() => (
                Outcome::Skipped,
                Some(StopReason::NotExercised(NotExercised::Unjudged(self.open))),
            ),
            (None, true) => (
                Outcome::Skipped,
                Some(StopReason::NotExercised(NotExercised::NotReached(
                    not_reached,
                ))),
            ),
        };
        CaseRecord {
            id: format!("client/{}", self.id),
            title: self.title.to_owned(),
            file: String::new(),
            clauses: self.clauses.iter().map(|c| (*c).to_owned()).collect(),
            outcome,
            skipped_by_settings: false,
            duration: Duration::ZERO,
            stop,
            checks: self.checks,
            observations: Vec::new(),
            transcript: Default::default(),
            stopped_at: None,
            cause: None,
            unreached: Vec::new(),
        }
    }
}

impl<'a> Judge<'a> {
    fn new(rec: &'a Recording, windows: Windows) -> Judge<'a> {
        let mut order: Vec<usize> = (0..rec.exchanges.len()).collect();
        order.sort_by_key(|&i| rec.exchanges[i].at);
        Judge {
            rec,
            windows,
            order,
        }
    }

    /// The exchanges that arrived after `event`'s reply was handed over, in order of arrival.
    fn after<'b>(&'b self, event: &'b Exchange) -> impl Iterator<Item = &'a Exchange> + 'b {
        let rec = self.rec;
        self.order
            .iter()
            .map(move |&i| &rec.exchanges[i])
            .filter(move |x| x.at >= event.done && !std::ptr::eq(*x, event))
    }

    fn is_new_login(x: &Exchange) -> bool {
        matches!(x.endpoint, Endpoint::Login | Endpoint::Register) && x.status() == Some(200)
    }

    fn silence(&self, event: &Exchange) -> Duration {
        self.rec.ended_at.saturating_sub(event.done)
    }

    /// After a 401 that calls for a refresh: the client's next move on the session is `/refresh`.
    fn refreshes_after(&self, event: &Exchange, session: usize) -> Finding {
        for x in self.after(event) {
            let since = x.at.saturating_sub(event.done);
            if x.endpoint == Endpoint::Refresh
                && x.refresh_token().is_some_and(|t| t.session == session)
            {
                return Finding::Held(Reaction::Refreshed { after: since });
            }
            if matches!(x.endpoint, Endpoint::Login | Endpoint::Register) {
                return Finding::Violated(Reaction::LoggedInInsteadOfRefreshing { after: since });
            }
            if x.endpoint == Endpoint::Logout && x.uses_session(session) {
                return Finding::Violated(Reaction::LoggedOutInsteadOfRefreshing { after: since });
            }
            if x.access_token().is_some_and(|t| t.session == session) && since > self.windows.grace
            {
                return Finding::Violated(Reaction::ResentAccessToken {
                    request: request(x),
                    after: since,
                });
            }
        }
        self.no_reaction(event, Expected::Refresh)
    }

    fn no_reaction(&self, event: &Exchange, expected: Expected) -> Finding {
        let silence = self.silence(event);
        if silence >= self.windows.reaction {
            Finding::Violated(Reaction::NoReaction { expected, silence })
        } else {
            Finding::Open(Unjudged::EndedBeforeReaction { silence })
        }
    }

    /// After the session was ended: at most `refreshes_allowed` attempts to refresh, then no use
    /// of its tokens (logging out with them is allowed).
    fn stops_after(&self, event: &Exchange, session: usize, refreshes_allowed: usize) -> Finding {
        let mut refreshes = 0;
        let mut late_uses = 0;
        let mut first_late = None;
        let mut moved_on = None;
        for x in self.after(event) {
            let since = x.at.saturating_sub(event.done);
            if Self::is_new_login(x) && moved_on.is_none() {
                moved_on = Some(since);
            }
            if !x.uses_session(session) || x.endpoint == Endpoint::Logout {
                continue;
            }
            if x.refresh_token().is_some() {
                refreshes += 1;
                if refreshes > refreshes_allowed {
                    first_late.get_or_insert(since);
                }
            } else if since > self.windows.grace {
                late_uses += 1;
                first_late.get_or_insert(since);
            }
        }
        if let Some(first) = first_late {
            return Finding::Violated(Reaction::KeptUsingEndedSession {
                refreshes: (refreshes > refreshes_allowed).then_some(refreshes),
                uses: late_uses,
                first,
            });
        }
        let silence = self.silence(event);
        match moved_on {
            Some(since) => Finding::Held(Reaction::LoggedInAnew { after: since }),
            None if silence >= self.windows.reaction => {
                Finding::Held(Reaction::StoppedUsing { silence })
            }
            None => Finding::Open(Unjudged::EndedTooSoon { silence }),
        }
    }

    /// After a `/refresh` whose response was lost: the next refresh presents the same token.
    fn repeats_after(&self, event: &Exchange, presented: TokenRef) -> Finding {
        for x in self.after(event) {
            let since = x.at.saturating_sub(event.done);
            if matches!(x.endpoint, Endpoint::Login | Endpoint::Register) {
                return Finding::Violated(Reaction::LoggedInInsteadOfRepeating { after: since });
            }
            if !x.uses_session(presented.session) {
                continue;
            }
            if x.endpoint == Endpoint::Logout {
                return Finding::Violated(Reaction::LoggedOutInsteadOfRepeating { after: since });
            }
            if let Some(token) = x.refresh_token() {
                return if token == presented {
                    Finding::Held(Reaction::RepeatedRefresh { after: since })
                } else {
                    Finding::Violated(Reaction::RefreshedWithOtherToken {
                        after: since,
                        presented: token.generation,
                        lost: presented.generation,
                    })
                };
            }
        }
        self.no_reaction(event, Expected::RepeatedRefresh)
    }

    /// The generation of `session` whose refresh token is current at `at`: the newest delivered
    /// one that came with a refresh token.
    fn superseded(&self, token: TokenRef, at: Duration) -> bool {
        let session = &self.rec.sessions[token.session];
        session
            .generations
            .iter()
            .enumerate()
            .skip(token.generation + 1)
            .any(|(_, g)| {
                g.delivered && g.done <= at && (token.kind == Kind::Access || g.has_refresh_token)
            })
    }

    /// After a delivered refresh: the new tokens are used, the superseded ones never again.
    fn uses_new_tokens(&self, event: &Exchange, session: usize, generation: usize) -> Finding {
        let mut picked_up = None;
        for x in self.after(event) {
            let since = x.at.saturating_sub(event.done);
            for u in x.uses.iter().filter(|u| u.token.session == session) {
                if u.token.generation >= generation {
                    picked_up.get_or_insert(since);
                    continue;
                }
                if !self.superseded(u.token, event.done) {
                    continue;
                }
                match u.token.kind {
                    Kind::Refresh => {
                        return Finding::Violated(Reaction::ReplayedSupersededRefreshToken {
                            generation: u.token.generation,
                            after: since,
                        });
                    }
                    Kind::Access
                        if since > self.windows.grace && x.endpoint != Endpoint::Logout =>
                    {
                        return Finding::Violated(Reaction::SentSupersededAccessToken {
                            generation: u.token.generation,
                            request: request(x),
                            after: since,
                        });
                    }
                    Kind::Access => {}
                }
            }
        }
        match picked_up {
            Some(since) => Finding::Held(Reaction::UsedNewTokens { after: since }),
            None => Finding::Open(Unjudged::NoFollowUp {
                silence: self.silence(event),
            }),
        }
    }

    /// A refresh token goes to `POST /_matrix/client/v3/refresh` in the body's `refresh_token`, and
    /// nowhere else (a URL ends up in access logs).
    fn placement(x: &Exchange) -> Option<(Level, Finding)> {
        let refresh_uses: Vec<&TokenPlace> = x
            .uses
            .iter()
            .filter(|u| u.token.kind == Kind::Refresh)
            .map(|u| &u.place)
            .collect();
        if refresh_uses.is_empty() {
            return None;
        }
        let in_body = refresh_uses.contains(&&TokenPlace::Body("refresh_token".into()));
        let right_endpoint =
            x.endpoint == Endpoint::Refresh && x.path == "/_matrix/client/v3/refresh";
        let places: Vec<TokenPlace> = refresh_uses
            .into_iter()
            .filter(|p| **p != TokenPlace::Body("refresh_token".into()))
            .cloned()
            .collect();
        Some(if !(in_body && right_endpoint) {
            (
                Level::Must,
                Finding::Violated(Reaction::RefreshTokenMisplaced {
                    request: request(x),
                    places,
                }),
            )
        } else if !places.is_empty() {
            (
                Level::Should,
                Finding::Violated(Reaction::RefreshTokenAlsoElsewhere {
                    request: request(x),
                    places,
                }),
            )
        } else {
            (Level::Must, Finding::Held(Reaction::RefreshTokenInBody))
        })
    }
}

fn request(x: &Exchange) -> Request {
    Request {
        method: x.method.clone(),
        path: x.path.clone(),
    }
}

fn step(x: &Exchange, what: &str) -> String {
    format!("{what} at {} ({} {})", secs(x.at), x.method, x.path)
}

/// One case per kind of event, each with a check per occurrence.
pub fn judge(rec: &Recording, windows: Windows) -> Vec<CaseRecord> {
    let judge = Judge::new(rec, windows);
    let mut expiry = Case::new(
        "expiry",
        "an expired access token: the client refreshes",
        &[REFRESHES_ON_ERROR, CLIENT_REACTION],
    );
    let mut soft_true = Case::new(
        "soft-logout-true",
        "401 M_UNKNOWN_TOKEN with soft_logout true: the client refreshes",
        &[CLIENT_REACTION, REFRESHES_ON_ERROR],
    );
    let mut soft_false = Case::new(
        "soft-logout-false",
        "401 M_UNKNOWN_TOKEN with soft_logout false: the client stops using the session",
        &[CLIENT_REACTION],
    );
    let mut refresh_failed = Case::new(
        "refresh-4xx",
        "a /refresh failing with a 4xx without soft_logout true: the client is logged out",
        &[REFRESH_FAILURE],
    );
    let mut lost_closed = Case::new(
        "lost-refresh-closed",
        "a processed /refresh whose connection closed: the client repeats it with the same token",
        &[RETRY_LOST],
    );
    let mut lost_5xx = Case::new(
        "lost-refresh-5xx",
        "a processed /refresh answered 500: the client repeats it with the same token",
        &[RETRY_LOST],
    );
    let mut rotation = Case::new(
        "rotation",
        "after each refresh the client uses the new tokens, never the superseded ones",
        &[USE_NEW_TOKENS],
    );
    let mut placement = Case::new(
        "refresh-token-placement",
        "refresh tokens go only into the body of POST /refresh",
        &[REFRESH_ENDPOINT],
    );

    for &i in &judge.order {
        let x = &rec.exchanges[i];
        if let Some((level, finding)) = Judge::placement(x) {
            placement.note(
                &[REFRESH_ENDPOINT],
                level,
                step(x, "refresh token sent"),
                finding,
            );
        }
        let session = x.uses.first().map(|u| u.token.session);
        match (&x.reply, x.adversity) {
            (_, Some(Adversity::SoftLogoutTrue)) => {
                let s = session.expect("applied to a known token");
                let finding = judge.refreshes_after(x, s);
                soft_true.note(
                    soft_true.clauses,
                    Level::Should,
                    step(x, "401 soft_logout true"),
                    finding,
                );
            }
            (_, Some(Adversity::SoftLogoutFalse)) => {
                let s = session.expect("applied to a known token");
                let finding = judge.stops_after(x, s, 1);
                soft_false.note(
                    soft_false.clauses,
                    Level::Should,
                    step(x, "401 soft_logout false"),
                    finding,
                );
            }
            (_, Some(adversity @ (Adversity::LostRefreshClosed | Adversity::LostRefresh5xx))) => {
                let presented = x.refresh_token().expect("applied to a known refresh token");
                let finding = judge.repeats_after(x, presented);
                let (case, what) = if adversity == Adversity::LostRefreshClosed {
                    (&mut lost_closed, "/refresh processed, connection closed")
                } else {
                    (&mut lost_5xx, "/refresh processed, answered 500")
                };
                case.note(&[RETRY_LOST], Level::Should, step(x, what), finding);
            }
            (
                Reply::Delivered {
                    status: 401,
                    soft_logout: Some(true),
                    ..
                },
                None,
            ) if !x.refused_dead && x.endpoint == Endpoint::Other => {
                if let Some(token) = x.access_token() {
                    let finding = judge.refreshes_after(x, token.session);
                    expiry.note(
                        expiry.clauses,
                        Level::Should,
                        step(x, "expired access token refused"),
                        finding,
                    );
                }
            }
            _ => {}
        }
        if x.endpoint == Endpoint::Refresh {
            if let (
                Reply::Delivered {
                    status: 400..=499,
                    soft_logout,
                    ..
                },
                Some(token),
            ) = (&x.reply, x.refresh_token())
                && *soft_logout != Some(true)
            {
                let finding = judge.stops_after(x, token.session, 0);
                let status = x.status().unwrap_or_default();
                refresh_failed.note(
                    &[REFRESH_FAILURE],
                    Level::Should,
                    step(x, &format!("/refresh failed with {status}")),
                    finding,
                );
            }
            if let (Some((s, g)), Some(200)) = (x.issued, x.status()) {
                let finding = judge.uses_new_tokens(x, s, g);
                rotation.note(
                    &[USE_NEW_TOKENS],
                    Level::Should,
                    step(x, "tokens rotated"),
                    finding,
                );
            }
        }
    }

    let schedule = &rec.schedule;
    let reached = |adversity: Adversity| schedule.why_not_reached(adversity);
    let never_refreshed = reached(Adversity::SoftLogoutTrue);
    vec![
        expiry.into_record(if schedule.refreshes > 0 {
            NotReached::RefreshedAheadOfExpiry
        } else {
            never_refreshed
        }),
        soft_true.into_record(reached(Adversity::SoftLogoutTrue)),
        lost_closed.into_record(reached(Adversity::LostRefreshClosed)),
        lost_5xx.into_record(reached(Adversity::LostRefresh5xx)),
        soft_false.into_record(reached(Adversity::SoftLogoutFalse)),
        refresh_failed.into_record(reached(Adversity::Refresh4xx)),
        rotation.into_record(never_refreshed),
        placement.into_record(never_refreshed),
    ]
}
