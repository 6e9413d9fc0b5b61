//! HTTP-level tests of the reference homeserver: a started server, a `reqwest` client, and the
//! suite's helper vocabulary (`login`, `refresh`, `probe`) from the clause catalogue § 2.1.

mod protocol;
mod rotation;
mod sessions;
mod variations;

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Fault, ReferenceConfig, ReferenceServer};
use crate::reference::ids::random_alphanumeric;

/// The lifetime used by tests that wait for expiry.
pub(super) const SHORT_LIFETIME: Duration = Duration::from_millis(300);
/// How long past the advertised expiry a test waits.
pub(super) const MARGIN: Duration = Duration::from_millis(200);
pub(super) const PASSWORD: &str = "correct horse battery staple";

/// A response, fully read.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    /// The body as JSON (`Null` if it is not JSON).
    pub(super) body: Value,
}

impl Reply {
    pub(super) fn errcode(&self) -> Option<&str> {
        self.body.get("errcode").and_then(Value::as_str)
    }

    pub(super) fn str(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }

    /// `401 M_UNKNOWN_TOKEN` with `soft_logout` absent or as given.
    pub(super) fn is_unknown_token(&self, soft_logout: bool) -> bool {
        self.status == StatusCode::UNAUTHORIZED
            && self.errcode() == Some("M_UNKNOWN_TOKEN")
            && self
                .body
                .get("soft_logout")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                == soft_logout
    }

    pub(super) fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// What to send as a request body.
pub(super) enum Body {
    None,
    Json(Value),
    /// Bytes with an optional `Content-Type`.
    Raw(Vec<u8>, Option<&'static str>),
}

/// A registered user.
#[derive(Clone, Debug)]
pub(super) struct Account {
    pub(super) localpart: String,
    pub(super) user_id: String,
}

/// The tokens of one login.
#[derive(Clone, Debug)]
pub(super) struct Login {
    pub(super) access: String,
    pub(super) refresh: Option<String>,
    pub(super) device: String,
    pub(super) expires_in_ms: Option<u64>,
}

/// A started server and a client for it (no redirects, short timeouts).
pub(super) struct Hs {
    _server: ReferenceServer,
    base: String,
    http: reqwest::Client,
}

impl Hs {
    pub(super) async fn start(config: ReferenceConfig) -> Hs {
        let server = ReferenceServer::start(config)
            .await
            .expect("start the reference server");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .expect("build a client");
        Hs {
            base: server.base_url().to_owned(),
            _server: server,
            http,
        }
    }

    /// The faithful server with [`SHORT_LIFETIME`].
    pub(super) async fn faithful() -> Hs {
        Hs::start(ReferenceConfig {
            access_token_lifetime: Some(SHORT_LIFETIME),
            ..ReferenceConfig::default()
        })
        .await
    }

    pub(super) async fn with_fault(fault: Fault) -> Hs {
        Hs::start(ReferenceConfig {
            fault: Some(fault),
            access_token_lifetime: Some(SHORT_LIFETIME),
            ..Default::default()
        })
        .await
    }

    /// Sends a request; `path` is relative to the base URL and may carry a query.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(bytes, content_type) => {
                let request = request.body(bytes);
                match content_type {
                    Some(content_type) => request.header(CONTENT_TYPE, content_type),
                    None => request,
                }
            }
        };
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.bytes().await.expect("read the body").to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, Body::None).await
    }

    pub(super) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::POST, path, token, Body::Json(body)).await
    }

    /// A fresh user with [`PASSWORD`] (open registration, `m.login.dummy`, `inhibit_login`).
    pub(super) async fn register(&self) -> Account {
        let localpart = format!("u{}", random_alphanumeric(12).to_ascii_lowercase());
        let reply = self
            .post(
                "/_matrix/client/v3/register",
                None,
                json!({"username": localpart, "password": PASSWORD, "inhibit_login": true,
                       "auth": {"type": "m.login.dummy"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "register: {:?}", reply.body);
        Account {
            user_id: reply.str("user_id").expect("user_id").to_owned(),
            localpart,
        }
    }

    /// `POST /login` (the catalogue's `login(rt, device_id?)`).
    pub(super) async fn login_reply(
        &self,
        account: &Account,
        refresh: bool,
        device: Option<&str>,
    ) -> Reply {
        let mut body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": account.localpart},
            "password": PASSWORD,
            "refresh_token": refresh,
        });
        if let Some(device) = device {
            body["device_id"] = json!(device);
        }
        self.post("/_matrix/client/v3/login", None, body).await
    }

    pub(super) async fn login(
        &self,
        account: &Account,
        refresh: bool,
        device: Option<&str>,
    ) -> Login {
        let reply = self.login_reply(account, refresh, device).await;
        assert_eq!(reply.status, StatusCode::OK, "login: {:?}", reply.body);
        Login {
            access: reply.str("access_token").expect("access_token").to_owned(),
            refresh: reply.str("refresh_token").map(str::to_owned),
            device: reply.str("device_id").unwrap_or_default().to_owned(),
            expires_in_ms: reply.body.get("expires_in_ms").and_then(Value::as_u64),
        }
    }

    /// A new user, logged in.
    pub(super) async fn session(&self, refresh: bool) -> (Account, Login) {
        let account = self.register().await;
        let login = self.login(&account, refresh, None).await;
        (account, login)
    }

    /// `refresh(rt)`: JSON body, no `Authorization` header.
    pub(super) async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// `probe(at)`: `GET /account/whoami`.
    pub(super) async fn probe(&self, access_token: &str) -> Reply {
        self.get("/_matrix/client/v3/account/whoami", Some(access_token))
            .await
    }

    pub(super) async fn device_ids(&self, access_token: &str) -> Vec<String> {
        let reply = self
            .get("/_matrix/client/v3/devices", Some(access_token))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "devices: {:?}", reply.body);
        let devices = reply.body["devices"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        devices
            .iter()
            .filter_map(|d| d["device_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// `DELETE /devices/{device}` completing `m.login.password` UIA.
    pub(super) async fn delete_device(
        &self,
        account: &Account,
        access_token: &str,
        device: &str,
    ) -> Reply {
        let auth = json!({"auth": {"type": "m.login.password", "password": PASSWORD,
                                   "identifier": {"type": "m.id.user", "user": account.user_id}}});
        let path = format!("/_matrix/client/v3/devices/{device}");
        self.send(Method::DELETE, &path, Some(access_token), Body::Json(auth))
            .await
    }

    /// `POST /account/password` completing UIA; `logout_devices` left to its default when `None`.
    pub(super) async fn change_password(
        &self,
        account: &Account,
        access_token: &str,
        logout: Option<bool>,
    ) -> Reply {
        let mut body = json!({"new_password": PASSWORD,
                              "auth": {"type": "m.login.password", "password": PASSWORD,
                                       "identifier": {"type": "m.id.user", "user": account.localpart}}});
        if let Some(logout) = logout {
            body["logout_devices"] = json!(logout);
        }
        self.post(
            "/_matrix/client/v3/account/password",
            Some(access_token),
            body,
        )
        .await
    }
}

/// Waits until an access token with `expires_in_ms` (or [`SHORT_LIFETIME`]) has expired, plus
/// [`MARGIN`].
pub(super) async fn wait_for_expiry(login: &Login) {
    let lifetime = login
        .expires_in_ms
        .map_or(SHORT_LIFETIME, Duration::from_millis);
    tokio::time::sleep(lifetime + MARGIN).await;
}
