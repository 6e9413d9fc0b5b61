//! `POST /refresh` (refresh.yaml). No access token: «Note that this endpoint does not require
//! authentication via an access token. Authentication is provided via the refresh token.» Any
//! `Authorization` header is ignored (A19). The rotation rule itself is in
//! [`rotation`](crate::reference::rotation).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use super::tokens::insert_refresh;
use crate::reference::app::App;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;
use crate::reference::request::{declares_json, json_object};
use crate::reference::rotation::RefreshFailure;

/// The `refresh_token` of the body: missing is `M_MISSING_PARAM`, another type `M_BAD_JSON` (A20:
/// any 4xx).
fn refresh_token_of(app: &App, object: &Map<String, Value>) -> Result<String, ApiError> {
    let malformed = match object.get("refresh_token") {
        Some(Value::String(token)) => return Ok(token.clone()),
        Some(_) => ApiError::bad_json("refresh_token must be a string"),
        None => ApiError::missing_param("refresh_token"),
    };
    if app.has(Fault::MalformedRefresh5xx) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrCode::Unknown,
            "Internal server error",
        ));
    }
    Err(malformed)
}

/// refresh.401.unknown-or-used: «The provided token was unknown, or has already been used.» → 401
/// `M_UNKNOWN_TOKEN`. `soft_logout` is `false` throughout (A7): a refused refresh token means the
/// session cannot go on with it, and after a logout it must not be `true`
/// (softlogout.false-means-destroyed).
fn refresh_error(app: &App, failure: RefreshFailure) -> ApiError {
    match failure {
        RefreshFailure::NeverIssued if app.has(Fault::UnknownRefreshWrongStatus) => ApiError {
            status: StatusCode::BAD_REQUEST,
            ..ApiError::unknown_token("Unknown refresh token", false)
        },
        RefreshFailure::NeverIssued | RefreshFailure::NotARefreshToken => {
            ApiError::unknown_token("Unknown refresh token", false)
        }
        RefreshFailure::Superseded { .. } if app.has(Fault::UsedRefreshForbidden) => {
            ApiError::forbidden("refresh token isn't valid anymore")
        }
        RefreshFailure::Superseded { .. } => {
            ApiError::unknown_token("Refresh token has already been used", false)
        }
        RefreshFailure::SessionEnded if app.has(Fault::EndedRefreshTokenForbidden) => {
            ApiError::forbidden("refresh token isn't valid anymore")
        }
        RefreshFailure::SessionEnded => ApiError::unknown_token(
            "Refresh token has been revoked",
            app.has(Fault::SoftLogoutAfterLogout),
        ),
        RefreshFailure::CompanionExpired => {
            ApiError::unknown_token("Refresh token has expired", false)
        }
        RefreshFailure::CompanionStillValid => {
            ApiError::forbidden("The access token has not expired yet")
        }
    }
}

pub(super) async fn refresh(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if app.has(Fault::RefreshBroken5xx) {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrCode::Unknown,
            "Internal server error",
        ));
    }
    if app.has(Fault::RefreshRequiresAccessToken) && !headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::missing_token());
    }
    if app.has(Fault::RefreshWithoutAuthForbidden) && !headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::forbidden("An access token is required"));
    }
    if app.has(Fault::RefreshRequiresContentType) && !declares_json(&headers) {
        return Err(ApiError::not_json("Content-Type must be application/json"));
    }
    let object = json_object(&body)?;
    let token = refresh_token_of(&app, &object)?;
    let issued = app
        .store()
        .refresh(&token)
        .map_err(|failure| refresh_error(&app, failure))?;

    let mut body = Map::new();
    body.insert(
        "access_token".into(),
        Value::String(issued.access_token.clone()),
    );
    insert_refresh(&app, &mut body, &issued);
    Ok(Json(Value::Object(body)))
}
