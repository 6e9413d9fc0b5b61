//! The Matrix client-server requests the harness makes on its own behalf (probing, provisioning, clean-up)
//! and the ones the case actions stand for: one place for their paths and bodies.

use serde_json::{Value, json};

use crate::http::{Method, Outgoing};

pub const LOGIN_PATH: &str = "/_matrix/client/v3/login";
pub const REFRESH_PATH: &str = "/_matrix/client/v3/refresh";
pub const REGISTER_PATH: &str = "/_matrix/client/v3/register";
pub const LOGOUT_PATH: &str = "/_matrix/client/v3/logout";
pub const WHOAMI_PATH: &str = "/_matrix/client/v3/account/whoami";

/// The body of a password login as a user identifier; the caller adds `refresh_token` and `device_id`.
pub fn password_login(localpart: &str, password: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": user_identifier(localpart),
        "password": password,
    })
}

/// The body of an application service's login as one of its users (sent with the service's `as_token`).
pub fn appservice_login(localpart: &str) -> Value {
    json!({"type": "m.login.application_service", "identifier": user_identifier(localpart)})
}

fn user_identifier(localpart: &str) -> Value {
    json!({"type": "m.id.user", "user": localpart})
}

/// `POST /refresh`: no Authorization header, "this endpoint does not require authentication via an access
/// token".
pub fn refresh(refresh_token: &str) -> Outgoing {
    Outgoing::new(Method::Post, REFRESH_PATH).json(json!({"refresh_token": refresh_token}))
}

/// `POST /logout` of the session the access token belongs to.
pub fn logout(access_token: &str) -> Outgoing {
    Outgoing::new(Method::Post, LOGOUT_PATH)
        .json(json!({}))
        .bearer(access_token)
}
