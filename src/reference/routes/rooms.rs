//! `POST /createRoom`, `PUT /rooms/{roomId}/send/{eventType}/{txnId}`, `GET
//! /rooms/{roomId}/messages`: the minimum for `txn.survives-refresh`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::reference::app::App;
use crate::reference::auth::Authed;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;
use crate::reference::request::{json_object, query_param};
use crate::reference::rooms::{NotInRoom, TxnKey, TxnScope};

fn not_in_room(_: NotInRoom) -> ApiError {
    ApiError::forbidden("You are not in this room")
}

pub(super) async fn create(
    State(app): State<App>,
    authed: Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    json_object(&body)?;
    let room_id = app.rooms().create(&authed.session.user);
    Ok(Json(json!({"room_id": room_id})))
}

pub(super) async fn send(
    State(app): State<App>,
    authed: Authed,
    Path((room_id, event_type, txn_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let content = json_object(&body)?;
    let scope = if app.has(Fault::TxnNotKeptAcrossRefresh) {
        TxnScope::AccessToken(authed.access_token.clone())
    } else {
        TxnScope::Device(authed.session.clone())
    };
    let key = TxnKey {
        scope,
        room_id,
        event_type,
        txn_id,
    };
    let event_id = app
        .rooms()
        .send(key, &authed.session, content)
        .map_err(not_in_room)?;
    Ok(Json(json!({"event_id": event_id})))
}

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 1000;

fn invalid_param(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrCode::InvalidParam, message)
}

pub(super) async fn messages(
    State(app): State<App>,
    authed: Authed,
    Path(room_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let backwards = match query_param(query.as_deref(), "dir").as_deref() {
        None | Some("b") => true,
        Some("f") => false,
        Some(_) => return Err(invalid_param("dir must be b or f")),
    };
    let limit = match query_param(query.as_deref(), "limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<usize>()
            .map_err(|_| invalid_param("limit must be a non-negative integer"))?
            .min(MAX_LIMIT),
    };
    let chunk = app
        .rooms()
        .messages(&room_id, &authed.session, backwards, limit)
        .map_err(not_in_room)?;
    Ok(Json(json!({"chunk": chunk, "start": "s0"})))
}
