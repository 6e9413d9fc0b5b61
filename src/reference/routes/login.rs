//! `POST /login` with `m.login.password` (login.yaml).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::tokens::{insert_access, insert_refresh, wants_refresh};
use crate::reference::app::App;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;
use crate::reference::ids::{DeviceId, UserId};
use crate::reference::request::{json_object, typed};

#[derive(Deserialize)]
struct LoginRequest {
    #[serde(rename = "type")]
    login_type: String,
    password: Option<String>,
    refresh_token: Option<bool>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
}

/// A client-supplied `device_id`, validated.
pub(super) fn requested_device(device_id: Option<String>) -> Result<Option<DeviceId>, ApiError> {
    device_id
        .map(|id| {
            DeviceId::from_client(&id)
                .ok_or_else(|| ApiError::bad_json("device_id must be a non-empty string"))
        })
        .transpose()
}

pub(super) async fn login(State(app): State<App>, body: Bytes) -> Result<Json<Value>, ApiError> {
    app.check_login_rate()?;
    let object = json_object(&body)?;
    if app.has(Fault::LoginRejectsRefreshTokenField) && object.contains_key("refresh_token") {
        return Err(ApiError::bad_json("Unknown field: refresh_token"));
    }
    let names_user = object.contains_key("identifier") || object.contains_key("user");
    let user = UserId::from_identifier(&object);
    let request: LoginRequest = typed(object)?;
    if request.login_type != "m.login.password" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrCode::Unknown,
            "Unsupported login type",
        ));
    }
    if !names_user {
        return Err(ApiError::missing_param("identifier"));
    }
    let password = request
        .password
        .ok_or_else(|| ApiError::missing_param("password"))?;
    let requested = if app.has(Fault::LoginIgnoresDeviceId) {
        None
    } else {
        requested_device(request.device_id)?
    };

    let issued = {
        let mut store = app.store();
        // errors.yaml: M_USER_DEACTIVATED «Typically for endpoints that prove authentication, such
        // as /login.»
        if user.as_ref().is_some_and(|user| store.is_deactivated(user)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrCode::UserDeactivated,
                "This account has been deactivated",
            ));
        }
        let user = user.filter(|user| store.password_matches(user, &password));
        let Some(user) = user else {
            return Err(ApiError::forbidden("Invalid username or password"));
        };
        let opened = store.open_device(&user, requested, request.initial_device_display_name);
        // «If the client sets the device_id, the server will invalidate any access and refresh
        // tokens previously assigned to that device.» (CS § Relationship between access tokens and
        // devices)
        if opened.reused && !app.has(Fault::DeviceReuseKeepsTokens) {
            store.revoke_device_tokens(&opened.session);
        }
        store.issue(
            &opened.session,
            wants_refresh(&app, request.refresh_token == Some(true)),
        )
    };

    let mut body = Map::new();
    body.insert("user_id".into(), json!(issued.session.user.as_str()));
    insert_access(&mut body, &issued);
    if app.has(Fault::LoginOmitsDeviceId) {
        body.remove("device_id");
    }
    insert_refresh(&app, &mut body, &issued);
    Ok(Json(Value::Object(body)))
}
