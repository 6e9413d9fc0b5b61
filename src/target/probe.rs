//! Probing the target before the run: is it a Matrix homeserver, which versions, can the harness get
//! accounts, does it issue refresh tokens, rotate them, and how long do access tokens live.
//!
//! An unreachable target or a non-Matrix answer stops the run (exit 2); anything else becomes a gate that
//! skips the cases needing it, with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::case::model::{Gate, Method};
use crate::error::Error;
use crate::run::Privileges;
use crate::run::http::{Http, HttpError, Outgoing, Response, Transcript};
use crate::spec_version::SpecVersion;
use crate::target::accounts::Accounts;
use crate::target::{Capabilities, ServerInfo};

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
        .send(
            &Outgoing::new(Method::Get, "/_matrix/client/versions"),
            &mut transcript,
        )
        .await
        .map_err(|e| match e {
            HttpError::Connect(reason) | HttpError::Other(reason) => Error::Unreachable {
                url: url.clone(),
                reason,
            },
            other => Error::Unreachable {
                url: url.clone(),
                reason: other.to_string(),
            },
        })?;
    let advertised =
        advertised_versions(&versions_response).map_err(|reason| Error::NotMatrix {
            url: url.clone(),
            reason,
        })?;
    let mut versions: Vec<SpecVersion> = advertised.iter().filter_map(|v| v.parse().ok()).collect();
    versions.sort();

    // Gates the user's options decide, with the reason shown when they are not met.
    let given = |met: bool, otherwise: &str| {
        if met {
            Ok(())
        } else {
            Err(otherwise.to_owned())
        }
    };
    let mut gates = BTreeMap::new();
    gates.insert(
        Gate::FreshUsers,
        given(
            accounts.provisioning().fresh_users(),
            "needs accounts of its own; only the --user account is available",
        ),
    );
    gates.insert(
        Gate::Admin,
        given(privileges.admin_token.is_some(), "no --admin-token given"),
    );
    gates.insert(
        Gate::Appservice,
        given(privileges.as_token.is_some(), "no --as-token given"),
    );
    gates.insert(
        Gate::Bursts,
        given(bursts, "bursts of requests are not allowed (--bursts)"),
    );
    // All of these are the user's choices for this run, not properties of the server.
    let mut unmet_by_settings: BTreeSet<Gate> = gates
        .iter()
        .filter(|(_, status)| status.is_err())
        .map(|(gate, _)| *gate)
        .collect();
    gates.insert(
        Gate::Registration,
        accounts.client_registration(http, &mut transcript).await,
    );

    let mut lifetime = None;
    let mut server_name = None;
    gates.insert(Gate::MatrixApi, Ok(()));
    let legacy = password_login(http, &mut transcript).await;
    gates.insert(Gate::LegacyApi, legacy.clone());
    let refresh = match legacy {
        Err(reason) => Err(reason),
        Ok(()) => {
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
            let body = json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": account.localpart},
                "password": account.password,
                "refresh_token": true,
            });
            let login = Outgoing::new(Method::Post, "/_matrix/client/v3/login").json(body);
            match http.send(&login, &mut transcript).await {
                Err(e) => Err(format!("probe login failed: {e}")),
                Ok(response) if response.status != 200 => {
                    Err(format!("probe login answered {}", response.describe()))
                }
                Ok(response) => {
                    lifetime = response.pointer("/expires_in_ms").and_then(Value::as_u64);
                    let outcome = refresh_support(http, &response, &mut transcript).await;
                    logout(http, &response, &mut transcript).await;
                    outcome
                }
            }
        }
    };
    let (refresh_tokens, rotation) = match refresh {
        Ok(rotates) => (Ok(()), rotates),
        Err(reason) => (Err(reason.clone()), Err(reason)),
    };
    gates.insert(Gate::RefreshTokens, refresh_tokens.clone());
    gates.insert(Gate::Rotation, rotation);
    let expiry = match (refresh_tokens, lifetime) {
        (Err(reason), _) => Err(reason),
        (Ok(()), None) => {
            Err("access tokens issued with a refresh token carry no expires_in_ms".to_owned())
        }
        (Ok(()), Some(ms)) => {
            let needed = Duration::from_millis(ms) + expiry_margin(Duration::from_millis(ms));
            if needed > max_wait {
                unmet_by_settings.insert(Gate::Expiry);
                Err(format!(
                    "access tokens live {ms} ms; with the margin that is {needed:?}, over --max-wait {max_wait:?}"
                ))
            } else {
                Ok(())
            }
        }
    };
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

fn advertised_versions(response: &Response) -> Result<Vec<String>, String> {
    if response.status != 200 {
        return Err(format!(
            "GET /_matrix/client/versions answered {}",
            response.status
        ));
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

async fn password_login(http: &Http, transcript: &mut Transcript) -> Result<(), String> {
    let response = http
        .send(
            &Outgoing::new(Method::Get, "/_matrix/client/v3/login"),
            transcript,
        )
        .await
        .map_err(|e| e.to_string())?;
    let flows = response.pointer("/flows").and_then(Value::as_array);
    let password = flows.is_some_and(|f| {
        f.iter()
            .any(|f| f.get("type") == Some(&json!("m.login.password")))
    });
    if password {
        Ok(())
    } else {
        Err(format!(
            "GET /login offers no m.login.password flow ({})",
            response.status
        ))
    }
}

/// `Ok(Ok(()))`: refresh tokens are issued and rotate; `Ok(Err(_))`: issued, but the probe saw no rotation;
/// `Err`: not issued. Whether `/refresh` itself works is for the cases to find out: a server that issues
/// refresh tokens and then refuses them must fail the refresh clauses, not be excused from them.
async fn refresh_support(
    http: &Http,
    login: &Response,
    transcript: &mut Transcript,
) -> Result<Result<(), String>, String> {
    let Some(token) = login.pointer("/refresh_token").and_then(Value::as_str) else {
        return Err(
            "the server issues no refresh token to a login with refresh_token: true".to_owned(),
        );
    };
    let request = Outgoing::new(Method::Post, "/_matrix/client/v3/refresh")
        .json(json!({"refresh_token": token}));
    let rotation = match http.send(&request, transcript).await {
        Err(e) => Err(format!("the probe's /refresh failed: {e}")),
        Ok(response) if response.status != 200 => Err(format!(
            "the probe's /refresh of a fresh refresh token was refused: {}",
            response.describe()
        )),
        Ok(response) => {
            // The refreshed session is the probe's too: end it (a server may have revoked the login's
            // access token at the refresh, so logging that one out may not end this one).
            logout(http, &response, transcript).await;
            match response.pointer("/refresh_token").and_then(Value::as_str) {
                Some(new) if new != token => Ok(()),
                _ => Err("/refresh returns no new refresh token (the old one stays usable, as the spec allows)".to_owned()),
            }
        }
    };
    Ok(rotation)
}

async fn guest_registration(http: &Http, transcript: &mut Transcript) -> Result<(), String> {
    let request =
        Outgoing::new(Method::Post, "/_matrix/client/v3/register?kind=guest").json(json!({}));
    let response = http
        .send(&request, transcript)
        .await
        .map_err(|e| e.to_string())?;
    if response.status == 200 {
        logout(http, &response, transcript).await;
        Ok(())
    } else {
        Err(format!(
            "guest registration is not allowed ({})",
            response.describe()
        ))
    }
}

/// Ends the session a probe response opened; clean-up only, so its answer does not matter.
async fn logout(http: &Http, session: &Response, transcript: &mut Transcript) {
    if let Some(token) = session.pointer("/access_token").and_then(Value::as_str) {
        let request = Outgoing::new(Method::Post, "/_matrix/client/v3/logout")
            .json(json!({}))
            .bearer(token);
        let _ = http.send(&request, transcript).await;
    }
}
