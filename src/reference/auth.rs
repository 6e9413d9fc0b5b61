//! Access-token authentication (CS § Using access tokens).
//!
//! «Access tokens may be provided via a request header, using the Authentication Bearer scheme» or,
//! deprecated but still required in v1.11-v1.19 («Homeservers MUST support both methods.»), the
//! `access_token` query parameter. «When credentials are required but missing or invalid, the HTTP
//! call will return with a status of 401 and the error code, `M_MISSING_TOKEN` or `M_UNKNOWN_TOKEN`
//! respectively.»

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use crate::reference::app::App;
use crate::reference::error::{ApiError, ErrCode};
use crate::reference::fault::Fault;
use crate::reference::ids::Session;
use crate::reference::request::query_param;
use crate::reference::rotation::{AccessFailure, Cause};

/// A request authenticated by a live access token.
#[derive(Clone, Debug)]
pub(crate) struct Authed {
    pub(crate) session: Session,
    pub(crate) access_token: String,
}

/// The bearer token of the `Authorization` header, if the header is present and uses the Bearer
/// scheme.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The deprecated `?access_token=` query parameter (an empty value counts as none).
fn query_token(query: Option<&str>) -> Option<String> {
    query_param(query, "access_token").filter(|token| !token.is_empty())
}

/// The error for a refused access token.
pub(crate) fn access_error(app: &App, failure: AccessFailure) -> ApiError {
    match failure {
        AccessFailure::Unknown => ApiError::unknown_token("Unknown access token", false),
        // Superseded tokens (A1/A4) get `false` too: that token will never work again.
        AccessFailure::Revoked(Cause::Superseded) => {
            ApiError::unknown_token("Access token has been replaced", false)
        }
        // softlogout.false-means-destroyed: the session is gone, so `soft_logout` must not be
        // `true`.
        AccessFailure::Revoked(Cause::SessionEnded) => ApiError::unknown_token(
            "Access token has been revoked",
            app.has(Fault::SoftLogoutAfterLogout),
        ),
        AccessFailure::Expired if app.has(Fault::ExpiredTokenOwnErrcode) => ApiError {
            errcode: ErrCode::TokenExpired,
            ..ApiError::unknown_token("Access token has expired", true)
        },
        // expiry.expired-token-error: «M_UNKNOWN_TOKEN, preferably with soft_logout: true».
        AccessFailure::Expired => ApiError::unknown_token(
            "Access token has expired",
            !app.has(Fault::NoSoftLogoutOnExpiry),
        ),
    }
}

impl FromRequestParts<App> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let from_query = || {
            if app.has(Fault::QueryStringTokenRejected) {
                None
            } else {
                query_token(parts.uri.query())
            }
        };
        let Some(token) = bearer_token(&parts.headers).or_else(from_query) else {
            if app.has(Fault::MissingTokenAsUnknown) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrCode::UnknownToken,
                    "Missing access token",
                ));
            }
            return Err(ApiError::missing_token());
        };
        if app.has(Fault::NonAsciiAccessToken500) && !token.is_ascii() {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrCode::Unknown,
                "Internal server error",
            ));
        }
        let session = app
            .store()
            .authenticate(&token)
            .map_err(|failure| access_error(app, failure))?;
        Ok(Authed {
            session,
            access_token: token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer_token(&headers).as_deref(), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer_token(&headers).as_deref(), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            query_token(Some("a=1&access_token=x%2By")).as_deref(),
            Some("x+y")
        );
        assert_eq!(query_token(Some("access_token=")), None);
        assert_eq!(query_token(None), None);
    }
}
