//! Test accounts: how the harness gets users on the target (`--register ...` or `--user/--password`).

use std::sync::atomic::{AtomicU32, Ordering};

use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::cause::Limit;
use crate::homeserver::GateStatus;
use crate::http::Method;
use crate::http::{Http, HttpError, Outgoing, Response};
use crate::matrix::{self, REGISTER_PATH};
use crate::transcript::Transcript;
use crate::verdict::gate::{GateUndecided, GateUnmet, ProbeRequest};
use crate::verdict::stop::AccountRefusal;

/// Why an account could not be made: the transport (typed, so that a 429 or a timeout gets the same outcome
/// here as anywhere else in a case), or the server's refusal.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}")]
    Refused(AccountRefusal),
}

/// Synapse's admin registration API.
pub const SHARED_SECRET_REGISTER_PATH: &str = "/_synapse/admin/v1/register";

/// Rounds of user-interactive authentication a registration may take before the harness gives up.
const UIA_ROUNDS: usize = 4;

/// How accounts are provisioned on the target.
#[derive(Debug, Clone)]
pub enum Provisioning {
    /// Client-API registration completing `m.login.dummy`.
    Open,
    /// Synapse's admin registration API, authenticated with the shared secret (HMAC-SHA1).
    SharedSecret(String),
    /// Client-API registration completing `m.login.registration_token`.
    Token(String),
    /// One existing account for every case; cases that need fresh accounts are skipped.
    Fixed { user: String, password: String },
}

impl Provisioning {
    /// Parses `open`, `shared-secret=S` or `token=T`.
    pub fn parse_register(value: &str) -> Result<Provisioning, String> {
        if value == "open" {
            Ok(Provisioning::Open)
        } else if let Some(secret) = value.strip_prefix("shared-secret=") {
            Ok(Provisioning::SharedSecret(secret.to_owned()))
        } else if let Some(token) = value.strip_prefix("token=") {
            Ok(Provisioning::Token(token.to_owned()))
        } else {
            Err("--register takes `open`, `shared-secret=SECRET` or `token=TOKEN`".into())
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Provisioning::Open => "open registration (m.login.dummy)",
            Provisioning::SharedSecret(_) => "shared-secret registration (admin API)",
            Provisioning::Token(_) => "registration token",
            Provisioning::Fixed { .. } => "one existing account (--user)",
        }
    }

    pub fn fresh_users(&self) -> bool {
        !matches!(self, Provisioning::Fixed { .. })
    }
}

/// An account a case can log in with.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: String,
    pub localpart: String,
    pub password: String,
}

/// The start of every localpart the application service of `--as-token` must cover (its `users` namespace
/// `@mrc-as-.*`), for its logins of fixture users and for the ghost of the identity-assertion case.
pub const APPSERVICE_PREFIX: &str = "mrc-as-";

/// Makes accounts with names unique to this run, so that concurrent and repeated runs do not collide.
#[derive(Debug)]
pub struct Accounts {
    provisioning: Provisioning,
    run_tag: String,
    counter: AtomicU32,
    appservice: bool,
}

impl Accounts {
    /// `appservice`: an application service's token was given, so fresh accounts are named inside its
    /// namespace and set-up logins can be the service's (see [`Accounts::appservice_logins`]).
    pub fn new(provisioning: Provisioning, appservice: bool) -> Accounts {
        let run_tag = Alphanumeric
            .sample_string(&mut rand::rng(), 6)
            .to_lowercase();
        Accounts {
            appservice: appservice && provisioning.fresh_users(),
            provisioning,
            run_tag,
            counter: AtomicU32::new(0),
        }
    }

    /// Whether a login that only sets a case up (its answer is not judged) is made by the application
    /// service (`m.login.application_service`) instead of with the password. Synapse exempts a service
    /// registered with `rate_limited: false` from `rc_login`, whose stock setting admits one login per
    /// address every 333 s; logins a case judges keep the password.
    pub fn appservice_logins(&self) -> bool {
        self.appservice
    }

    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }

    /// A localpart nobody has used: `mrc-<run>-<n>-<hint>` (`mrc-as-...` with an application service).
    pub fn fresh_localpart(&self, hint: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hint: String = hint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let prefix = if self.appservice {
            APPSERVICE_PREFIX
        } else {
            "mrc-"
        };
        format!("{prefix}{}-{n}-{}", self.run_tag, hint.to_lowercase())
    }

    /// A new account (or, with `--user`, the one account), named after `hint` for readable transcripts.
    pub async fn create(
        &self,
        http: &Http,
        hint: &str,
        transcript: &mut Transcript,
    ) -> Result<Account, AccountError> {
        if let Provisioning::Fixed { user, password } = &self.provisioning {
            let localpart = user
                .trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or(user)
                .to_owned();
            return Ok(Account {
                user_id: user.clone(),
                localpart,
                password: password.clone(),
            });
        }
        let localpart = self.fresh_localpart(hint);
        let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
        http.secrets.add_credentials(&localpart, &password);
        let user_id = match &self.provisioning {
            Provisioning::SharedSecret(secret) => {
                shared_secret_register(http, secret, &localpart, &password, transcript).await?
            }
            _ => {
                let body =
                    json!({"username": localpart, "password": password, "inhibit_login": true});
                let response = self.register(http, "user", body, transcript).await?;
                let user_id = match response.pointer("/user_id").and_then(Value::as_str) {
                    Some(id) if response.status == 200 => id.to_owned(),
                    _ => {
                        return Err(AccountError::Refused(AccountRefusal::Registration {
                            answer: response.describe(),
                        }));
                    }
                };
                // A server that logs the new account in despite inhibit_login: end that session, so that
                // a fresh account starts with no device.
                logout_session(http, &response, transcript).await?;
                user_id
            }
        };
        Ok(Account {
            user_id,
            localpart,
            password,
        })
    }

    /// Client-API `POST /register` completing user-interactive authentication with the stages the harness can
    /// do (`m.login.dummy`, and `m.login.registration_token` when a token was given). Returns the final answer,
    /// whatever it is, so that cases can check it.
    pub async fn register(
        &self,
        http: &Http,
        kind: &str,
        body: Value,
        transcript: &mut Transcript,
    ) -> Result<Response, AccountError> {
        let path = format!("{REGISTER_PATH}?kind={kind}");
        let mut body = body;
        // Servers such as Synapse accept `m.login.dummy` without a session: one request instead of two.
        if kind == "user"
            && matches!(
                self.provisioning,
                Provisioning::Open | Provisioning::SharedSecret(_)
            )
        {
            body["auth"] = json!({"type": "m.login.dummy"});
        }
        let mut completed: Vec<String> = Vec::new();
        for _ in 0..UIA_ROUNDS {
            let response = http
                .send(
                    &Outgoing::new(Method::Post, path.clone()).json(body.clone()),
                    transcript,
                )
                .await?;
            if response.status != 401 || kind == "guest" {
                return Ok(response);
            }
            let Some(session) = response.pointer("/session").and_then(Value::as_str) else {
                return Ok(response);
            };
            let Some(stage) = self.next_stage(&response, &completed) else {
                return Err(AccountError::Refused(AccountRefusal::NoDoableFlow {
                    answer: response.describe(),
                }));
            };
            let mut auth = json!({"type": stage, "session": session});
            if let Provisioning::Token(token) = &self.provisioning
                && stage == "m.login.registration_token"
            {
                auth["token"] = json!(token);
            }
            completed.push(stage);
            body["auth"] = auth;
        }
        Err(AccountError::Refused(AccountRefusal::TooManyRounds(
            UIA_ROUNDS,
        )))
    }

    /// The first stage not yet completed of the first flow made only of stages the harness can do.
    fn next_stage(&self, response: &Response, completed: &[String]) -> Option<String> {
        let doable = |stage: &str| match stage {
            "m.login.dummy" => true,
            "m.login.registration_token" => matches!(self.provisioning, Provisioning::Token(_)),
            _ => false,
        };
        let done: Vec<String> = response
            .pointer("/completed")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let flows = response.pointer("/flows")?.as_array()?;
        flows.iter().find_map(|flow| {
            let stages: Vec<&str> = flow
                .get("stages")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if !stages.iter().all(|s| doable(s)) {
                return None;
            }
            stages
                .iter()
                .find(|s| !done.iter().chain(completed).any(|d| d == *s))
                .map(|s| s.to_string())
        })
    }

    /// Whether the client API lets the harness register (the `registration` gate), asked without creating
    /// an account: the server's first answer lists its flows.
    pub async fn client_registration(
        &self,
        http: &Http,
        transcript: &mut Transcript,
    ) -> GateStatus {
        let path = format!("{REGISTER_PATH}?kind=user");
        let outgoing = Outgoing::new(Method::Post, path).json(json!({}));
        let request = ProbeRequest::Registration;
        let response = match http.send(&outgoing, transcript).await {
            Ok(response) => response,
            Err(error) => return GateStatus::Undecided(GateUndecided::Failed { request, error }),
        };
        if response.status == 401 && self.next_stage(&response, &[]).is_some() {
            GateStatus::Met
        } else if response.status >= 500 || response.status == 429 {
            GateStatus::Undecided(GateUndecided::Answered {
                request,
                answer: response.describe(),
            })
        } else {
            GateStatus::Unmet(GateUnmet::RegistrationClosed {
                answer: response.describe(),
            })
        }
    }
}

/// Synapse's `/_synapse/admin/v1/register`: nonce, then HMAC-SHA1 over nonce, user, password and admin flag.
/// The session this creates is logged out again, so that a fresh account starts with no devices.
async fn shared_secret_register(
    http: &Http,
    secret: &str,
    localpart: &str,
    password: &str,
    transcript: &mut Transcript,
) -> Result<String, AccountError> {
    let path = SHARED_SECRET_REGISTER_PATH;
    // One turn for the nonce and the registration: Synapse forgets a nonce after a minute, which a queue of
    // registrations at bcrypt cost 12 can take.
    let queued = transcript.clock().waiting();
    let mut turn = http.pacer.turn(Limit::Registration, path, transcript).await;
    drop(queued);
    let nonce_response = http
        .send_in_turn(&mut turn, &Outgoing::new(Method::Get, path), transcript)
        .await?;
    let nonce = nonce_response
        .pointer("/nonce")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            AccountError::Refused(AccountRefusal::NoNonce {
                answer: nonce_response.describe(),
            })
        })?;
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for (i, part) in [nonce, localpart, password, "notadmin"].iter().enumerate() {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    let mac = hex::encode(mac.finalize().into_bytes());
    let body = json!({"nonce": nonce, "username": localpart, "password": password, "admin": false, "mac": mac});
    let response = http
        .send_in_turn(
            &mut turn,
            &Outgoing::new(Method::Post, path).json(body),
            transcript,
        )
        .await?;
    drop(turn);
    let user_id = match response.pointer("/user_id").and_then(Value::as_str) {
        Some(id) if response.status == 200 => id.to_owned(),
        _ => {
            return Err(AccountError::Refused(AccountRefusal::SharedSecret {
                answer: response.describe(),
            }));
        }
    };
    logout_session(http, &response, transcript).await?;
    Ok(user_id)
}

/// Logs out the session a registration response opened, if it opened one.
async fn logout_session(
    http: &Http,
    response: &Response,
    transcript: &mut Transcript,
) -> Result<(), AccountError> {
    if let Some(token) = response.pointer("/access_token").and_then(Value::as_str) {
        http.send(&matrix::logout(token), transcript).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_register_modes() {
        assert!(matches!(
            Provisioning::parse_register("open"),
            Ok(Provisioning::Open)
        ));
        assert!(
            matches!(Provisioning::parse_register("shared-secret=x=y"), Ok(Provisioning::SharedSecret(s)) if s == "x=y")
        );
        assert!(
            matches!(Provisioning::parse_register("token=t"), Ok(Provisioning::Token(t)) if t == "t")
        );
        assert!(Provisioning::parse_register("closed").is_err());
    }

    #[test]
    fn localparts_are_unique_and_valid() {
        let accounts = Accounts::new(Provisioning::Open, false);
        let a = accounts.fresh_localpart("Alice!");
        let b = accounts.fresh_localpart("Alice!");
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{a}"
        );
    }
}
