//! The OAuth 2.0 API (CS § OAuth 2.0 API, v1.15): server metadata, dynamic client registration
//! (RFC 7591), the authorisation code grant with PKCE, the device authorisation grant (RFC 8628,
//! v1.18), the refresh token grant and token revocation (RFC 7009).
//!
//! These endpoints are defined by RFCs, not by the Matrix spec, and «use their own rules» (CS § API
//! Standards): their errors are RFC 6749 §5.2 objects (`{"error": "invalid_grant"}`), never Matrix
//! `errcode` objects (A34). Only `GET /auth_metadata` is a Matrix endpoint.
//!
//! The authorisation endpoint is the user's side of the flow. Here it consents at once, as the
//! account [`OAUTH_USER`], and redirects back with the code: that is the reference server's
//! built-in "login page". The device authorisation grant's verification page does the same with a
//! user code: opening it approves the code at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::reference::app::App;
use crate::reference::fault::Fault;
use crate::reference::ids::{DeviceId, UserId};
use crate::reference::oauth::{
    API_SCOPE, DEVICE_CODE_LIFETIME, DEVICE_SCOPE, DevicePoll, OAUTH_USER,
};
use crate::reference::request::declares_json;
use crate::reference::rotation::{Issued, RefreshFailure, Spare};
use crate::run::oauth::DEVICE_CODE_GRANT;

pub(super) const REGISTRATION: &str = "/oauth2/registration";
pub(super) const AUTHORIZATION: &str = "/oauth2/authorize";
pub(super) const TOKEN: &str = "/oauth2/token";
pub(super) const REVOCATION: &str = "/oauth2/revoke";
pub(super) const DEVICE_AUTHORIZATION: &str = "/oauth2/device";
/// The user's page of the device authorisation grant (RFC 8628 §3.3 `verification_uri`).
pub(super) const VERIFICATION: &str = "/oauth2/device/verify";
/// RFC 8628 §3.2 `interval`: the seconds a client waits between polls.
const POLL_INTERVAL_S: u64 = 5;

/// An RFC 6749 §5.2 error: `400 {"error": code}` (under [`Fault::OauthMatrixErrors`], a Matrix `401
/// {errcode, error}` instead).
fn render(app: &App, code: &str, description: &'static str) -> Response {
    let (status, body) = if app.has(Fault::OauthMatrixErrors) {
        let body = json!({"errcode": "M_UNKNOWN_TOKEN", "error": description});
        (StatusCode::UNAUTHORIZED, body)
    } else {
        let body = json!({"error": code, "error_description": description});
        (StatusCode::BAD_REQUEST, body)
    };
    (status, no_store(), Json(body)).into_response()
}

/// RFC 6749 §5.1: «The authorization server MUST include the HTTP "Cache-Control" response header
/// field with a value of "no-store" in any response containing tokens, …, as well as the "Pragma"
/// response header field with a value of "no-cache".»
fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// The base URL clients reached this server at (the issuer and the endpoints hang off it).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET /_matrix/client/v1/auth_metadata` (oauth_server_metadata.yaml, RFC 8414).
pub(super) async fn auth_metadata(State(app): State<App>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    let mut grants = vec!["authorization_code"];
    if !app.has(Fault::OauthMetadataWithoutRefreshGrant) {
        grants.push("refresh_token");
    }
    // «It MAY also contain `urn:ietf:params:oauth:grant-type:device_code`» (v1.18).
    grants.push(DEVICE_CODE_GRANT);
    let challenges = if app.has(Fault::OauthMetadataPlainPkce) {
        vec!["plain"]
    } else {
        vec!["S256"]
    };
    let mut metadata = json!({
        "issuer": format!("{base}/"),
        "authorization_endpoint": format!("{base}{AUTHORIZATION}"),
        "token_endpoint": format!("{base}{TOKEN}"),
        "registration_endpoint": format!("{base}{REGISTRATION}"),
        "revocation_endpoint": format!("{base}{REVOCATION}"),
        "device_authorization_endpoint": format!("{base}{DEVICE_AUTHORIZATION}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": challenges,
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    });
    if app.has(Fault::OauthMetadataWithoutRevocation)
        && let Some(object) = metadata.as_object_mut()
    {
        object.remove("revocation_endpoint");
    }
    Json(metadata)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `POST registration_endpoint` (RFC 7591). Unknown grant and response types are ignored
/// («The server MUST ignore values that it does not understand.»); the `none` authentication
/// method is supported («The homeserver MUST support the `none` value»).
pub(super) async fn register_client(State(app): State<App>, body: Bytes) -> Response {
    let invalid = |description| render(&app, "invalid_client_metadata", description);
    let Ok(Value::Object(metadata)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("the body must be a JSON object");
    };
    let redirect_uris = strings(metadata.get("redirect_uris"));
    if redirect_uris.is_empty() {
        return invalid("redirect_uris is required");
    }
    let grant_types = strings(metadata.get("grant_types"));
    if app.has(Fault::OauthRegistrationRejectsUnknownGrant)
        && grant_types.iter().any(|g| {
            !["authorization_code", "refresh_token", DEVICE_CODE_GRANT].contains(&g.as_str())
        })
    {
        return invalid("unsupported grant type");
    }
    let auth_method = metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic");
    if auth_method != "none" || app.has(Fault::OauthRegistrationRejectsNone) {
        return invalid("only public clients (token_endpoint_auth_method none) are supported");
    }
    let client_id = app.oauth().register_client(redirect_uris.clone());
    let mut answer = metadata.clone();
    answer.insert("client_id".into(), json!(client_id));
    answer.insert("redirect_uris".into(), json!(redirect_uris));
    (StatusCode::CREATED, no_store(), Json(Value::Object(answer))).into_response()
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A redirect to the client with `params` added to its redirect URI's query.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    url.query_pairs_mut().extend_pairs(params);
    let location = HeaderValue::from_str(url.as_str()).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// The one device scope of a scope string: «There MUST be exactly one
/// `urn:matrix:client:device:<device_id>` token in the requested scope».
fn device_of(scope: &str) -> Option<DeviceId> {
    let mut devices = scope
        .split(' ')
        .filter_map(|s| s.strip_prefix(DEVICE_SCOPE));
    match (devices.next(), devices.next()) {
        (Some(id), None) => DeviceId::from_client(id),
        _ => None,
    }
}

/// The device a grant for `scope` binds its tokens to: the one device scope, alongside the API scope.
fn device_to_grant(app: &App, scope: &str) -> Option<DeviceId> {
    if !scope.split(' ').any(|s| s == API_SCOPE) {
        return None;
    }
    if app.has(Fault::OauthScopeDeviceIgnored) {
        return Some(DeviceId::generate());
    }
    device_of(scope)
}

/// `GET authorization_endpoint`: checks the request, then consents at once as [`OAUTH_USER`].
/// Errors that cannot be sent back to a verified redirect URI are shown as a page (RFC 6749
/// §4.1.2.1); the others redirect with `error`.
pub(super) async fn authorize(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let params = form(query.unwrap_or_default().as_bytes());
    let get = |name| param(&params, name);
    let (Some(client_id), Some(redirect_uri)) = (get("client_id"), get("redirect_uri")) else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required",
        )
            .into_response();
    };
    if app.oauth().client_allows(client_id, redirect_uri) != Some(true) {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let state = get("state").unwrap_or_default();
    let fail = |error: &str| redirect(redirect_uri, &[("error", error), ("state", state)]);
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type");
    }
    let (Some(challenge), Some("S256")) = (get("code_challenge"), get("code_challenge_method"))
    else {
        return fail("invalid_request");
    };
    let scope = get("scope").unwrap_or_default();
    let Some(device) = device_to_grant(&app, scope) else {
        return fail("invalid_scope");
    };
    let code = app
        .oauth()
        .issue_code(client_id, redirect_uri, challenge, device, scope);
    redirect(redirect_uri, &[("code", &code), ("state", state)])
}

/// `POST token_endpoint`: the authorisation code grant and the refresh token grant, form-encoded.
pub(super) async fn token(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    let json_only = app.has(Fault::OauthTokenJsonOnly) && !declares_json(&headers);
    if json_only && param(&form, "grant_type") == Some("refresh_token") {
        return render(&app, "invalid_request", "the body must be JSON");
    }
    match param(&form, "grant_type") {
        Some("authorization_code") => authorization_code(&app, &form),
        Some("refresh_token") => refresh_token(&app, &form),
        Some(DEVICE_CODE_GRANT) => device_code(&app, &form),
        Some(_) => render(&app, "unsupported_grant_type", "unsupported grant type"),
        None => render(&app, "invalid_request", "grant_type is required"),
    }
}

fn authorization_code(app: &App, form: &[(String, String)]) -> Response {
    let get = |name| param(form, name);
    let (Some(code), Some(client_id), Some(redirect_uri), Some(verifier)) = (
        get("code"),
        get("client_id"),
        get("redirect_uri"),
        get("code_verifier"),
    ) else {
        return render(
            app,
            "invalid_request",
            "code, client_id, redirect_uri and code_verifier are required",
        );
    };
    let check_pkce = !app.has(Fault::OauthPkceIgnored);
    let grant = app
        .oauth()
        .redeem(code, client_id, redirect_uri, verifier, check_pkce);
    let Some(grant) = grant else {
        return render(app, "invalid_grant", "invalid authorisation code");
    };
    let issued = grant_tokens(app, &grant.client_id, &grant.device);
    let shape = Shape {
        refresh_token: !app.has(Fault::OauthNoRefreshToken),
        ..Shape::FULL
    };
    token_response(app, &issued, Some(&grant.scope), shape)
}

/// The device access token request (RFC 8628 §3.4): `authorization_pending` until the user code is
/// approved, then the tokens, once. «As with the authorisation code grant, when authorisation is
/// granted to a client, the homeserver MUST issue a refresh token to the client in addition to the
/// access token.»
fn device_code(app: &App, form: &[(String, String)]) -> Response {
    let (Some(device_code), Some(client_id)) =
        (param(form, "device_code"), param(form, "client_id"))
    else {
        return render(
            app,
            "invalid_request",
            "device_code and client_id are required",
        );
    };
    let redeemed = app.oauth().redeem_device(device_code, client_id);
    let grant = match redeemed {
        Ok(grant) => grant,
        Err(DevicePoll::Pending) => {
            return render(
                app,
                "authorization_pending",
                "the user has not approved yet",
            );
        }
        Err(DevicePoll::Expired) => return render(app, "expired_token", "the device code expired"),
        Err(DevicePoll::Invalid) => return render(app, "invalid_grant", "invalid device code"),
    };
    let issued = grant_tokens(app, &grant.client_id, &grant.device);
    let shape = Shape {
        refresh_token: !app.has(Fault::OauthDeviceNoRefreshToken),
        expires_in: !app.has(Fault::OauthDeviceWithoutExpiresIn),
        ..Shape::FULL
    };
    token_response(app, &issued, Some(&grant.scope), shape)
}

/// Opens (or reuses) the grant's device for [`OAUTH_USER`] and issues its first tokens, bound to the
/// client.
fn grant_tokens(app: &App, client_id: &str, device: &DeviceId) -> Issued {
    let user = UserId::from_localpart(OAUTH_USER).expect("a valid localpart");
    let issued = {
        let mut store = app.store();
        // Unknown until the first grant; a password is never set, so it cannot log in the legacy way.
        let _ = store.register(&user, None, false);
        let opened = store.open_device(&user, Some(device.clone()), None);
        // «If the client sets the `device_id`, the server will invalidate any access and refresh
        // tokens previously assigned to that device.»
        if opened.reused && !app.has(Fault::OauthDeviceReuseKeepsTokens) {
            store.revoke_session_tokens(&opened.session, Spare::Nothing);
        }
        store.issue_oauth(&opened.session)
    };
    app.oauth().bind(&issued, client_id);
    issued
}

/// `POST device_authorization_endpoint` (RFC 8628 §3.1–3.2), form-encoded `client_id` and `scope`.
pub(super) async fn device_authorization(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&body);
    let Some(client_id) = param(&form, "client_id").filter(|c| app.oauth().is_client(c)) else {
        return render(&app, "invalid_client", "unknown client_id");
    };
    let scope = param(&form, "scope").unwrap_or_default();
    let Some(device) = device_to_grant(&app, scope) else {
        return render(
            &app,
            "invalid_scope",
            "the scope needs the API scope and one device scope",
        );
    };
    let (device_code, user_code) = app.oauth().issue_device_code(client_id, device, scope);
    let verification = format!("{}{VERIFICATION}", base_url(&headers));
    let mut complete = url::Url::parse(&verification).expect("a valid URL");
    complete
        .query_pairs_mut()
        .append_pair("user_code", &user_code);
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification,
        "verification_uri_complete": complete.as_str(),
        "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
        "interval": POLL_INTERVAL_S,
    });
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// `GET verification_uri?user_code=…`: the user's side of the device grant; the built-in consent
/// approves the code at once as [`OAUTH_USER`].
pub(super) async fn verify(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let params = form(query.unwrap_or_default().as_bytes());
    match param(&params, "user_code") {
        Some(code) if app.oauth().approve(code) => (
            StatusCode::OK,
            "approved: the device may now poll for its tokens",
        )
            .into_response(),
        _ => (StatusCode::BAD_REQUEST, "unknown or expired user code").into_response(),
    }
}

fn refresh_token(app: &App, form: &[(String, String)]) -> Response {
    let (Some(token), client_id) = (param(form, "refresh_token"), param(form, "client_id")) else {
        return render(app, "invalid_request", "refresh_token is required");
    };
    let invalid_grant = || render(app, "invalid_grant", "invalid refresh token");
    // RFC 6749 §5.2 invalid_grant: the refresh token «was issued to another client». Tokens of the
    // legacy API belong to no client: the grant does not take them.
    let bound = app.oauth().client_of(token).map(str::to_owned);
    let live = app.store().owner(token).is_some();
    let foreign = bound.as_deref() != client_id && !app.has(Fault::OauthRefreshAnyClient);
    if live && (bound.is_none() || foreign) {
        return invalid_grant();
    }
    let result = app.store().refresh_oauth(
        token,
        app.has(Fault::OauthRefreshNewDevice),
        !app.has(Fault::OauthNoRotation),
    );
    let issued = match result {
        Ok(issued) => issued,
        // Allowed variation: a rotated token stays usable for a while, whatever happened since.
        Err(RefreshFailure::Superseded { session })
            if app.has(Fault::OauthGraceWindow) && app.oauth().within_grace(token) =>
        {
            app.store().issue_oauth(&session)
        }
        // «The homeserver SHOULD consider that the session is compromised if an old, invalidated
        // refresh token is used, and SHOULD revoke the session.»
        Err(RefreshFailure::Superseded { session }) => {
            if !app.has(Fault::OauthNoReuseDetection) {
                app.store().revoke_session_tokens(&session, Spare::Nothing);
            }
            return invalid_grant();
        }
        Err(_) => return invalid_grant(),
    };
    if let Some(client) = &bound {
        app.oauth().bind(&issued, client);
    }
    app.oauth().rotated(token);
    if app.has(Fault::OauthNoRetry) {
        app.store().supersede(token);
    }
    let shape = Shape {
        token_type: !app.has(Fault::OauthRefreshWithoutTokenType),
        ..Shape::FULL
    };
    token_response(app, &issued, None, shape)
}

/// Which optional members of a token response are sent (all of them but under a fault).
#[derive(Clone, Copy)]
struct Shape {
    token_type: bool,
    expires_in: bool,
    refresh_token: bool,
}

impl Shape {
    const FULL: Shape = Shape {
        token_type: true,
        expires_in: true,
        refresh_token: true,
    };
}

/// RFC 6749 §5.1: `access_token`, `token_type`, `expires_in` (seconds), `refresh_token`, `scope`.
fn token_response(app: &App, issued: &Issued, scope: Option<&str>, shape: Shape) -> Response {
    if app.has(Fault::OauthNeverExpires) {
        app.store().never_expire(&issued.access_token);
    }
    let mut body = json!({"access_token": issued.access_token});
    if shape.token_type {
        body["token_type"] = json!("Bearer");
    }
    if let Some(lifetime) = issued.expires_in.filter(|_| shape.expires_in) {
        // Whole seconds, rounded up: the token never outlives what is advertised by more than that.
        body["expires_in"] = json!(lifetime.as_millis().div_ceil(1000));
    }
    let refresh = issued
        .refresh_token
        .as_ref()
        .filter(|_| shape.refresh_token);
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    if app.has(Fault::OauthTokensCacheable) {
        return (StatusCode::OK, Json(body)).into_response();
    }
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// `POST revocation_endpoint` (RFC 7009, CS § Token revocation): «The server MUST revoke both the
/// access token and refresh token associated with the token provided in the request.» Without a
/// `client_id`, or with another client's, it «SHOULD still revoke the token»; an unknown token gets
/// `200 OK`.
pub(super) async fn revoke(State(app): State<App>, body: Bytes) -> Response {
    let form = form(&body);
    let Some(token) = param(&form, "token") else {
        return render(&app, "invalid_request", "token is required");
    };
    let client_id = param(&form, "client_id");
    if app.has(Fault::OauthRevokeRequiresClientId)
        && client_id.is_none_or(|c| !app.oauth().is_client(c))
    {
        return render(&app, "invalid_request", "client_id is required");
    }
    let owner = app.store().owner(token);
    let Some(session) = owner else {
        if app.has(Fault::OauthRevokeUnknown400) {
            return render(&app, "invalid_request", "unknown token");
        }
        return StatusCode::OK.into_response();
    };
    if app.has(Fault::OauthRevokeRequiresClientId) && app.oauth().client_of(token) != client_id {
        return StatusCode::OK.into_response();
    }
    if app.has(Fault::OauthRevokeSparesRefresh) {
        app.store().revoke_token(token);
    } else {
        app.store().revoke_session_tokens(&session, Spare::Nothing);
    }
    StatusCode::OK.into_response()
}
