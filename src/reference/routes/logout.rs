//! `POST /logout` and `POST /logout/all` (logout.yaml). Both take an empty body (CS § API
//! Standards, v1.11).
//!
//! Logout deletes the device, and with it every access *and refresh* token bound to it: the spec
//! names only access tokens and devices, but refresh tokens are bound to the device
//! (device.binding.record), so a refresh token of a deleted device must not mint new access tokens
//! (logout.refresh-token-dead, derived; A15).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use crate::reference::app::App;
use crate::reference::auth::Authed;
use crate::reference::error::ApiError;
use crate::reference::fault::Fault;
use crate::reference::request::json_object_or_empty;
use crate::reference::rotation::Spare;

fn check_body(app: &App, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() && app.has(Fault::LogoutRequiresBody) {
        return Err(ApiError::not_json("A JSON request body is required"));
    }
    json_object_or_empty(body).map(drop)
}

pub(super) async fn logout(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_body(&app, &body)?;
    let mut store = app.store();
    if app.has(Fault::LogoutOnlyRevokesPresentedToken) {
        store.revoke_token(&authed.access_token);
    } else {
        let spare = if app.has(Fault::LogoutKeepsRefreshTokens) {
            Spare::RefreshTokens
        } else {
            Spare::Nothing
        };
        store.delete_device(&authed.session, spare);
        if app.has(Fault::LogoutEndsUsersRefreshTokens) {
            store.revoke_users_refresh_tokens(&authed.session.user);
        }
    }
    Ok(Json(json!({})))
}

pub(super) async fn logout_all(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_body(&app, &body)?;
    let mut store = app.store();
    if app.has(Fault::LogoutAllOnlyCurrentDevice) {
        store.delete_device(&authed.session, Spare::Nothing);
    } else {
        let spare = if app.has(Fault::LogoutAllKeepsRefreshTokens) {
            Spare::RefreshTokens
        } else {
            Spare::Nothing
        };
        store.delete_devices_except(&authed.session.user, None, spare);
    }
    Ok(Json(json!({})))
}
