//! Load-time checks that serde cannot make: clauses exist, variables and sessions are defined before use,
//! gates match what the steps need.

use std::collections::HashSet;

use crate::case::builtin::Builtin;
use crate::case::model::*;
use crate::case::template;
use crate::clause::{Catalogue, Level};
use crate::reading::{BlockReading, Reading};
use crate::source::Pos;

/// The fields a session (`as: s0`) defines, as `s0.access_token` etc.
pub const SESSION_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "device_id",
    "user_id",
    "expires_in_ms",
    "client_id",
];
/// The fields a fixture user defines, as `alice.user_id` etc.
pub const USER_FIELDS: &[&str] = &["user_id", "localpart", "password"];

/// Returns every problem found, each rendered with its position.
pub fn validate(case: &Case, catalogue: &Catalogue) -> Vec<String> {
    let mut v = Validator {
        case,
        catalogue,
        errors: Vec::new(),
        defined: Builtin::ALL.iter().map(|b| b.name().to_owned()).collect(),
        sessions: HashSet::new(),
    };
    v.clauses();
    for user in &case.users {
        for field in USER_FIELDS {
            v.defined.insert(format!("{user}.{field}"));
        }
    }
    for step in &case.steps {
        v.step(step);
    }
    // Clean-up may use anything the steps could have defined; at run time a missing value skips that step.
    for step in &case.finally {
        v.step(step);
    }
    v.gates();
    v.errors
}

struct Validator<'a> {
    case: &'a Case,
    catalogue: &'a Catalogue,
    errors: Vec<String>,
    defined: HashSet<String>,
    sessions: HashSet<String>,
}

impl Validator<'_> {
    fn error_at(&mut self, pos: Pos, message: String, label: &str) {
        self.errors
            .push(self.case.source.render(pos, &message, label));
    }

    /// Points at the first occurrence of `needle` after `from`, or at `from` itself.
    fn error_near(&mut self, from: Pos, needle: &str, message: String, label: &str) {
        let pos = self.case.source.find_from(from, needle).unwrap_or(from);
        self.error_at(pos, message, label);
    }

    fn clauses(&mut self) {
        let start = Pos { line: 1, column: 1 };
        let mut seen = HashSet::new();
        for id in &self.case.clauses {
            if !seen.insert(id) {
                self.error_near(
                    start,
                    id,
                    format!("clause `{id}` is cited twice"),
                    "again here",
                );
            } else if self.catalogue.get(id).is_none() {
                self.error_near(
                    start,
                    id,
                    format!("unknown clause `{id}`"),
                    "not in cases/clauses.yaml",
                );
            }
        }
    }

    fn cited(&mut self, pos: Pos, id: &str) -> Option<Level> {
        if !self.case.clauses.iter().any(|c| c == id) {
            let message = format!("clause `{id}` is not in this case's `clauses` list");
            self.error_near(pos, id, message, "cite it in `clauses`");
            return None;
        }
        self.catalogue.get(id).map(|c| c.level)
    }

    /// A block's `reading` names an ambiguity of the catalogue that touches its clause, and no reading
    /// raises the clause above its own level.
    fn reading(&mut self, pos: Pos, clause: &str, level: Level, reading: &BlockReading) {
        let id = &reading.ambiguity;
        match self.catalogue.ambiguity(id) {
            None => {
                let message = format!("ambiguity `{id}` is not in the catalogue's `ambiguities`");
                self.error_near(pos, id, message, "unknown ambiguity");
            }
            Some(a) if !a.clauses.iter().any(|c| c == clause) => {
                let message = format!("ambiguity `{id}` does not list clause `{clause}`");
                self.error_near(pos, id, message, "add the clause to the ambiguity");
            }
            Some(_) => {}
        }
        let raised = [Reading::Default, Reading::Strict]
            .into_iter()
            .filter_map(|r| reading.level(r))
            .any(|l| l < level);
        if raised {
            let message =
                format!("a reading can only keep or lower the clause's own level {level}");
            self.error_near(pos, "reading", message, "stronger than the clause");
        }
    }

    fn step(&mut self, step: &Step) {
        let pos = step.pos;
        for block in &step.expect {
            if let Some(level) = self.cited(block.pos, &block.clause) {
                if level == Level::Choice {
                    let message = format!(
                        "clause `{}` is a server choice: observe it, do not check it",
                        block.clause
                    );
                    self.error_near(block.pos, &block.clause, message, "a choice clause");
                }
                if let Some(lower) = block.level
                    && lower <= level
                {
                    let message = format!(
                        "`level: {lower}` must be weaker than the clause's own level {level}"
                    );
                    self.error_near(block.pos, "level", message, "can only lower the level");
                }
                if let Some(reading) = &block.reading {
                    self.reading(block.pos, &block.clause, level, reading);
                }
            }
        }
        if let Some(observe) = &step.observe {
            self.cited(pos, &observe.clause);
        }
        for template in self.templates(step) {
            self.template(pos, &template);
        }
        self.action_names(step);
        if let Some(session) = step.action.session_out() {
            self.sessions.insert(session.to_owned());
            for field in SESSION_FIELDS {
                self.defined.insert(format!("{session}.{field}"));
            }
        }
        for block in step.expect.iter().chain(&step.require).chain(&step.assume) {
            for (pointer, _) in &block.json {
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    let message = format!(
                        "`{pointer}` is not a JSON Pointer (it starts with `/`, e.g. `/{pointer}`)"
                    );
                    self.error_near(block.pos, pointer, message, "a JSON Pointer");
                }
            }
        }
        if let Action::Request(r) | Action::Burst { request: r, .. } = &step.action {
            match &r.target {
                Target::Path(path) if !path.starts_with('/') || path.starts_with("//") => {
                    let message = format!("request path `{path}` must start with a single `/`");
                    self.error_near(pos, path, message, "a path on the target");
                }
                Target::Endpoint(field) if !field.ends_with("_endpoint") => {
                    let message = format!(
                        "`{field}` is not an endpoint field of the OAuth 2.0 server metadata (e.g. `token_endpoint`)"
                    );
                    self.error_near(pos, field, message, "a metadata field");
                }
                _ => {}
            }
        }
        for capture in &step.captures {
            if !capture.pointer.is_empty() && !capture.pointer.starts_with('/') {
                let message = format!(
                    "`{}` is not a JSON Pointer (it starts with `/`)",
                    capture.pointer
                );
                self.error_near(pos, &capture.pointer, message, "capture from here");
            }
            self.defined.insert(capture.name.clone());
        }
    }

    fn templates(&self, step: &Step) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let token = |t: &TokenSource| t.template().map(str::to_owned);
        match &step.action {
            Action::Request(r) | Action::Burst { request: r, .. } => {
                if let Target::Path(path) = &r.target {
                    out.push(path.clone());
                }
                out.extend(r.query.iter().chain(&r.headers).map(|(_, v)| v.clone()));
                out.extend(r.auth.as_ref().and_then(token));
                match &r.body {
                    Some(Body::Json(json)) => {
                        let mut strings = Vec::new();
                        template::strings_in(json, &mut strings);
                        out.extend(strings.into_iter().map(str::to_owned));
                    }
                    Some(Body::Raw(raw)) => out.push(raw.clone()),
                    Some(Body::Form(form)) => out.extend(form.iter().map(|(_, v)| v.clone())),
                    None => {}
                }
            }
            Action::Login(l) => out.extend(l.device_id.iter().chain(&l.device_name).cloned()),
            Action::Register(r) => out.extend(r.device_id.clone()),
            Action::Refresh(r) => out.extend(token(&r.token)),
            Action::Whoami(t) => out.extend(token(t)),
            Action::OauthLogin(l) => {
                out.extend(l.device_id.iter().chain(&l.code_verifier).cloned())
            }
            Action::OauthRefresh(r) => {
                out.extend(token(&r.token));
                out.extend(r.client_id.clone());
            }
            Action::Wait(_) => {}
        }
        for block in step.expect.iter().chain(&step.require).chain(&step.assume) {
            out.extend(block.templates().map(str::to_owned));
        }
        out
    }

    fn template(&mut self, pos: Pos, text: &str) {
        match template::names(text) {
            Err(message) => self.error_near(pos, "{{", message, "malformed template"),
            Ok(names) => {
                for name in names {
                    if !self.defined.contains(name) {
                        let message = format!("variable `{name}` is used before it is defined");
                        self.error_near(
                            pos,
                            name,
                            message,
                            "not captured or defined by an earlier step",
                        );
                    }
                }
            }
        }
    }

    fn action_names(&mut self, step: &Step) {
        let pos = step.pos;
        let session_of = |t: &TokenSource| t.session().map(str::to_owned);
        let used = match &step.action {
            Action::Request(r) | Action::Burst { request: r, .. } => {
                r.auth.as_ref().and_then(session_of)
            }
            Action::Refresh(r) => session_of(&r.token),
            Action::OauthRefresh(r) => session_of(&r.token),
            Action::Whoami(t) => session_of(t),
            Action::Wait(Wait::ExpiryOf(s) | Wait::BeforeExpiryOf(s)) => Some(s.clone()),
            _ => None,
        };
        if let Some(session) = used
            && !self.sessions.contains(&session)
        {
            let message = format!(
                "session `{session}` is used before a step creates it with `as: {session}`"
            );
            self.error_near(pos, &session, message, "unknown session");
        }
        if let Action::Login(login) = &step.action
            && !self.case.users.contains(&login.user)
        {
            let message = format!(
                "user `{}` is not declared in this case's `users`",
                login.user
            );
            self.error_near(pos, &login.user, message, "unknown user");
        }
    }

    /// Whether a template of the case names `variable`.
    fn uses(&self, variable: &str) -> bool {
        let steps = self.case.steps.iter().chain(&self.case.finally);
        steps
            .flat_map(|s| self.templates(s))
            .any(|t| template::names(&t).is_ok_and(|names| names.contains(&variable)))
    }

    /// Steps that need a server feature must say so, so that servers without it get a skip, not an error.
    fn gates(&mut self) {
        let all = self.case.steps.iter().chain(&self.case.finally);
        let mut needs = Vec::new();
        // An OAuth session's lifetime is its own `expires_in`, not the legacy one the expiry gate probes.
        let mut oauth_sessions = HashSet::new();
        for step in all {
            if let (Action::OauthLogin(_) | Action::OauthRefresh(_), Some(session)) =
                (&step.action, step.action.session_out())
            {
                oauth_sessions.insert(session.to_owned());
            }
            match &step.action {
                Action::Refresh(_) => needs.push((Gate::RefreshTokens, step.pos)),
                Action::Wait(Wait::ExpiryOf(s) | Wait::BeforeExpiryOf(s))
                    if oauth_sessions.contains(s) => {}
                Action::Wait(Wait::ExpiryOf(_) | Wait::BeforeExpiryOf(_)) => {
                    needs.push((Gate::Expiry, step.pos))
                }
                Action::Register(r) if r.kind == AccountKind::Guest => {
                    needs.push((Gate::Guest, step.pos))
                }
                Action::Register(_) => needs.push((Gate::Registration, step.pos)),
                Action::Burst { .. } => needs.push((Gate::Bursts, step.pos)),
                Action::OauthLogin(l) => match l.grant {
                    LoginGrant::AuthorizationCode => needs.push((Gate::OauthGrant, step.pos)),
                    LoginGrant::DeviceCode => needs.push((Gate::OauthDeviceGrant, step.pos)),
                },
                Action::OauthRefresh(_) => needs.push((Gate::Oauth, step.pos)),
                Action::Request(r) if matches!(r.target, Target::Endpoint(_)) => {
                    needs.push((Gate::Oauth, step.pos))
                }
                _ => {}
            }
        }
        for (variable, gate) in [
            (Builtin::AdminToken, Gate::Admin),
            (Builtin::AsToken, Gate::Appservice),
        ] {
            if self.uses(variable.name()) {
                needs.push((gate, Pos { line: 1, column: 1 }));
            }
        }
        for (gate, pos) in needs {
            // A grant needs the OAuth 2.0 API: `oauth-grant` and `oauth-device-grant` are only met when
            // `oauth` is.
            let implied = gate == Gate::Oauth
                && (self.case.requires.contains(&Gate::OauthGrant)
                    || self.case.requires.contains(&Gate::OauthDeviceGrant));
            if !self.case.requires.contains(&gate) && !implied {
                let message = format!(
                    "this step needs `requires: [{}]` on the case",
                    gate.as_str()
                );
                self.error_at(pos, message, "needs a gate");
            }
        }
    }
}
