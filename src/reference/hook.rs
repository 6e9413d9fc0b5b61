//! A hook around every exchange of the reference homeserver, for client mode
//! (`refresh-conformance serve`): it sees each request and response whole, and may answer in the
//! server's place or keep a processed response from reaching the client.
//!
//! The server itself stays faithful; the hook decides the adversities (an early soft logout, a
//! destroyed session, a lost `/refresh` response) and records the traffic to judge the client by.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::reference::request::BODY_LIMIT;

/// A request as the client sent it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// When the request arrived (its body read).
    pub received: std::time::Instant,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A response as the server produced it.
#[derive(Debug, Clone)]
pub struct SeenResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

/// An answer the hook gives instead of the server: a status and a JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

/// What becomes of a response the server produced.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The client gets it.
    Deliver,
    /// The client gets this instead (the server's work stays done).
    Replace(Answer),
    /// The connection is closed before any byte of the response is sent.
    Lose,
}

/// Installed with [`ReferenceServer::serve`](crate::reference::ReferenceServer::serve).
pub trait Hook: Send + Sync + 'static {
    /// Before routing: `Some` answers in the server's place (the server never sees the request).
    fn before(&self, request: &SeenRequest) -> Option<Answer>;
    /// After the server answered (`before` returned `None`).
    fn after(&self, request: &SeenRequest, response: &SeenResponse) -> Delivery;
}

pub(crate) type SharedHook = Arc<dyn Hook>;

/// A body that fails at once: hyper then closes the connection without writing the response.
fn lost() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "response lost on purpose",
        ))
    });
    Response::new(Body::from_stream(failing))
}

fn answer(answer: Answer) -> Response {
    (answer.status, axum::Json(answer.body)).into_response()
}

pub(crate) async fn layer(
    State(hook): State<SharedHook>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        // Too large or broken: let the server give its own error, unrecorded.
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let seen = SeenRequest {
        received: std::time::Instant::now(),
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    if let Some(given) = hook.before(&seen) {
        return answer(given);
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let produced = SeenResponse {
        status: parts.status,
        body: body.clone(),
    };
    match hook.after(&seen, &produced) {
        Delivery::Deliver => Response::from_parts(parts, Body::from(body)),
        Delivery::Replace(given) => answer(given),
        Delivery::Lose => lost(),
    }
}
