//! Probing the target before the run: is it a Matrix homeserver, which versions, can the harness get
//! accounts, does it issue refresh tokens, rotate them, and how long do access tokens live.
//!
//! An unreachable target or a non-Matrix answer stops the run (exit 2). A gate is unmet (its cases not
//! applicable) only on the server's own word; a probe request that got no usable answer (timeout, reset, a
//! 429 beyond --max-wait, a 5xx) leaves the gate undecided, and its cases are errors naming that request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};

use crate::case::model::Gate;
use crate::error::Error;
use crate::homeserver::Privileges;
use crate::homeserver::accounts::Accounts;
use crate::homeserver::{Capabilities, GateStatus, ServerInfo};
use crate::http::Method;
use crate::http::{Http, Outgoing, Response};
use crate::matrix::{self, LOGIN_PATH, REGISTER_PATH};
use crate::spec_version::SpecVersion;
use crate::transcript::Transcript;
use crate::verdict::gate::{GateUndecided, GateUnmet, ProbeRequest, Setting};

/// The waiting margin after a lifetime: max(2 s, 5 % of it) (clause catalogue §2.1, gate G-exp).
pub fn expiry_margin(lifetime: Duration) -> Duration {
    (lifetime / 20).max(Duration::from_secs(2))
}

pub async fn probe(
    http: &Http,
    accounts: &Accounts,
    max_wait: Duration,
    privileges: &Privileges,
    bursts: bool,
) -> Result<Capabilities, Error> {
    let url = http.base().to_string();
    let mut transcript = Transcript::default();
    let versions_response = http
        .send(&Outgoing::new(Method::Get, VERSIONS_PATH), &mut transcript)
        .await
        .map_err(|error| Error::from_http(&url, &format!("GET {VERSIONS_PATH}"), error))?;
    let advertised =
        advertised_versions(&versions_response).map_err(|reason| Error::NotMatrix {
            url: url.clone(),
            reason,
        })?;
    let mut versions: Vec<SpecVersion> = advertised.iter().filter_map(|v| v.parse().ok()).collect();
    versions.sort();

    // Gates the user's options decide, with the reason shown when they are not met.
    let mut gates = BTreeMap::new();
    gates.insert(
        Gate::FreshUsers,
        GateStatus::given(
            accounts.provisioning().fresh_users(),
            Setting::FreshAccounts,
        ),
    );
    gates.insert(
        Gate::Admin,
        GateStatus::given(privileges.admin_token.is_some(), Setting::AdminToken),
    );
    gates.insert(
        Gate::Appservice,
        GateStatus::given(privileges.as_token.is_some(), Setting::AsToken),
    );
    gates.insert(Gate::Bursts, GateStatus::given(bursts, Setting::Bursts));
    // All of these are the user's choices for this run, not properties of the server.
    let mut unmet_by_settings: BTreeSet<Gate> = gates
        .iter()
        .filter(|(_, status)| !status.is_met())
        .map(|(gate, _)| *gate)
        .collect();
    gates.insert(
        Gate::Registration,
        accounts.client_registration(http, &mut transcript).await,
    );

    let mut lifetime = None;
    let mut server_name = None;
    gates.insert(Gate::MatrixApi, GateStatus::Met);
    let legacy = password_login(http, &mut transcript).await;
    gates.insert(Gate::LegacyApi, legacy.clone());
    let (refresh_tokens, rotation) = match legacy {
        GateStatus::Met => {
            let account = accounts
                .create(http, "probe", &mut transcript)
                .await
                .map_err(|reason| Error::Accounts {
                    url: url.clone(),
                    reason: format!("{reason} (with {})", accounts.provisioning().describe()),
                })?;
            server_name = account
                .user_id
                .split_once(':')
                .map(|(_, name)| name.to_owned());
            let mut body = matrix::password_login(&account.localpart, &account.password);
            body["refresh_token"] = json!(true);
            let login = Outgoing::new(Method::Post, LOGIN_PATH).json(body);
            let request = ProbeRequest::RefreshLogin;
            match http.send(&login, &mut transcript).await {
                Err(error) => both_undecided(GateUndecided::Failed { request, error }),
                Ok(response) => {
                    let refused = GateUndecided::Answered {
                        request,
                        answer: response.describe(),
                    };
                    // A login that refuses the field fails login.request.refresh_token; whether the server
                    // issues refresh tokens at all, a registration asking for one can still tell, so that the
                    // cases that need no such login get verdicts.
                    let issued = if response.status == 200 {
                        Some(response)
                    } else if !says_nothing(response.status)
                        && gates
                            .get(&Gate::Registration)
                            .is_some_and(GateStatus::is_met)
                    {
                        refresh_token_registration(http, accounts, &mut transcript).await
                    } else {
                        None
                    };
                    match issued {
                        Some(response) => {
                            lifetime = response.pointer("/expires_in_ms").and_then(Value::as_u64);
                            let outcome = refresh_support(http, &response, &mut transcript).await;
                            logout(http, &response, &mut transcript).await;
                            outcome
                        }
                        None => both_undecided(refused),
                    }
                }
            }
        }
        other => (other.clone(), other),
    };
    let expiry = match (&refresh_tokens, lifetime) {
        (GateStatus::Met, None) => GateStatus::Unmet(GateUnmet::NoLifetime),
        (GateStatus::Met, Some(ms)) => {
            let lifetime = Duration::from_millis(ms);
            let needed = lifetime + expiry_margin(lifetime);
            if needed > max_wait {
                unmet_by_settings.insert(Gate::Expiry);
                GateStatus::Unmet(GateUnmet::LifetimeOverMaxWait {
                    lifetime,
                    needed,
                    max_wait,
                })
            } else {
                GateStatus::Met
            }
        }
        (other, _) => other.clone(),
    };
    gates.insert(Gate::RefreshTokens, refresh_tokens);
    gates.insert(Gate::Rotation, rotation);
    gates.insert(Gate::Expiry, expiry);
    gates.insert(Gate::Guest, guest_registration(http, &mut transcript).await);

    Ok(Capabilities {
        server: ServerInfo {
            base_url: url,
            software: versions_response.header("server").map(str::to_owned),
            versions: advertised,
            provisioning: accounts.provisioning().describe().to_owned(),
            server_name,
        },
        versions,
        gates,
        unmet_by_settings,
        access_token_lifetime_ms: lifetime,
    })
}

const VERSIONS_PATH: &str = "/_matrix/client/versions";

/// Both refresh gates when the probe login got no usable answer: nothing is known about either.
fn both_undecided(reason: GateUndecided) -> (GateStatus, GateStatus) {
    (
        GateStatus::Undecided(reason.clone()),
        GateStatus::Undecided(reason),
    )
}

/// A status that says nothing about the feature: the server failed (5xx) or would not answer yet (429).
fn says_nothing(status: u16) -> bool {
    status >= 500 || status == 429
}

fn advertised_versions(response: &Response) -> Result<Vec<String>, String> {
    if response.status != 200 {
        return Err(format!("GET {VERSIONS_PATH} answered {}", response.status));
    }
    let json = response
        .json
        .as_ref()
        .ok_or("GET /_matrix/client/versions did not answer JSON")?;
    let versions = json
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("GET /_matrix/client/versions has no `versions` array")?;
    versions
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`versions` holds a non-string: {v}"))
        })
        .collect()
}

async fn password_login(http: &Http, transcript: &mut Transcript) -> GateStatus {
    let request = ProbeRequest::LoginFlows;
    let response = match http
        .send(&Outgoing::new(Method::Get, LOGIN_PATH), transcript)
        .await
    {
        Ok(response) => response,
        Err(error) => return GateStatus::Undecided(GateUndecided::Failed { request, error }),
    };
    if says_nothing(response.status) {
        return GateStatus::Undecided(GateUndecided::Answered {
            request,
            answer: response.describe(),
        });
    }
    let flows = response.pointer("/flows").and_then(Value::as_array);
    let password = flows.is_some_and(|f| {
        f.iter()
            .any(|f| f.get("type") == Some(&json!("m.login.password")))
    });
    if password {
        GateStatus::Met
    } else {
        GateStatus::Unmet(GateUnmet::NoPasswordFlow {
            status: response.status,
        })
    }
}

/// The refresh-tokens and rotation gates from a successful probe login. Only answers count as evidence: a
/// login that issues no refresh token, a `/refresh` that answers 200 without a new one. A `/refresh` that
/// refuses a fresh refresh token or fails (4xx, 5xx) is a broken `/refresh`, not a missing feature: the
/// refresh cases run and fail on it, and the rotation cases, which cannot be probed then, are errors.
async fn refresh_support(
    http: &Http,
    login: &Response,
    transcript: &mut Transcript,
) -> (GateStatus, GateStatus) {
    if login
        .pointer("/access_token")
        .and_then(Value::as_str)
        .is_none()
    {
        return both_undecided(GateUndecided::NotALogin);
    }
    let Some(token) = login.pointer("/refresh_token").and_then(Value::as_str) else {
        let reason = GateUnmet::NoRefreshToken;
        return (GateStatus::Unmet(reason.clone()), GateStatus::Unmet(reason));
    };
    let request = ProbeRequest::Refresh;
    let rotation = match http.send(&matrix::refresh(token), transcript).await {
        Err(error) => GateStatus::Undecided(GateUndecided::Failed { request, error }),
        Ok(response) if response.status != 200 => GateStatus::Undecided(GateUndecided::Answered {
            request,
            answer: response.describe(),
        }),
        Ok(response) => {
            // The refreshed session is the probe's too: end it (a server may have revoked the login's
            // access token at the refresh, so logging that one out may not end this one).
            logout(http, &response, transcript).await;
            match response.pointer("/refresh_token").and_then(Value::as_str) {
                Some(new) if new != token => GateStatus::Met,
                _ => GateStatus::Unmet(GateUnmet::NoRotation),
            }
        }
    };
    (GateStatus::Met, rotation)
}

async fn guest_registration(http: &Http, transcript: &mut Transcript) -> GateStatus {
    let path = format!("{REGISTER_PATH}?kind=guest");
    let outgoing = Outgoing::new(Method::Post, path).json(json!({}));
    let request = ProbeRequest::GuestRegistration;
    match http.send(&outgoing, transcript).await {
        Err(error) => GateStatus::Undecided(GateUndecided::Failed { request, error }),
        Ok(response) if response.status == 200 => {
            logout(http, &response, transcript).await;
            GateStatus::Met
        }
        Ok(response) if says_nothing(response.status) => {
            GateStatus::Undecided(GateUndecided::Answered {
                request,
                answer: response.describe(),
            })
        }
        Ok(response) => GateStatus::Unmet(GateUnmet::GuestsRefused {
            answer: response.describe(),
        }),
    }
}

/// A new account registered with `refresh_token: true`, the answer if it is a 200.
async fn refresh_token_registration(
    http: &Http,
    accounts: &Accounts,
    transcript: &mut Transcript,
) -> Option<Response> {
    let localpart = accounts.fresh_localpart("probe-registered");
    let password = Alphanumeric.sample_string(&mut rand::rng(), 24);
    http.secrets.add_credentials(&localpart, &password);
    let body = json!({"username": localpart, "password": password, "refresh_token": true});
    let response = accounts
        .register(http, "user", body, transcript)
        .await
        .ok()?;
    (response.status == 200).then_some(response)
}

/// Ends the session a probe response opened; clean-up only, so its answer does not matter.
async fn logout(http: &Http, session: &Response, transcript: &mut Transcript) {
    if let Some(token) = session.pointer("/access_token").and_then(Value::as_str) {
        let _ = http.send(&matrix::logout(token), transcript).await;
    }
}
