//! The router: which endpoint is served by which handler, and the layers around them.

mod account;
mod devices;
mod discovery;
mod login;
mod logout;
mod oauth;
mod refresh;
mod register;
mod rooms;
mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};

use crate::reference::app::App;
use crate::reference::fault::Fault;
use crate::reference::request::BODY_LIMIT;
use crate::reference::{cors, present};

const V3: &str = "/_matrix/client/v3";

/// Where `/refresh` is served, if anywhere.
fn refresh_path(app: &App) -> Option<String> {
    if app.has(Fault::NoRefreshTokens) {
        None
    } else if app.has(Fault::RefreshEndpointV1Only) {
        Some("/_matrix/client/v1/refresh".to_owned())
    } else {
        Some(format!("{V3}/refresh"))
    }
}

pub(crate) fn router(app: App) -> Router {
    let mut router = Router::new().route("/_matrix/client/versions", get(discovery::versions));
    // An OAuth-only server has no legacy login, registration or /refresh: they are unknown
    // endpoints (auth.discovery.404-unrecognized).
    if !app.has(Fault::OauthOnly) {
        router = router
            .route(
                &format!("{V3}/login"),
                get(discovery::login_flows).post(login::login),
            )
            .route(&format!("{V3}/register"), post(register::register));
    }
    router = router
        .route(&format!("{V3}/account/whoami"), get(account::whoami))
        .route(
            &format!("{V3}/account/password"),
            post(account::change_password),
        )
        .route(
            &format!("{V3}/account/deactivate"),
            post(account::deactivate),
        )
        .route(&format!("{V3}/logout"), post(logout::logout))
        .route(&format!("{V3}/logout/all"), post(logout::logout_all))
        .route(&format!("{V3}/devices"), get(devices::list))
        .route(
            &format!("{V3}/devices/{{device_id}}"),
            get(devices::get_one).delete(devices::delete_one),
        )
        .route(&format!("{V3}/delete_devices"), post(devices::delete_many))
        .route(&format!("{V3}/createRoom"), post(rooms::create))
        .route(
            &format!("{V3}/rooms/{{room_id}}/send/{{event_type}}/{{txn_id}}"),
            put(rooms::send),
        )
        .route(
            &format!("{V3}/rooms/{{room_id}}/messages"),
            get(rooms::messages),
        );
    if let Some(path) = refresh_path(&app).filter(|_| !app.has(Fault::OauthOnly)) {
        router = router.route(&path, post(refresh::refresh));
    }
    if app.has(Fault::NoOauthWrongErrcode) {
        router = router.route(
            "/_matrix/client/v1/auth_metadata",
            get(discovery::auth_metadata_not_found),
        );
    } else if !app.has(Fault::NoOauth) && !app.has(Fault::NoExpiresInMs) {
        // Access tokens that never expire are the legacy API's choice (A11); the OAuth 2.0 API requires
        // short-lived ones, so a server making that choice is one without it.
        router = router
            .route(
                "/_matrix/client/v1/auth_metadata",
                get(oauth::auth_metadata),
            )
            .route(oauth::REGISTRATION, post(oauth::register_client))
            .route(oauth::AUTHORIZATION, get(oauth::authorize))
            .route(oauth::TOKEN, post(oauth::token))
            .route(
                oauth::DEVICE_AUTHORIZATION,
                post(oauth::device_authorization),
            )
            .route(oauth::VERIFICATION, get(oauth::verify))
            .route(oauth::REVOCATION, post(oauth::revoke));
    }
    router
        .fallback(discovery::unknown_endpoint)
        .method_not_allowed_fallback(discovery::wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(app.clone(), present::layer))
        .layer(from_fn_with_state(app.clone(), cors::layer))
        .with_state(app)
}
