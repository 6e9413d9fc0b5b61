//! The variables of one running case: fixture users, sessions (token sets), captures and built-ins.

use std::collections::HashMap;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use serde_json::Value;

use crate::case::builtin::Builtin;
use crate::case::unresolved::Unresolved;
use crate::homeserver::Privileges;
use crate::homeserver::accounts::Account;
use crate::http::Response;

/// The tokens one login, registration or refresh handed out.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    /// The refresh token to use next: the new one, or the previous one when the server issued none
    /// ("If not given, the old refresh token can be re-used").
    pub refresh_token: Option<String>,
    pub device_id: Option<Value>,
    pub user_id: Option<Value>,
    pub expires_in_ms: Option<Value>,
    /// The OAuth 2.0 client the tokens were issued to (none for the legacy API).
    pub client_id: Option<String>,
    /// When the response arrived: expiry waits count from here, so that they never end early.
    pub received_at: Instant,
    /// When the request was sent: the server minted the token after this, so a token is judged alive only
    /// counting from here, never later than the server's own clock allows.
    pub requested_at: Instant,
}

impl Scope {
    /// The earliest time an access token the case holds, alive now, may expire (counted from when its
    /// request was sent, so never late).
    pub fn first_expiry(&self) -> Option<Instant> {
        let now = Instant::now();
        self.sessions
            .values()
            .filter_map(|session| {
                let lifetime = session.expires_in_ms.as_ref()?.as_u64()?;
                Some(session.requested_at + std::time::Duration::from_millis(lifetime))
            })
            .filter(|expires| *expires > now)
            .min()
    }

    /// A session whose access token was alive at `since` and has expired now, by its `expires_in_ms`.
    pub fn expired_since(&self, since: Instant) -> Option<&str> {
        let now = Instant::now();
        self.sessions.iter().find_map(|(name, session)| {
            let lifetime = session.expires_in_ms.as_ref()?.as_u64()?;
            let expires = session.received_at + std::time::Duration::from_millis(lifetime);
            (since < expires && expires <= now).then_some(name.as_str())
        })
    }
}

impl Session {
    /// A session from a 200 response carrying an access token; `None` otherwise.
    pub fn from_response(
        response: &Response,
        previous_refresh: Option<String>,
        requested_at: Instant,
        received_at: Instant,
    ) -> Option<Session> {
        let access_token = response.pointer("/access_token")?.as_str()?.to_owned();
        let refresh_token = match response.pointer("/refresh_token").and_then(Value::as_str) {
            Some(token) => Some(token.to_owned()),
            None => previous_refresh,
        };
        Some(Session {
            access_token,
            refresh_token,
            device_id: response.pointer("/device_id").cloned(),
            user_id: response.pointer("/user_id").cloned(),
            // The OAuth 2.0 token endpoint gives seconds (RFC 6749 §5.1 `expires_in`).
            expires_in_ms: response.pointer("/expires_in_ms").cloned().or_else(|| {
                let seconds = response.pointer("/expires_in")?;
                Some(match seconds.as_u64() {
                    Some(s) => Value::from(s.saturating_mul(1000)),
                    None => seconds.clone(),
                })
            }),
            client_id: None,
            received_at,
            requested_at,
        })
    }
}

#[derive(Debug)]
pub struct Scope {
    pub users: HashMap<String, Account>,
    pub sessions: HashMap<String, Session>,
    pub vars: HashMap<String, Value>,
    /// Constant within a case, different across cases and runs: for device IDs and the like.
    pub nonce: String,
    pub privileges: Privileges,
    /// The part of user IDs after the colon, as the probe saw it.
    pub server_name: Option<String>,
}

impl Scope {
    pub fn new(privileges: Privileges, server_name: Option<String>) -> Scope {
        Scope {
            users: HashMap::new(),
            sessions: HashMap::new(),
            vars: HashMap::new(),
            nonce: Alphanumeric
                .sample_string(&mut rand::rng(), 10)
                .to_uppercase(),
            privileges,
            server_name,
        }
    }

    pub fn session(&self, name: &str) -> Result<&Session, Unresolved> {
        self.sessions
            .get(name)
            .ok_or_else(|| Unresolved::SessionNotCreated(name.to_owned()))
    }

    /// Resolves one template variable.
    pub fn lookup(&self, name: &str) -> Result<Value, Unresolved> {
        if let Some(builtin) = Builtin::named(name) {
            let value = match builtin {
                Builtin::Random => {
                    return Ok(Value::String(
                        Alphanumeric.sample_string(&mut rand::rng(), 32),
                    ));
                }
                Builtin::Nonce => return Ok(Value::String(self.nonce.clone())),
                Builtin::AdminToken => &self.privileges.admin_token,
                Builtin::AsToken => &self.privileges.as_token,
                Builtin::ServerName => &self.server_name,
            };
            return value
                .clone()
                .map(Value::String)
                .ok_or(Unresolved::Builtin(builtin));
        }
        if let Some(value) = self.vars.get(name) {
            return Ok(value.clone());
        }
        let (owner, field) = name
            .split_once('.')
            .ok_or_else(|| Unresolved::NotCaptured(name.to_owned()))?;
        if let Some(account) = self.users.get(owner) {
            return match field {
                "user_id" => Ok(Value::String(account.user_id.clone())),
                "localpart" => Ok(Value::String(account.localpart.clone())),
                "password" => Ok(Value::String(account.password.clone())),
                _ => Err(Unresolved::NoUserField(field.to_owned())),
            };
        }
        let session = self.session(owner)?;
        let missing = |field: &'static str| Unresolved::NotReturned {
            variable: name.to_owned(),
            field,
        };
        match field {
            "access_token" => Ok(Value::String(session.access_token.clone())),
            "refresh_token" => session
                .refresh_token
                .clone()
                .map(Value::String)
                .ok_or_else(|| missing("refresh_token")),
            "device_id" => session
                .device_id
                .clone()
                .ok_or_else(|| missing("device_id")),
            "user_id" => session.user_id.clone().ok_or_else(|| missing("user_id")),
            "expires_in_ms" => session
                .expires_in_ms
                .clone()
                .ok_or_else(|| missing("expires_in_ms")),
            "client_id" => {
                session
                    .client_id
                    .clone()
                    .map(Value::String)
                    .ok_or_else(|| Unresolved::NotOauth {
                        variable: name.to_owned(),
                    })
            }
            _ => Err(Unresolved::NoSessionField(field.to_owned())),
        }
    }
}
