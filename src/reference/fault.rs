//! The named faults of the reference homeserver.
//!
//! Each fault is one plausible bug or one real server's deviation, switched on alone. A *fault*
//! makes the server break the clause(s) listed in `breaks`; the suite must catch it (the "mutation
//! matrix"). An *allowed variation* is a behaviour the spec leaves to the server; it breaks
//! nothing, and the suite must not report a MUST/SHOULD failure for it.
//!
//! One table (the `faults!` invocation below) is the single source of the enum, [`Fault::ALL`], the
//! names and the descriptions, so adding a fault cannot forget one of them.

use std::fmt;
use std::str::FromStr;

/// Whether a [`Fault`] is a bug the suite must catch or a behaviour the spec allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Breaks the listed clauses.
    Breaks(&'static [&'static str]),
    /// Allowed by the spec (the text names the choice or ambiguity); must not fail any MUST/SHOULD
    /// clause.
    Allowed,
}

macro_rules! faults {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $kind:expr, $description:literal; )+) => {
        /// A named deviation of the reference homeserver (one at a time). See the module
        /// documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Fault {
            $( $(#[$doc])* $variant, )+
        }

        impl Fault {
            /// Every fault and allowed variation, in catalogue order.
            pub const ALL: &'static [Fault] = &[ $( Fault::$variant, )+ ];

            /// The stable kebab-case name (`--reference-fault NAME`).
            pub fn name(self) -> &'static str {
                match self { $( Fault::$variant => $name, )+ }
            }

            /// One line: what the server does wrong, or differently.
            pub fn description(self) -> &'static str {
                match self { $( Fault::$variant => $description, )+ }
            }

            fn kind(self) -> Kind {
                match self { $( Fault::$variant => $kind, )+ }
            }
        }
    };
}

use Kind::{Allowed, Breaks};

faults! {
    // --- Rotation (refresh.rotation.*, rotation.retry-window) ---
    OldRefreshNeverRevoked = "old-refresh-never-revoked",
        Breaks(&["refresh.rotation.old-refresh-revoked-after-new-access-used",
                 "refresh.rotation.old-refresh-revoked-after-new-refresh-used"]),
        "a superseded refresh token is never revoked, even after the new access and refresh tokens were used";
    OldRefreshRevokedAtOnce = "old-refresh-revoked-at-once",
        Breaks(&["refresh.rotation.old-refresh-valid-until-new-used", "rotation.retry-window"]),
        "the old refresh token is revoked as soon as it is used, so a lost /refresh response cannot be retried";
    OldRefreshSurvivesAccessUse = "old-refresh-survives-access-use",
        Breaks(&["refresh.rotation.old-refresh-revoked-after-new-access-used"]),
        "using the new access token does not revoke the old refresh token (only using the new refresh token does)";
    UsedRefreshForbidden = "used-refresh-forbidden",
        Breaks(&["refresh.401.unknown-or-used"]),
        "a superseded refresh token gets 403 M_FORBIDDEN instead of 401 M_UNKNOWN_TOKEN (as Synapse does; strict profile, A6)";
    UnknownRefreshWrongStatus = "unknown-refresh-wrong-status",
        Breaks(&["refresh.401.unknown-or-used"]),
        "a never-issued refresh token gets 400 instead of 401 (errcode still M_UNKNOWN_TOKEN)";
    NoRotationOldRevoked = "no-rotation-old-revoked",
        Breaks(&["refresh.200.refresh_token-optional"]),
        "/refresh returns no new refresh_token, yet revokes the old one (\"if not given, the old refresh token can be re-used\")";
    RefreshedRefreshTokenConsumed = "refreshed-refresh-token-consumed",
        Breaks(&["refresh.rotation.old-refresh-revoked-after-new-refresh-used"]),
        "the refresh token returned by /refresh is treated as already used, so the next refresh fails (MAS#4883)";
    RefreshEchoesRefreshToken = "refresh-echoes-refresh-token",
        Breaks(&["rotation.new-refresh-token-may-be-returned"]),
        "/refresh returns the refresh token it was given as the \"new\" refresh_token, which is never invalidated (nothing rotates)";

    // --- /refresh request and response ---
    RefreshEndpointV1Only = "refresh-endpoint-v1-only",
        Breaks(&["refresh.endpoint.path", "refresh.versions.listed"]),
        "refresh tokens are issued, but /refresh is served only at /_matrix/client/v1/refresh (/v3 gives 404 M_UNRECOGNIZED)";
    RefreshRequiresAccessToken = "refresh-requires-access-token",
        Breaks(&["refresh.auth.no-access-token"]),
        "/refresh answers 401 M_MISSING_TOKEN when no Authorization header is sent";
    RefreshRequiresContentType = "refresh-requires-content-type",
        Breaks(&["refresh.request.json-body", "json.request-body-object"]),
        "/refresh rejects a JSON body sent without Content-Type: application/json (400 M_NOT_JSON)";
    MalformedRefresh5xx = "malformed-refresh-5xx",
        Breaks(&["refresh.request.refresh_token-required"]),
        "/refresh answers 500 M_UNKNOWN when refresh_token is missing or not a string";
    RefreshedAccessTokenInvalid = "refreshed-access-token-invalid",
        Breaks(&["refresh.200.access_token", "expiry.new-token-works", "token.use.bearer-header"]),
        "the access token returned by /refresh is never recorded, so it does not work";
    RefreshReturnsSameAccessToken = "refresh-returns-same-access-token",
        Breaks(&["refresh.200.generated"]),
        "/refresh generates no new access token: it returns the one issued with the refresh token again, with its lifetime renewed";
    RefreshNewDevice = "refresh-new-device",
        Breaks(&["refresh.device.bound-to-initial-device"]),
        "the tokens returned by /refresh are bound to a newly created device instead of the initial one";
    RefreshBroken5xx = "refresh-broken-5xx",
        Breaks(&["login.200.refresh_token", "expiry.refresh-any-time",
                 "refresh.request.json-body", "refresh.request.refresh_token-required",
                 "refresh.endpoint.path", "refresh.versions.listed", "logout.refresh-token-dead"]),
        "refresh tokens are issued, but /refresh answers 500 M_UNKNOWN to every request (the probe must not excuse the refresh and rotation clauses as not applicable; cases whose control refresh fails cannot say a token is dead)";
    RefreshOnlyAfterExpiry = "refresh-only-after-expiry",
        Breaks(&["expiry.refresh-any-time", "login.200.refresh_token"]),
        "/refresh refuses (403 M_FORBIDDEN) while the access token issued with the refresh token has not expired yet";

    // --- Expiry and soft logout ---
    // A token that never expires is never an "expired access token": the false statement is the
    // advertised lifetime (expires_in_ms), not the error for expired tokens.
    NoExpiry = "no-expiry",
        Breaks(&["login.200.expires_in_ms", "refresh.200.expires_in_ms"]),
        "expires_in_ms is advertised but access tokens never expire";
    ExpiresInSeconds = "expires-in-seconds",
        Breaks(&["login.200.expires_in_ms", "refresh.200.expires_in_ms"]),
        "expires_in_ms carries the lifetime in seconds (visible only with a lifetime well above the suite's margin, see ReferenceConfig::for_fault)";
    ExpiresInMsString = "expires-in-ms-string",
        Breaks(&["login.200.expires_in_ms", "refresh.200.expires_in_ms", "register.200.expires_in_ms"]),
        "expires_in_ms is a JSON string (\"1500\") instead of an integer";
    AccessTokensDieEarly = "access-tokens-die-early",
        Breaks(&["login.200.expires_in_ms"]),
        "access tokens stop working after half the lifetime expires_in_ms advertises (a warning by default, A12)";
    NoSoftLogoutOnExpiry = "no-soft-logout-on-expiry",
        Breaks(&["expiry.expired-token-error"]),
        "an expired access token gets M_UNKNOWN_TOKEN with soft_logout: false (SHOULD: \"preferably with soft_logout: true\")";
    ExpiredTokenOwnErrcode = "expired-token-own-errcode",
        Breaks(&["expiry.expired-token-error"]),
        "an expired access token gets 401 M_TOKEN_EXPIRED (the dedicated code asked for in MSC2918's review, never adopted) instead of M_UNKNOWN_TOKEN";
    ExpiryKillsRefreshToken = "expiry-kills-refresh-token",
        Breaks(&["expiry.refresh-after-expiry"]),
        "once the access token has expired, its refresh token is refused too (401 M_UNKNOWN_TOKEN)";
    SoftLogoutAfterLogout = "soft-logout-after-logout",
        Breaks(&["softlogout.false-means-destroyed"]),
        "tokens ended by logout, device deletion or password change get soft_logout: true";
    SoftLogoutString = "soft-logout-string",
        Breaks(&["softlogout.signal"]),
        "soft_logout is sent as a JSON string (\"true\"/\"false\") instead of a boolean";

    // --- What ends a session ---
    LogoutKeepsRefreshTokens = "logout-keeps-refresh-tokens",
        Breaks(&["logout.refresh-token-dead"]),
        "/logout revokes the device's access tokens and deletes the device, but its refresh tokens keep working";
    LogoutOnlyRevokesPresentedToken = "logout-only-revokes-presented-token",
        Breaks(&["logout.invalidates-token-and-device", "logout.refresh-token-dead"]),
        "/logout revokes only the access token it was called with; the device and its other tokens survive";
    LogoutRequiresBody = "logout-requires-body",
        Breaks(&["logout.empty-body"]),
        "/logout and /logout/all reject an empty request body (400 M_NOT_JSON)";
    LogoutAllKeepsRefreshTokens = "logout-all-keeps-refresh-tokens",
        Breaks(&["logout.all.refresh-tokens-dead"]),
        "/logout/all revokes every access token and device, but the refresh tokens keep working";
    LogoutEndsUsersRefreshTokens = "logout-ends-users-refresh-tokens",
        Breaks(&["device.binding.record"]),
        "/logout also revokes the refresh tokens of the user's other devices (refresh tokens recorded per user, not per device)";
    LogoutAllOnlyCurrentDevice = "logout-all-only-current-device",
        Breaks(&["logout.all.invalidates-all", "logout.all.refresh-tokens-dead"]),
        "/logout/all behaves like /logout: the user's other devices and their tokens survive";
    DeviceDeleteKeepsRefreshTokens = "device-delete-keeps-refresh-tokens",
        Breaks(&["device.delete.refresh-tokens-dead"]),
        "DELETE /devices/{id} revokes the device's access tokens, but its refresh tokens keep working";
    DeviceDeleteKeepsAccessTokens = "device-delete-keeps-access-tokens",
        Breaks(&["device.delete.invalidates"]),
        "DELETE /devices/{id} removes the device from the list, but its access tokens keep working";
    PasswordChangeKeepsSessions = "password-change-keeps-sessions",
        Breaks(&["password.logout_devices"]),
        "a password change with the default logout_devices (true) revokes nothing";
    PasswordChangeLogsOutRequester = "password-change-logs-out-requester",
        Breaks(&["password.keep-requesting-token"]),
        "a password change also revokes the access token (and device) that made the request";
    DeviceReuseKeepsTokens = "device-reuse-keeps-tokens",
        Breaks(&["device.reuse.invalidates-old-tokens"]),
        "logging in with an existing device_id leaves that device's previous access and refresh tokens valid";
    ReloginDuplicatesDevice = "relogin-duplicates-device",
        Breaks(&["softlogout.recover-via-refresh-or-same-device-login"]),
        "logging in with an existing device_id lists the device once more in GET /devices (duplicate entries)";

    // --- Login and registration ---
    LoginRejectsRefreshTokenField = "login-rejects-refresh-token-field",
        Breaks(&["login.request.refresh_token"]),
        "POST /login rejects any request that carries the refresh_token field (400 M_BAD_JSON)";
    LoginIgnoresDeviceId = "login-ignores-device-id",
        Breaks(&["login.device.association", "login.request.device_id"]),
        "POST /login ignores the supplied device_id and always creates a new device";
    LoginOmitsDeviceId = "login-omits-device-id",
        Breaks(&["login.200.required-fields"]),
        "the /login response has no device_id";
    InhibitLoginReturnsRefreshToken = "inhibit-login-returns-refresh-token",
        Breaks(&["register.200.refresh_token", "register.200.expires_in_ms"]),
        "registration with inhibit_login: true still returns refresh_token and expires_in_ms when asked for a refresh token (the fields only: no device is created, the token is not recorded)";
    InhibitLoginReturnsAccessToken = "inhibit-login-returns-access-token",
        Breaks(&["register.request.inhibit_login"]),
        "registration with inhibit_login: true still returns access_token and device_id (but no refresh token)";
    RegisterWithoutAccessToken = "register-without-access-token",
        Breaks(&["register.200.access_token"]),
        "registration without inhibit_login returns only user_id, as if inhibit_login were true";
    RegisterRefreshTokenUnusable = "register-refresh-token-unusable",
        Breaks(&["register.200.refresh_token"]),
        "the refresh token returned by POST /register is never recorded, so /refresh rejects it";
    RegisterRejectsRefreshTokenField = "register-rejects-refresh-token-field",
        Breaks(&["register.request.refresh_token"]),
        "POST /register for a user account rejects any request that carries the refresh_token field (400 M_BAD_JSON)";
    RegisterIgnoresDeviceId = "register-ignores-device-id",
        Breaks(&["register.device.association"]),
        "POST /register ignores the supplied device_id and binds the new access token to a generated device";
    GuestHonoursRefreshToken = "guest-honours-refresh-token",
        Breaks(&["register.guest.params-ignored"]),
        "a guest registration returns a refresh token when (and only when) the body asks for one";

    // --- Access-token use ---
    RefreshTokenAsAccessToken = "refresh-token-as-access-token",
        Breaks(&["token.use.401-missing-or-unknown"]),
        "a refresh token is accepted as an access token";
    MissingTokenAsUnknown = "missing-token-as-unknown",
        Breaks(&["token.use.401-missing-or-unknown"]),
        "a request without any access token gets M_UNKNOWN_TOKEN instead of M_MISSING_TOKEN";
    QueryStringTokenRejected = "query-string-token-rejected",
        Breaks(&["token.use.query-string"]),
        "the deprecated ?access_token= query parameter is ignored (401 M_MISSING_TOKEN) though v1.11-v1.19 are advertised";
    WhoamiWithoutDeviceId = "whoami-without-device-id",
        Breaks(&["whoami.device_id"]),
        "GET /account/whoami omits device_id";
    TxnNotKeptAcrossRefresh = "txn-not-kept-across-refresh",
        Breaks(&["txn.survives-refresh"]),
        "transaction ids are scoped to the access token instead of the device, so a refresh forgets them";

    // --- Hollow passes the suite once let through ---
    EndedRefreshTokenForbidden = "ended-refresh-token-forbidden",
        Breaks(&["refresh.401.unknown-or-used"]),
        "a refresh token of an ended session (logout, device deletion, password change, device_id re-use) gets 403 M_FORBIDDEN instead of 401 M_UNKNOWN_TOKEN";
    RefreshWithoutAuthForbidden = "refresh-without-auth-forbidden",
        Breaks(&["refresh.auth.no-access-token"]),
        "/refresh answers 403 M_FORBIDDEN (not 401) when no Authorization header is sent";
    NonAsciiAccessToken500 = "non-ascii-access-token-500",
        Breaks(&["token.use.401-missing-or-unknown"]),
        "an access token with non-ASCII characters gets 500 M_UNKNOWN instead of 401 M_UNKNOWN_TOKEN (as Synapse 1.163.2 does)";
    BadRequestErrorsWithoutErrcode = "bad-request-errors-without-errcode",
        Breaks(&["error.standard-format"]),
        "M_NOT_JSON, M_BAD_JSON and M_MISSING_PARAM errors carry only an error message, no errcode";

    // --- General API rules ---
    ErrorWithoutErrorField = "error-without-error-field",
        Breaks(&["error.standard-format"]),
        "error responses carry errcode but no error string";
    TextPlainErrors = "text-plain-errors",
        Breaks(&["json.response-content-type"]),
        "error responses have Content-Type: text/plain (the body is still JSON)";
    ErrorBodyNotUtf8 = "error-body-not-utf8",
        Breaks(&["json.utf8"]),
        "error messages contain a Latin-1 byte (0xE9), so error bodies are not valid UTF-8";
    WrongMethod404 = "wrong-method-404",
        Breaks(&["error.M_UNRECOGNIZED"]),
        "a known endpoint called with the wrong method (GET /refresh) gives 404 instead of 405";
    UnknownEndpointWrongErrcode = "unknown-endpoint-wrong-errcode",
        Breaks(&["error.M_UNRECOGNIZED"]),
        "unknown endpoints give 404 M_NOT_FOUND instead of 404 M_UNRECOGNIZED";
    NoCors = "no-cors",
        Breaks(&["cors.headers", "cors.methods-note"]),
        "no CORS headers on any response (OPTIONS still answers 200)";
    OptionsRunsLogic = "options-runs-logic",
        Breaks(&["cors.options"]),
        "OPTIONS requests are routed like POST, so OPTIONS /refresh performs a refresh";
    NoRetryAfterHeader = "no-retry-after-header",
        Breaks(&["ratelimit.retry-after-header"]),
        "429 responses carry retry_after_ms but no Retry-After header (only visible with a rate limit configured)";
    VersionsWithoutVPrefix = "versions-without-v-prefix",
        Breaks(&["versions.feature-map"]),
        "GET /versions lists \"1.1\" ... \"1.19\" instead of \"v1.1\" ... \"v1.19\", so no client can map them to features";

    // --- The OAuth 2.0 API (CS § OAuth 2.0 API and the RFCs it builds on) ---
    NoOauthWrongErrcode = "no-oauth-wrong-errcode",
        Breaks(&["auth.discovery.404-unrecognized", "oauth.discovery.endpoint"]),
        "the server offers only the legacy API, and GET /_matrix/client/v1/auth_metadata answers 404 M_NOT_FOUND instead of M_UNRECOGNIZED";
    OauthMetadataWithoutRefreshGrant = "oauth-metadata-without-refresh-grant",
        Breaks(&["expiry.oauth-refresh-mandatory", "oauth.metadata.grant_types_supported"]),
        "GET /_matrix/client/v1/auth_metadata lists grant_types_supported [\"authorization_code\"] only (no refresh_token grant)";
    OauthMetadataWithoutRevocation = "oauth-metadata-without-revocation",
        Breaks(&["oauth.metadata.required"]),
        "the OAuth 2.0 server metadata has no revocation_endpoint";
    OauthMetadataPlainPkce = "oauth-metadata-plain-pkce",
        Breaks(&["oauth.metadata.other-musts"]),
        "code_challenge_methods_supported lists [\"plain\"] instead of including S256 (the S256 grant still works)";
    OauthRegistrationRejectsUnknownGrant = "oauth-registration-rejects-unknown-grant",
        Breaks(&["oauth.client-metadata.grant_types"]),
        "dynamic client registration refuses grant_types it does not know (400 invalid_client_metadata) instead of ignoring them";
    OauthRegistrationRejectsNone = "oauth-registration-rejects-none",
        Breaks(&["oauth.client-metadata.auth-method-none"]),
        "dynamic client registration refuses public clients (token_endpoint_auth_method none)";
    OauthPkceIgnored = "oauth-pkce-ignored",
        Breaks(&["oauth.grant.authcode.pkce"]),
        "the token endpoint redeems an authorisation code whatever code_verifier comes with it";
    OauthScopeDeviceIgnored = "oauth-scope-device-ignored",
        Breaks(&["oauth.scope.device"]),
        "the authorisation code grant binds the tokens to a generated device, not the one of the urn:matrix:client:device: scope";
    OauthNoRefreshToken = "oauth-no-refresh-token",
        Breaks(&["oauth.refresh.must-issue"]),
        "the authorisation code grant issues no refresh token";
    OauthTokensCacheable = "oauth-tokens-cacheable",
        Breaks(&["oauth.token-response.no-store"]),
        "token responses carry no Cache-Control: no-store";
    OauthNeverExpires = "oauth-never-expires",
        Breaks(&["oauth.refresh.short-lived"]),
        "OAuth access tokens advertise expires_in but never expire";
    OauthTokenJsonOnly = "oauth-token-json-only",
        Breaks(&["oauth.refresh-flow.request", "oauth.grant.device.requires-refresh-grant"]),
        "the refresh token grant refuses form-encoded bodies (400 invalid_request) and wants JSON (so a device grant's refresh token cannot be used either)";
    OauthRefreshWithoutTokenType = "oauth-refresh-without-token-type",
        Breaks(&["oauth.refresh-flow.response"]),
        "the refresh token grant's response has no token_type";
    OauthNoRetry = "oauth-no-retry",
        Breaks(&["oauth.refresh.retry-on-lost-response"]),
        "a refresh token is revoked as soon as it is exchanged, so a refresh whose response was lost cannot be retried";
    OauthNoReuseDetection = "oauth-no-reuse-detection",
        Breaks(&["oauth.refresh.reuse-detection"]),
        "replaying an invalidated refresh token is refused, but the session it belongs to goes on";
    OauthRefreshAnyClient = "oauth-refresh-any-client",
        Breaks(&["oauth.refresh.client-binding"]),
        "a refresh token is accepted from any client_id, not only the client it was issued to";
    OauthRefreshNewDevice = "oauth-refresh-new-device",
        Breaks(&["oauth.scope.tokens-bound", "oauth.refresh.reuse-detection"]),
        "the refresh token grant moves the session to a newly made-up device (so revoking the replayed token's session misses the newest tokens)";
    OauthMatrixErrors = "oauth-matrix-errors",
        Breaks(&["oauth.api-standards.error-format"]),
        "the OAuth endpoints answer errors in Matrix form (401 {errcode, error}) instead of RFC 6749 §5.2 form (400 {error})";
    OauthDeviceReuseKeepsTokens = "oauth-device-reuse-keeps-tokens",
        Breaks(&["oauth.device.reuse-invalidates"]),
        "a second grant for the same device leaves the first grant's tokens working";
    OauthRevokeSparesRefresh = "oauth-revoke-spares-refresh",
        Breaks(&["oauth.revocation.both-tokens"]),
        "revocation revokes only the token presented: revoking the access token spares the refresh token and vice versa";
    OauthRevokeRequiresClientId = "oauth-revoke-requires-client-id",
        Breaks(&["oauth.revocation.client_id-mismatch"]),
        "revocation without a client_id is refused (400) and with another client's client_id does nothing (as oidc-provider does by default)";
    OauthRevokeUnknown400 = "oauth-revoke-unknown-400",
        Breaks(&["oauth.revocation.responses"]),
        "revoking an unknown or already revoked token answers 400 instead of 200";
    OauthDeviceNoRefreshToken = "oauth-device-no-refresh-token",
        Breaks(&["oauth.grant.device.requires-refresh-grant"]),
        "the device authorisation grant issues no refresh token (the authorisation code grant still does)";
    OauthDeviceWithoutExpiresIn = "oauth-device-without-expires-in",
        Breaks(&["oauth.token-response.device"]),
        "the device authorisation grant's token response has no expires_in (the token still expires)";

    // --- Allowed variations (the spec leaves these to the server) ---
    OldAccessTokenRevokedAtRefresh = "old-access-token-revoked-at-refresh",
        Allowed,
        "allowed (refresh.old-access-token.server-choice, A1): /refresh revokes the access token issued with the refresh token at once";
    RefreshTokensUnasked = "refresh-tokens-unasked",
        Allowed,
        "allowed (refresh.support.signalled-by-client, A9): refresh tokens and expiring access tokens are issued even without refresh_token: true";
    NoRotation = "no-rotation",
        Allowed,
        "allowed (refresh.200.refresh_token-optional): /refresh returns no new refresh_token and the old one stays usable";
    NoRefreshTokens = "no-refresh-tokens",
        Allowed,
        "allowed (A10): refresh_token: true is ignored, no refresh token is ever issued, /refresh answers 404 M_UNRECOGNIZED";
    ReplayEndsSession = "replay-ends-session",
        Allowed,
        "allowed (A5): replaying a superseded refresh token ends the whole session (device and all its tokens)";
    UnusedBranchKept = "unused-branch-kept",
        Allowed,
        "allowed (A4): replaying a refresh token before its successors are used keeps the first, unused pair valid too";
    OauthNoRotation = "oauth-no-rotation",
        Allowed,
        "allowed (RFC 6749 §6 MAY; default reading of A31): the refresh token grant returns no new refresh token and the old one stays usable";
    OauthGraceWindow = "oauth-grace-window",
        Allowed,
        "allowed (A31): a rotated refresh token stays usable for a fixed grace window (3 s) instead of until its successor is used";
    NoOauth = "no-oauth",
        Allowed,
        "allowed: the server offers only the legacy API (GET /auth_metadata answers 404 M_UNRECOGNIZED)";
    OauthOnly = "oauth-only",
        Allowed,
        "allowed: the server offers only the OAuth 2.0 API (GET /login lists no flows, POST /login and /register are refused)";
    NoExpiresInMs = "no-expires-in-ms",
        Allowed,
        "allowed (A11): refresh tokens are issued, but no expires_in_ms anywhere and access tokens never expire (so no OAuth 2.0 API, whose access tokens must be short-lived)";
}

/// What a fault takes away that the cases of other clauses stand on. The mutation matrix derives from it,
/// and from the cases alone, the clauses the fault hides: those whose every case can reach its checks only
/// through what the fault breaks. Exactly those may move, and only to `untested` (a needed step fails) or
/// `not-applicable` (a gate the server no longer meets); every other clause keeps the
/// verdict it has on the faithful server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hides {
    /// A `refresh` step, or a request to `/refresh`, that must succeed.
    Refresh,
    /// A `login` step that sends the `refresh_token` field.
    RefreshTokenLogin,
    /// A step using the access token of a session made by a `refresh` step.
    RefreshedAccessToken,
    /// A `whoami` step that needs `device_id` in the answer.
    WhoamiDeviceId,
    /// An `oauth_login` step, or a client registration.
    OauthLogin,
    /// An `oauth_refresh` step.
    OauthRefresh,
    /// The cases that require one of these gates (by their names in case files): they are no longer met.
    Gate(&'static [&'static str]),
    /// The cases that require this gate: the probe can no longer tell whether it is met.
    UndecidedGate(&'static str),
    /// The cases with a `spec:` range: the server advertises no version the suite can read, so they cannot
    /// tell whether they apply.
    SpecRange,
    /// These clauses, untested, each for a reason given where the fault declares it.
    Clauses(&'static [&'static str]),
    /// These clauses, not applicable, each for a reason given where the fault declares it.
    NotApplicable(&'static [&'static str]),
}

impl Fault {
    /// What the fault takes away from the cases of clauses it does not break (see [`Hides`]).
    pub fn hides(self) -> &'static [Hides] {
        use Hides::*;
        match self {
            // Every refresh a case needs fails, the probe's too (which tells whether the server rotates).
            Fault::RefreshBroken5xx
            | Fault::RefreshOnlyAfterExpiry
            | Fault::RefreshRequiresAccessToken
            | Fault::RefreshWithoutAuthForbidden => &[Refresh, UndecidedGate("rotation")],
            Fault::RefreshEndpointV1Only => &[
                Refresh,
                UndecidedGate("rotation"),
                // A missing endpoint is refresh.endpoint.path's failure: the timing check applies only
                // to an endpoint that answers.
                Clauses(&["expiry.refresh-any-time"]),
            ],
            // The login of every case that wants a refresh token fails (the probe asks a registration).
            Fault::LoginRejectsRefreshTokenField => &[RefreshTokenLogin],
            Fault::RefreshedAccessTokenInvalid => &[RefreshedAccessToken],

            // These clauses' cases compare device IDs with the one /login returned.
            Fault::LoginOmitsDeviceId => &[Clauses(&[
                "device.binding.login-association",
                "device.delete.invalidates",
                "device.delete.refresh-tokens-dead",
                "softlogout.recover-via-refresh-or-same-device-login",
                "whoami.device_id",
            ])],
            Fault::WhoamiWithoutDeviceId => &[WhoamiDeviceId],
            // The refresh token, never rotated, is dead after one refresh.
            Fault::NoRotationOldRevoked => &[Gate(&["rotation"])],
            // The "new" refresh token is the old one: the server does not rotate.
            Fault::RefreshEchoesRefreshToken => &[Gate(&["rotation"])],
            // A string expires_in_ms is no lifetime the suite can wait for.
            Fault::ExpiresInMsString => &[Gate(&["expiry"])],
            // A token that does not expire when advertised cannot show the error for an expired one.
            Fault::NoExpiry | Fault::ExpiresInSeconds => {
                &[Clauses(&["expiry.expired-token-error"])]
            }
            // Logins with a device_id get another device: cases re-using a device cannot start.
            Fault::LoginIgnoresDeviceId => &[Clauses(&[
                "device.reuse.invalidates-old-tokens",
                "softlogout.recover-via-refresh-or-same-device-login",
            ])],
            // Every registration that asks for a refresh token is refused.
            Fault::RegisterRejectsRefreshTokenField => &[Clauses(&["register.200.refresh_token"])],
            // A registration without an access token leaves no device to compare.
            Fault::RegisterWithoutAccessToken => &[Clauses(&["register.device.association"])],
            // The refreshed tokens are on another device, so the transaction cannot be seen on "the same".
            Fault::RefreshNewDevice => &[Clauses(&["txn.survives-refresh"])],
            Fault::VersionsWithoutVPrefix => &[
                SpecRange,
                // Not applicable on a server without login rate limits only when rate-limit/refresh, which
                // has a spec range, is not applicable too; now it cannot tell.
                Clauses(&["ratelimit.retry-after-header", "ratelimit.retry_after_ms"]),
            ],
            Fault::NoOauthWrongErrcode => &[
                Gate(&["oauth", "oauth-grant", "oauth-device-grant"]),
                // Their cases find no metadata to check, and assume an OAuth API.
                NotApplicable(&[
                    "expiry.oauth-refresh-mandatory",
                    "oauth.metadata.grant_types_supported",
                    "oauth.metadata.other-musts",
                    "oauth.metadata.required",
                ]),
            ],
            Fault::OauthRegistrationRejectsNone => &[OauthLogin],
            Fault::OauthNoRefreshToken => &[
                OauthRefresh,
                // Its case sends an OAuth session's refresh token to /refresh: there is none.
                Clauses(&["oauth.legacy-refresh-not-for-oauth"]),
            ],
            Fault::OauthTokenJsonOnly => &[OauthRefresh],
            // Revocation cannot be exercised without a revocation endpoint.
            Fault::OauthMetadataWithoutRevocation => &[Clauses(&[
                "oauth.revocation.both-tokens",
                "oauth.revocation.client_id-mismatch",
                "oauth.revocation.request",
                "oauth.revocation.responses",
            ])],
            // The grant's tokens are not on the device of the scope, so re-using it has nothing to end.
            Fault::OauthScopeDeviceIgnored | Fault::OauthRefreshNewDevice => {
                &[Clauses(&["oauth.device.reuse-invalidates"])]
            }
            _ => &[],
        }
    }

    /// Whether the fault concerns the OAuth 2.0 API (the legacy API's tokens ignore it, and the other way
    /// round).
    pub fn is_oauth(self) -> bool {
        self.name().starts_with("oauth-")
    }

    /// True for behaviours the spec allows: they must not make any MUST/SHOULD clause fail.
    pub fn is_allowed_variation(self) -> bool {
        self.kind() == Allowed
    }

    /// The catalogue clause IDs this fault should make fail (empty for an allowed variation).
    pub fn breaks(self) -> &'static [&'static str] {
        match self.kind() {
            Breaks(clauses) => clauses,
            Allowed => &[],
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    /// A message naming the unknown fault and listing every valid name (ready for a usage error).
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown reference fault `{s}`; valid names: {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &fault in Fault::ALL {
            let name = fault.name();
            assert!(seen.insert(name), "duplicate name {name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} is not kebab-case"
            );
            assert_eq!(name.parse::<Fault>(), Ok(fault));
            assert!(!fault.description().is_empty());
            assert!(!fault.description().contains('\n'));
        }
    }

    #[test]
    fn every_fault_names_a_clause_and_variations_name_none() {
        for &fault in Fault::ALL {
            assert_eq!(
                fault.breaks().is_empty(),
                fault.is_allowed_variation(),
                "{fault}"
            );
        }
        let allowed: Vec<_> = Fault::ALL
            .iter()
            .filter(|f| f.is_allowed_variation())
            .collect();
        assert_eq!(allowed.len(), 11);
    }

    /// The names the harness and the CLI were promised.
    #[test]
    fn promised_names_exist() {
        let faults = "old-refresh-never-revoked old-refresh-revoked-at-once old-refresh-survives-access-use \
            used-refresh-forbidden unknown-refresh-wrong-status no-expiry expires-in-seconds expires-in-ms-string \
            no-soft-logout-on-expiry expiry-kills-refresh-token logout-keeps-refresh-tokens \
            logout-all-keeps-refresh-tokens device-delete-keeps-refresh-tokens password-change-keeps-sessions \
            password-change-logs-out-requester refresh-token-as-access-token refresh-new-device \
            malformed-refresh-5xx refresh-requires-access-token refresh-requires-content-type \
            refreshed-access-token-invalid login-rejects-refresh-token-field login-ignores-device-id \
            device-reuse-keeps-tokens inhibit-login-returns-refresh-token guest-honours-refresh-token \
            error-without-error-field text-plain-errors logout-requires-body soft-logout-after-logout \
            soft-logout-string whoami-without-device-id query-string-token-rejected wrong-method-404 no-cors \
            options-runs-logic txn-not-kept-across-refresh relogin-duplicates-device no-retry-after-header";
        for name in faults.split_whitespace() {
            let fault: Fault = name.parse().unwrap();
            assert!(!fault.is_allowed_variation(), "{name}");
        }
        let allowed = "old-access-token-revoked-at-refresh refresh-tokens-unasked no-rotation no-refresh-tokens \
            replay-ends-session unused-branch-kept";
        for name in allowed.split_whitespace() {
            assert!(
                name.parse::<Fault>().unwrap().is_allowed_variation(),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_name_lists_valid_names() {
        let message = "nope".parse::<Fault>().unwrap_err();
        assert!(message.contains("`nope`"));
        assert!(message.contains("old-refresh-never-revoked"));
        assert!(message.contains("unused-branch-kept"));
    }
}
