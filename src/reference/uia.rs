//! User-interactive authentication (CS § User-Interactive Authentication API), only as much as the
//! suite needs: one-stage flows, `m.login.dummy` for registration and `m.login.password` for device
//! deletion and password change.
//!
//! Sessions are not tracked: any `session` value (or none, as Synapse allows for registration) is
//! accepted, because a single stage completes the flow at once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::reference::error::{ApiError, ErrCode};
use crate::reference::ids::{UserId, random_alphanumeric};
use crate::reference::state::Store;

/// The one stage a UIA-protected endpoint requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Dummy,
    Password,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Dummy => "m.login.dummy",
            Stage::Password => "m.login.password",
        }
    }
}

/// A `401` UIA response: the flows, a session, and (after a failed attempt) `errcode`/`error`.
#[derive(Debug)]
pub(crate) struct Challenge {
    stage: Stage,
    failure: Option<(ErrCode, &'static str)>,
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        let mut body = json!({
            "flows": [{"stages": [self.stage.as_str()]}],
            "params": {},
            "session": random_alphanumeric(24),
        });
        if let (Some((errcode, error)), Some(object)) = (self.failure, body.as_object_mut()) {
            object.insert("errcode".into(), json!(errcode.as_str()));
            object.insert("error".into(), json!(error));
        }
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

/// What a UIA-protected handler rejects with: a challenge, or an ordinary error.
#[derive(Debug)]
pub(crate) enum UiaRejection {
    Challenge(Challenge),
    Error(ApiError),
}

impl From<ApiError> for UiaRejection {
    fn from(error: ApiError) -> Self {
        UiaRejection::Error(error)
    }
}

impl IntoResponse for UiaRejection {
    fn into_response(self) -> Response {
        match self {
            UiaRejection::Challenge(challenge) => challenge.into_response(),
            UiaRejection::Error(error) => error.into_response(),
        }
    }
}

fn challenge(stage: Stage, failure: Option<(ErrCode, &'static str)>) -> UiaRejection {
    UiaRejection::Challenge(Challenge { stage, failure })
}

/// Completes the `m.login.dummy` stage of registration: `auth` must be `{"type": "m.login.dummy",
/// ...}`.
pub(crate) fn require_dummy(auth: Option<&Value>) -> Result<(), UiaRejection> {
    match auth {
        None => Err(challenge(Stage::Dummy, None)),
        Some(auth) if auth.get("type").and_then(Value::as_str) == Some(Stage::Dummy.as_str()) => {
            Ok(())
        }
        Some(_) => Err(challenge(
            Stage::Dummy,
            Some((ErrCode::Unrecognized, "Unsupported authentication stage")),
        )),
    }
}

/// Completes the `m.login.password` stage for `user` (the requester): `auth` must identify the same
/// user and carry the right password.
pub(crate) fn require_password(
    store: &Store,
    user: &UserId,
    auth: Option<&Map<String, Value>>,
) -> Result<(), UiaRejection> {
    let Some(auth) = auth else {
        return Err(challenge(Stage::Password, None));
    };
    if auth.get("type").and_then(Value::as_str) != Some(Stage::Password.as_str()) {
        return Err(challenge(
            Stage::Password,
            Some((ErrCode::Unrecognized, "Unsupported authentication stage")),
        ));
    }
    if UserId::from_identifier(auth).as_ref() != Some(user) {
        return Err(ApiError::forbidden("Authentication must be for the requesting user").into());
    }
    match auth.get("password").and_then(Value::as_str) {
        Some(password) if store.password_matches(user, password) => Ok(()),
        _ => Err(challenge(
            Stage::Password,
            Some((ErrCode::Forbidden, "Invalid password")),
        )),
    }
}
