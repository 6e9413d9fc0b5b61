//! The general rules: CORS and OPTIONS, errors, JSON bodies, versions, registration, rate limits,
//! transaction ids.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Body, Hs};
use crate::reference::{Fault, ReferenceConfig, ReferenceServer};

#[tokio::test]
async fn options_runs_no_endpoint_logic() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    let body = Body::Raw(
        json!({"refresh_token": rt0}).to_string().into_bytes(),
        Some("application/json"),
    );
    let options = hs
        .send(Method::OPTIONS, "/_matrix/client/v3/refresh", None, body)
        .await;
    assert_eq!(options.status, StatusCode::OK);
    assert_eq!(options.body, json!({}));
    assert_eq!(options.headers["access-control-allow-origin"], "*");
    // Nothing was rotated: RT0 has no successor, so after a real refresh and a use of its access
    // token, RT0 is revoked exactly as usual.
    let refreshed = hs.refresh(&rt0).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_eq!(
        hs.probe(refreshed.str("access_token").unwrap())
            .await
            .status,
        StatusCode::OK
    );
    assert!(hs.refresh(&rt0).await.is_unknown_token(false));
    // OPTIONS on any path, even unknown ones or ones needing authentication.
    for path in [
        "/_matrix/client/v3/logout",
        "/nowhere",
        "/_matrix/client/v3/account/whoami",
    ] {
        let reply = hs.send(Method::OPTIONS, path, None, Body::None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    assert_eq!(hs.probe(&login.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_headers_on_every_response() {
    let hs = Hs::faithful().await;
    for reply in [
        hs.get("/_matrix/client/versions", None).await,
        hs.refresh("nope").await,
        hs.get("/_matrix/client/v3/account/whoami", None).await,
    ] {
        assert_eq!(reply.headers["access-control-allow-origin"], "*");
        assert_eq!(
            reply.headers["access-control-allow-methods"],
            "GET, POST, PUT, DELETE, OPTIONS"
        );
        assert_eq!(
            reply.headers["access-control-allow-headers"],
            "X-Requested-With, Content-Type, Authorization"
        );
        assert!(reply.content_type().starts_with("application/json"));
    }
}

#[tokio::test]
async fn versions_and_login_flows() {
    let hs = Hs::faithful().await;
    let versions = hs.get("/_matrix/client/versions", None).await;
    let list: Vec<&str> = versions.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(list.first(), Some(&"v1.1"));
    assert_eq!(list.last(), Some(&"v1.19"));
    assert_eq!(list.len(), 19);
    assert!(versions.body["unstable_features"].is_object());
    let flows = hs.get("/_matrix/client/v3/login", None).await;
    assert_eq!(flows.body, json!({"flows": [{"type": "m.login.password"}]}));
}

#[tokio::test]
async fn unknown_endpoints_and_wrong_methods() {
    let hs = Hs::faithful().await;
    let wrong_method = hs.get("/_matrix/client/v3/refresh", None).await;
    assert_eq!(
        (wrong_method.status, wrong_method.errcode()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("M_UNRECOGNIZED"))
    );
    assert!(wrong_method.str("error").is_some());
    let allow = wrong_method
        .headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(allow.contains("POST"), "Allow: {allow}");
    let unknown = hs.get("/_matrix/client/v1/no_such_endpoint", None).await;
    assert_eq!(
        (unknown.status, unknown.errcode()),
        (StatusCode::NOT_FOUND, Some("M_UNRECOGNIZED"))
    );
}

#[tokio::test]
async fn presentation_faults_keep_other_headers() {
    let hs = Hs::with_fault(Fault::TextPlainErrors).await;
    let wrong_method = hs.get("/_matrix/client/v3/refresh", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.content_type().starts_with("text/plain"));
    assert!(wrong_method.headers.contains_key("allow"));
    assert_eq!(wrong_method.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn malformed_refresh_requests_are_4xx() {
    let hs = Hs::faithful().await;
    let path = "/_matrix/client/v3/refresh";
    let cases: [(Body, &str); 6] = [
        (
            Body::Raw(b"not json".to_vec(), Some("application/json")),
            "M_NOT_JSON",
        ),
        (Body::None, "M_NOT_JSON"),
        (Body::Json(json!([])), "M_NOT_JSON"),
        (Body::Json(json!({})), "M_MISSING_PARAM"),
        (Body::Json(json!({"refresh_token": 123})), "M_BAD_JSON"),
        (Body::Json(json!({"refresh_token": 1e300})), "M_BAD_JSON"),
    ];
    for (body, errcode) in cases {
        let reply = hs.send(Method::POST, path, None, body).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (StatusCode::BAD_REQUEST, Some(errcode)),
            "{:?}",
            reply.body
        );
    }
    let huge = Body::Raw(vec![b' '; 100 * 1024], Some("application/json"));
    let reply = hs.send(Method::POST, path, None, huge).await;
    assert_eq!(
        (reply.status, reply.errcode()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("M_TOO_LARGE"))
    );
    assert!(reply.content_type().starts_with("application/json"));
}

#[tokio::test]
async fn refresh_needs_no_content_type_and_ignores_authorization() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let body = json!({"refresh_token": login.refresh.unwrap()})
        .to_string()
        .into_bytes();
    let reply = hs
        .send(
            Method::POST,
            "/_matrix/client/v3/refresh",
            Some("garbage"),
            Body::Raw(body, None),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn access_tokens_in_header_or_query() {
    let hs = Hs::faithful().await;
    let (account, login) = hs.session(false).await;
    let by_query = hs
        .get(
            &format!(
                "/_matrix/client/v3/account/whoami?access_token={}",
                login.access
            ),
            None,
        )
        .await;
    assert_eq!(by_query.status, StatusCode::OK);
    assert_eq!(
        by_query.body,
        json!({"user_id": account.user_id, "device_id": login.device, "is_guest": false})
    );
    let missing = hs.get("/_matrix/client/v3/account/whoami", None).await;
    assert_eq!(
        (missing.status, missing.errcode()),
        (StatusCode::UNAUTHORIZED, Some("M_MISSING_TOKEN"))
    );
    assert!(hs.probe("garbage").await.is_unknown_token(false));
}

#[tokio::test]
async fn login_errors() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let login = |body: Value| hs.post("/_matrix/client/v3/login", None, body);
    let wrong =
        login(json!({"type": "m.login.password", "user": account.localpart, "password": "wrong"}))
            .await;
    assert_eq!(
        (wrong.status, wrong.errcode()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
    let deprecated = login(
        json!({"type": "m.login.password", "user": account.user_id, "password": super::PASSWORD}),
    );
    assert_eq!(deprecated.await.status, StatusCode::OK);
    let typed = login(
        json!({"type": "m.login.password", "user": account.localpart, "password": super::PASSWORD,
                             "refresh_token": "yes"}),
    );
    assert_eq!(typed.await.errcode(), Some("M_BAD_JSON"));
}

#[tokio::test]
async fn registration_with_uia_inhibit_login_and_guests() {
    let hs = Hs::faithful().await;
    let register = |body: Value| hs.post("/_matrix/client/v3/register", None, body);
    let challenge = register(json!({"username": "carol", "password": "pw"})).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.body["flows"],
        json!([{"stages": ["m.login.dummy"]}])
    );

    let session = challenge.str("session").unwrap().to_owned();
    let done = register(
        json!({"username": "carol", "password": "pw", "refresh_token": true, "device_id": "D1",
                               "auth": {"type": "m.login.dummy", "session": session}}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.str("user_id"), Some("@carol:localhost"));
    assert_eq!(done.str("device_id"), Some("D1"));
    assert!(done.body["expires_in_ms"].is_u64());
    assert_eq!(
        hs.refresh(done.str("refresh_token").unwrap()).await.status,
        StatusCode::OK
    );

    let taken = register(json!({"username": "carol", "auth": {"type": "m.login.dummy"}})).await;
    assert_eq!(
        (taken.status, taken.errcode()),
        (StatusCode::BAD_REQUEST, Some("M_USER_IN_USE"))
    );

    let inhibited = register(
        json!({"username": "dave", "inhibit_login": true, "refresh_token": true,
                                    "auth": {"type": "m.login.dummy"}}),
    )
    .await;
    assert_eq!(inhibited.body, json!({"user_id": "@dave:localhost"}));

    let guest = |body: Value| hs.post("/_matrix/client/v3/register?kind=guest", None, body);
    let plain = guest(json!({})).await;
    let asking = guest(
        json!({"refresh_token": true, "device_id": "SUITEDEV", "initial_device_display_name": "G"}),
    )
    .await;
    let keys = |reply: &super::Reply| {
        let mut keys: Vec<String> = reply.body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&plain), keys(&asking));
    assert!(asking.body.get("refresh_token").is_none());
    assert_ne!(asking.str("device_id"), Some("SUITEDEV"));
    let whoami = hs.probe(asking.str("access_token").unwrap()).await;
    assert_eq!(whoami.body["is_guest"], json!(true));
}

#[tokio::test]
async fn rate_limited_logins_say_when_to_retry() {
    let config = ReferenceConfig {
        login_rate_limit: Some(2),
        ..ReferenceConfig::default()
    };
    let hs = Hs::start(config).await;
    let body = json!({"type": "m.login.password", "user": "nobody", "password": "x"});
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let reply = hs
            .post("/_matrix/client/v3/login", None, body.clone())
            .await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(reply);
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let limited = limited.unwrap();
    assert_eq!(limited.errcode(), Some("M_LIMIT_EXCEEDED"));
    assert!(
        limited.body["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms <= 1000)
    );
    assert_eq!(limited.headers["retry-after"], "1");
    tokio::time::sleep(Duration::from_millis(
        limited.body["retry_after_ms"].as_u64().unwrap() + 50,
    ))
    .await;
    assert_eq!(
        hs.post("/_matrix/client/v3/login", None, body).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn transaction_ids_survive_a_refresh() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let room = hs
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&login.access),
            json!({}),
        )
        .await;
    let room_id = room.str("room_id").unwrap().to_owned();
    let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/suite-txn-1");
    let send = |token: String, text: &'static str| {
        let body = Body::Json(json!({"msgtype": "m.text", "body": text}));
        let path = path.clone();
        let hs = &hs;
        async move { hs.send(Method::PUT, &path, Some(&token), body).await }
    };
    let first = send(login.access.clone(), "one").await;
    let e1 = first.str("event_id").unwrap().to_owned();
    let refreshed = hs.refresh(login.refresh.as_deref().unwrap()).await;
    let again = send(refreshed.str("access_token").unwrap().to_owned(), "two").await;
    assert_eq!(again.str("event_id"), Some(e1.as_str()));
    let messages = hs
        .get(
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b"),
            Some(&login.access),
        )
        .await;
    let chunk = messages.body["chunk"].as_array().unwrap();
    let with_txn = chunk
        .iter()
        .filter(|e| e["unsigned"]["transaction_id"] == "suite-txn-1")
        .count();
    assert_eq!(with_txn, 1);
}

#[tokio::test]
async fn no_panic_on_odd_input() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let odd_bodies = [
        b"{\"type\": 5}".to_vec(),
        b"{\"type\": \"m.login.password\", \"identifier\": [], \"password\": {}}".to_vec(),
        b"{\"device_id\": 18446744073709551616999}".to_vec(),
        "[".repeat(5000).into_bytes(),
        vec![0xff, 0xfe, 0x00],
    ];
    let paths = [
        "/_matrix/client/v3/login",
        "/_matrix/client/v3/register",
        "/_matrix/client/v3/register?kind=guest",
        "/_matrix/client/v3/refresh",
        "/_matrix/client/v3/account/password",
        "/_matrix/client/v3/delete_devices",
        "/_matrix/client/v3/createRoom",
    ];
    for path in paths {
        for body in &odd_bodies {
            let reply = hs
                .send(
                    Method::POST,
                    path,
                    Some(&login.access),
                    Body::Raw(body.clone(), None),
                )
                .await;
            assert!(
                reply.status.is_client_error() || reply.status.is_success(),
                "{path}: {}",
                reply.status
            );
            assert!(
                reply.content_type().starts_with("application/json"),
                "{path}"
            );
        }
    }
    let bad_path = hs
        .get(
            "/_matrix/client/v3/rooms/%FF/messages?limit=-1",
            Some(&login.access),
        )
        .await;
    assert!(bad_path.status.is_client_error());
    assert!(bad_path.content_type().starts_with("application/json"));
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = ReferenceServer::start(ReferenceConfig::default())
        .await
        .unwrap();
    let base = server.base_url().to_owned();
    assert_eq!(
        base,
        format!("http://127.0.0.1:{}", server.local_addr().port())
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let versions = format!("{base}/_matrix/client/versions");
    assert_eq!(
        http.get(&versions).send().await.unwrap().status(),
        StatusCode::OK
    );
    drop(server);
    // The accept loop ends at the next poll; a fresh connection is then refused.
    let mut stopped = false;
    for _ in 0..50 {
        let fresh = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        if fresh.get(&versions).send().await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "the server still answers after being dropped");
}
