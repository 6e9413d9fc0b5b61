//! The faithful rotation rule, end to end: «The old refresh token remains valid until the new
//! access token or refresh token is used, at which point the old refresh token is revoked.»

use reqwest::StatusCode;

use super::{Hs, wait_for_expiry};

#[tokio::test]
async fn old_refresh_token_survives_until_a_successor_is_used() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.clone().expect("refresh token");

    let first = hs.refresh(&rt0).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let (at1, rt1) = (
        first.str("access_token").unwrap(),
        first.str("refresh_token").unwrap(),
    );
    assert_ne!(at1, login.access);
    assert_ne!(rt1, rt0);
    assert!(first.body["expires_in_ms"].is_u64());

    // Nothing of the first pair used: the retry after a lost response works...
    let second = hs.refresh(&rt0).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let (at2, rt2) = (
        second.str("access_token").unwrap(),
        second.str("refresh_token").unwrap(),
    );
    // ...and (A4, this server's choice) the first, unused pair is gone; only the latest pair works.
    assert!(hs.probe(at1).await.is_unknown_token(false));
    assert!(hs.refresh(rt1).await.is_unknown_token(false));

    // Using the new access token revokes the old refresh token.
    assert_eq!(hs.probe(at2).await.status, StatusCode::OK);
    assert!(hs.refresh(&rt0).await.is_unknown_token(false));
    // A1: the old access token stays valid until it expires.
    assert_eq!(hs.probe(&login.access).await.status, StatusCode::OK);
    // The latest refresh token goes on working.
    assert_eq!(hs.refresh(rt2).await.status, StatusCode::OK);
}

#[tokio::test]
async fn using_the_new_refresh_token_revokes_the_old_one() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    let first = hs.refresh(&rt0).await;
    let rt1 = first.str("refresh_token").unwrap();
    let second = hs.refresh(rt1).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let old = hs.refresh(&rt0).await;
    assert!(old.is_unknown_token(false), "{:?}", old.body);
    assert!(old.str("error").is_some());
    // Replaying the superseded token ends nothing else (A5, this server's choice).
    assert_eq!(
        hs.probe(second.str("access_token").unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hs.refresh(second.str("refresh_token").unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refreshed_tokens_stay_on_the_initial_device() {
    let hs = Hs::faithful().await;
    let account = hs.register().await;
    let login = hs.login(&account, true, Some("SUITEDEV")).await;
    assert_eq!(login.device, "SUITEDEV");
    let before = hs.device_ids(&login.access).await;
    let refreshed = hs.refresh(login.refresh.as_deref().unwrap()).await;
    let at1 = refreshed.str("access_token").unwrap();
    let probe = hs.probe(at1).await;
    assert_eq!(probe.str("device_id"), Some("SUITEDEV"));
    assert_eq!(probe.str("user_id"), Some(account.user_id.as_str()));
    assert_eq!(hs.device_ids(at1).await, before);
}

#[tokio::test]
async fn expiry_needs_a_refresh_not_a_new_login() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    assert_eq!(login.expires_in_ms, Some(300));
    assert_eq!(hs.probe(&login.access).await.status, StatusCode::OK);
    wait_for_expiry(&login).await;

    // expiry.expired-token-error: 401 M_UNKNOWN_TOKEN, soft_logout: true (the session survives).
    let expired = hs.probe(&login.access).await;
    assert!(expired.is_unknown_token(true), "{:?}", expired.body);
    // expiry.refresh-after-expiry: the refresh token still works, and so does the new access token.
    let refreshed = hs.refresh(login.refresh.as_deref().unwrap()).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_eq!(
        hs.probe(refreshed.str("access_token").unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_without_refresh_do_not_expire() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(false).await;
    assert_eq!(login.refresh, None);
    assert_eq!(login.expires_in_ms, None);
    wait_for_expiry(&login).await;
    assert_eq!(hs.probe(&login.access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_are_not_access_tokens_and_vice_versa() {
    let hs = Hs::faithful().await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    assert!(hs.probe(&rt0).await.is_unknown_token(false));
    assert!(hs.refresh(&login.access).await.is_unknown_token(false));
    let unknown = hs.refresh("mrc_rt_doesnotexist").await;
    assert!(unknown.is_unknown_token(false), "{:?}", unknown.body);
    assert!(unknown.content_type().starts_with("application/json"));
}
