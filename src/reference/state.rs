//! Users, devices, and their tokens: the homeserver's state, kept in memory behind one lock.
//!
//! Devices are the sessions of the spec: every token is bound to one (CS § Relationship between
//! access tokens and devices), so ending a device ends its tokens. The token rules themselves live
//! in [`rotation`](crate::reference::rotation).

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::reference::fault::Fault;
use crate::reference::ids::{DeviceId, Session, UserId};
use crate::reference::rotation::{
    AccessFailure, Cause, Issued, Policy, RefreshFailure, Spare, Tokens,
};

#[derive(Debug)]
struct User {
    /// None for guests, who cannot log in with a password.
    password: Option<String>,
    is_guest: bool,
    /// Deactivated accounts keep their user id (it cannot be registered again) but nothing else.
    deactivated: bool,
    devices: BTreeMap<DeviceId, Device>,
}

/// What `GET /devices` shows of a device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub(crate) display_name: Option<String>,
    pub(crate) last_seen_ts: Option<u64>,
    /// How many logins opened this device (1 + re-uses of its id); only
    /// [`Fault::ReloginDuplicatesDevice`] shows it, as duplicate entries.
    pub(crate) logins: u32,
}

/// The outcome of opening a device at login or registration.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: Session,
    /// The device already existed (its id was re-used).
    pub(crate) reused: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UserInUse;

#[derive(Debug)]
pub(crate) struct Store {
    policy: Policy,
    users: HashMap<UserId, User>,
    tokens: Tokens,
}

/// Milliseconds since the Unix epoch (wall-clock time, for `last_seen_ts` and `origin_server_ts`).
pub(crate) fn unix_ms() -> u64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

impl Store {
    pub(crate) fn new(policy: Policy) -> Store {
        Store {
            policy,
            users: HashMap::new(),
            tokens: Tokens::new(policy),
        }
    }

    // --- Users ---

    pub(crate) fn user_exists(&self, user: &UserId) -> bool {
        self.users.contains_key(user)
    }

    pub(crate) fn register(
        &mut self,
        user: &UserId,
        password: Option<String>,
        is_guest: bool,
    ) -> Result<(), UserInUse> {
        if self.users.contains_key(user) {
            return Err(UserInUse);
        }
        self.users.insert(
            user.clone(),
            User {
                password,
                is_guest,
                deactivated: false,
                devices: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub(crate) fn password_matches(&self, user: &UserId, password: &str) -> bool {
        self.users.get(user).and_then(|u| u.password.as_deref()) == Some(password)
    }

    pub(crate) fn set_password(&mut self, user: &UserId, password: String) {
        if let Some(u) = self.users.get_mut(user) {
            u.password = Some(password);
        }
    }

    pub(crate) fn is_guest(&self, user: &UserId) -> bool {
        self.users.get(user).is_some_and(|u| u.is_guest)
    }

    pub(crate) fn is_deactivated(&self, user: &UserId) -> bool {
        self.users.get(user).is_some_and(|u| u.deactivated)
    }

    /// `POST /account/deactivate`: «removing all ability for the user to login again». The password
    /// goes, and so do every device and every access and refresh token of the user.
    pub(crate) fn deactivate(&mut self, user: &UserId) {
        if let Some(u) = self.users.get_mut(user) {
            u.password = None;
            u.deactivated = true;
        }
        self.delete_devices_except(user, None, Spare::Nothing);
    }

    // --- Devices ---

    /// Opens the device `requested` (or a new generated one) for `user`. Re-using an existing id
    /// keeps the device (same id, no second entry); revoking its old tokens is the caller's
    /// business.
    pub(crate) fn open_device(
        &mut self,
        user: &UserId,
        requested: Option<DeviceId>,
        display_name: Option<String>,
    ) -> Opened {
        let device_id = requested.unwrap_or_else(DeviceId::generate);
        let session = Session {
            user: user.clone(),
            device: device_id.clone(),
        };
        let Some(u) = self.users.get_mut(user) else {
            return Opened {
                session,
                reused: false,
            };
        };
        match u.devices.get_mut(&device_id) {
            Some(device) => {
                device.logins = device.logins.saturating_add(1);
                Opened {
                    session,
                    reused: true,
                }
            }
            None => {
                u.devices.insert(
                    device_id,
                    Device {
                        display_name,
                        last_seen_ts: Some(unix_ms()),
                        logins: 1,
                    },
                );
                Opened {
                    session,
                    reused: false,
                }
            }
        }
    }

    /// Lists the device a refresh under [`Fault::RefreshNewDevice`] made up. (A refresh token that
    /// survived the deletion of its device, under the `*-keeps-refresh-tokens` faults, does not
    /// bring the device back: those faults leave the device deleted, as they say.)
    fn ensure_device(&mut self, session: &Session) {
        if !self.policy.has(Fault::RefreshNewDevice) {
            return;
        }
        if let Some(u) = self.users.get_mut(&session.user) {
            u.devices
                .entry(session.device.clone())
                .or_insert_with(|| Device {
                    display_name: None,
                    last_seen_ts: Some(unix_ms()),
                    logins: 1,
                });
        }
    }

    pub(crate) fn devices(&self, user: &UserId) -> Vec<(DeviceId, Device)> {
        let Some(u) = self.users.get(user) else {
            return Vec::new();
        };
        u.devices
            .iter()
            .map(|(id, device)| (id.clone(), device.clone()))
            .collect()
    }

    pub(crate) fn device(&self, session: &Session) -> Option<Device> {
        self.users
            .get(&session.user)?
            .devices
            .get(&session.device)
            .cloned()
    }

    /// Deletes a device and revokes its tokens (except what `spare` names). False if there was no
    /// such device.
    pub(crate) fn delete_device(&mut self, session: &Session, spare: Spare) -> bool {
        let existed = self
            .users
            .get_mut(&session.user)
            .is_some_and(|u| u.devices.remove(&session.device).is_some());
        self.tokens
            .revoke_where(|owner| owner == session, spare, None);
        existed
    }

    /// Deletes every device of `user` except `keep` (if given), with their tokens.
    pub(crate) fn delete_devices_except(
        &mut self,
        user: &UserId,
        keep: Option<&DeviceId>,
        spare: Spare,
    ) {
        if let Some(u) = self.users.get_mut(user) {
            u.devices.retain(|id, _| Some(id) == keep);
        }
        self.tokens.revoke_where(
            |owner| owner.user == *user && Some(&owner.device) != keep,
            spare,
            None,
        );
    }

    // --- Tokens ---

    pub(crate) fn issue(&mut self, session: &Session, with_refresh: bool) -> Issued {
        self.tokens.issue(session, with_refresh, Instant::now())
    }

    /// Authenticates an access token; success counts as a use (and updates the device's
    /// `last_seen_ts`).
    pub(crate) fn authenticate(&mut self, token: &str) -> Result<Session, AccessFailure> {
        let session = self.tokens.authenticate(token, Instant::now())?;
        if let Some(device) = self
            .users
            .get_mut(&session.user)
            .and_then(|u| u.devices.get_mut(&session.device))
        {
            device.last_seen_ts = Some(unix_ms());
        }
        Ok(session)
    }

    pub(crate) fn refresh(&mut self, token: &str) -> Result<Issued, RefreshFailure> {
        let rebind = self.policy.has(Fault::RefreshNewDevice);
        self.refresh_on(token, rebind)
    }

    /// Tokens of the OAuth 2.0 API for a session (the legacy faults do not apply to them).
    pub(crate) fn issue_oauth(&mut self, session: &Session) -> Issued {
        self.tokens
            .as_oauth(|tokens| tokens.issue(session, true, Instant::now()))
    }

    /// The refresh token grant: new tokens go to a newly made-up device when `rebind` (a fault), with
    /// a new refresh token only when `rotate`. The legacy faults do not apply.
    pub(crate) fn refresh_oauth(
        &mut self,
        token: &str,
        rebind: bool,
        rotate: bool,
    ) -> Result<Issued, RefreshFailure> {
        let rebind = rebind.then(DeviceId::generate);
        let now = Instant::now();
        self.tokens
            .as_oauth(|tokens| tokens.refresh(token, now, rebind, rotate))
    }

    fn refresh_on(&mut self, token: &str, rebind: bool) -> Result<Issued, RefreshFailure> {
        let rebind = rebind.then(DeviceId::generate);
        match self.tokens.refresh(token, Instant::now(), rebind, true) {
            Ok(issued) => {
                self.ensure_device(&issued.session);
                Ok(issued)
            }
            Err(RefreshFailure::Superseded { session })
                if self.policy.has(Fault::ReplayEndsSession) =>
            {
                // A5: a replayed superseded token is taken as a sign of theft; the whole session
                // ends.
                self.delete_device(&session, Spare::Nothing);
                Err(RefreshFailure::Superseded { session })
            }
            Err(failure) => Err(failure),
        }
    }

    /// Revokes the refresh tokens of every device of `user` ([`Fault::LogoutEndsUsersRefreshTokens`]).
    pub(crate) fn revoke_users_refresh_tokens(&mut self, user: &UserId) {
        self.tokens
            .revoke_where(|owner| owner.user == *user, Spare::AccessTokens, None);
    }

    /// Revokes every token of the device but keeps the device (device-id re-use at login).
    pub(crate) fn revoke_device_tokens(&mut self, session: &Session) {
        self.tokens
            .revoke_where(|owner| owner == session, Spare::Nothing, None);
    }

    /// Revokes the access tokens of `session` other than `keep` (password change: «The homeserver
    /// SHOULD NOT revoke the access token provided in the request»); its refresh tokens stay, so
    /// the session goes on.
    pub(crate) fn revoke_other_access_tokens(&mut self, session: &Session, keep: &str) {
        self.tokens
            .revoke_where(|owner| owner == session, Spare::RefreshTokens, Some(keep));
    }

    /// Makes a live access token never expire (a fault).
    pub(crate) fn never_expire(&mut self, access_token: &str) {
        self.tokens.never_expire(access_token);
    }

    /// The session of a live access or refresh token, without using it.
    pub(crate) fn owner(&self, token: &str) -> Option<Session> {
        self.tokens.owner(token).cloned()
    }

    /// Revokes the tokens of a session (keeping the device), except what `spare` names.
    pub(crate) fn revoke_session_tokens(&mut self, session: &Session, spare: Spare) {
        self.tokens
            .revoke_where(|owner| owner == session, spare, None);
    }

    /// Revokes a token as replaced by a newer one (its session goes on).
    pub(crate) fn supersede(&mut self, token: &str) {
        self.tokens.revoke(token, Cause::Superseded);
    }

    pub(crate) fn revoke_token(&mut self, token: &str) {
        self.tokens.revoke(token, Cause::SessionEnded);
    }

    /// Drops a token as if it had never been issued (faults only).
    pub(crate) fn forget_token(&mut self, token: &str) {
        self.tokens.forget(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn store() -> (Store, UserId) {
        let mut store = Store::new(Policy {
            fault: None,
            lifetime: Some(Duration::from_secs(60)),
        });
        let alice = UserId::from_localpart("alice").unwrap();
        store.register(&alice, Some("pw".into()), false).unwrap();
        (store, alice)
    }

    #[test]
    fn users_and_passwords() {
        let (mut store, alice) = store();
        assert_eq!(store.register(&alice, None, false), Err(UserInUse));
        assert!(store.password_matches(&alice, "pw"));
        store.set_password(&alice, "new".into());
        assert!(!store.password_matches(&alice, "pw"));
        assert!(store.password_matches(&alice, "new"));
        assert!(!store.is_guest(&alice));
    }

    #[test]
    fn device_reuse_keeps_one_entry() {
        let (mut store, alice) = store();
        let id = DeviceId::from_client("PHONE").unwrap();
        let first = store.open_device(&alice, Some(id.clone()), Some("Phone".into()));
        assert!(!first.reused);
        let second = store.open_device(&alice, Some(id.clone()), None);
        assert!(second.reused);
        let devices = store.devices(&alice);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].1.display_name.as_deref(), Some("Phone"));
    }

    #[test]
    fn deleting_a_device_ends_its_tokens() {
        let (mut store, alice) = store();
        let opened = store.open_device(&alice, None, None);
        let issued = store.issue(&opened.session, true);
        assert!(store.delete_device(&opened.session, Spare::Nothing));
        assert!(store.devices(&alice).is_empty());
        assert_eq!(
            store.authenticate(&issued.access_token),
            Err(AccessFailure::Revoked(Cause::SessionEnded))
        );
        let refresh = issued.refresh_token.unwrap();
        assert_eq!(
            store.refresh(&refresh).unwrap_err(),
            RefreshFailure::SessionEnded
        );
    }
}
