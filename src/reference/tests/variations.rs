//! Allowed variations: each behaves as described. That none of them fails a clause is the mutation
//! matrix's to show (`tests/suite/mutation.rs`), through the cases.

use reqwest::StatusCode;
use serde_json::json;

use super::Hs;
use crate::reference::Fault;

#[tokio::test]
async fn old_access_token_revoked_at_refresh() {
    let hs = Hs::with_fault(Fault::OldAccessTokenRevokedAtRefresh).await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    assert_eq!(hs.refresh(&rt0).await.status, StatusCode::OK);
    assert!(hs.probe(&login.access).await.is_unknown_token(false));
    // The retry window is untouched.
    assert_eq!(hs.refresh(&rt0).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_unasked() {
    let hs = Hs::with_fault(Fault::RefreshTokensUnasked).await;
    let (_, login) = hs.session(false).await;
    assert!(login.refresh.is_some());
    assert_eq!(login.expires_in_ms, Some(300));
}

#[tokio::test]
async fn no_rotation() {
    let hs = Hs::with_fault(Fault::NoRotation).await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    let first = hs.refresh(&rt0).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.get("refresh_token").is_none());
    assert_eq!(
        hs.probe(first.str("access_token").unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(hs.refresh(&rt0).await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_refresh_tokens() {
    let hs = Hs::with_fault(Fault::NoRefreshTokens).await;
    let (_, login) = hs.session(true).await;
    assert_eq!((login.refresh, login.expires_in_ms), (None, None));
    let reply = hs
        .post(
            "/_matrix/client/v3/refresh",
            None,
            json!({"refresh_token": "x"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.errcode()),
        (StatusCode::NOT_FOUND, Some("M_UNRECOGNIZED"))
    );
}

#[tokio::test]
async fn replay_ends_session() {
    let hs = Hs::with_fault(Fault::ReplayEndsSession).await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    let first = hs.refresh(&rt0).await;
    let (at1, rt1) = (
        first.str("access_token").unwrap(),
        first.str("refresh_token").unwrap(),
    );
    assert_eq!(hs.probe(at1).await.status, StatusCode::OK);
    assert!(hs.refresh(&rt0).await.is_unknown_token(false));
    assert!(hs.probe(at1).await.is_unknown_token(false));
    assert!(hs.refresh(rt1).await.is_unknown_token(false));
}

#[tokio::test]
async fn unused_branch_kept() {
    let hs = Hs::with_fault(Fault::UnusedBranchKept).await;
    let (_, login) = hs.session(true).await;
    let rt0 = login.refresh.unwrap();
    let first = hs.refresh(&rt0).await;
    let second = hs.refresh(&rt0).await;
    assert_eq!(
        hs.probe(second.str("access_token").unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hs.probe(first.str("access_token").unwrap()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hs.refresh(first.str("refresh_token").unwrap()).await.status,
        StatusCode::OK
    );
    assert!(hs.refresh(&rt0).await.is_unknown_token(false));
}
