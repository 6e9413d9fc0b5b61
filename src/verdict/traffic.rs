//! Client mode's findings as data: what a client did after an event, judged from the traffic the reference
//! server recorded, and why a case had no event to judge; `report/` words them.

use std::time::Duration;

/// An adversity client mode puts the client through, one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adversity {
    /// An authenticated request gets `401 M_UNKNOWN_TOKEN`, `soft_logout: true` before the access
    /// token's announced expiry (that token stays refused; the session lives on).
    SoftLogoutTrue,
    /// A `/refresh` is processed, then the connection is closed without a response.
    LostRefreshClosed,
    /// A `/refresh` is processed, then answered `500 M_UNKNOWN`.
    LostRefresh5xx,
    /// An authenticated request gets `401 M_UNKNOWN_TOKEN`, `soft_logout: false`: the session is
    /// destroyed, every token of it refused from then on.
    SoftLogoutFalse,
    /// A `/refresh` gets `401 M_UNKNOWN_TOKEN`, `soft_logout: false`: the session is destroyed.
    Refresh4xx,
}

impl Adversity {
    pub fn name(self) -> &'static str {
        match self {
            Adversity::SoftLogoutTrue => "soft-logout-true",
            Adversity::LostRefreshClosed => "lost-refresh-closed",
            Adversity::LostRefresh5xx => "lost-refresh-5xx",
            Adversity::SoftLogoutFalse => "soft-logout-false",
            Adversity::Refresh4xx => "refresh-4xx",
        }
    }
}

/// Where a token appeared in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlace {
    AuthorizationHeader,
    Query(String),
    Body(String),
}

/// A request of the client, as a finding names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
}

/// What the client did after an event: each variant holds or breaks the clause it is recorded for. Times are
/// counted from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// It refreshed the session after a 401.
    Refreshed { after: Duration },
    /// It stopped using the ended session and logged in anew.
    LoggedInAnew { after: Duration },
    /// It stopped using the ended session: nothing with its tokens in the `silence` that followed.
    StoppedUsing { silence: Duration },
    /// It repeated a lost refresh with the same refresh token.
    RepeatedRefresh { after: Duration },
    /// It used the new tokens after a refresh.
    UsedNewTokens { after: Duration },
    /// It sent its refresh token in the `refresh_token` field of a `POST /refresh` body, and nowhere else.
    RefreshTokenInBody,
    /// It logged in again after a 401 instead of refreshing.
    LoggedInInsteadOfRefreshing { after: Duration },
    /// It logged out after a 401 instead of refreshing.
    LoggedOutInsteadOfRefreshing { after: Duration },
    /// It sent the refused session's access token again without refreshing first.
    ResentAccessToken { request: Request, after: Duration },
    /// It did not do what was `expected` in the `silence` that followed.
    NoReaction {
        expected: Expected,
        silence: Duration,
    },
    /// It kept using the ended session: refresh attempts beyond those allowed (`refreshes`, when there were
    /// too many), requests with its access tokens (`uses`), the first `first` after the event.
    KeptUsingEndedSession {
        refreshes: Option<usize>,
        uses: usize,
        first: Duration,
    },
    /// It logged in again instead of repeating a lost refresh.
    LoggedInInsteadOfRepeating { after: Duration },
    /// It logged out instead of repeating a lost refresh.
    LoggedOutInsteadOfRepeating { after: Duration },
    /// Its next refresh presented a refresh token of another generation than the lost one's.
    RefreshedWithOtherToken {
        after: Duration,
        presented: usize,
        lost: usize,
    },
    /// It replayed a superseded refresh token.
    ReplayedSupersededRefreshToken { generation: usize, after: Duration },
    /// It sent a superseded access token.
    SentSupersededAccessToken {
        generation: usize,
        request: Request,
        after: Duration,
    },
    /// It sent a refresh token elsewhere than in the body of `POST /refresh`.
    RefreshTokenMisplaced {
        request: Request,
        places: Vec<TokenPlace>,
    },
    /// It sent the refresh token in the body of `POST /refresh`, and also elsewhere.
    RefreshTokenAlsoElsewhere {
        request: Request,
        places: Vec<TokenPlace>,
    },
}

/// What the client should have done after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Refresh,
    RepeatedRefresh,
}

/// Why an event that happened could not be judged: the run ended first. Times are counted from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unjudged {
    /// The run ended before the client showed its reaction.
    EndedBeforeReaction { silence: Duration },
    /// The run ended too soon to tell whether the client stopped using the session.
    EndedTooSoon { silence: Duration },
    /// No request with the session's tokens followed.
    NoFollowUp { silence: Duration },
}

/// Why a client-mode case judged nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotExercised {
    /// Its events happened, but none could be judged: each event (the step) and why.
    Unjudged(Vec<(String, Unjudged)>),
    /// Its event never happened.
    NotReached(NotReached),
}

/// Why the event a case judges never happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReached {
    NeverLoggedIn,
    /// The client never asked for a refresh token: no refresh-token support.
    NoRefreshToken,
    /// The client never refreshed, so no adversity was scheduled.
    NeverRefreshed,
    /// The client never used an expired access token: it refreshed ahead of expiry.
    RefreshedAheadOfExpiry,
    Applied(Adversity),
    /// The schedule stopped at `at` (maybe `adversity` itself), waiting for the client.
    Stuck {
        adversity: Adversity,
        at: Adversity,
        waiting: Waiting,
    },
}

/// What the schedule waits for before it applies the next adversity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A new login after the session was ended.
    Relogin,
    /// A successful refresh after the previous adversity.
    Recovery,
    /// The client's next `/refresh`.
    Refresh,
    /// The client's next authenticated request.
    Request,
}
