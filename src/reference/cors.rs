//! CORS (CS § Web Browser Clients).
//!
//! «Servers MUST expect that clients will approach them with `OPTIONS` requests … the server MUST
//! NOT perform any logic defined for the endpoints when approached with an `OPTIONS` request.» So
//! every `OPTIONS` request is answered here, before routing: `200 {}`, whatever the path or body.
//! The recommended headers go on every response.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::reference::app::App;
use crate::reference::fault::Fault;

const HEADERS: [(HeaderName, &str); 3] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, POST, PUT, DELETE, OPTIONS",
    ),
    (
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "X-Requested-With, Content-Type, Authorization",
    ),
];

pub(crate) async fn layer(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        if app.has(Fault::OptionsRunsLogic) {
            *request.method_mut() = Method::POST;
            next.run(request).await
        } else {
            Json(json!({})).into_response()
        }
    } else {
        next.run(request).await
    };
    if !app.has(Fault::NoCors) {
        for (name, value) in HEADERS {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    response
}
