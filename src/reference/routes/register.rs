//! `POST /register` (registration.yaml): guests, and users with the `m.login.dummy` UIA stage.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::login::requested_device;
use super::tokens::{insert_access, insert_refresh, wants_refresh};
use crate::reference::app::App;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;
use crate::reference::ids::{UserId, new_refresh_token, random_alphanumeric};
use crate::reference::request::{json_object, query_param, typed};
use crate::reference::state::{Store, UserInUse};
use crate::reference::uia::{UiaRejection, require_dummy};

#[derive(Deserialize)]
struct RegisterRequest {
    username: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
    inhibit_login: Option<bool>,
    refresh_token: Option<bool>,
    auth: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AccountKind {
    User,
    Guest,
}

fn account_kind(query: Option<&str>) -> Result<AccountKind, ApiError> {
    match query_param(query, "kind").as_deref() {
        None | Some("user") => Ok(AccountKind::User),
        Some("guest") => Ok(AccountKind::Guest),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrCode::InvalidParam,
            "kind must be user or guest",
        )),
    }
}

fn user_in_use() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrCode::UserInUse,
        "User ID already taken",
    )
}

/// A user id nobody has, with `prefix`.
fn unused_user_id(store: &Store, prefix: &str) -> UserId {
    loop {
        let localpart = format!("{prefix}{}", random_alphanumeric(12).to_ascii_lowercase());
        if let Some(user) =
            UserId::from_localpart(&localpart).filter(|user| !store.user_exists(user))
        {
            return user;
        }
    }
}

pub(super) async fn register(
    State(app): State<App>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, UiaRejection> {
    let kind = account_kind(query.as_deref())?;
    app.check_login_rate()?;
    let object = json_object(&body)?;
    let body = match kind {
        AccountKind::Guest => register_guest(&app, &object),
        AccountKind::User => {
            if app.has(Fault::RegisterRejectsRefreshTokenField)
                && object.contains_key("refresh_token")
            {
                return Err(ApiError::bad_json("Unknown field: refresh_token").into());
            }
            register_user(&app, typed(object)?)?
        }
    };
    Ok(Json(Value::Object(body)))
}

/// «When registering a guest account, all parameters in the request body with the exception of
/// `initial_device_display_name` MUST BE ignored by the server. The server MUST pick a `device_id`
/// for the account regardless of input.» So a guest's `refresh_token: true` is ignored too
/// (register.guest.params-ignored).
fn register_guest(app: &App, object: &Map<String, Value>) -> Map<String, Value> {
    let display_name = object
        .get("initial_device_display_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let asked = object.get("refresh_token") == Some(&Value::Bool(true));
    let with_refresh = wants_refresh(app, app.has(Fault::GuestHonoursRefreshToken) && asked);
    let issued = {
        let mut store = app.store();
        let user = unused_user_id(&store, "guest");
        // The user id was just checked to be free, under the same lock.
        let _ = store.register(&user, None, true);
        let opened = store.open_device(&user, None, display_name);
        store.issue(&opened.session, with_refresh)
    };
    let mut body = Map::new();
    body.insert("user_id".into(), json!(issued.session.user.as_str()));
    insert_access(&mut body, &issued);
    insert_refresh(app, &mut body, &issued);
    body
}

fn register_user(app: &App, request: RegisterRequest) -> Result<Map<String, Value>, UiaRejection> {
    let user = match &request.username {
        Some(name) => Some(
            UserId::from_localpart(&name.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrCode::InvalidUsername,
                    "Invalid characters in username",
                )
            })?,
        ),
        None => None,
    };
    // Like Synapse, report a taken name before asking for authentication.
    if user
        .as_ref()
        .is_some_and(|user| app.store().user_exists(user))
    {
        return Err(user_in_use().into());
    }
    require_dummy(request.auth.as_ref())?;
    let requested =
        requested_device(request.device_id)?.filter(|_| !app.has(Fault::RegisterIgnoresDeviceId));
    let inhibit_login = request.inhibit_login == Some(true);
    let with_refresh = wants_refresh(app, request.refresh_token == Some(true));

    let mut store = app.store();
    let user = user.unwrap_or_else(|| unused_user_id(&store, "user"));
    store
        .register(&user, request.password, false)
        .map_err(|UserInUse| user_in_use())?;
    let mut body = Map::new();
    body.insert("user_id".into(), json!(user.as_str()));

    // «If true, an access_token and device_id should not be returned from this call»; refresh_token
    // and expires_in_ms are «Omitted if the inhibit_login option is true».
    if inhibit_login && app.has(Fault::InhibitLoginReturnsRefreshToken) && with_refresh {
        // The fields of a login that did not happen: nothing is recorded.
        body.insert("refresh_token".into(), json!(new_refresh_token()));
        if let Some(lifetime) = app.access_token_lifetime() {
            let ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
            body.insert("expires_in_ms".into(), json!(ms));
        }
    }
    let returns_access = !inhibit_login || app.has(Fault::InhibitLoginReturnsAccessToken);
    if app.has(Fault::RegisterWithoutAccessToken) || !returns_access {
        return Ok(body);
    }
    let opened = store.open_device(&user, requested, request.initial_device_display_name);
    let issued = store.issue(&opened.session, with_refresh && !inhibit_login);
    if app.has(Fault::RegisterRefreshTokenUnusable) {
        if let Some(refresh_token) = &issued.refresh_token {
            store.forget_token(refresh_token);
        }
    }
    insert_access(&mut body, &issued);
    insert_refresh(app, &mut body, &issued);
    Ok(body)
}
