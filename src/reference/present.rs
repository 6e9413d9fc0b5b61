//! The last word on error responses: every error is a standard JSON error body, rendered with the
//! faults that concern presentation.
//!
//! Handlers render errors faithfully ([`ApiError`] into a response). This layer
//! - re-renders them when a presentation fault is on (`error-without-error-field`,
//!   `text-plain-errors`, `error-body-not-utf8`, `soft-logout-string`, `no-retry-after-header`), so
//!   those faults live in one place;
//! - replaces error responses produced by axum itself (extractor rejections, an oversized body:
//!   plain text) by a standard error body (error.standard-format, json.response-content-type).

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::reference::app::App;
use crate::reference::error::{ApiError, Presentation, render};
use crate::reference::fault::Fault;

fn presentation(app: &App) -> Presentation {
    Presentation {
        omit_error_field: app.has(Fault::ErrorWithoutErrorField),
        omit_bad_request_errcode: app.has(Fault::BadRequestErrorsWithoutErrcode),
        text_plain: app.has(Fault::TextPlainErrors),
        latin1_message: app.has(Fault::ErrorBodyNotUtf8),
        soft_logout_as_string: app.has(Fault::SoftLogoutString),
        omit_retry_after_header: app.has(Fault::NoRetryAfterHeader),
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Renders `error` in place of `original`, keeping the headers the new rendering does not decide on
/// (`Allow` on a 405, for one).
fn rerender(original: &Response, error: &ApiError, presentation: Presentation) -> Response {
    let mut fresh = render(error, presentation);
    for (name, value) in original.headers() {
        let decided = [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::RETRY_AFTER,
        ]
        .contains(name);
        if !decided && !fresh.headers().contains_key(name) {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

pub(crate) async fn layer(State(app): State<App>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let presentation = presentation(&app);
    match response.extensions().get::<ApiError>() {
        Some(error) if presentation != Presentation::FAITHFUL => {
            rerender(&response, error, presentation)
        }
        Some(_) => response,
        // A UIA challenge is JSON already; anything else came from axum.
        None if is_json(&response) => response,
        None => rerender(&response, &ApiError::for_bare_status(status), presentation),
    }
}
