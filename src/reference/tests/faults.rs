//! A small mutation matrix of the server itself: each fault has a probe (a black-box check of the
//! clause it breaks, as the catalogue § 2.2 describes it). The probe must hold on the faithful
//! server and be violated with the fault on; no probe may be violated by an allowed variation
//! (`variations.rs`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Body, Hs, MARGIN, PASSWORD, Reply};
use crate::reference::{Fault, ReferenceConfig};

/// Why a probe did not hold.
#[derive(Debug)]
pub(super) enum Finding {
    /// The clause is broken.
    Violated(String),
    /// A gate or precondition was not met (the suite would say skipped or error).
    NotApplicable(String),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Violated(why) => write!(f, "violated: {why}"),
            Finding::NotApplicable(why) => write!(f, "not applicable: {why}"),
        }
    }
}

pub(super) type Outcome = Result<(), Finding>;

/// Fails the probe: the clause does not hold.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(Finding::Violated(format!($($message)+)));
        }
    };
}

/// Checks a precondition, or gives up with `NotApplicable`.
macro_rules! require {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(Finding::NotApplicable(format!($($message)+)));
        }
    };
}

/// Unwraps a precondition, or gives up with `NotApplicable`.
macro_rules! need {
    ($option:expr, $($message:tt)+) => {
        match $option {
            Some(value) => value,
            None => return Err(Finding::NotApplicable(format!($($message)+))),
        }
    };
}

/// One black-box check per clause that some fault breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probe {
    RevokedAfterAccessUse,
    RevokedAfterRefreshUse,
    RetryWindow,
    UnknownRefresh401,
    RefreshTokenOptional,
    RefreshEndpoint,
    RefreshWithoutContentType,
    MalformedRefresh4xx,
    RefreshedAccessTokenWorks,
    RefreshSameDevice,
    RefreshAnyTime,
    ExpiresInMsInteger,
    ExpiresWhenAdvertised,
    AliveBeforeExpiry,
    ExpiredSoftLogout,
    RefreshAfterExpiry,
    SoftLogoutBoolean,
    LogoutDestroys,
    LogoutEmptyBody,
    LogoutAll,
    DeviceDelete,
    PasswordChange,
    DeviceReuse,
    ReloginListedOnce,
    LoginAcceptsRefreshField,
    LoginDeviceAssociation,
    LoginRequiredFields,
    InhibitLoginOmitsRefresh,
    InhibitLoginOmitsAccess,
    RegisterReturnsTokens,
    GuestIgnoresParams,
    TokenErrors,
    QueryStringToken,
    WhoamiDeviceId,
    TxnSurvivesRefresh,
    ErrorHasErrorField,
    ErrorContentTypeJson,
    ErrorUtf8,
    WrongMethod405,
    UnknownEndpointUnrecognized,
    CorsHeaders,
    OptionsNoLogic,
    RetryAfterHeader,
    RefreshGeneratesAccessToken,
    NewRefreshTokenIsNew,
    ExpiredTokenError,
    OtherDeviceKeepsRefreshToken,
    RegisterAcceptsRefreshField,
    RegisterDeviceAssociation,
    VersionsForm,
    OauthRefreshGrant,
}

impl Probe {
    pub(super) const ALL: &'static [Probe] = &[
        Probe::RevokedAfterAccessUse,
        Probe::RevokedAfterRefreshUse,
        Probe::RetryWindow,
        Probe::UnknownRefresh401,
        Probe::RefreshTokenOptional,
        Probe::RefreshEndpoint,
        Probe::RefreshWithoutContentType,
        Probe::MalformedRefresh4xx,
        Probe::RefreshedAccessTokenWorks,
        Probe::RefreshSameDevice,
        Probe::RefreshAnyTime,
        Probe::ExpiresInMsInteger,
        Probe::ExpiresWhenAdvertised,
        Probe::AliveBeforeExpiry,
        Probe::ExpiredSoftLogout,
        Probe::RefreshAfterExpiry,
        Probe::SoftLogoutBoolean,
        Probe::LogoutDestroys,
        Probe::LogoutEmptyBody,
        Probe::LogoutAll,
        Probe::DeviceDelete,
        Probe::PasswordChange,
        Probe::DeviceReuse,
        Probe::ReloginListedOnce,
        Probe::LoginAcceptsRefreshField,
        Probe::LoginDeviceAssociation,
        Probe::LoginRequiredFields,
        Probe::InhibitLoginOmitsRefresh,
        Probe::InhibitLoginOmitsAccess,
        Probe::RegisterReturnsTokens,
        Probe::GuestIgnoresParams,
        Probe::TokenErrors,
        Probe::QueryStringToken,
        Probe::WhoamiDeviceId,
        Probe::TxnSurvivesRefresh,
        Probe::ErrorHasErrorField,
        Probe::ErrorContentTypeJson,
        Probe::ErrorUtf8,
        Probe::WrongMethod405,
        Probe::UnknownEndpointUnrecognized,
        Probe::CorsHeaders,
        Probe::OptionsNoLogic,
        Probe::RetryAfterHeader,
        Probe::RefreshGeneratesAccessToken,
        Probe::NewRefreshTokenIsNew,
        Probe::ExpiredTokenError,
        Probe::OtherDeviceKeepsRefreshToken,
        Probe::RegisterAcceptsRefreshField,
        Probe::RegisterDeviceAssociation,
        Probe::VersionsForm,
        Probe::OauthRefreshGrant,
    ];

    /// The probe that catches `fault` (None for allowed variations).
    fn catching(fault: Fault) -> Option<Probe> {
        use Fault as F;
        Some(match fault {
            F::OldRefreshNeverRevoked
            | F::OldRefreshSurvivesAccessUse
            | F::UsedRefreshForbidden => Probe::RevokedAfterAccessUse,
            F::RefreshedRefreshTokenConsumed => Probe::RevokedAfterRefreshUse,
            F::OldRefreshRevokedAtOnce => Probe::RetryWindow,
            F::UnknownRefreshWrongStatus => Probe::UnknownRefresh401,
            F::NoRotationOldRevoked => Probe::RefreshTokenOptional,
            F::RefreshEndpointV1Only
            | F::RefreshRequiresAccessToken
            | F::RefreshWithoutAuthForbidden => Probe::RefreshEndpoint,
            F::EndedRefreshTokenForbidden => Probe::LogoutDestroys,
            F::BadRequestErrorsWithoutErrcode => Probe::ErrorHasErrorField,
            F::RefreshRequiresContentType => Probe::RefreshWithoutContentType,
            F::MalformedRefresh5xx => Probe::MalformedRefresh4xx,
            F::RefreshedAccessTokenInvalid => Probe::RefreshedAccessTokenWorks,
            F::RefreshNewDevice => Probe::RefreshSameDevice,
            F::RefreshOnlyAfterExpiry | F::RefreshBroken5xx => Probe::RefreshAnyTime,
            F::ExpiresInMsString => Probe::ExpiresInMsInteger,
            F::NoExpiry | F::ExpiresInSeconds => Probe::ExpiresWhenAdvertised,
            F::AccessTokensDieEarly => Probe::AliveBeforeExpiry,
            F::NoSoftLogoutOnExpiry => Probe::ExpiredSoftLogout,
            F::ExpiryKillsRefreshToken => Probe::RefreshAfterExpiry,
            F::SoftLogoutString => Probe::SoftLogoutBoolean,
            F::SoftLogoutAfterLogout
            | F::LogoutKeepsRefreshTokens
            | F::LogoutOnlyRevokesPresentedToken => Probe::LogoutDestroys,
            F::LogoutRequiresBody => Probe::LogoutEmptyBody,
            F::LogoutAllKeepsRefreshTokens | F::LogoutAllOnlyCurrentDevice => Probe::LogoutAll,
            F::DeviceDeleteKeepsRefreshTokens | F::DeviceDeleteKeepsAccessTokens => {
                Probe::DeviceDelete
            }
            F::PasswordChangeKeepsSessions | F::PasswordChangeLogsOutRequester => {
                Probe::PasswordChange
            }
            F::DeviceReuseKeepsTokens => Probe::DeviceReuse,
            F::ReloginDuplicatesDevice => Probe::ReloginListedOnce,
            F::LoginRejectsRefreshTokenField => Probe::LoginAcceptsRefreshField,
            F::LoginIgnoresDeviceId => Probe::LoginDeviceAssociation,
            F::LoginOmitsDeviceId => Probe::LoginRequiredFields,
            F::InhibitLoginReturnsRefreshToken => Probe::InhibitLoginOmitsRefresh,
            F::InhibitLoginReturnsAccessToken => Probe::InhibitLoginOmitsAccess,
            F::RegisterWithoutAccessToken | F::RegisterRefreshTokenUnusable => {
                Probe::RegisterReturnsTokens
            }
            F::GuestHonoursRefreshToken => Probe::GuestIgnoresParams,
            F::RefreshTokenAsAccessToken | F::MissingTokenAsUnknown | F::NonAsciiAccessToken500 => {
                Probe::TokenErrors
            }
            F::QueryStringTokenRejected => Probe::QueryStringToken,
            F::WhoamiWithoutDeviceId => Probe::WhoamiDeviceId,
            F::TxnNotKeptAcrossRefresh => Probe::TxnSurvivesRefresh,
            F::ErrorWithoutErrorField => Probe::ErrorHasErrorField,
            F::TextPlainErrors => Probe::ErrorContentTypeJson,
            F::ErrorBodyNotUtf8 => Probe::ErrorUtf8,
            F::WrongMethod404 => Probe::WrongMethod405,
            F::UnknownEndpointWrongErrcode => Probe::UnknownEndpointUnrecognized,
            F::NoCors => Probe::CorsHeaders,
            F::OptionsRunsLogic => Probe::OptionsNoLogic,
            F::NoRetryAfterHeader => Probe::RetryAfterHeader,
            F::RefreshReturnsSameAccessToken => Probe::RefreshGeneratesAccessToken,
            F::RefreshEchoesRefreshToken => Probe::NewRefreshTokenIsNew,
            F::ExpiredTokenOwnErrcode => Probe::ExpiredTokenError,
            F::LogoutEndsUsersRefreshTokens => Probe::OtherDeviceKeepsRefreshToken,
            F::RegisterRejectsRefreshTokenField => Probe::RegisterAcceptsRefreshField,
            F::RegisterIgnoresDeviceId => Probe::RegisterDeviceAssociation,
            F::VersionsWithoutVPrefix => Probe::VersionsForm,
            F::OauthMetadataWithoutRefreshGrant => Probe::OauthRefreshGrant,
            // The OAuth faults are caught by the cases under cases/oauth, through the suite's own
            // mutation matrix (tests/mutation.rs), which also drives the server's whole OAuth flow.
            F::NoOauthWrongErrcode
            | F::OauthMetadataWithoutRevocation
            | F::OauthMetadataPlainPkce
            | F::OauthRegistrationRejectsUnknownGrant
            | F::OauthRegistrationRejectsNone
            | F::OauthPkceIgnored
            | F::OauthScopeDeviceIgnored
            | F::OauthNoRefreshToken
            | F::OauthTokensCacheable
            | F::OauthNeverExpires
            | F::OauthTokenJsonOnly
            | F::OauthRefreshWithoutTokenType
            | F::OauthNoRetry
            | F::OauthNoReuseDetection
            | F::OauthRefreshAnyClient
            | F::OauthRefreshNewDevice
            | F::OauthMatrixErrors
            | F::OauthDeviceReuseKeepsTokens
            | F::OauthRevokeSparesRefresh
            | F::OauthRevokeRequiresClientId
            | F::OauthRevokeUnknown400
            | F::OauthDeviceNoRefreshToken
            | F::OauthDeviceWithoutExpiresIn => return None,
            F::OldAccessTokenRevokedAtRefresh
            | F::OauthNoRotation
            | F::OauthGraceWindow
            | F::NoOauth
            | F::OauthOnly
            | F::RefreshTokensUnasked
            | F::NoRotation
            | F::NoRefreshTokens
            | F::ReplayEndsSession
            | F::UnusedBranchKept
            | F::NoExpiresInMs => return None,
        })
    }
}

/// `401 M_UNKNOWN_TOKEN` (any `soft_logout`).
fn unknown_token(reply: &Reply) -> bool {
    reply.status == StatusCode::UNAUTHORIZED && reply.errcode() == Some("M_UNKNOWN_TOKEN")
}

/// `401 M_UNKNOWN_TOKEN` without `soft_logout: true` (softlogout.false-means-destroyed).
fn destroyed(reply: &Reply) -> bool {
    unknown_token(reply) && reply.body.get("soft_logout") != Some(&json!(true))
}

fn ok(reply: &Reply) -> bool {
    reply.status == StatusCode::OK
}

/// A login with a refresh token, or `NotApplicable` (gate G-rt).
async fn refreshable(hs: &Hs) -> Result<(super::Account, super::Login, String), Finding> {
    let (account, login) = hs.session(true).await;
    let refresh = need!(login.refresh.clone(), "no refresh token issued");
    Ok((account, login, refresh))
}

/// `refresh(rt)` that must succeed as a precondition; returns (access, refresh?).
async fn refreshed(hs: &Hs, refresh_token: &str) -> Result<(String, Option<String>), Finding> {
    let reply = hs.refresh(refresh_token).await;
    let access = need!(
        reply.str("access_token").filter(|_| ok(&reply)),
        "refresh failed: {:?}",
        reply.body
    );
    Ok((
        access.to_owned(),
        reply.str("refresh_token").map(str::to_owned),
    ))
}

async fn register_with(hs: &Hs, extra: Value) -> Reply {
    let mut body = json!({"password": PASSWORD, "auth": {"type": "m.login.dummy"}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    hs.post("/_matrix/client/v3/register", None, body).await
}

fn is_integer(value: Option<&Value>) -> bool {
    value.is_none_or(Value::is_u64)
}

pub(super) async fn run(probe: Probe, hs: &Hs) -> Outcome {
    match probe {
        Probe::RevokedAfterAccessUse => {
            let (_, _, rt0) = refreshable(hs).await?;
            let (at1, rt1) = refreshed(hs, &rt0).await?;
            need!(rt1, "no rotation");
            require!(
                ok(&hs.probe(&at1).await),
                "the new access token does not work"
            );
            let replay = hs.refresh(&rt0).await;
            ensure!(
                unknown_token(&replay),
                "RT0 after AT1 was used: {} {:?}",
                replay.status,
                replay.body
            );
        }
        Probe::RevokedAfterRefreshUse => {
            let (_, _, rt0) = refreshable(hs).await?;
            let rt1 = need!(refreshed(hs, &rt0).await?.1, "no rotation");
            let second = hs.refresh(&rt1).await;
            ensure!(
                ok(&second),
                "refresh(RT1): {} {:?}",
                second.status,
                second.body
            );
            let replay = hs.refresh(&rt0).await;
            ensure!(
                unknown_token(&replay),
                "RT0 after RT1 was used: {} {:?}",
                replay.status,
                replay.body
            );
        }
        Probe::RetryWindow => {
            let (_, _, rt0) = refreshable(hs).await?;
            refreshed(hs, &rt0).await?;
            let retry = hs.refresh(&rt0).await;
            ensure!(
                ok(&retry),
                "retry of RT0 before any use: {} {:?}",
                retry.status,
                retry.body
            );
        }
        Probe::UnknownRefresh401 => {
            refreshable(hs).await?;
            let reply = hs.refresh("Zq0b3fXW8kLm2nPr5sTu7vYx9aBcDeFg").await;
            ensure!(
                unknown_token(&reply),
                "unknown refresh token: {} {:?}",
                reply.status,
                reply.body
            );
            ensure!(reply.str("error").is_some(), "no error string");
            ensure!(
                reply.body.get("soft_logout").is_none_or(Value::is_boolean),
                "soft_logout not boolean"
            );
        }
        Probe::RefreshTokenOptional => {
            let (_, _, rt0) = refreshable(hs).await?;
            let (at1, rt1) = refreshed(hs, &rt0).await?;
            match rt1 {
                Some(rt1) => ensure!(!rt1.is_empty(), "empty refresh_token"),
                None => {
                    hs.probe(&at1).await;
                    let again = hs.refresh(&rt0).await;
                    ensure!(
                        ok(&again),
                        "no new refresh token, yet the old one fails: {:?}",
                        again.body
                    );
                }
            }
        }
        Probe::RefreshEndpoint => {
            let (_, _, rt0) = refreshable(hs).await?;
            let reply = hs.refresh(&rt0).await;
            ensure!(
                ok(&reply),
                "POST /v3/refresh without Authorization: {} {:?}",
                reply.status,
                reply.body
            );
            ensure!(
                reply.str("access_token").is_some_and(|t| !t.is_empty()),
                "no access_token"
            );
        }
        Probe::RefreshWithoutContentType => {
            let (_, _, rt0) = refreshable(hs).await?;
            let body = Body::Raw(json!({"refresh_token": rt0}).to_string().into_bytes(), None);
            let reply = hs
                .send(Method::POST, "/_matrix/client/v3/refresh", None, body)
                .await;
            ensure!(
                ok(&reply),
                "refresh without Content-Type: {} {:?}",
                reply.status,
                reply.body
            );
        }
        Probe::MalformedRefresh4xx => {
            refreshable(hs).await?;
            for body in [json!({}), json!({"refresh_token": 123})] {
                let reply = hs
                    .post("/_matrix/client/v3/refresh", None, body.clone())
                    .await;
                ensure!(reply.status.is_client_error(), "{body}: {}", reply.status);
            }
        }
        Probe::RefreshedAccessTokenWorks => {
            let (_, _, rt0) = refreshable(hs).await?;
            let (at1, _) = refreshed(hs, &rt0).await?;
            let probe = hs.probe(&at1).await;
            ensure!(ok(&probe), "probe(AT1): {} {:?}", probe.status, probe.body);
        }
        Probe::RefreshSameDevice => {
            let account = hs.register().await;
            let login = hs.login(&account, true, Some("BOUNDDEV")).await;
            let rt0 = need!(login.refresh.clone(), "no refresh token issued");
            let before = hs.device_ids(&login.access).await.len();
            let (at1, _) = refreshed(hs, &rt0).await?;
            let probe = hs.probe(&at1).await;
            ensure!(
                probe.str("device_id") == Some("BOUNDDEV"),
                "probe(AT1) device: {:?}",
                probe.body
            );
            let after = hs.device_ids(&at1).await.len();
            ensure!(
                before == after,
                "{before} devices before the refresh, {after} after"
            );
        }
        Probe::RefreshAnyTime => {
            let (_, _, rt0) = refreshable(hs).await?;
            let reply = hs.refresh(&rt0).await;
            ensure!(
                ok(&reply),
                "refresh right after login: {} {:?}",
                reply.status,
                reply.body
            );
        }
        Probe::ExpiresInMsInteger => {
            let account = hs.register().await;
            let login = hs.login_reply(&account, true, None).await;
            ensure!(
                is_integer(login.body.get("expires_in_ms")),
                "login: {:?}",
                login.body
            );
            let rt0 = need!(login.str("refresh_token"), "no refresh token issued");
            let reply = hs.refresh(rt0).await;
            ensure!(
                is_integer(reply.body.get("expires_in_ms")),
                "refresh: {:?}",
                reply.body
            );
            let registered = register_with(hs, json!({"refresh_token": true})).await;
            ensure!(
                is_integer(registered.body.get("expires_in_ms")),
                "register: {:?}",
                registered.body
            );
        }
        Probe::ExpiresWhenAdvertised => {
            let (_, login, _) = refreshable(hs).await?;
            let expires = need!(login.expires_in_ms, "no expires_in_ms");
            ensure!(ok(&hs.probe(&login.access).await), "probe(AT0) at once");
            tokio::time::sleep(Duration::from_millis(expires) + MARGIN).await;
            let probe = hs.probe(&login.access).await;
            ensure!(
                unknown_token(&probe),
                "{}ms after an advertised {expires}ms: {}",
                expires + 200,
                probe.status
            );
        }
        Probe::AliveBeforeExpiry => {
            let (_, login, _) = refreshable(hs).await?;
            let expires = need!(login.expires_in_ms, "no expires_in_ms");
            // 60 %: past the faulty server's half, and 40 % of the lifetime (see `config`) before the
            // faithful one's expiry, room enough for a slow probe.
            tokio::time::sleep(Duration::from_millis(expires * 3 / 5)).await;
            let probe = hs.probe(&login.access).await;
            ensure!(
                ok(&probe),
                "at 60 % of an advertised {expires}ms: {}",
                probe.status
            );
        }
        Probe::ExpiredSoftLogout => {
            let (_, login, _) = refreshable(hs).await?;
            super::wait_for_expiry(&login).await;
            let probe = hs.probe(&login.access).await;
            require!(unknown_token(&probe), "the token did not expire");
            ensure!(
                probe.body.get("soft_logout") == Some(&json!(true)),
                "expired: {:?}",
                probe.body
            );
        }
        Probe::RefreshAfterExpiry => {
            let (_, login, rt0) = refreshable(hs).await?;
            super::wait_for_expiry(&login).await;
            let reply = hs.refresh(&rt0).await;
            ensure!(
                ok(&reply),
                "refresh after expiry: {} {:?}",
                reply.status,
                reply.body
            );
            let at1 = reply.str("access_token").unwrap_or_default();
            ensure!(ok(&hs.probe(at1).await), "probe(AT1) after expiry");
        }
        Probe::SoftLogoutBoolean => {
            let (_, login) = hs.session(false).await;
            hs.send(
                Method::POST,
                "/_matrix/client/v3/logout",
                Some(&login.access),
                Body::Json(json!({})),
            )
            .await;
            let probe = hs.probe(&login.access).await;
            ensure!(
                probe.body.get("soft_logout").is_none_or(Value::is_boolean),
                "{:?}",
                probe.body
            );
        }
        Probe::LogoutDestroys => {
            let (_, login) = hs.session(true).await;
            let (mut access, mut refresh) = (vec![login.access.clone()], Vec::new());
            let mut presented = login.access.clone();
            if let Some(rt0) = &login.refresh {
                let (at1, rt1) = refreshed(hs, rt0).await?;
                refresh.push(rt0.clone());
                refresh.extend(rt1);
                access.push(at1.clone());
                presented = at1;
            }
            let logout = hs
                .post("/_matrix/client/v3/logout", Some(&presented), json!({}))
                .await;
            ensure!(ok(&logout), "logout: {:?}", logout.body);
            for token in &access {
                let probe = hs.probe(token).await;
                ensure!(
                    destroyed(&probe),
                    "access token after logout: {} {:?}",
                    probe.status,
                    probe.body
                );
            }
            for token in &refresh {
                let reply = hs.refresh(token).await;
                ensure!(
                    destroyed(&reply),
                    "refresh token after logout: {} {:?}",
                    reply.status,
                    reply.body
                );
            }
        }
        Probe::LogoutEmptyBody => {
            let (_, login) = hs.session(false).await;
            let reply = hs
                .send(
                    Method::POST,
                    "/_matrix/client/v3/logout",
                    Some(&login.access),
                    Body::None,
                )
                .await;
            ensure!(
                ok(&reply),
                "logout with no body: {} {:?}",
                reply.status,
                reply.body
            );
        }
        Probe::LogoutAll => {
            let account = hs.register().await;
            let s1 = hs.login(&account, true, None).await;
            let s2 = hs.login(&account, true, None).await;
            let reply = hs
                .post("/_matrix/client/v3/logout/all", Some(&s1.access), json!({}))
                .await;
            ensure!(ok(&reply), "logout/all: {:?}", reply.body);
            for login in [&s1, &s2] {
                ensure!(
                    unknown_token(&hs.probe(&login.access).await),
                    "access token survived logout/all"
                );
                if let Some(rt) = &login.refresh {
                    ensure!(
                        unknown_token(&hs.refresh(rt).await),
                        "refresh token survived logout/all"
                    );
                }
            }
        }
        Probe::DeviceDelete => {
            let account = hs.register().await;
            let s1 = hs.login(&account, false, None).await;
            let s2 = hs.login(&account, true, None).await;
            let deleted = hs.delete_device(&account, &s1.access, &s2.device).await;
            ensure!(ok(&deleted), "delete device: {:?}", deleted.body);
            ensure!(
                unknown_token(&hs.probe(&s2.access).await),
                "access token survived its device"
            );
            if let Some(rt) = &s2.refresh {
                ensure!(
                    unknown_token(&hs.refresh(rt).await),
                    "refresh token survived its device"
                );
            }
        }
        Probe::PasswordChange => {
            let account = hs.register().await;
            let s1 = hs.login(&account, true, None).await;
            let s2 = hs.login(&account, true, None).await;
            let changed = hs.change_password(&account, &s1.access, None).await;
            ensure!(ok(&changed), "password change: {:?}", changed.body);
            ensure!(
                unknown_token(&hs.probe(&s2.access).await),
                "other access token survived"
            );
            if let Some(rt) = &s2.refresh {
                ensure!(
                    unknown_token(&hs.refresh(rt).await),
                    "other refresh token survived"
                );
            }
            ensure!(
                ok(&hs.probe(&s1.access).await),
                "the requesting access token was revoked"
            );
        }
        Probe::DeviceReuse => {
            let account = hs.register().await;
            let first = hs.login(&account, true, Some("REUSED")).await;
            hs.login(&account, true, Some("REUSED")).await;
            ensure!(
                unknown_token(&hs.probe(&first.access).await),
                "old access token survived device re-use"
            );
            if let Some(rt) = &first.refresh {
                ensure!(
                    unknown_token(&hs.refresh(rt).await),
                    "old refresh token survived device re-use"
                );
            }
        }
        Probe::ReloginListedOnce => {
            let account = hs.register().await;
            hs.login(&account, false, Some("ONCE")).await;
            let again = hs.login(&account, false, Some("ONCE")).await;
            let devices = hs.device_ids(&again.access).await;
            ensure!(devices == ["ONCE"], "devices after re-login: {devices:?}");
        }
        Probe::LoginAcceptsRefreshField => {
            let account = hs.register().await;
            for flag in [true, false] {
                let reply = hs.login_reply(&account, flag, None).await;
                ensure!(
                    ok(&reply),
                    "login(refresh_token: {flag}): {} {:?}",
                    reply.status,
                    reply.body
                );
            }
        }
        Probe::LoginDeviceAssociation => {
            let account = hs.register().await;
            let chosen = hs.login_reply(&account, true, Some("CHOSEN")).await;
            ensure!(
                chosen.str("device_id") == Some("CHOSEN"),
                "device_id: {:?}",
                chosen.body
            );
            let probe = hs
                .probe(chosen.str("access_token").unwrap_or_default())
                .await;
            ensure!(
                probe.str("device_id") == Some("CHOSEN"),
                "probe device_id: {:?}",
                probe.body
            );
        }
        Probe::LoginRequiredFields => {
            let account = hs.register().await;
            let reply = hs.login_reply(&account, true, None).await;
            for key in ["access_token", "device_id", "user_id"] {
                ensure!(
                    reply.str(key).is_some(),
                    "login response without {key}: {:?}",
                    reply.body
                );
            }
        }
        Probe::InhibitLoginOmitsRefresh => {
            let reply =
                register_with(hs, json!({"inhibit_login": true, "refresh_token": true})).await;
            ensure!(ok(&reply), "register: {:?}", reply.body);
            for key in ["refresh_token", "expires_in_ms"] {
                ensure!(
                    reply.body.get(key).is_none(),
                    "{key} despite inhibit_login: {:?}",
                    reply.body
                );
            }
        }
        Probe::InhibitLoginOmitsAccess => {
            let reply =
                register_with(hs, json!({"inhibit_login": true, "refresh_token": true})).await;
            for key in ["access_token", "device_id"] {
                ensure!(
                    reply.body.get(key).is_none(),
                    "{key} despite inhibit_login: {:?}",
                    reply.body
                );
            }
        }
        Probe::RegisterReturnsTokens => {
            let reply = register_with(hs, json!({"refresh_token": true})).await;
            ensure!(ok(&reply), "register: {:?}", reply.body);
            for key in ["access_token", "device_id"] {
                ensure!(
                    reply.str(key).is_some(),
                    "register response without {key}: {:?}",
                    reply.body
                );
            }
            if let Some(rt) = reply.str("refresh_token") {
                let refreshed = hs.refresh(rt).await;
                ensure!(
                    ok(&refreshed),
                    "refresh with the registration's token: {:?}",
                    refreshed.body
                );
            }
        }
        Probe::GuestIgnoresParams => {
            let guest = |body: Value| hs.post("/_matrix/client/v3/register?kind=guest", None, body);
            let plain = guest(json!({})).await;
            let asking = guest(json!({"refresh_token": true, "device_id": "SUITEDEV"})).await;
            let keys = |reply: &Reply| {
                reply
                    .body
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
            };
            let (mut a, mut b) = (
                keys(&plain).unwrap_or_default(),
                keys(&asking).unwrap_or_default(),
            );
            a.sort();
            b.sort();
            ensure!(
                a == b,
                "guest response keys depend on the request: {a:?} vs {b:?}"
            );
        }
        Probe::TokenErrors => {
            let (_, _, rt0) = refreshable(hs).await?;
            let missing = hs.get("/_matrix/client/v3/account/whoami", None).await;
            ensure!(
                missing.errcode() == Some("M_MISSING_TOKEN"),
                "no token: {:?}",
                missing.body
            );
            ensure!(unknown_token(&hs.probe("garbage").await), "garbage token");
            let non_ascii = hs
                .get(
                    "/_matrix/client/v3/account/whoami?access_token=t%C3%B6ken",
                    None,
                )
                .await;
            ensure!(
                unknown_token(&non_ascii),
                "non-ASCII token: {}",
                non_ascii.status
            );
            let as_access = hs.probe(&rt0).await;
            ensure!(
                unknown_token(&as_access),
                "refresh token as access token: {}",
                as_access.status
            );
        }
        Probe::QueryStringToken => {
            let (_, login) = hs.session(false).await;
            let reply = hs
                .get(
                    &format!(
                        "/_matrix/client/v3/account/whoami?access_token={}",
                        login.access
                    ),
                    None,
                )
                .await;
            ensure!(
                ok(&reply),
                "query-string token: {} {:?}",
                reply.status,
                reply.body
            );
        }
        Probe::WhoamiDeviceId => {
            let (_, login) = hs.session(false).await;
            let probe = hs.probe(&login.access).await;
            ensure!(probe.str("device_id").is_some(), "whoami: {:?}", probe.body);
        }
        Probe::TxnSurvivesRefresh => {
            let (_, login, rt0) = refreshable(hs).await?;
            let room = hs
                .post(
                    "/_matrix/client/v3/createRoom",
                    Some(&login.access),
                    json!({}),
                )
                .await;
            let room_id = need!(room.str("room_id"), "no room");
            let path =
                format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/suite-txn-1");
            let message = |text: &str| Body::Json(json!({"msgtype": "m.text", "body": text}));
            let first = hs
                .send(Method::PUT, &path, Some(&login.access), message("one"))
                .await;
            let (at1, _) = refreshed(hs, &rt0).await?;
            let second = hs
                .send(Method::PUT, &path, Some(&at1), message("two"))
                .await;
            ensure!(
                first.str("event_id") == second.str("event_id"),
                "{:?} vs {:?}",
                first.body,
                second.body
            );
        }
        Probe::ErrorHasErrorField => {
            for reply in [
                hs.get("/_matrix/client/v3/account/whoami", None).await,
                hs.refresh("nope").await,
                hs.post("/_matrix/client/v3/refresh", None, json!({})).await,
            ] {
                ensure!(
                    reply.str("errcode").is_some() && reply.str("error").is_some(),
                    "{:?}",
                    reply.body
                );
            }
        }
        Probe::ErrorContentTypeJson => {
            let reply = hs.get("/_matrix/client/v3/account/whoami", None).await;
            ensure!(
                reply.content_type().starts_with("application/json"),
                "{}",
                reply.content_type()
            );
        }
        Probe::ErrorUtf8 => {
            let reply = hs.get("/_matrix/client/v3/account/whoami", None).await;
            ensure!(
                std::str::from_utf8(&reply.raw).is_ok(),
                "error body is not UTF-8"
            );
        }
        Probe::WrongMethod405 => {
            let issues_refresh_tokens = hs.session(true).await.1.refresh.is_some();
            let reply = hs.get("/_matrix/client/v3/refresh", None).await;
            let expected = if issues_refresh_tokens {
                StatusCode::METHOD_NOT_ALLOWED
            } else {
                StatusCode::NOT_FOUND
            };
            ensure!(
                reply.status == expected && reply.errcode() == Some("M_UNRECOGNIZED"),
                "{}",
                reply.status
            );
        }
        Probe::UnknownEndpointUnrecognized => {
            let reply = hs.get("/_matrix/client/v1/no_such_endpoint", None).await;
            ensure!(
                reply.status == StatusCode::NOT_FOUND && reply.errcode() == Some("M_UNRECOGNIZED"),
                "{:?}",
                reply.body
            );
        }
        Probe::CorsHeaders => {
            let reply = hs.get("/_matrix/client/versions", None).await;
            ensure!(
                reply.headers.get("access-control-allow-origin").is_some(),
                "no Access-Control-Allow-Origin"
            );
        }
        Probe::OptionsNoLogic => {
            let (_, login, rt0) = refreshable(hs).await?;
            let body = Body::Raw(
                json!({"refresh_token": rt0}).to_string().into_bytes(),
                Some("application/json"),
            );
            let options = hs
                .send(Method::OPTIONS, "/_matrix/client/v3/refresh", None, body)
                .await;
            ensure!(options.status.is_success(), "OPTIONS: {}", options.status);
            ensure!(
                options.body.get("access_token").is_none(),
                "OPTIONS refreshed: {:?}",
                options.body
            );
            ensure!(ok(&hs.probe(&login.access).await), "AT0 dead after OPTIONS");
            ensure!(ok(&hs.refresh(&rt0).await), "RT0 dead after OPTIONS");
        }
        Probe::RetryAfterHeader => {
            let body = json!({"type": "m.login.password", "user": "nobody", "password": "x"});
            let mut limited = None;
            for _ in 0..20 {
                let reply = hs
                    .post("/_matrix/client/v3/login", None, body.clone())
                    .await;
                if reply.status == StatusCode::TOO_MANY_REQUESTS {
                    limited = Some(reply);
                    break;
                }
            }
            let limited = need!(limited, "never rate-limited");
            ensure!(
                limited.errcode() == Some("M_LIMIT_EXCEEDED"),
                "{:?}",
                limited.body
            );
            ensure!(
                limited.headers.get("retry-after").is_some(),
                "429 without Retry-After"
            );
        }
        Probe::RefreshGeneratesAccessToken => {
            let (_, login, rt0) = refreshable(hs).await?;
            let (at1, _) = refreshed(hs, &rt0).await?;
            ensure!(
                at1 != login.access,
                "/refresh returned the old access token"
            );
        }
        Probe::NewRefreshTokenIsNew => {
            let (_, _, rt0) = refreshable(hs).await?;
            let (_, rt1) = refreshed(hs, &rt0).await?;
            ensure!(
                rt1.as_deref() != Some(rt0.as_str()),
                "/refresh returned the old refresh token as the new one"
            );
        }
        Probe::ExpiredTokenError => {
            let (_, login, _) = refreshable(hs).await?;
            super::wait_for_expiry(&login).await;
            let probe = hs.probe(&login.access).await;
            require!(!ok(&probe), "the token did not expire");
            ensure!(unknown_token(&probe), "expired: {:?}", probe.body);
        }
        Probe::OtherDeviceKeepsRefreshToken => {
            let account = hs.register().await;
            let phone = hs.login(&account, true, None).await;
            let laptop = hs.login(&account, false, None).await;
            let rt = need!(phone.refresh.clone(), "no refresh token issued");
            let logout = hs
                .post("/_matrix/client/v3/logout", Some(&laptop.access), json!({}))
                .await;
            ensure!(ok(&logout), "logout: {:?}", logout.body);
            let reply = hs.refresh(&rt).await;
            ensure!(
                ok(&reply),
                "another device's logout ended this refresh token: {} {:?}",
                reply.status,
                reply.body
            );
        }
        Probe::RegisterAcceptsRefreshField => {
            for flag in [true, false] {
                let reply = register_with(hs, json!({"refresh_token": flag})).await;
                ensure!(
                    ok(&reply),
                    "register(refresh_token: {flag}): {} {:?}",
                    reply.status,
                    reply.body
                );
            }
        }
        Probe::RegisterDeviceAssociation => {
            let reply = register_with(hs, json!({"device_id": "REGDEV"})).await;
            ensure!(
                reply.str("device_id") == Some("REGDEV"),
                "device_id: {:?}",
                reply.body
            );
            let probe = hs
                .probe(reply.str("access_token").unwrap_or_default())
                .await;
            ensure!(
                probe.str("device_id") == Some("REGDEV"),
                "probe device_id: {:?}",
                probe.body
            );
        }
        Probe::VersionsForm => {
            let reply = hs.get("/_matrix/client/versions", None).await;
            let versions = reply.body["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            ensure!(!versions.is_empty(), "no versions: {:?}", reply.body);
            for version in &versions {
                let version = version.as_str().unwrap_or_default();
                ensure!(
                    version.parse::<crate::spec_version::SpecVersion>().is_ok(),
                    "not a spec version: {version:?}"
                );
            }
        }
        Probe::OauthRefreshGrant => {
            let reply = hs.get("/_matrix/client/v1/auth_metadata", None).await;
            if ok(&reply) {
                let grants = reply.body["grant_types_supported"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                ensure!(
                    grants.contains(&json!("refresh_token")),
                    "grant_types_supported: {grants:?}"
                );
            }
        }
    }
    Ok(())
}

/// The configuration for a fault's run, and for its faithful twin (the same without the fault).
fn config(fault: Option<Fault>, like: Fault) -> ReferenceConfig {
    let base = ReferenceConfig::for_fault(like);
    // A lifetime that keeps the expiry probes short but survives a busy test machine.
    let lifetime = if like == Fault::ExpiresInSeconds {
        base.access_token_lifetime
    } else if like == Fault::AccessTokensDieEarly {
        // Long enough that 40 % of it outlasts a probe on a loaded machine.
        Some(Duration::from_secs(5))
    } else {
        Some(Duration::from_secs(1))
    };
    ReferenceConfig {
        fault,
        access_token_lifetime: lifetime,
        ..base
    }
}

/// How many probes run at once: enough to overlap the expiry waits, few enough that a busy machine
/// does not delay requests past a token's lifetime.
pub(super) const CONCURRENT_PROBES: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_is_caught_by_its_probe_and_the_faithful_server_passes() {
    let permits = Arc::new(Semaphore::new(CONCURRENT_PROBES));
    let mut runs = JoinSet::new();
    for &fault in Fault::ALL {
        let Some(probe) = Probe::catching(fault) else {
            continue;
        };
        let permits = Arc::clone(&permits);
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let faithful = Hs::start(config(None, fault)).await;
            if let Err(finding) = run(probe, &faithful).await {
                return Err(format!(
                    "{fault}: {probe:?} does not hold on the faithful server: {finding}"
                ));
            }
            let faulty = Hs::start(config(Some(fault), fault)).await;
            match run(probe, &faulty).await {
                Err(Finding::Violated(_)) => Ok(()),
                Ok(()) => Err(format!(
                    "{fault}: {probe:?} does not catch it: the probe holds"
                )),
                Err(finding) => Err(format!("{fault}: {probe:?} does not catch it: {finding}")),
            }
        });
    }
    let mut problems = Vec::new();
    while let Some(result) = runs.join_next().await {
        if let Err(problem) = result.expect("probe task") {
            problems.push(problem);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_probe_catches_some_fault() {
    for probe in Probe::ALL {
        assert!(
            Fault::ALL
                .iter()
                .any(|&f| Probe::catching(f) == Some(*probe)),
            "{probe:?} catches nothing"
        );
    }
}
