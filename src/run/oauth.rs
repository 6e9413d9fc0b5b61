//! Getting an OAuth 2.0 grant from any server: dynamic client registration (RFC 7591), the authorisation
//! code grant with PKCE S256 and `state` (RFC 6749 §4.1, RFC 7636), and the one step a program cannot do
//! alone, the user's login and consent, delegated to an [`Authoriser`].

use std::process::Stdio;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::homeserver::oauth::OauthServer;
use crate::http::Method;
use crate::http::{Http, Outgoing, Response};
use crate::redact::Secrets;
use crate::transcript::Transcript;

/// The redirect URI of the suite's client: a native client's loopback URI, without a port (the Matrix
/// client metadata rules: the server accepts any port on it). Nothing listens there; the authoriser
/// reports where the browser was sent.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Scope of the whole Client-Server API (CS § Scope).
const API_SCOPE: &str = "urn:matrix:client:api:*";
const DEVICE_SCOPE: &str = "urn:matrix:client:device:";
/// How long an external authoriser may take to log in and consent.
const AUTHORISER_TIMEOUT: Duration = Duration::from_secs(60);

/// Who completes the user's side of the authorisation (login and consent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authoriser {
    /// The reference server consents at once: following its one redirect is enough.
    Builtin,
    /// `--oauth-authorize CMD`: run with `sh -c`; the environment has `MRC_OAUTH_AUTHORIZATION_URL` and
    /// `MRC_OAUTH_REDIRECT_URI`; the last line it prints is the URL the user agent was redirected to.
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
) -> Result<Grant, String> {
    let client_id = register_client(http, server, transcript).await?;
    let verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
    http.secrets.add(&verifier);
    let state = Alphanumeric.sample_string(&mut rand::rng(), 24);
    let scope = format!("{API_SCOPE} {DEVICE_SCOPE}{device_id}");
    let mut authorization = server.endpoint("authorization_endpoint")?;
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
    let exchange = Outgoing::to_url(Method::Post, server.endpoint("token_endpoint")?).form(vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("client_id".into(), client_id.clone()),
        ("code_verifier".into(), verifier),
    ]);
    let response = http
        .send(&exchange, transcript)
        .await
        .map_err(|e| format!("code exchange: {e}"))?;
    Ok(Grant {
        response,
        client_id,
        device_id: device_id.to_owned(),
    })
}

/// RFC 7591 registration of a public native client with the grants the suite uses.
async fn register_client(
    http: &Http,
    server: &OauthServer,
    transcript: &mut Transcript,
) -> Result<String, String> {
    let metadata = json!({
        "client_name": "matrix-refresh-conformance",
        "client_uri": "https://refresh-conformance.example/",
        "application_type": "native",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    let request =
        Outgoing::to_url(Method::Post, server.endpoint("registration_endpoint")?).json(metadata);
    let response = http
        .send(&request, transcript)
        .await
        .map_err(|e| format!("client registration: {e}"))?;
    match response.pointer("/client_id").and_then(Value::as_str) {
        Some(id) if matches!(response.status, 200 | 201) => Ok(id.to_owned()),
        _ => Err(format!(
            "client registration answered {}",
            oauth_describe(&response)
        )),
    }
}

/// The URL the user agent ends up at after login and consent.
async fn authorise(
    http: &Http,
    authoriser: &Authoriser,
    authorization: &Url,
    transcript: &mut Transcript,
) -> Result<String, String> {
    match authoriser {
        Authoriser::Builtin => {
            let request = Outgoing::to_url(Method::Get, authorization.clone());
            let response = http
                .send(&request, transcript)
                .await
                .map_err(|e| format!("authorisation request: {e}"))?;
            let location = response
                .header("location")
                .filter(|_| (300..400).contains(&response.status))
                .ok_or_else(|| {
                    format!(
                        "the authorisation endpoint did not redirect back: {}",
                        oauth_describe(&response)
                    )
                })?;
            let absolute = authorization
                .join(location)
                .map_err(|e| format!("bad redirect {location:?}: {e}"))?;
            Ok(absolute.to_string())
        }
        Authoriser::Command(command) => run_authoriser(command, authorization, &http.secrets).await,
    }
}

async fn run_authoriser(
    command: &str,
    authorization: &Url,
    secrets: &Secrets,
) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("MRC_OAUTH_AUTHORIZATION_URL", authorization.as_str())
        .env("MRC_OAUTH_REDIRECT_URI", REDIRECT_URI)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the --oauth-authorize command: {e}"))?;
    let output = tokio::time::timeout(AUTHORISER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!("the --oauth-authorize command did not finish within {AUTHORISER_TIMEOUT:?}")
        })?
        .map_err(|e| format!("the --oauth-authorize command failed: {e}"))?;
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
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(secrets.redact(&format!(
                "the --oauth-authorize command ({}) printed no redirected URL: {}",
                output.status,
                tail.join(" / ")
            )))
        }
    }
}

/// The code of the redirect, after checking it went to our redirect URI with our `state` (RFC 6749
/// §4.1.2) and carries no `error`.
fn code_from(redirected: &str, state: &str, secrets: &Secrets) -> Result<String, String> {
    let url = Url::parse(redirected)
        .map_err(|e| format!("the authoriser's redirected URL is not a URL ({e})"))?;
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
        return Err(secrets.redact(&format!(
            "the authorisation ended at {redirected}, not at the redirect URI {REDIRECT_URI}"
        )));
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        return Err(format!(
            "the authorisation server refused the request: error={error} {description}"
        ));
    }
    if get("state").as_deref() != Some(state) {
        return Err("the redirect does not carry the state the request sent".to_owned());
    }
    get("code").ok_or_else(|| "the redirect carries no code".to_owned())
}

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`; the reference server checks it too.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
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
        assert!(wrong_state.unwrap_err().contains("state"));
        let refused = code_from(
            "http://127.0.0.1/callback?error=access_denied&state=S1",
            "S1",
            &secrets,
        );
        assert!(refused.unwrap_err().contains("access_denied"));
        let elsewhere = code_from(
            "https://evil.example/callback?code=abcdefgh&state=S1",
            "S1",
            &secrets,
        );
        assert!(elsewhere.is_err());
    }
}
