//! The token fields of login, registration and refresh responses.

use serde_json::{Map, Value, json};

use crate::reference::app::App;
use crate::reference::fault::Fault;
use crate::reference::rotation::Issued;

/// Whether to issue a refresh token: faithfully, exactly when the client asked (`refresh_token:
/// true`), which is how clients «indicate their support for refresh tokens» (CS § Refreshing access
/// tokens).
pub(super) fn wants_refresh(app: &App, asked: bool) -> bool {
    !app.has(Fault::NoRefreshTokens) && (asked || app.has(Fault::RefreshTokensUnasked))
}

/// `access_token` and `device_id`.
pub(super) fn insert_access(body: &mut Map<String, Value>, issued: &Issued) {
    body.insert("access_token".into(), json!(issued.access_token));
    body.insert("device_id".into(), json!(issued.session.device.as_str()));
}

/// `refresh_token` and `expires_in_ms`, when there are any.
pub(super) fn insert_refresh(app: &App, body: &mut Map<String, Value>, issued: &Issued) {
    if let Some(refresh_token) = &issued.refresh_token {
        body.insert("refresh_token".into(), json!(refresh_token));
    }
    if let Some(lifetime) = issued.expires_in {
        let ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
        let value = if app.has(Fault::ExpiresInSeconds) {
            json!(ms / 1000)
        } else if app.has(Fault::ExpiresInMsString) {
            json!(ms.to_string())
        } else {
            json!(ms)
        };
        body.insert("expires_in_ms".into(), value);
    }
}
