//! `GET /account/whoami` (the suite's probe), `POST /account/password` and
//! `POST /account/deactivate`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::reference::app::App;
use crate::reference::auth::Authed;
use crate::reference::error::ApiError;
use crate::reference::fault::Fault;
use crate::reference::request::{json_object, json_object_or_empty, typed};
use crate::reference::rotation::Spare;
use crate::reference::uia::{UiaRejection, require_password};

pub(super) async fn whoami(State(app): State<App>, authed: Authed) -> Json<Value> {
    let is_guest = app.store().is_guest(&authed.session.user);
    let mut body = json!({
        "user_id": authed.session.user.as_str(),
        "device_id": authed.session.device.as_str(),
        "is_guest": is_guest,
    });
    if app.has(Fault::WhoamiWithoutDeviceId) {
        if let Some(object) = body.as_object_mut() {
            object.remove("device_id");
        }
    }
    Json(body)
}

#[derive(Deserialize)]
struct PasswordRequest {
    new_password: Option<String>,
    logout_devices: Option<bool>,
    auth: Option<Map<String, Value>>,
}

/// password_management.yaml: `logout_devices` «Whether the user's other access tokens, and their
/// associated devices, should be revoked if the request succeeds. Defaults to `true`.» and «The
/// homeserver SHOULD NOT revoke the access token provided in the request.»
pub(super) async fn change_password(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, UiaRejection> {
    let request: PasswordRequest = typed(json_object(&body)?)?;
    let user = &authed.session.user;
    let mut store = app.store();
    require_password(&store, user, request.auth.as_ref())?;
    let new_password = request
        .new_password
        .ok_or_else(|| ApiError::missing_param("new_password"))?;
    store.set_password(user, new_password);
    if request.logout_devices.unwrap_or(true) {
        if app.has(Fault::PasswordChangeLogsOutRequester) {
            store.delete_devices_except(user, None, Spare::Nothing);
        } else if !app.has(Fault::PasswordChangeKeepsSessions) {
            store.delete_devices_except(user, Some(&authed.session.device), Spare::Nothing);
            store.revoke_other_access_tokens(&authed.session, &authed.access_token);
        }
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeactivateRequest {
    auth: Option<Map<String, Value>>,
}

/// account_management.yaml `POST /account/deactivate`: «Deactivate the user's account, removing all
/// ability for the user to login again.» With `m.login.password` UIA. Every device goes, and with
/// it every access and refresh token (the spec does not name them, A17; a session of an account
/// that can never log in again is over). No identity server is involved, hence `no-support`.
pub(super) async fn deactivate(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, UiaRejection> {
    let request: DeactivateRequest = typed(json_object_or_empty(&body)?)?;
    let user = &authed.session.user;
    let mut store = app.store();
    require_password(&store, user, request.auth.as_ref())?;
    store.deactivate(user);
    Ok(Json(json!({"id_server_unbind_result": "no-support"})))
}
