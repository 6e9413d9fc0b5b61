//! Getting an OAuth 2.0 grant from any server: dynamic client registration (RFC 7591), the authorisation
//! code grant with PKCE S256 and `state` (RFC 6749 §4.1, RFC 7636) or the device authorisation grant
//! (RFC 8628), and the one step a program cannot do alone, the user's login and consent (or approval of
//! a user code), delegated to an [`Authoriser`].

use std::process::Stdio;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use url::Url;

use crate::homeserver::oauth::OauthServer;
use crate::http::Method;
use crate::http::{Http, HttpError, Outgoing, Response};
use crate::oauth_wire::{DEVICE_CODE_GRANT, s256};
use crate::redact::Secrets;
use crate::transcript::Transcript;
use crate::verdict::stop::{AuthoriserFailure, GrantFailure, GrantRequest};

/// The redirect URI of the suite's client: a native client's loopback URI, without a port (the Matrix
/// client metadata rules: the server accepts any port on it). Nothing listens there; the authoriser
/// reports where the browser was sent.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Scope of the whole Client-Server API (CS § Scope).
const API_SCOPE: &str = "urn:matrix:client:api:*";
const DEVICE_SCOPE: &str = "urn:matrix:client:device:";
/// How long an external authoriser may take to log in and consent.
const AUTHORISER_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 8628 §3.2: «If no value is provided, clients MUST use 5 as the default.»
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5 `slow_down`: «the interval MUST be increased by 5 seconds for this and all subsequent
/// requests».
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Who completes the user's side of the authorisation (login and consent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authoriser {
    /// The reference server consents at once: following its one redirect (or opening its verification
    /// page with the user code) is enough.
    Builtin,
    /// `--oauth-authorize CMD`: run with `sh -c`. `MRC_OAUTH_GRANT` says which grant it completes. For
    /// `authorization_code` the environment has `MRC_OAUTH_AUTHORIZATION_URL` and `MRC_OAUTH_REDIRECT_URI`,
    /// and the last line it prints is the URL the user agent was redirected to. For `device_code` it has
    /// `MRC_OAUTH_USER_CODE`, `MRC_OAUTH_VERIFICATION_URI` and (when the server gives one)
    /// `MRC_OAUTH_VERIFICATION_URI_COMPLETE`, and it exits 0 once the user code is approved.
    Command(String),
}

/// What a finished authorisation code grant gave.
pub struct Grant {
    /// The token endpoint's answer to the code exchange.
    pub response: Response,
    pub client_id: String,
    pub device_id: String,
}

/// Registers a public client, has the authoriser approve a request for `device_id`, and exchanges the
/// code (with `verifier_override` instead of the real PKCE verifier, when given). `Err` says which step
/// could not be completed: the case cannot reach its checks.
pub async fn authorization_code_grant(
    http: &Http,
    server: &OauthServer,
    authoriser: &Authoriser,
    device_id: &str,
    verifier_override: Option<String>,
    transcript: &mut Transcript,
) -> Result<Grant, GrantFailure> {
    let grants = ["authorization_code", "refresh_token"];
    let client_id = register_client(http, server, &grants, transcript).await?;
    let verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
    http.secrets.add(&verifier);
    let state = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let scope = format!("{API_SCOPE} {DEVICE_SCOPE}{device_id}");
    let mut authorization = endpoint(server, "authorization_endpoint")?;
    authorization
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", &scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let redirected = authorise(http, authoriser, &authorization, transcript).await?;
    let code = code_from(&redirected, &state, &http.secrets)?;
    transcript.note("authorised: the redirect carried a code and the state sent");
    let verifier = verifier_override.unwrap_or(verifier);
    let exchange = Outgoing::to_url(Method::Post, endpoint(server, "token_endpoint")?).form(vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("client_id".into(), client_id.clone()),
        ("code_verifier".into(), verifier),
    ]);
    let response = http
        .send(&exchange, transcript)
        .await
        .map_err(failed(GrantRequest::CodeExchange))?;
    Ok(Grant {
        response,
        client_id,
        device_id: device_id.to_owned(),
    })
}

/// The device authorisation grant (RFC 8628): registers a public client, requests a device code for
/// `device_id`'s scope, has the authoriser approve the user code, then asks the token endpoint for the
/// tokens. The token endpoint is polled as RFC 8628 §3.5 prescribes while it answers
/// `authorization_pending` or `slow_down` (an authoriser that reported success leaves nothing pending,
/// so one request is the rule), within the code's lifetime and the authoriser's time limit.
pub async fn device_authorization_grant(
    http: &Http,
    server: &OauthServer,
    authoriser: &Authoriser,
    device_id: &str,
    transcript: &mut Transcript,
) -> Result<Grant, GrantFailure> {
    let device_endpoint = endpoint(server, "device_authorization_endpoint")?;
    // «This MUST include: the `authorization_code` value …, the `refresh_token` value» (client metadata),
    // and RFC 7591's grant of this flow.
    let grants = ["authorization_code", "refresh_token", DEVICE_CODE_GRANT];
    let client_id = register_client(http, server, &grants, transcript).await?;
    let scope = format!("{API_SCOPE} {DEVICE_SCOPE}{device_id}");
    let request = Outgoing::to_url(Method::Post, device_endpoint).form(vec![
        ("client_id".into(), client_id.clone()),
        ("scope".into(), scope),
    ]);
    let response = http
        .send(&request, transcript)
        .await
        .map_err(failed(GrantRequest::DeviceAuthorisation))?;
    let field = |name: &str| {
        response
            .pointer(&format!("/{name}"))
            .and_then(Value::as_str)
    };
    let (Some(device_code), Some(user_code), Some(verification)) = (
        field("device_code"),
        field("user_code"),
        field("verification_uri"),
    ) else {
        return Err(GrantFailure::Answered {
            request: GrantRequest::DeviceAuthorisation,
            answer: oauth_describe(&response),
        });
    };
    let (device_code, user_code) = (device_code.to_owned(), user_code.to_owned());
    http.secrets.add(&device_code);
    http.secrets.add(&user_code);
    let approval = Approval {
        user_code: user_code.clone(),
        verification: verification.to_owned(),
        complete: field("verification_uri_complete").map(str::to_owned),
    };
    let seconds = |name: &str| {
        response
            .pointer(&format!("/{name}"))
            .and_then(Value::as_u64)
    };
    let mut interval = seconds("interval").map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs);
    let lifetime = seconds("expires_in").map_or(AUTHORISER_TIMEOUT, Duration::from_secs);
    approve(http, authoriser, &approval, transcript).await?;
    transcript.note("authorised: the user code was approved");
    let deadline = tokio::time::Instant::now() + lifetime.min(AUTHORISER_TIMEOUT);
    let poll = Outgoing::to_url(Method::Post, endpoint(server, "token_endpoint")?).form(vec![
        ("grant_type".into(), DEVICE_CODE_GRANT.into()),
        ("device_code".into(), device_code),
        ("client_id".into(), client_id.clone()),
    ]);
    loop {
        let response = http
            .send(&poll, transcript)
            .await
            .map_err(failed(GrantRequest::DeviceToken))?;
        let error = response.pointer("/error").and_then(Value::as_str);
        match error {
            Some("authorization_pending" | "slow_down") if response.status == 400 => {}
            _ => {
                return Ok(Grant {
                    response,
                    client_id,
                    device_id: device_id.to_owned(),
                });
            }
        }
        if error == Some("slow_down") {
            interval += SLOW_DOWN_STEP;
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Err(GrantFailure::Answered {
                request: GrantRequest::DeviceToken,
                answer: oauth_describe(&response),
            });
        }
        transcript.note(&format!(
            "the token endpoint answered {}: polling again in {interval:?} (RFC 8628 §3.5)",
            oauth_describe(&response)
        ));
        tokio::time::sleep(interval).await;
    }
}

/// What the user needs to approve a device authorisation (RFC 8628 §3.3).
struct Approval {
    user_code: String,
    verification: String,
    complete: Option<String>,
}

/// Has the user code approved: the reference server approves when its verification page is opened.
async fn approve(
    http: &Http,
    authoriser: &Authoriser,
    approval: &Approval,
    transcript: &mut Transcript,
) -> Result<(), GrantFailure> {
    match authoriser {
        Authoriser::Builtin => {
            let page = match &approval.complete {
                Some(complete) => Url::parse(complete),
                None => Url::parse(&approval.verification).map(|mut url| {
                    url.query_pairs_mut()
                        .append_pair("user_code", &approval.user_code);
                    url
                }),
            }
            .map_err(|e| GrantFailure::VerificationNotUrl(e.to_string()))?;
            let request = Outgoing::to_url(Method::Get, page);
            let response = http
                .send(&request, transcript)
                .await
                .map_err(failed(GrantRequest::VerificationPage))?;
            if response.status == 200 {
                Ok(())
            } else {
                Err(GrantFailure::Answered {
                    request: GrantRequest::VerificationPage,
                    answer: response.describe(),
                })
            }
        }
        Authoriser::Command(command) => {
            let mut env = vec![
                ("MRC_OAUTH_GRANT", "device_code".to_owned()),
                ("MRC_OAUTH_USER_CODE", approval.user_code.clone()),
                ("MRC_OAUTH_VERIFICATION_URI", approval.verification.clone()),
            ];
            if let Some(complete) = &approval.complete {
                env.push(("MRC_OAUTH_VERIFICATION_URI_COMPLETE", complete.clone()));
            }
            run_authoriser(command, &env, &http.secrets)
                .await
                .map(|_| ())
                .map_err(GrantFailure::Authoriser)
        }
    }
}

/// RFC 7591 registration of a public native client with the grants the suite uses.
async fn register_client(
    http: &Http,
    server: &OauthServer,
    grant_types: &[&str],
    transcript: &mut Transcript,
) -> Result<String, GrantFailure> {
    let metadata = json!({
        "client_name": "matrix-refresh-conformance",
        "client_uri": "https://refresh-conformance.example/",
        "application_type": "native",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "grant_types": grant_types,
        "response_types": ["code"],
    });
    let request =
        Outgoing::to_url(Method::Post, endpoint(server, "registration_endpoint")?).json(metadata);
    let response = http
        .send(&request, transcript)
        .await
        .map_err(failed(GrantRequest::ClientRegistration))?;
    match response.pointer("/client_id").and_then(Value::as_str) {
        Some(id) if matches!(response.status, 200 | 201) => Ok(id.to_owned()),
        _ => Err(GrantFailure::Answered {
            request: GrantRequest::ClientRegistration,
            answer: oauth_describe(&response),
        }),
    }
}

/// The URL the user agent ends up at after login and consent.
async fn authorise(
    http: &Http,
    authoriser: &Authoriser,
    authorization: &Url,
    transcript: &mut Transcript,
) -> Result<String, GrantFailure> {
    match authoriser {
        Authoriser::Builtin => {
            let request = Outgoing::to_url(Method::Get, authorization.clone());
            let response = http
                .send(&request, transcript)
                .await
                .map_err(failed(GrantRequest::Authorisation))?;
            let location = response
                .header("location")
                .filter(|_| (300..400).contains(&response.status))
                .ok_or_else(|| GrantFailure::Answered {
                    request: GrantRequest::Authorisation,
                    answer: oauth_describe(&response),
                })?;
            let absolute = authorization
                .join(location)
                .map_err(|e| GrantFailure::BadRedirect {
                    location: location.to_owned(),
                    error: e.to_string(),
                })?;
            Ok(absolute.to_string())
        }
        Authoriser::Command(command) => {
            let env = [
                ("MRC_OAUTH_GRANT", "authorization_code".to_owned()),
                ("MRC_OAUTH_AUTHORIZATION_URL", authorization.to_string()),
                ("MRC_OAUTH_REDIRECT_URI", REDIRECT_URI.to_owned()),
            ];
            run_authoriser(command, &env, &http.secrets)
                .await
                .map_err(GrantFailure::Authoriser)
        }
    }
}

/// Runs the `--oauth-authorize` command with `env`; the last line it printed, if it succeeded.
async fn run_authoriser(
    command: &str,
    env: &[(&str, String)],
    secrets: &Secrets,
) -> Result<String, AuthoriserFailure> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AuthoriserFailure::CannotRun(e.to_string()))?;
    let output = tokio::time::timeout(AUTHORISER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| AuthoriserFailure::TimedOut(AUTHORISER_TIMEOUT))?
        .map_err(|e| AuthoriserFailure::Lost(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim);
    // Whatever the command printed may hold the code: registered before any message shows it.
    if let Some(line) = last
        && let Ok(url) = Url::parse(line)
    {
        for (name, value) in url.query_pairs() {
            if name == "code" {
                secrets.add(&value);
            }
        }
    }
    match last {
        Some(line) if output.status.success() => Ok(line.to_owned()),
        None if output.status.success() => Ok(String::new()),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(AuthoriserFailure::Exited {
                status: output.status.to_string(),
                stderr: secrets.redact(&tail.join(" / ")),
            })
        }
    }
}

/// The code of the redirect, after checking it went to our redirect URI with our `state` (RFC 6749
/// §4.1.2) and carries no `error`.
fn code_from(redirected: &str, state: &str, secrets: &Secrets) -> Result<String, GrantFailure> {
    let url = Url::parse(redirected).map_err(|e| GrantFailure::RedirectNotUrl(e.to_string()))?;
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(code) = get("code") {
        secrets.add(&code);
    }
    let expected = Url::parse(REDIRECT_URI).expect("a valid URL");
    let ours = url.scheme() == expected.scheme()
        && url.host_str() == expected.host_str()
        && url.path() == expected.path();
    if !ours {
        return Err(GrantFailure::EndedElsewhere {
            url: secrets.redact(redirected),
        });
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        return Err(GrantFailure::Refused { error, description });
    }
    if get("state").as_deref() != Some(state) {
        return Err(GrantFailure::StateMismatch);
    }
    get("code").ok_or(GrantFailure::NoCode)
}

/// The URL of a metadata endpoint the grant needs.
fn endpoint(server: &OauthServer, field: &str) -> Result<Url, GrantFailure> {
    server.endpoint(field).map_err(GrantFailure::Metadata)
}

/// A request of the grant that got no response.
fn failed(request: GrantRequest) -> impl FnOnce(HttpError) -> GrantFailure {
    move |error| GrantFailure::Transport { request, error }
}

/// `400 invalid_grant: "..."`: the status and an RFC 6749 §5.2 error, for messages.
pub fn oauth_describe(response: &Response) -> String {
    match response.pointer("/error").and_then(Value::as_str) {
        Some(error) => {
            let description = response
                .pointer("/error_description")
                .and_then(Value::as_str)
                .map(|d| format!(": {d:?}"))
                .unwrap_or_default();
            format!("{} {error}{description}", response.status)
        }
        None => response.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_redirect_must_carry_our_state_and_a_code() {
        let secrets = Secrets::default();
        let ok = code_from(
            "http://127.0.0.1:1234/callback?code=abcdefgh&state=S1",
            "S1",
            &secrets,
        );
        assert_eq!(ok.unwrap(), "abcdefgh");
        assert!(secrets.redact("abcdefgh").contains("secret"));
        let wrong_state = code_from(
            "http://127.0.0.1/callback?code=abcdefgh&state=S2",
            "S1",
            &secrets,
        );
        assert!(matches!(wrong_state, Err(GrantFailure::StateMismatch)));
        let refused = code_from(
            "http://127.0.0.1/callback?error=access_denied&state=S1",
            "S1",
            &secrets,
        );
        assert!(
            matches!(refused, Err(GrantFailure::Refused { error, .. }) if error == "access_denied")
        );
        let elsewhere = code_from(
            "https://evil.example/callback?code=abcdefgh&state=S1",
            "S1",
            &secrets,
        );
        assert!(elsewhere.is_err());
    }
}
