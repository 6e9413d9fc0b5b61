//! The adversities a client meets, one after the other, each once the client got past the last.
//!
//! Natural access-token expiry needs no scheduling: the short lifetime of the client-test profile
//! makes it happen. The scheduled ones start after the client's first successful refresh (before
//! that, nothing it does could show a clause about refreshing), and each waits until the client
//! recovered from the previous one: a successful refresh, or for the two that end a session, a new
//! login with a refresh token.

use axum::http::Method;

pub use crate::verdict::traffic::Adversity;
use crate::verdict::traffic::{NotReached, Waiting};

/// Which endpoint a request went to, as far as judging cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Login,
    Register,
    Refresh,
    Logout,
    Other,
}

impl Endpoint {
    pub fn of(method: &Method, path: &str) -> Endpoint {
        let last = path.rsplit('/').next().unwrap_or("");
        let post = method == Method::POST;
        match last {
            "login" if post => Endpoint::Login,
            "register" if post => Endpoint::Register,
            "refresh" if post => Endpoint::Refresh,
            "logout" | "all" if post && path.contains("/logout") => Endpoint::Logout,
            _ => Endpoint::Other,
        }
    }
}

/// In the order they are applied.
pub const SCHEDULE: [Adversity; 5] = [
    Adversity::SoftLogoutTrue,
    Adversity::LostRefreshClosed,
    Adversity::LostRefresh5xx,
    Adversity::SoftLogoutFalse,
    Adversity::Refresh4xx,
];

impl Adversity {
    /// Whether the client needs a new login to go on.
    fn ends_session(self) -> bool {
        matches!(self, Adversity::SoftLogoutFalse | Adversity::Refresh4xx)
    }

    /// Whether it is applied to a `/refresh` (else to another authenticated request).
    fn at_refresh(self) -> bool {
        matches!(
            self,
            Adversity::LostRefreshClosed | Adversity::LostRefresh5xx | Adversity::Refresh4xx
        )
    }
}

/// Where the schedule stands.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Index into [`SCHEDULE`] of the next adversity.
    pub next: usize,
    /// The next adversity applies to the next eligible request.
    pub armed: bool,
    /// The client logged in at least once, and whether it asked for and got a refresh token.
    pub logins: usize,
    pub logins_with_refresh_token: usize,
    pub refreshes: usize,
}

impl Schedule {
    /// The adversity to apply to a request to `endpoint`, if one is due there.
    pub fn due(&self, endpoint: Endpoint) -> Option<Adversity> {
        let next = *SCHEDULE.get(self.next)?;
        let fits = match endpoint {
            Endpoint::Refresh => next.at_refresh(),
            Endpoint::Other => !next.at_refresh(),
            _ => false,
        };
        (self.armed && fits).then_some(next)
    }

    pub fn applied(&mut self, adversity: Adversity) {
        debug_assert_eq!(SCHEDULE.get(self.next), Some(&adversity));
        self.next += 1;
        self.armed = false;
    }

    /// A refresh was delivered: the client refreshes, and got past a non-ending adversity.
    pub fn refreshed(&mut self) {
        self.refreshes += 1;
        if !self.previous_ended_session() {
            self.armed = true;
        }
    }

    fn previous_ended_session(&self) -> bool {
        self.next
            .checked_sub(1)
            .is_some_and(|i| SCHEDULE[i].ends_session())
    }

    /// A login or registration was delivered.
    pub fn logged_in(&mut self, with_refresh_token: bool) {
        self.logins += 1;
        if with_refresh_token {
            self.logins_with_refresh_token += 1;
            if self.previous_ended_session() {
                self.armed = true;
            }
        }
    }

    /// Why `adversity` was never applied, for the reason of an untested clause.
    pub fn why_not_reached(&self, adversity: Adversity) -> NotReached {
        let index = SCHEDULE
            .iter()
            .position(|a| *a == adversity)
            .unwrap_or_default();
        if self.logins == 0 {
            return NotReached::NeverLoggedIn;
        }
        if self.logins_with_refresh_token == 0 {
            return NotReached::NoRefreshToken;
        }
        if self.refreshes == 0 {
            return NotReached::NeverRefreshed;
        }
        if index < self.next {
            return NotReached::Applied(adversity);
        }
        let at = SCHEDULE[index.min(self.next)];
        NotReached::Stuck {
            adversity,
            at,
            waiting: self.waiting_for(at),
        }
    }

    fn waiting_for(&self, adversity: Adversity) -> Waiting {
        match (
            self.armed,
            self.previous_ended_session(),
            adversity.at_refresh(),
        ) {
            (false, true, _) => Waiting::Relogin,
            (false, false, _) => Waiting::Recovery,
            (true, _, true) => Waiting::Refresh,
            (true, _, false) => Waiting::Request,
        }
    }
}
