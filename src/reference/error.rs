//! Standard error responses (CS § Standard error response) and how they are rendered.
//!
//! Handlers return an [`ApiError`]; [`render`] turns it into `{"errcode", "error", ...}` JSON. The
//! rendering faults (no `error` field, `text/plain`, non-UTF-8, `soft_logout` as a string, no
//! `Retry-After`) are applied in one place, [`crate::reference::present`], by re-rendering with a
//! different [`Presentation`].

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The error codes this server uses (CS § Common error codes, § Other error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrCode {
    Forbidden,
    UnknownToken,
    MissingToken,
    BadJson,
    NotJson,
    NotFound,
    LimitExceeded,
    Unknown,
    Unrecognized,
    MissingParam,
    InvalidParam,
    TooLarge,
    UserInUse,
    InvalidUsername,
    UserDeactivated,
    /// Not a Matrix error code: [`Fault::ExpiredTokenOwnErrcode`](crate::reference::Fault) only.
    TokenExpired,
}

impl ErrCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrCode::Forbidden => "M_FORBIDDEN",
            ErrCode::UnknownToken => "M_UNKNOWN_TOKEN",
            ErrCode::MissingToken => "M_MISSING_TOKEN",
            ErrCode::BadJson => "M_BAD_JSON",
            ErrCode::NotJson => "M_NOT_JSON",
            ErrCode::NotFound => "M_NOT_FOUND",
            ErrCode::LimitExceeded => "M_LIMIT_EXCEEDED",
            ErrCode::Unknown => "M_UNKNOWN",
            ErrCode::Unrecognized => "M_UNRECOGNIZED",
            ErrCode::MissingParam => "M_MISSING_PARAM",
            ErrCode::InvalidParam => "M_INVALID_PARAM",
            ErrCode::TooLarge => "M_TOO_LARGE",
            ErrCode::UserInUse => "M_USER_IN_USE",
            ErrCode::InvalidUsername => "M_INVALID_USERNAME",
            ErrCode::UserDeactivated => "M_USER_DEACTIVATED",
            ErrCode::TokenExpired => "M_TOKEN_EXPIRED",
        }
    }
}

/// Extra keys some error codes define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extra {
    None,
    /// `M_UNKNOWN_TOKEN`'s `soft_logout` (CS § Soft logout): true = the session survives,
    /// re-authenticate.
    SoftLogout(bool),
    /// `M_LIMIT_EXCEEDED`: `retry_after_ms` in the body and the `Retry-After` header (CS § Rate
    /// limiting).
    RetryAfter(Duration),
}

/// A standard error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) errcode: ErrCode,
    pub(crate) message: String,
    pub(crate) extra: Extra,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        errcode: ErrCode,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            errcode,
            message: message.into(),
            extra: Extra::None,
        }
    }

    /// 401 `M_UNKNOWN_TOKEN` with an explicit `soft_logout`.
    pub(crate) fn unknown_token(message: impl Into<String>, soft_logout: bool) -> ApiError {
        ApiError {
            extra: Extra::SoftLogout(soft_logout),
            ..ApiError::new(StatusCode::UNAUTHORIZED, ErrCode::UnknownToken, message)
        }
    }

    pub(crate) fn missing_token() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrCode::MissingToken,
            "Missing access token",
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ErrCode::Forbidden, message)
    }

    pub(crate) fn bad_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrCode::BadJson, message)
    }

    pub(crate) fn not_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrCode::NotJson, message)
    }

    pub(crate) fn missing_param(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrCode::MissingParam,
            format!("Missing parameter: {name}"),
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrCode::NotFound, message)
    }

    /// 404 `M_UNRECOGNIZED`: the endpoint is not implemented (CS § Common error codes, v1.6).
    pub(crate) fn unrecognized_endpoint() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrCode::Unrecognized,
            "Unrecognized request",
        )
    }

    pub(crate) fn limit_exceeded(retry_after: Duration) -> ApiError {
        ApiError {
            extra: Extra::RetryAfter(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrCode::LimitExceeded,
                "Too many requests",
            )
        }
    }

    /// The error for a response that some layer produced without a body of ours (an axum
    /// rejection).
    pub(crate) fn for_bare_status(status: StatusCode) -> ApiError {
        let errcode = match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => ErrCode::Unrecognized,
            StatusCode::PAYLOAD_TOO_LARGE => ErrCode::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrCode::NotJson,
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ErrCode::InvalidParam,
            _ => ErrCode::Unknown,
        };
        let reason = status.canonical_reason().unwrap_or("Error");
        ApiError::new(status, errcode, reason)
    }
}

/// How errors are written. [`Presentation::FAITHFUL`] follows the spec; the other settings are
/// faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Presentation {
    pub(crate) omit_error_field: bool,
    /// Bad-request errors (M_NOT_JSON, M_BAD_JSON, M_MISSING_PARAM) carry no errcode.
    pub(crate) omit_bad_request_errcode: bool,
    pub(crate) text_plain: bool,
    pub(crate) latin1_message: bool,
    pub(crate) soft_logout_as_string: bool,
    pub(crate) omit_retry_after_header: bool,
}

impl Presentation {
    pub(crate) const FAITHFUL: Presentation = Presentation {
        omit_error_field: false,
        omit_bad_request_errcode: false,
        text_plain: false,
        latin1_message: false,
        soft_logout_as_string: false,
        omit_retry_after_header: false,
    };
}

/// Renders `error` as a standard error response; the response carries the `ApiError` in its
/// extensions so a later layer can render it again differently.
pub(crate) fn render(error: &ApiError, presentation: Presentation) -> Response {
    let mut body = Map::new();
    let bad_request = matches!(
        error.errcode,
        ErrCode::NotJson | ErrCode::BadJson | ErrCode::MissingParam
    );
    if !(presentation.omit_bad_request_errcode && bad_request) {
        body.insert("errcode".into(), json!(error.errcode.as_str()));
    }
    if !presentation.omit_error_field {
        let mut message = error.message.clone();
        if presentation.latin1_message {
            // Encoded below as the single Latin-1 byte 0xE9, which is not valid UTF-8.
            message.push_str(" (\u{e9})");
        }
        body.insert("error".into(), json!(message));
    }
    match error.extra {
        Extra::None => {}
        Extra::SoftLogout(soft) => {
            let value = if presentation.soft_logout_as_string {
                json!(soft.to_string())
            } else {
                json!(soft)
            };
            body.insert("soft_logout".into(), value);
        }
        Extra::RetryAfter(wait) => {
            body.insert(
                "retry_after_ms".into(),
                json!(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            );
        }
    }
    let mut bytes = Value::Object(body).to_string().into_bytes();
    if presentation.latin1_message {
        bytes = replace_utf8_e_acute_with_latin1(&bytes);
    }
    let content_type = if presentation.text_plain {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    let mut response =
        (error.status, [(header::CONTENT_TYPE, content_type)], bytes).into_response();
    if let Extra::RetryAfter(wait) = error.extra {
        if !presentation.omit_retry_after_header {
            // `Retry-After` is in whole seconds (RFC 9110 § 10.2.3); round up so clients never
            // retry early.
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
    }
    response.extensions_mut().insert(error.clone());
    response
}

fn replace_utf8_e_acute_with_latin1(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(&[0xC3, 0xA9]) {
            out.push(0xE9);
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        render(&self, Presentation::FAITHFUL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn faithful_rendering() {
        let response = ApiError::unknown_token("Unknown token", false).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body: Value = serde_json::from_slice(&body_of(response).await).unwrap();
        assert_eq!(
            body,
            json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown token", "soft_logout": false})
        );
    }

    #[tokio::test]
    async fn rate_limit_rendering() {
        let response = ApiError::limit_exceeded(Duration::from_millis(1200)).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let body: Value = serde_json::from_slice(&body_of(response).await).unwrap();
        assert_eq!(body["retry_after_ms"], json!(1200));
        let quiet = Presentation {
            omit_retry_after_header: true,
            ..Presentation::FAITHFUL
        };
        let response = render(&ApiError::limit_exceeded(Duration::from_millis(1)), quiet);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn faulty_renderings() {
        let error = ApiError::unknown_token("Expired", true);
        let latin1 = render(
            &error,
            Presentation {
                latin1_message: true,
                ..Presentation::FAITHFUL
            },
        );
        let bytes = body_of(latin1).await;
        assert!(std::str::from_utf8(&bytes).is_err());
        assert!(bytes.contains(&0xE9));

        let string = render(
            &error,
            Presentation {
                soft_logout_as_string: true,
                ..Presentation::FAITHFUL
            },
        );
        let body: Value = serde_json::from_slice(&body_of(string).await).unwrap();
        assert_eq!(body["soft_logout"], json!("true"));

        let plain = render(
            &error,
            Presentation {
                text_plain: true,
                omit_error_field: true,
                ..Presentation::FAITHFUL
            },
        );
        assert!(
            plain.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let body: Value = serde_json::from_slice(&body_of(plain).await).unwrap();
        assert!(body.get("error").is_none());
    }
}
