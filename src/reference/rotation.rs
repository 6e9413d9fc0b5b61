//! Access and refresh tokens: issuing, expiry, use, rotation with the retry window, revocation.
//!
//! The rotation rule (refresh.yaml and CS § Refreshing access tokens): «The old refresh token
//! remains valid until the new access token or refresh token is used, at which point the old
//! refresh token is revoked.» So `refresh(RT0)` mints (AT1, RT1) that remember RT0 as their
//! predecessor; the first successful use of AT1 (any authenticated request) or of RT1 (a successful
//! refresh) revokes RT0. Until then RT0 may be replayed.
//!
//! Replaying RT0 before either successor is used (A4, unspecified) revokes the earlier, unused
//! pair, so only the latest pair works (Synapse does the same); [`Fault::UnusedBranchKept`] keeps
//! it.
//!
//! Tokens know their [`Session`] (user and device) but nothing about users or devices themselves;
//! the [`Store`](crate::reference::state::Store) ties the two together.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::reference::fault::Fault;
use crate::reference::ids::{DeviceId, Session, new_access_token, new_refresh_token};

/// The server-wide settings tokens depend on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) fault: Option<Fault>,
    /// Lifetime of access tokens issued together with a refresh token (None = never expire).
    pub(crate) lifetime: Option<Duration>,
}

impl Policy {
    pub(crate) fn has(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }

    /// The policy for tokens of the OAuth 2.0 API: the legacy faults concern `/login` and `/refresh` only,
    /// so each fault breaks the clauses of one API.
    fn for_oauth(self) -> Policy {
        Policy {
            fault: self.fault.filter(|f| f.is_oauth()),
            ..self
        }
    }

    fn revokes_predecessor_on_access_use(&self) -> bool {
        !self.has(Fault::OldRefreshNeverRevoked) && !self.has(Fault::OldRefreshSurvivesAccessUse)
    }

    fn revokes_predecessor_on_refresh_use(&self) -> bool {
        !self.has(Fault::OldRefreshNeverRevoked)
    }

    /// Whether `/refresh` returns a new refresh token (refresh.200.refresh_token-optional: it may
    /// not).
    fn rotates(&self) -> bool {
        !self.has(Fault::NoRotation)
            && !self.has(Fault::NoRotationOldRevoked)
            && !self.has(Fault::RefreshEchoesRefreshToken)
    }
}

/// Tokens handed to a client: the body of a login, registration or refresh response.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub(crate) session: Session,
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    /// What to advertise as `expires_in_ms` (the configured lifetime, even under
    /// [`Fault::NoExpiry`]).
    pub(crate) expires_in: Option<Duration>,
}

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessFailure {
    /// Never issued, or not an access token.
    Unknown,
    /// Issued, then revoked.
    Revoked(Cause),
    /// Issued with a lifetime that has passed (the session is intact: refresh it).
    Expired,
}

/// Why a refresh token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RefreshFailure {
    /// No token of any kind was ever issued with this value.
    NeverIssued,
    /// An access token (live or not) was presented as a refresh token.
    NotARefreshToken,
    /// A predecessor revoked because its successor was used (or replaced, A4).
    Superseded { session: Session },
    /// Revoked by logout, device deletion, password change or device-id re-use.
    SessionEnded,
    /// [`Fault::ExpiryKillsRefreshToken`]: the companion access token has expired.
    CompanionExpired,
    /// [`Fault::RefreshOnlyAfterExpiry`]: the companion access token is still valid.
    CompanionStillValid,
}

/// Why a token was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Replaced by a newer token of the same session; the session goes on.
    Superseded,
    /// The session (device) was ended; `soft_logout` must not be `true`
    /// (softlogout.false-means-destroyed).
    SessionEnded,
}

/// Which of a session's tokens a revocation leaves alone (only faults spare anything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spare {
    Nothing,
    RefreshTokens,
    AccessTokens,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    AccessTokenUsed,
    RefreshTokenUsed,
}

#[derive(Debug)]
struct AccessGrant {
    session: Session,
    expires_at: Option<Instant>,
    /// The refresh token this one was minted from, until this token's first use (which revokes it).
    predecessor: Option<String>,
}

#[derive(Debug)]
struct RefreshGrant {
    session: Session,
    /// The refresh token this one was minted from, until this token's first successful refresh.
    predecessor: Option<String>,
    /// The access token issued together with this refresh token.
    companion: String,
    companion_expires_at: Option<Instant>,
    /// The newest pair minted from this token, while neither of its tokens has been used.
    unused_successors: Option<(String, String)>,
}

#[derive(Debug)]
struct Revoked {
    session: Session,
    kind: Kind,
    cause: Cause,
}

/// Every token ever issued: the live ones, and the revoked ones with their cause (to answer
/// precisely).
#[derive(Debug)]
pub(crate) struct Tokens {
    policy: Policy,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
    revoked: HashMap<String, Revoked>,
}

impl Tokens {
    pub(crate) fn new(policy: Policy) -> Tokens {
        Tokens {
            policy,
            access: HashMap::new(),
            refresh: HashMap::new(),
            revoked: HashMap::new(),
        }
    }

    /// Issues the tokens of a login or registration: an access token, plus a refresh token when
    /// `with_refresh`. Only access tokens that come with a refresh token expire: a client that
    /// cannot refresh keeps a non-expiring token (`refresh.support.signalled-by-client`: the
    /// server's choice).
    pub(crate) fn issue(&mut self, session: &Session, with_refresh: bool, now: Instant) -> Issued {
        if with_refresh {
            let (access, refresh, expires_in) = self.mint_pair(session, None, now);
            Issued {
                session: session.clone(),
                access_token: access,
                refresh_token: Some(refresh),
                expires_in,
            }
        } else {
            let access = self.mint_access(session, None, None);
            Issued {
                session: session.clone(),
                access_token: access,
                refresh_token: None,
                expires_in: None,
            }
        }
    }

    /// Authenticates a request with `token`. A successful authentication is a *use* of the token:
    /// the first one revokes the refresh token it was minted from (rotation.retry-window).
    pub(crate) fn authenticate(
        &mut self,
        token: &str,
        now: Instant,
    ) -> Result<Session, AccessFailure> {
        let Some(grant) = self.access.get_mut(token) else {
            return self.authenticate_non_access(token);
        };
        if grant.expires_at.is_some_and(|at| at <= now) {
            return Err(AccessFailure::Expired);
        }
        let session = grant.session.clone();
        if let Some(predecessor) = grant.predecessor.take() {
            self.successor_used(&predecessor, Trigger::AccessTokenUsed);
        }
        Ok(session)
    }

    fn authenticate_non_access(&self, token: &str) -> Result<Session, AccessFailure> {
        if let Some(revoked) = self.revoked.get(token) {
            if revoked.kind == Kind::Access {
                return Err(AccessFailure::Revoked(revoked.cause));
            }
        }
        match self.refresh.get(token) {
            // A refresh token is not an access token (token.use.401-missing-or-unknown, derived).
            Some(grant) if self.policy.has(Fault::RefreshTokenAsAccessToken) => {
                Ok(grant.session.clone())
            }
            _ => Err(AccessFailure::Unknown),
        }
    }

    /// `POST /refresh` with `token`. `rebind` moves the new tokens to another device
    /// ([`Fault::RefreshNewDevice`]); faithfully they stay on the initial device
    /// (refresh.device.bound-to-initial-device). Without `rotate`, no new refresh token is issued
    /// (an allowed variation).
    pub(crate) fn refresh(
        &mut self,
        token: &str,
        now: Instant,
        rebind: Option<DeviceId>,
        rotate: bool,
    ) -> Result<Issued, RefreshFailure> {
        let Some(grant) = self.refresh.get_mut(token) else {
            return Err(self.classify_dead_refresh(token));
        };
        let companion_expired = grant.companion_expires_at.is_some_and(|at| at <= now);
        if self.policy.has(Fault::ExpiryKillsRefreshToken) && companion_expired {
            return Err(RefreshFailure::CompanionExpired);
        }
        if self.policy.has(Fault::RefreshOnlyAfterExpiry) && !companion_expired {
            return Err(RefreshFailure::CompanionStillValid);
        }
        let session = match rebind {
            Some(device) => Session {
                user: grant.session.user.clone(),
                device,
            },
            None => grant.session.clone(),
        };
        let predecessor = grant.predecessor.take();
        let replaced = grant.unused_successors.take();
        let companion = grant.companion.clone();

        // This refresh is the first use of `token` as a successor: its predecessor is revoked now.
        if let Some(predecessor) = predecessor {
            self.successor_used(&predecessor, Trigger::RefreshTokenUsed);
        }
        // A replay before the previous successors were used (A4): only the latest pair stays valid.
        if let Some((access, refresh)) = replaced {
            if !self.policy.has(Fault::UnusedBranchKept) {
                self.revoke(&access, Cause::Superseded);
                self.revoke(&refresh, Cause::Superseded);
            }
        }
        // A1: the faithful server lets the old access token live until it expires.
        if self.policy.has(Fault::OldAccessTokenRevokedAtRefresh) {
            self.revoke(&companion, Cause::Superseded);
        }

        let mut issued = if rotate && self.policy.rotates() {
            self.rotate(token, &session, now)
        } else {
            self.refresh_without_rotation(token, &session, now)
        };
        if self.policy.has(Fault::RefreshedAccessTokenInvalid) {
            self.access.remove(&issued.access_token);
        }
        if self.policy.has(Fault::RefreshReturnsSameAccessToken) {
            self.rename_access_token(&issued.access_token, &companion);
            issued.access_token = companion;
        }
        Ok(issued)
    }

    /// A new pair whose first use revokes `token`.
    fn rotate(&mut self, token: &str, session: &Session, now: Instant) -> Issued {
        let (access, refresh, expires_in) = self.mint_pair(session, Some(token), now);
        if let Some(grant) = self.refresh.get_mut(token) {
            grant.unused_successors = Some((access.clone(), refresh.clone()));
        }
        if self.policy.has(Fault::OldRefreshRevokedAtOnce) {
            self.revoke(token, Cause::Superseded);
        }
        if self.policy.has(Fault::RefreshedRefreshTokenConsumed) {
            self.revoke(&refresh, Cause::Superseded);
        }
        Issued {
            session: session.clone(),
            access_token: access,
            refresh_token: Some(refresh),
            expires_in,
        }
    }

    /// [`Fault::RefreshReturnsSameAccessToken`]: the access token just minted takes the value
    /// `old` (the access token issued with the refresh token), so the client gets the same token
    /// back; the new grant (lifetime, predecessor) replaces the old one.
    fn rename_access_token(&mut self, new: &str, old: &str) {
        let Some(grant) = self.access.remove(new) else {
            return;
        };
        self.revoked.remove(old);
        self.access.insert(old.to_owned(), grant);
        for grant in self.refresh.values_mut() {
            if grant.companion == new {
                grant.companion = old.to_owned();
            }
            if let Some((access, _)) = &mut grant.unused_successors
                && access.as_str() == new
            {
                *access = old.to_owned();
            }
        }
    }

    /// A new access token only; `token` stays the session's refresh token («If not given, the old
    /// refresh token can be re-used.»).
    fn refresh_without_rotation(&mut self, token: &str, session: &Session, now: Instant) -> Issued {
        let expires_at = self.expiry_from(now);
        let access = self.mint_access(session, expires_at, None);
        if let Some(grant) = self.refresh.get_mut(token) {
            grant.companion = access.clone();
            grant.companion_expires_at = expires_at;
        }
        if self.policy.has(Fault::NoRotationOldRevoked) {
            self.revoke(token, Cause::Superseded);
        }
        // [`Fault::RefreshEchoesRefreshToken`]: the unchanged token is handed back as if it were new.
        let echoed = self
            .policy
            .has(Fault::RefreshEchoesRefreshToken)
            .then(|| token.to_owned());
        Issued {
            session: session.clone(),
            access_token: access,
            refresh_token: echoed,
            expires_in: self.policy.lifetime,
        }
    }

    fn classify_dead_refresh(&self, token: &str) -> RefreshFailure {
        match self.revoked.get(token) {
            Some(Revoked {
                kind: Kind::Refresh,
                cause: Cause::Superseded,
                session,
            }) => RefreshFailure::Superseded {
                session: session.clone(),
            },
            Some(Revoked {
                kind: Kind::Refresh,
                cause: Cause::SessionEnded,
                ..
            }) => RefreshFailure::SessionEnded,
            Some(Revoked {
                kind: Kind::Access, ..
            }) => RefreshFailure::NotARefreshToken,
            None if self.access.contains_key(token) => RefreshFailure::NotARefreshToken,
            None => RefreshFailure::NeverIssued,
        }
    }

    /// A successor of `predecessor` was used for the first time.
    fn successor_used(&mut self, predecessor: &str, trigger: Trigger) {
        if let Some(grant) = self.refresh.get_mut(predecessor) {
            // Its successors are no longer unused: a replay of `predecessor` must not touch them.
            grant.unused_successors = None;
        }
        let revokes = match trigger {
            Trigger::AccessTokenUsed => self.policy.revokes_predecessor_on_access_use(),
            Trigger::RefreshTokenUsed => self.policy.revokes_predecessor_on_refresh_use(),
        };
        if revokes {
            self.revoke(predecessor, Cause::Superseded);
        }
    }

    fn expiry_from(&self, now: Instant) -> Option<Instant> {
        if self.policy.has(Fault::NoExpiry) {
            return None;
        }
        // A lifetime too long to represent as an instant is as good as "never".
        self.policy
            .lifetime
            .map(|lifetime| {
                if self.policy.has(Fault::AccessTokensDieEarly) {
                    lifetime / 2
                } else {
                    lifetime
                }
            })
            .and_then(|lifetime| now.checked_add(lifetime))
    }

    /// An expiring access token and a refresh token, both remembering `predecessor` (if any).
    fn mint_pair(
        &mut self,
        session: &Session,
        predecessor: Option<&str>,
        now: Instant,
    ) -> (String, String, Option<Duration>) {
        let expires_at = self.expiry_from(now);
        let access = self.mint_access(session, expires_at, predecessor);
        let refresh = new_refresh_token();
        let grant = RefreshGrant {
            session: session.clone(),
            predecessor: predecessor.map(str::to_owned),
            companion: access.clone(),
            companion_expires_at: expires_at,
            unused_successors: None,
        };
        self.refresh.insert(refresh.clone(), grant);
        (access, refresh, self.policy.lifetime)
    }

    fn mint_access(
        &mut self,
        session: &Session,
        expires_at: Option<Instant>,
        predecessor: Option<&str>,
    ) -> String {
        let access = new_access_token();
        let grant = AccessGrant {
            session: session.clone(),
            expires_at,
            predecessor: predecessor.map(str::to_owned),
        };
        self.access.insert(access.clone(), grant);
        access
    }

    /// Runs `f` under the OAuth 2.0 API's policy (see [`Policy::for_oauth`]).
    pub(crate) fn as_oauth<T>(&mut self, f: impl FnOnce(&mut Tokens) -> T) -> T {
        let legacy = self.policy;
        self.policy = legacy.for_oauth();
        let result = f(self);
        self.policy = legacy;
        result
    }

    /// Makes a live access token never expire ([`Fault::OauthNeverExpires`]).
    pub(crate) fn never_expire(&mut self, access_token: &str) {
        if let Some(grant) = self.access.get_mut(access_token) {
            grant.expires_at = None;
        }
    }

    /// The session of a live access or refresh token, without using it.
    pub(crate) fn owner(&self, token: &str) -> Option<&Session> {
        self.access
            .get(token)
            .map(|g| &g.session)
            .or_else(|| self.refresh.get(token).map(|g| &g.session))
    }

    /// Revokes one live token (no-op for unknown or already revoked tokens).
    pub(crate) fn revoke(&mut self, token: &str, cause: Cause) {
        if let Some(grant) = self.access.remove(token) {
            self.revoked.insert(
                token.to_owned(),
                Revoked {
                    session: grant.session,
                    kind: Kind::Access,
                    cause,
                },
            );
        } else if let Some(grant) = self.refresh.remove(token) {
            self.revoked.insert(
                token.to_owned(),
                Revoked {
                    session: grant.session,
                    kind: Kind::Refresh,
                    cause,
                },
            );
        }
    }

    /// Drops a live token without a trace, as if it had never been issued (for faults that "forget"
    /// tokens).
    pub(crate) fn forget(&mut self, token: &str) {
        self.access.remove(token);
        self.refresh.remove(token);
    }

    /// Revokes every token matching `owned`, except the kind `spare` names and the access token
    /// `keep`.
    pub(crate) fn revoke_where(
        &mut self,
        owned: impl Fn(&Session) -> bool,
        spare: Spare,
        keep: Option<&str>,
    ) {
        let mut doomed: Vec<String> = Vec::new();
        if spare != Spare::AccessTokens {
            let access = self
                .access
                .iter()
                .filter(|(token, grant)| owned(&grant.session) && Some(token.as_str()) != keep);
            doomed.extend(access.map(|(token, _)| token.clone()));
        }
        if spare != Spare::RefreshTokens {
            doomed.extend(
                self.refresh
                    .iter()
                    .filter(|(_, grant)| owned(&grant.session))
                    .map(|(t, _)| t.clone()),
            );
        }
        for token in doomed {
            self.revoke(&token, Cause::SessionEnded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ids::UserId;

    fn session() -> Session {
        Session {
            user: UserId::from_localpart("alice").unwrap(),
            device: DeviceId::generate(),
        }
    }

    fn tokens(fault: Option<Fault>) -> Tokens {
        Tokens::new(Policy {
            fault,
            lifetime: Some(Duration::from_secs(60)),
        })
    }

    #[test]
    fn retry_window_then_revocation_by_access_use() {
        let mut t = tokens(None);
        let now = Instant::now();
        let s = session();
        let login = t.issue(&s, true, now);
        let rt0 = login.refresh_token.unwrap();
        let first = t.refresh(&rt0, now, None, true).unwrap();
        // Neither successor used yet: RT0 may be replayed; the replay supersedes the first pair
        // (A4).
        let second = t.refresh(&rt0, now, None, true).unwrap();
        assert_eq!(
            t.authenticate(&first.access_token, now),
            Err(AccessFailure::Revoked(Cause::Superseded))
        );
        assert!(matches!(
            t.refresh(first.refresh_token.as_deref().unwrap(), now, None, true),
            Err(RefreshFailure::Superseded { .. })
        ));
        // Using the latest access token revokes RT0.
        assert_eq!(t.authenticate(&second.access_token, now), Ok(s.clone()));
        assert!(matches!(
            t.refresh(&rt0, now, None, true),
            Err(RefreshFailure::Superseded { .. })
        ));
        // The latest refresh token still works, and the login access token lives until it expires
        // (A1).
        assert!(
            t.refresh(second.refresh_token.as_deref().unwrap(), now, None, true)
                .is_ok()
        );
        assert_eq!(t.authenticate(&login.access_token, now), Ok(s));
    }

    #[test]
    fn revocation_by_refresh_use() {
        let mut t = tokens(None);
        let now = Instant::now();
        let rt0 = t.issue(&session(), true, now).refresh_token.unwrap();
        let rt1 = t
            .refresh(&rt0, now, None, true)
            .unwrap()
            .refresh_token
            .unwrap();
        assert!(t.refresh(&rt1, now, None, true).is_ok());
        assert!(matches!(
            t.refresh(&rt0, now, None, true),
            Err(RefreshFailure::Superseded { .. })
        ));
    }

    #[test]
    fn expiry_and_kinds() {
        let mut t = tokens(None);
        let now = Instant::now();
        let login = t.issue(&session(), true, now);
        let later = now + Duration::from_secs(61);
        assert_eq!(
            t.authenticate(&login.access_token, later),
            Err(AccessFailure::Expired)
        );
        let rt0 = login.refresh_token.unwrap();
        assert_eq!(t.authenticate(&rt0, now), Err(AccessFailure::Unknown));
        assert_eq!(
            t.refresh(&login.access_token, now, None, true).unwrap_err(),
            RefreshFailure::NotARefreshToken
        );
        assert_eq!(
            t.refresh("nonsense", now, None, true).unwrap_err(),
            RefreshFailure::NeverIssued
        );
        // An expired access token does not make its refresh token unusable
        // (expiry.refresh-after-expiry).
        assert!(t.refresh(&rt0, later, None, true).is_ok());
        // Without a refresh token, access tokens do not expire.
        let plain = t.issue(&session(), false, now);
        assert!(plain.expires_in.is_none());
        assert!(
            t.authenticate(&plain.access_token, later + Duration::from_secs(3600))
                .is_ok()
        );
    }

    #[test]
    fn session_end_spares_nothing() {
        let mut t = tokens(None);
        let now = Instant::now();
        let s = session();
        let login = t.issue(&s, true, now);
        let other = t.issue(&session(), true, now);
        t.revoke_where(|owner| *owner == s, Spare::Nothing, None);
        assert_eq!(
            t.authenticate(&login.access_token, now),
            Err(AccessFailure::Revoked(Cause::SessionEnded))
        );
        assert_eq!(
            t.refresh(login.refresh_token.as_deref().unwrap(), now, None, true)
                .unwrap_err(),
            RefreshFailure::SessionEnded
        );
        assert!(t.authenticate(&other.access_token, now).is_ok());
    }

    #[test]
    fn an_absurd_lifetime_means_no_expiry() {
        let mut t = Tokens::new(Policy {
            fault: None,
            lifetime: Some(Duration::MAX),
        });
        let now = Instant::now();
        let issued = t.issue(&session(), true, now);
        assert_eq!(issued.expires_in, Some(Duration::MAX));
        assert!(
            t.authenticate(&issued.access_token, now + Duration::from_secs(86_400))
                .is_ok()
        );
    }

    #[test]
    fn no_rotation_keeps_the_refresh_token() {
        let mut t = tokens(Some(Fault::NoRotation));
        let now = Instant::now();
        let rt0 = t.issue(&session(), true, now).refresh_token.unwrap();
        let first = t.refresh(&rt0, now, None, true).unwrap();
        assert!(first.refresh_token.is_none());
        assert!(t.authenticate(&first.access_token, now).is_ok());
        assert!(t.refresh(&rt0, now, None, true).is_ok());
    }

    #[test]
    fn survives_access_use_fault_does_not_kill_the_used_branch() {
        let mut t = tokens(Some(Fault::OldRefreshSurvivesAccessUse));
        let now = Instant::now();
        let rt0 = t.issue(&session(), true, now).refresh_token.unwrap();
        let first = t.refresh(&rt0, now, None, true).unwrap();
        assert!(t.authenticate(&first.access_token, now).is_ok());
        // The fault: RT0 still works after AT1 was used...
        assert!(t.refresh(&rt0, now, None, true).is_ok());
        // ...but the used branch was not touched by that replay.
        assert!(t.authenticate(&first.access_token, now).is_ok());
    }
}
