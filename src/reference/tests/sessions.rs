//! What ends a session, and with it every access and refresh token of the device.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Body, Hs, wait_for_expiry};

#[tokio::test]
async fn logout_ends_every_token_of_the_device() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.clone().unwrap();
    let refreshed = hs.refresh(&rt0).await;
    let (at1, rt1) = (
        refreshed.str("access_token").unwrap(),
        refreshed.str("refresh_token").unwrap(),
    );

    let logout = hs
        .post("/_matrix/client/v3/logout", Some(at1), json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::OK);
    assert_eq!(logout.body, json!({}));
    // softlogout.false-means-destroyed: all four fail, none with soft_logout: true.
    assert!(hs.probe(at1).await.is_unknown_token(false));
    assert!(hs.probe(&login.access).await.is_unknown_token(false));
    assert!(hs.refresh(&rt0).await.is_unknown_token(false));
    assert!(hs.refresh(rt1).await.is_unknown_token(false));
}

#[tokio::test]
async fn logout_takes_an_empty_body_without_content_type() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let logout = hs
        .send(
            Method::POST,
            "/_matrix/client/v3/logout",
            Some(&login.access),
            Body::None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::OK, "{:?}", logout.body);
    assert!(hs.probe(&login.access).await.is_unknown_token(false));
    let garbage = Body::Raw(b"not json".to_vec(), None);
    let (_, other) = hs.session(false).await;
    let bad = hs
        .send(
            Method::POST,
            "/_matrix/client/v3/logout",
            Some(&other.access),
            garbage,
        )
        .await;
    assert_eq!(bad.errcode(), Some("M_NOT_JSON"));
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let s1 = hs.login(&account, true, None).await;
    let s2 = hs.login(&account, true, None).await;
    let (_, stranger) = hs.session(true).await;
    let reply = hs
        .send(
            Method::POST,
            "/_matrix/client/v3/logout/all",
            Some(&s1.access),
            Body::None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    for login in [&s1, &s2] {
        assert!(hs.probe(&login.access).await.is_unknown_token(false));
        assert!(
            hs.refresh(login.refresh.as_deref().unwrap())
                .await
                .is_unknown_token(false)
        );
    }
    assert_eq!(hs.probe(&stranger.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_device_ends_its_tokens() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let s1 = hs.login(&account, false, None).await;
    let s2 = hs.login(&account, true, None).await;

    // Without `auth`: the UIA challenge.
    let path = format!("/_matrix/client/v3/devices/{}", s2.device);
    let challenge = hs
        .send(Method::DELETE, &path, Some(&s1.access), Body::None)
        .await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.body["flows"],
        json!([{"stages": ["m.login.password"]}])
    );
    assert!(challenge.str("session").is_some());
    assert_eq!(hs.probe(&s2.access).await.status, StatusCode::OK);

    let deleted = hs.delete_device(&account, &s1.access, &s2.device).await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert!(hs.probe(&s2.access).await.is_unknown_token(false));
    assert!(
        hs.refresh(s2.refresh.as_deref().unwrap())
            .await
            .is_unknown_token(false)
    );
    assert_eq!(hs.device_ids(&s1.access).await, vec![s1.device.clone()]);
    let gone = hs.get(&path, Some(&s1.access)).await;
    assert_eq!(
        (gone.status, gone.errcode()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
}

#[tokio::test]
async fn password_change_ends_the_other_sessions_only() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let s1 = hs.login(&account, true, None).await;
    let s2 = hs.login(&account, true, None).await;

    let challenge = hs
        .post(
            "/_matrix/client/v3/account/password",
            Some(&s1.access),
            json!({"new_password": "x"}),
        )
        .await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);

    let changed = hs.change_password(&account, &s1.access, None).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert!(hs.probe(&s2.access).await.is_unknown_token(false));
    assert!(
        hs.refresh(s2.refresh.as_deref().unwrap())
            .await
            .is_unknown_token(false)
    );
    // «The homeserver SHOULD NOT revoke the access token provided in the request.» Its session goes
    // on.
    assert_eq!(hs.probe(&s1.access).await.status, StatusCode::OK);
    assert_eq!(
        hs.refresh(s1.refresh.as_deref().unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(hs.device_ids(&s1.access).await, vec![s1.device.clone()]);
}

#[tokio::test]
async fn password_change_without_logout_keeps_sessions() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let s1 = hs.login(&account, true, None).await;
    let s2 = hs.login(&account, true, None).await;
    assert_eq!(
        hs.change_password(&account, &s1.access, Some(false))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(hs.probe(&s2.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_device_id_replaces_its_tokens_but_keeps_the_device() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let first = hs.login(&account, true, Some("PHONE")).await;
    let second = hs.login(&account, true, Some("PHONE")).await;
    assert_eq!(second.device, "PHONE");
    assert!(hs.probe(&first.access).await.is_unknown_token(false));
    assert!(
        hs.refresh(first.refresh.as_deref().unwrap())
            .await
            .is_unknown_token(false)
    );
    assert_eq!(
        hs.probe(&second.access).await.str("device_id"),
        Some("PHONE")
    );
    assert_eq!(
        hs.device_ids(&second.access).await,
        vec!["PHONE".to_owned()]
    );
}

#[tokio::test]
async fn soft_logout_is_recovered_by_logging_in_to_the_same_device() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let login = hs.login(&account, true, None).await;
    wait_for_expiry(&login).await;
    assert!(hs.probe(&login.access).await.is_unknown_token(true));
    let again = hs.login(&account, false, Some(&login.device)).await;
    assert_eq!(again.device, login.device);
    assert_eq!(
        hs.device_ids(&again.access).await,
        vec![login.device.clone()]
    );
}

#[tokio::test]
async fn deactivation_ends_every_session_and_every_login() {
    let hs = Hs::faithful().await;
    let (account, login) = hs.session(true).await;
    let other = hs.login(&account, true, None).await;
    let path = "/_matrix/client/v3/account/deactivate";
    let challenge = hs.post(path, Some(&login.access), json!({})).await;
    assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
    assert!(challenge.str("session").is_some(), "{:?}", challenge.body);
    let auth = json!({"auth": {"type": "m.login.password", "password": super::PASSWORD,
                               "identifier": {"type": "m.id.user", "user": account.localpart}}});
    let done = hs.post(path, Some(&login.access), auth).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.str("id_server_unbind_result"), Some("no-support"));
    for session in [&login, &other] {
        assert!(hs.probe(&session.access).await.is_unknown_token(false));
        let refresh = session.refresh.as_deref().unwrap();
        assert!(hs.refresh(refresh).await.is_unknown_token(false));
    }
    let again = hs.login_reply(&account, false, None).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(again.errcode(), Some("M_USER_DEACTIVATED"));
}

/// The `*-keeps-refresh-tokens` faults do what they say and no more: the device is deleted and
/// stays deleted, even when its surviving refresh token is used.
#[tokio::test]
async fn a_surviving_refresh_token_does_not_bring_its_device_back() {
    use crate::reference::Fault;
    for fault in [
        Fault::LogoutKeepsRefreshTokens,
        Fault::LogoutAllKeepsRefreshTokens,
    ] {
        let hs = Hs::with_fault(fault).await;
        let (account, login) = hs.session(true).await;
        let witness = hs.login(&account, false, None).await;
        let path = match fault {
            Fault::LogoutKeepsRefreshTokens => "/_matrix/client/v3/logout",
            _ => "/_matrix/client/v3/logout/all",
        };
        let logout = hs.post(path, Some(&login.access), json!({})).await;
        assert_eq!(logout.status, StatusCode::OK, "{fault}");
        let refreshed = hs.refresh(login.refresh.as_deref().unwrap()).await;
        assert_eq!(
            refreshed.status,
            StatusCode::OK,
            "{fault}: the fault itself"
        );
        let at1 = refreshed.str("access_token").unwrap();
        let lister = match fault {
            Fault::LogoutKeepsRefreshTokens => witness.access.as_str(),
            _ => at1,
        };
        let devices = hs.device_ids(lister).await;
        assert!(
            !devices.contains(&login.device),
            "{fault}: the deleted device is listed again: {devices:?}"
        );
    }
}
