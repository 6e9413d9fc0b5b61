//! `/versions`, the login flows, and the answers for unknown endpoints and wrong methods.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::reference::app::App;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;

/// The spec versions advertised: v1.1 to v1.19. v1.20 (unreleased) would drop query-string tokens.
pub(crate) const VERSIONS: std::ops::RangeInclusive<u32> = 1..=19;

pub(super) async fn versions(State(app): State<App>) -> Json<Value> {
    let prefix = if app.has(Fault::VersionsWithoutVPrefix) {
        ""
    } else {
        "v"
    };
    let versions: Vec<String> = VERSIONS.map(|minor| format!("{prefix}1.{minor}")).collect();
    Json(json!({"versions": versions, "unstable_features": {}}))
}

/// [`Fault::NoOauthWrongErrcode`]: a server without the OAuth 2.0 API whose answer is `404
/// M_NOT_FOUND` rather than «With `M_UNRECOGNIZED`: the homeserver does not support the OAuth 2.0
/// API».
pub(super) async fn auth_metadata_not_found() -> ApiError {
    ApiError::not_found("No such endpoint")
}

pub(super) async fn login_flows() -> Json<Value> {
    Json(json!({"flows": [{"type": "m.login.password"}]}))
}

/// `404 M_UNRECOGNIZED`: «expected to be returned with a 404 HTTP status code if the endpoint is
/// not implemented» (CS § Common error codes).
pub(super) async fn unknown_endpoint(State(app): State<App>) -> ApiError {
    if app.has(Fault::UnknownEndpointWrongErrcode) {
        return ApiError::not_found("No such endpoint");
    }
    ApiError::unrecognized_endpoint()
}

/// `405 M_UNRECOGNIZED`: «or a 405 HTTP status code if the endpoint is implemented, but the
/// incorrect HTTP method is used».
pub(super) async fn wrong_method(State(app): State<App>) -> ApiError {
    if app.has(Fault::WrongMethod404) {
        return ApiError::unrecognized_endpoint();
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrCode::Unrecognized,
        "Method not allowed",
    )
}
