//! HTTP to the target: exactly the requests a case lists, no redirects, no retries except a `429` answered
//! with a wait the server asked for (within `--max-wait`), bounded bodies, secrets collected for redaction.
//! Every request goes through the run's [`Pacer`].

pub mod error;
pub mod pacer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::cause::Limit;
use crate::http::pacer::{Pacer, Turn};
use crate::redact::{Secrets, fingerprint};
use crate::transcript::{SentRequest, Transcript};

pub use error::HttpError;
use error::MAX_BODY;

/// The shortest wait before resending a rate-limited request.
const MIN_RETRY_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub request_timeout: Duration,
    /// The longest the harness will wait when a server rate-limits it.
    pub max_wait: Duration,
    /// The latest, from the start, that a request may still wait for its turn behind a rate limit.
    pub wait_budget: Option<Duration>,
    /// Who is told when the run starts a long wait for a rate limit.
    pub progress: pacer::Progress,
    pub insecure: bool,
}

/// The methods a case may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "OPTIONS")]
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// The lane of a request: the expensive kinds by their path, every other as an endpoint.
pub fn limit_of(method: Method, path: &str) -> Limit {
    let path = path.split('?').next().unwrap_or(path);
    if method != Method::Post {
        return Limit::Endpoint;
    }
    if path.ends_with("/login") {
        Limit::Login
    } else if path.ends_with("/register") {
        Limit::Registration
    } else if path.ends_with("/account/password") || path.ends_with("/account/deactivate") {
        Limit::Password
    } else {
        Limit::Endpoint
    }
}

/// A request as the runner wants it sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    /// Absolute path on the target, starting with `/`; may carry its own query string.
    pub path: String,
    /// An absolute URL instead of `path`: an OAuth 2.0 endpoint from the server's metadata, which may be on
    /// another host (only the origins of the discovered endpoints are allowed).
    pub url: Option<Url>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub body: Option<Body>,
    /// The pacing class when the path alone does not tell it (an application service's login).
    pub limit: Option<Limit>,
}

/// A request's body: as a case writes it (with `{{variables}}` still in it) and as it is sent.
#[derive(Debug, Clone)]
pub enum Body {
    /// Sent with `Content-Type: application/json`.
    Json(Value),
    /// Sent verbatim, with no Content-Type unless the request sets one.
    Raw(String),
    /// Sent as `application/x-www-form-urlencoded` (the OAuth 2.0 endpoints).
    Form(Vec<(String, String)>),
}

/// Form fields whose values are secrets (RFC 6749 and RFC 7636 parameters).
const SECRET_FORM_FIELDS: &[&str] = &[
    "token",
    "refresh_token",
    "access_token",
    "code",
    "code_verifier",
    "client_secret",
];

impl Outgoing {
    pub fn new(method: Method, path: impl Into<String>) -> Outgoing {
        Outgoing {
            method,
            path: path.into(),
            url: None,
            query: Vec::new(),
            headers: Vec::new(),
            bearer: None,
            body: None,
            limit: None,
        }
    }

    /// The pacing class of the request (see [`Limit`]).
    pub fn limit(&self) -> Limit {
        self.limit
            .unwrap_or_else(|| limit_of(self.method, &self.path))
    }

    /// A request to an absolute URL (an OAuth 2.0 endpoint).
    pub fn to_url(method: Method, url: Url) -> Outgoing {
        let mut out = Outgoing::new(method, url.path().to_owned());
        out.url = Some(url);
        out
    }

    pub fn form(mut self, fields: Vec<(String, String)>) -> Outgoing {
        self.body = Some(Body::Form(fields));
        self
    }

    pub fn json(mut self, body: Value) -> Outgoing {
        self.body = Some(Body::Json(body));
        self
    }

    pub fn bearer(mut self, token: impl Into<String>) -> Outgoing {
        self.bearer = Some(token.into());
        self
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is.
    pub json: Option<Value>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        self.json.as_ref()?.pointer(pointer)
    }

    pub fn errcode(&self) -> Option<&str> {
        self.pointer("/errcode")?.as_str()
    }

    /// `403 M_FORBIDDEN: "Registration is disabled"`: the summary and the server's own words, for messages.
    pub fn describe(&self) -> String {
        match self.pointer("/error").and_then(Value::as_str) {
            Some(error) if !error.is_empty() => format!("{}: {error:?}", self.summary()),
            _ => self.summary(),
        }
    }

    /// `401 M_UNKNOWN_TOKEN soft_logout=true`, for messages and observations.
    pub fn summary(&self) -> String {
        let mut out = self.status.to_string();
        if let Some(errcode) = self.errcode() {
            out.push(' ');
            out.push_str(errcode);
        }
        if let Some(soft) = self.pointer("/soft_logout") {
            out.push_str(&format!(" soft_logout={soft}"));
        }
        out
    }
}

/// One shared client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: Url,
    /// Origins besides the target's that requests may go to: those of the OAuth 2.0 endpoints.
    oauth_origins: Vec<url::Origin>,
    config: HttpConfig,
    pub secrets: Secrets,
    pub pacer: Arc<Pacer>,
}

impl Http {
    pub fn new(base: Url, config: HttpConfig, secrets: Secrets) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "matrix-refresh-conformance/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .timeout(config.request_timeout)
            // A redirect would carry tokens to wherever the server points; a Matrix API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            // A refresh token is single-use: the harness sends exactly the requests a case lists.
            .retry(reqwest::retry::never())
            .tls_danger_accept_invalid_certs(config.insecure)
            .build()
            .map_err(|e| e.to_string())?;
        let pacer = Arc::new(Pacer::new(
            config.max_wait,
            config.wait_budget,
            config.progress,
        ));
        Ok(Http {
            client,
            base,
            oauth_origins: Vec::new(),
            config,
            secrets,
            pacer,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Allows requests to these URLs' origins (the OAuth 2.0 endpoints the server advertised).
    pub fn allow_origins<'u>(&mut self, urls: impl IntoIterator<Item = &'u Url>) {
        for url in urls {
            let origin = url.origin();
            if origin.is_tuple() && !self.oauth_origins.contains(&origin) {
                self.oauth_origins.push(origin);
            }
        }
    }

    /// Sends one request when its turn comes (see [`Pacer`]); a `429` is waited out and resent, each wait
    /// within `--max-wait`.
    pub async fn send(
        &self,
        request: &Outgoing,
        transcript: &mut Transcript,
    ) -> Result<Response, HttpError> {
        let limit = request.limit();
        // Time in the queue is waiting, as much as a wait the server asked for: the case timeout skips it.
        let queued = transcript.clock().waiting();
        let mut turn = self.pacer.turn(limit, &request.path, transcript).await;
        drop(queued);
        self.send_in_turn(&mut turn, request, transcript).await
    }

    /// Sends one request in a turn the caller holds (so that requests that belong together, such as a nonce
    /// and the registration that uses it, are not separated by a queue).
    pub async fn send_in_turn(
        &self,
        turn: &mut Turn<'_>,
        request: &Outgoing,
        transcript: &mut Transcript,
    ) -> Result<Response, HttpError> {
        loop {
            turn.wait(transcript).await?;
            let sent = Instant::now();
            let timeout = turn.timeout(self.config.request_timeout);
            let response = match self.send_within(request, transcript, timeout).await {
                Err(e @ HttpError::Timeout(_)) => {
                    turn.timed_out();
                    return Err(e);
                }
                other => other?,
            };
            if response.status != 429 {
                turn.answered(sent.elapsed());
                return Ok(response);
            }
            // Without a hint, one second; never less than a tenth of one, so that `Retry-After: 0` does
            // not turn into a flood.
            let wait = retry_after(&response)
                .unwrap_or(Duration::from_secs(1))
                .max(MIN_RETRY_WAIT);
            turn.rate_limited(wait)?;
            transcript.note(&format!("rate-limited: the server asks to wait {wait:?}"));
        }
    }

    /// Sends once and returns whatever comes back, `429` included; not paced.
    pub async fn send_once(
        &self,
        request: &Outgoing,
        transcript: &mut Transcript,
    ) -> Result<Response, HttpError> {
        self.send_within(request, transcript, self.config.request_timeout)
            .await
    }

    async fn send_within(
        &self,
        request: &Outgoing,
        transcript: &mut Transcript,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let mut url = match &request.url {
            Some(url) => {
                let origin = url.origin();
                if origin != self.base.origin() && !self.oauth_origins.contains(&origin) {
                    return Err(HttpError::ForeignUrl(url.to_string()));
                }
                url.clone()
            }
            None => self.target_url(&request.path)?,
        };
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
            Method::Options => reqwest::Method::OPTIONS,
        };
        let mut builder = self.client.request(method, url.clone()).timeout(timeout);
        // The headers as the transcript shows them: the case's own, then what the harness adds.
        let mut shown_headers = request.headers.clone();
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(token) = &request.bearer {
            self.secrets.add(token);
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
            // Shown as its fingerprint whatever its length (short strings are not registered as secrets).
            shown_headers.push((
                AUTHORIZATION.as_str().to_owned(),
                format!("Bearer {}", fingerprint(token)),
            ));
        }
        let shown_body = match &request.body {
            Some(Body::Json(value)) => {
                self.secrets.add_from_json(value);
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(value.to_string());
                shown_headers.push((
                    CONTENT_TYPE.as_str().to_owned(),
                    "application/json".to_owned(),
                ));
                Some(value.to_string())
            }
            Some(Body::Raw(text)) => {
                if let Ok(value) = serde_json::from_str::<Value>(text) {
                    self.secrets.add_from_json(&value);
                }
                builder = builder.body(text.clone());
                Some(text.clone())
            }
            Some(Body::Form(fields)) => {
                for (name, value) in fields {
                    if SECRET_FORM_FIELDS.contains(&name.as_str()) {
                        self.secrets.add(value);
                    }
                }
                let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                builder = builder
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoded.clone());
                Some(encoded)
            }
            None => None,
        };
        transcript.request(
            &self.secrets,
            SentRequest {
                method: request.method.as_str().to_owned(),
                url: url.to_string(),
                headers: shown_headers,
                body: shown_body,
            },
        );
        let mut response = builder.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status().as_u16();
        let headers = header_list(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, timeout))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        // Decoded leniently: a body that is JSON but not valid UTF-8 is still checked for its content; the
        // encoding itself is json.utf8's business (an ambient check).
        let json = serde_json::from_slice::<Value>(&body)
            .ok()
            .or_else(|| serde_json::from_str(&String::from_utf8_lossy(&body)).ok());
        if let Some(json) = &json {
            self.secrets.add_from_json(json);
        }
        transcript.response(&self.secrets, status, &headers, &body);
        Ok(Response {
            status,
            headers,
            body,
            json,
        })
    }
}

impl Http {
    /// A path on the target; `//host/...` would be a network-path reference, and tokens must never go to
    /// another host.
    fn target_url(&self, path: &str) -> Result<Url, HttpError> {
        let bad_path = || HttpError::BadPath(path.to_owned());
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(bad_path());
        }
        let url = self.base.join(path).map_err(|_| bad_path())?;
        if url.origin() != self.base.origin() {
            return Err(bad_path());
        }
        Ok(url)
    }
}

fn classify(error: reqwest::Error, timeout: Duration) -> HttpError {
    let chain = error_chain(&error);
    if error.is_timeout() {
        HttpError::Timeout(timeout)
    } else if is_tls_failure(&chain) {
        HttpError::Tls(chain)
    } else if error.is_connect() {
        HttpError::Connect(chain)
    } else {
        HttpError::Other(chain)
    }
}

/// rustls reports certificate and handshake problems inside a connect error; only its words tell them apart.
fn is_tls_failure(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    [
        "certificate",
        "handshake",
        "unknownissuer",
        "received corrupt message",
        "peer sent",
        "alert",
    ]
    .iter()
    .any(|word| chain.contains(word))
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The wait a `429` asks for: the `Retry-After` header (seconds or an HTTP date, RFC 9110 §10.2.3), else
/// the deprecated `retry_after_ms`.
fn retry_after(response: &Response) -> Option<Duration> {
    if let Some(value) = response.header(RETRY_AFTER.as_str()).map(str::trim) {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            // A date already past asks for no wait at all.
            return Some(
                date.duration_since(std::time::SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    response
        .pointer("/retry_after_ms")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

/// `outer: inner: innermost`, so that "connection refused" is visible.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = inner.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests() {
        assert_eq!(
            limit_of(Method::Post, "/_matrix/client/v3/login"),
            Limit::Login
        );
        assert_eq!(
            limit_of(Method::Get, "/_matrix/client/v3/login"),
            Limit::Endpoint
        );
        assert_eq!(
            limit_of(Method::Post, "/_matrix/client/v3/register?kind=user"),
            Limit::Registration
        );
        assert_eq!(
            limit_of(Method::Post, "/_synapse/admin/v1/register"),
            Limit::Registration
        );
        assert_eq!(
            limit_of(Method::Post, "/_matrix/client/v3/account/password"),
            Limit::Password
        );
        assert_eq!(
            limit_of(Method::Post, "/_matrix/client/v3/refresh"),
            Limit::Endpoint
        );
    }

    fn rate_limited(retry_after: &str) -> Response {
        Response {
            status: 429,
            headers: vec![("retry-after".to_owned(), retry_after.to_owned())],
            body: Vec::new(),
            json: None,
        }
    }

    #[test]
    fn retry_after_may_be_an_http_date() {
        let in_five = std::time::SystemTime::now() + Duration::from_secs(5);
        let wait = retry_after(&rate_limited(&httpdate::fmt_http_date(in_five))).unwrap();
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        let past = rate_limited("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&rate_limited("7")),
            Some(Duration::from_secs(7))
        );
    }
}
