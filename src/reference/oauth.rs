//! The reference server's OAuth 2.0 authorisation server state (CS § OAuth 2.0 API): registered
//! clients (RFC 7591), pending authorisation codes with their PKCE challenge, and which client each
//! OAuth session belongs to. The tokens themselves are the homeserver's own
//! ([`rotation`](crate::reference::rotation)): an OAuth session is a device like any other, so
//! `whoami`, expiry and the rotation rule («valid until the new access token or refresh token is
//! used», which meets «it MUST ensure that the client is able to retry the refresh request») are
//! shared with the legacy API.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::reference::ids::{DeviceId, random_alphanumeric};
use crate::reference::rotation::Issued;
use crate::run::oauth::s256;

/// The scope prefix that names the session's device (CS § Device ID allocation).
pub(crate) const DEVICE_SCOPE: &str = "urn:matrix:client:device:";
/// The scope that grants the whole Client-Server API.
pub(crate) const API_SCOPE: &str = "urn:matrix:client:api:*";
/// The localpart of the account the built-in consent approves as (the user "logging in").
pub(crate) const OAUTH_USER: &str = "oauth-user";
/// How long an authorisation code stays redeemable.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a device code and its user code wait for the user's approval (RFC 8628 §3.2 `expires_in`).
pub(crate) const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(300);
/// [`Fault::OauthGraceWindow`](crate::reference::Fault::OauthGraceWindow): how long a rotated
/// refresh token may still be replayed.
pub(crate) const GRACE_WINDOW: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Client {
    redirect_uris: Vec<String>,
}

/// An authorisation code not yet exchanged.
#[derive(Debug)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// BASE64URL(SHA256(code_verifier)), from the authorisation request.
    code_challenge: String,
    pub(crate) device: DeviceId,
    pub(crate) scope: String,
    issued_at: Instant,
}

/// A device authorisation request (RFC 8628 §3.1) waiting for its user code to be approved.
#[derive(Debug)]
pub(crate) struct DeviceGrant {
    pub(crate) client_id: String,
    pub(crate) device: DeviceId,
    pub(crate) scope: String,
    user_code: String,
    approved: bool,
    issued_at: Instant,
}

/// Why a device code cannot be exchanged yet, or at all (RFC 8628 §3.5 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevicePoll {
    /// `authorization_pending`: the user has not approved the user code yet.
    Pending,
    /// `expired_token`.
    Expired,
    /// `invalid_grant`: unknown, already exchanged, or issued to another client.
    Invalid,
}

#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    clients: HashMap<String, Client>,
    codes: HashMap<String, Grant>,
    /// Pending device authorisations, by device code.
    device_codes: HashMap<String, DeviceGrant>,
    /// The client each live OAuth token was issued to (a device may pass from one client to another).
    token_clients: HashMap<String, String>,
    /// When each rotated refresh token was exchanged (for the grace-window variation).
    rotated_at: HashMap<String, Instant>,
}

/// A native client's loopback redirect URI matches whatever port the client listens on
/// (RFC 8252 §7.3, which the Matrix client metadata rules adopt).
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (url::Url::parse(registered), url::Url::parse(requested)) {
        (Ok(mut r), Ok(mut q))
            if q.host_str() == Some("127.0.0.1") || q.host_str() == Some("[::1]") =>
        {
            let _ = r.set_port(None);
            let _ = q.set_port(None);
            r == q
        }
        _ => false,
    }
}

impl OAuthState {
    pub(crate) fn register_client(&mut self, redirect_uris: Vec<String>) -> String {
        let client_id = format!("mrc_client_{}", random_alphanumeric(16));
        self.clients
            .insert(client_id.clone(), Client { redirect_uris });
        client_id
    }

    pub(crate) fn client_allows(&self, client_id: &str, redirect_uri: &str) -> Option<bool> {
        let client = self.clients.get(client_id)?;
        Some(
            client
                .redirect_uris
                .iter()
                .any(|r| redirect_matches(r, redirect_uri)),
        )
    }

    pub(crate) fn is_client(&self, client_id: &str) -> bool {
        self.clients.contains_key(client_id)
    }

    pub(crate) fn issue_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        code_challenge: &str,
        device: DeviceId,
        scope: &str,
    ) -> String {
        let code = format!("mrc_code_{}", random_alphanumeric(32));
        self.codes.insert(
            code.clone(),
            Grant {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                code_challenge: code_challenge.to_owned(),
                device,
                scope: scope.to_owned(),
                issued_at: Instant::now(),
            },
        );
        code
    }

    /// Redeems a code (once): the grant if the client, redirect URI and PKCE verifier match.
    pub(crate) fn redeem(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
        check_pkce: bool,
    ) -> Option<Grant> {
        let grant = self.codes.remove(code)?;
        let fresh = grant.issued_at.elapsed() < CODE_LIFETIME;
        let pkce = !check_pkce || s256(verifier) == grant.code_challenge;
        (fresh && pkce && grant.client_id == client_id && grant.redirect_uri == redirect_uri)
            .then_some(grant)
    }

    /// Starts a device authorisation: the device code (the client's) and the user code (the user's).
    pub(crate) fn issue_device_code(
        &mut self,
        client_id: &str,
        device: DeviceId,
        scope: &str,
    ) -> (String, String) {
        let device_code = format!("mrc_device_{}", random_alphanumeric(32));
        let letters = random_alphanumeric(8).to_uppercase();
        let user_code = format!("{}-{}", &letters[..4], &letters[4..]);
        self.device_codes.insert(
            device_code.clone(),
            DeviceGrant {
                client_id: client_id.to_owned(),
                device,
                scope: scope.to_owned(),
                user_code: user_code.clone(),
                approved: false,
                issued_at: Instant::now(),
            },
        );
        (device_code, user_code)
    }

    /// The user approves a user code (the built-in verification page); false if no live request has it.
    pub(crate) fn approve(&mut self, user_code: &str) -> bool {
        let pending = self.device_codes.values_mut().find(|g| {
            g.user_code.eq_ignore_ascii_case(user_code)
                && g.issued_at.elapsed() < DEVICE_CODE_LIFETIME
        });
        pending.map(|g| g.approved = true).is_some()
    }

    /// Exchanges an approved device code (once) for its grant.
    pub(crate) fn redeem_device(
        &mut self,
        device_code: &str,
        client_id: &str,
    ) -> Result<DeviceGrant, DevicePoll> {
        let grant = self
            .device_codes
            .get(device_code)
            .ok_or(DevicePoll::Invalid)?;
        if grant.client_id != client_id {
            return Err(DevicePoll::Invalid);
        }
        if grant.issued_at.elapsed() >= DEVICE_CODE_LIFETIME {
            self.device_codes.remove(device_code);
            return Err(DevicePoll::Expired);
        }
        if !grant.approved {
            return Err(DevicePoll::Pending);
        }
        self.device_codes
            .remove(device_code)
            .ok_or(DevicePoll::Invalid)
    }

    /// Records the client the tokens of `issued` belong to.
    pub(crate) fn bind(&mut self, issued: &Issued, client_id: &str) {
        let tokens = std::iter::once(&issued.access_token).chain(&issued.refresh_token);
        for token in tokens {
            self.token_clients
                .insert(token.clone(), client_id.to_owned());
        }
    }

    /// The client an OAuth token was issued to; None for tokens of the legacy API.
    pub(crate) fn client_of(&self, token: &str) -> Option<&str> {
        self.token_clients.get(token).map(String::as_str)
    }

    pub(crate) fn rotated(&mut self, token: &str) {
        self.rotated_at
            .entry(token.to_owned())
            .or_insert_with(Instant::now);
    }

    /// Whether `token` was rotated less than [`GRACE_WINDOW`] ago.
    pub(crate) fn within_grace(&self, token: &str) -> bool {
        self.rotated_at
            .get(token)
            .is_some_and(|at| at.elapsed() < GRACE_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_code_is_pending_until_approved_then_redeemed_once() {
        let mut state = OAuthState::default();
        let device = DeviceId::generate();
        let (code, user_code) = state.issue_device_code("client", device, API_SCOPE);
        assert_eq!(
            state.redeem_device(&code, "client").unwrap_err(),
            DevicePoll::Pending
        );
        assert!(!state.approve("NOPE-NOPE"));
        assert!(state.approve(&user_code.to_lowercase()));
        assert_eq!(
            state.redeem_device(&code, "other").unwrap_err(),
            DevicePoll::Invalid
        );
        assert_eq!(
            state.redeem_device(&code, "client").unwrap().client_id,
            "client"
        );
        assert_eq!(
            state.redeem_device(&code, "client").unwrap_err(),
            DevicePoll::Invalid
        );
    }
}
