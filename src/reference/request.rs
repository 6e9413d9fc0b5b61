//! Request bodies (JSON objects, with or without a `Content-Type` header) and query parameters.
//!
//! CS § API Standards: «All `POST` and `PUT` endpoints … require the client to supply a request
//! body containing a (potentially empty) JSON object. Clients should supply a `Content-Type` header
//! of `application/json` for all requests with JSON bodies, but this is not required.» So the
//! header is never checked (except by a fault).

use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::reference::error::ApiError;

/// The largest request body accepted (bigger ones get 413 `M_TOO_LARGE`).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The body as a JSON object: `M_NOT_JSON` if it is not JSON at all or not an object.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::not_json("Request body must be a JSON object")),
        Err(_) => Err(ApiError::not_json("Request body is not valid JSON")),
    }
}

/// Like [`json_object`], but an empty body counts as `{}` (`/logout`, `/logout/all` and
/// UIA-protected `DELETE`s take empty bodies: CS § API Standards exception list).
pub(crate) fn json_object_or_empty(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    json_object(bytes)
}

/// Deserialises a JSON object into `T`: wrong types or missing required fields are `M_BAD_JSON`.
pub(crate) fn typed<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_json(format!("Invalid request body: {e}")))
}

/// The first value of the query parameter `key`, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether the request declared a JSON body (`application/json`, any parameters, any case).
pub(crate) fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::error::ErrCode;
    use axum::http::HeaderValue;

    #[test]
    fn objects_only() {
        assert!(json_object(b"{}").unwrap().is_empty());
        assert_eq!(
            json_object(b"not json").unwrap_err().errcode,
            ErrCode::NotJson
        );
        assert_eq!(json_object(b"[1]").unwrap_err().errcode, ErrCode::NotJson);
        assert_eq!(json_object(b"").unwrap_err().errcode, ErrCode::NotJson);
        assert!(json_object_or_empty(b"").unwrap().is_empty());
        assert!(json_object_or_empty(b" \n").unwrap().is_empty());
        assert_eq!(
            json_object_or_empty(b"x").unwrap_err().errcode,
            ErrCode::NotJson
        );
        // Deep nesting and huge numbers are errors or values, never panics.
        let deep = "[".repeat(10_000);
        assert_eq!(
            json_object(deep.as_bytes()).unwrap_err().errcode,
            ErrCode::NotJson
        );
        assert_eq!(
            json_object(br#"{"n": 1e999999}"#).unwrap_err().errcode,
            ErrCode::NotJson
        );
        assert!(json_object(br#"{"n": 123456789012345678901234567890}"#).is_ok());
    }

    #[test]
    fn typed_errors_are_bad_json() {
        #[derive(serde::Deserialize)]
        struct Needs {
            #[allow(dead_code)]
            flag: bool,
        }
        let object = json_object(br#"{"flag": "yes"}"#).unwrap();
        assert_eq!(
            typed::<Needs>(object).err().unwrap().errcode,
            ErrCode::BadJson
        );
    }

    #[test]
    fn query_parameters() {
        assert_eq!(
            query_param(Some("a=1&kind=guest&kind=user"), "kind").as_deref(),
            Some("guest")
        );
        assert_eq!(
            query_param(Some("access_token=x%2By"), "access_token").as_deref(),
            Some("x+y")
        );
        assert_eq!(query_param(Some("a=1"), "kind"), None);
        assert_eq!(query_param(None, "kind"), None);
    }

    #[test]
    fn content_type_detection() {
        let mut headers = HeaderMap::new();
        assert!(!declares_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(declares_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!declares_json(&headers));
    }
}
