//! Why the probe found a gate unmet, or could not decide it, as data; `report/` words it. Here rather than
//! beside the probe because a case that stops on a gate carries the reason in its [`StopReason`].
//!
//! [`StopReason`]: crate::verdict::StopReason

use std::time::Duration;

use crate::case::model::Gate;
use crate::http::HttpError;
use crate::oauth_wire::MetadataGap;

/// A request of the probe, as the reasons name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeRequest {
    /// `GET /login`: the login flows.
    LoginFlows,
    /// `POST /login` asking for a refresh token, with the probe account's password.
    RefreshLogin,
    /// `POST /refresh` of the probe login's fresh refresh token.
    Refresh,
    /// `POST /register?kind=user` without authentication: the registration flows.
    Registration,
    /// `POST /register?kind=guest`.
    GuestRegistration,
    /// An OAuth 2.0 discovery request: `GET` of this path or URL.
    Discovery(String),
}

/// Why a gate is not met: the server's own answer, or the run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateUnmet {
    /// An option of the run that the gate needs was not given.
    NotGiven(Setting),
    /// The target answered `GET /versions` as no Matrix homeserver would (the probe's words); only its
    /// OAuth 2.0 server is tested.
    NotMatrix(String),
    /// `GET /login` lists no `m.login.password` flow.
    NoPasswordFlow { status: u16 },
    /// A login with `refresh_token: true` got no refresh token: refresh tokens look switched off.
    NoRefreshToken,
    /// `/refresh` of a fresh refresh token gave no new one (the old one stays usable, as the spec allows).
    NoRotation,
    /// Access tokens issued with a refresh token carry no `expires_in_ms`.
    NoLifetime,
    /// Waiting out an access token's lifetime and its margin would exceed `--max-wait`.
    LifetimeOverMaxWait {
        lifetime: Duration,
        needed: Duration,
        max_wait: Duration,
    },
    /// The server refused client-API registration to the harness; its answer, described.
    RegistrationClosed { answer: String },
    /// The server refused guest registration; its answer, described.
    GuestsRefused { answer: String },
    /// A discovery request answered with a 4xx: there is no OAuth 2.0 API.
    NoOauthApi {
        request: ProbeRequest,
        answer: String,
    },
    /// The metadata's `grant_types_supported` (found at `source`) lacks the device code grant.
    NoDeviceGrant { source: String },
    /// The metadata lacks an endpoint the gate needs.
    Metadata(MetadataGap),
}

/// A run option a gate can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Accounts of the case's own: only the `--user` account is available.
    FreshAccounts,
    AdminToken,
    AsToken,
    Bursts,
    /// `--oauth-authorize`: something to complete a user's login and consent.
    Authoriser,
}

/// Why the probe could not decide a gate: a request of it got no usable answer.
#[derive(Debug, Clone)]
pub enum GateUndecided {
    /// The request got no response.
    Failed {
        request: ProbeRequest,
        error: HttpError,
    },
    /// The request got an answer that says nothing about the feature (a 5xx, a 429, a refusal of a fresh
    /// token, no JSON metadata); the answer, described.
    Answered {
        request: ProbeRequest,
        answer: String,
    },
    /// The probe login answered 200 without an access token: not a login response.
    NotALogin,
    /// The probe never looked at the gate.
    NotProbed(Gate),
}
