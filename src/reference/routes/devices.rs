//! Device management (device_management.yaml): list, get, and delete with `m.login.password` UIA.
//!
//! «Deletes the given device, and invalidates any access token associated with it.» Its refresh
//! tokens go too (device.delete.refresh-tokens-dead, derived from device binding; A15).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use crate::reference::app::App;
use crate::reference::auth::Authed;
use crate::reference::error::ApiError;
use crate::reference::fault::Fault;
use crate::reference::ids::{DeviceId, Session};
use crate::reference::request::json_object_or_empty;
use crate::reference::rotation::Spare;
use crate::reference::state::Device;
use crate::reference::uia::{UiaRejection, require_password};

fn render(id: &DeviceId, device: &Device) -> Value {
    let mut value = json!({"device_id": id.as_str()});
    if let Some(name) = &device.display_name {
        value["display_name"] = json!(name);
    }
    if let Some(ts) = device.last_seen_ts {
        value["last_seen_ts"] = json!(ts);
    }
    value
}

pub(super) async fn list(State(app): State<App>, authed: Authed) -> Json<Value> {
    let devices = app.store().devices(&authed.session.user);
    let copies = |device: &Device| match app.has(Fault::ReloginDuplicatesDevice) {
        true => usize::try_from(device.logins).unwrap_or(1).max(1),
        false => 1,
    };
    let listed: Vec<Value> = devices
        .iter()
        .flat_map(|(id, device)| std::iter::repeat_n(render(id, device), copies(device)))
        .collect();
    Json(json!({"devices": listed}))
}

fn session_of(authed: &Authed, device_id: &str) -> Result<Session, ApiError> {
    let device =
        DeviceId::from_client(device_id).ok_or_else(|| ApiError::not_found("No such device"))?;
    Ok(Session {
        user: authed.session.user.clone(),
        device,
    })
}

pub(super) async fn get_one(
    State(app): State<App>,
    authed: Authed,
    Path(device_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session_of(&authed, &device_id)?;
    let device = app
        .store()
        .device(&session)
        .ok_or_else(|| ApiError::not_found("No such device"))?;
    Ok(Json(render(&session.device, &device)))
}

fn deletion_spare(app: &App) -> Spare {
    if app.has(Fault::DeviceDeleteKeepsRefreshTokens) {
        Spare::RefreshTokens
    } else if app.has(Fault::DeviceDeleteKeepsAccessTokens) {
        Spare::AccessTokens
    } else {
        Spare::Nothing
    }
}

fn auth_of(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    object.get("auth").and_then(Value::as_object)
}

pub(super) async fn delete_one(
    State(app): State<App>,
    authed: Authed,
    Path(device_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, UiaRejection> {
    let object = json_object_or_empty(&body)?;
    let session = session_of(&authed, &device_id)?;
    let mut store = app.store();
    if store.device(&session).is_none() {
        return Err(ApiError::not_found("No such device").into());
    }
    require_password(&store, &session.user, auth_of(&object))?;
    store.delete_device(&session, deletion_spare(&app));
    Ok(Json(json!({})))
}

pub(super) async fn delete_many(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, UiaRejection> {
    let object = json_object_or_empty(&body)?;
    let Some(Value::Array(ids)) = object.get("devices") else {
        return Err(ApiError::missing_param("devices").into());
    };
    let ids: Option<Vec<&str>> = ids.iter().map(Value::as_str).collect();
    let ids = ids.ok_or_else(|| ApiError::bad_json("devices must be a list of strings"))?;
    let mut store = app.store();
    require_password(&store, &authed.session.user, auth_of(&object))?;
    for device in ids.into_iter().filter_map(DeviceId::from_client) {
        let session = Session {
            user: authed.session.user.clone(),
            device,
        };
        store.delete_device(&session, deletion_spare(&app));
    }
    Ok(Json(json!({})))
}
