//! Why a case stopped short of its checks for reasons of time: the server's rate limits, the run's own waiting
//! limits, or a request that got no answer. Typed, so that a cause gets one outcome wherever in a case it
//! strikes, and so that the advice at the end of a run can say what to change.

use std::time::Duration;

use serde::Serialize;

/// The classes of request the run paces: the expensive ones (each hashes or checks a password) have a
/// concurrency cap of their own and, on Synapse, a rate limiter of their own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// `POST /login` with a password (or any login the harness does not know to be otherwise).
    Login,
    /// `POST /login` as an application service (`m.login.application_service`): Synapse exempts a service
    /// registered with `rate_limited: false` from `rc_login`, so these logins must not queue behind the
    /// password logins' limit (and learn their own if the service is limited).
    AppserviceLogin,
    /// The OAuth 2.0 authorisation code grant of an `oauth_login` step, from the authoriser's login to the
    /// code exchange: the user's password is checked at the authorisation server.
    OauthLogin,
    /// `POST /register` and Synapse's shared-secret registration.
    Registration,
    /// Other requests that check a password (a password change, a deactivation).
    Password,
    /// Any other endpoint that answered `429`.
    Endpoint,
}

impl Limit {
    /// Hashes or checks a password: costly for the server, so capped in concurrency.
    pub fn expensive(self) -> bool {
        !matches!(self, Limit::Endpoint | Limit::AppserviceLogin)
    }

    /// `the login rate limit`, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Limit::Login => "the login rate limit",
            Limit::AppserviceLogin => "the application service's login rate limit",
            Limit::OauthLogin => "OAuth 2.0 logins",
            Limit::Registration => "the registration rate limit",
            Limit::Password => "the rate limit on password checks",
            Limit::Endpoint => "an endpoint's rate limit",
        }
    }

    /// The Synapse setting behind the limit, for advice.
    pub fn synapse_setting(self) -> Option<&'static str> {
        match self {
            Limit::Login | Limit::AppserviceLogin => Some("rc_login"),
            Limit::Registration => Some("rc_registration"),
            Limit::OauthLogin | Limit::Password | Limit::Endpoint => None,
        }
    }
}

/// A cause that stopped a case before its checks, other than what the server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cause {
    /// The server asked for one wait longer than `--max-wait`: the run's settings, so untested.
    RateLimit {
        limit: Limit,
        #[serde(rename = "asked_ms", serialize_with = "millis")]
        #[schemars(with = "u64")]
        asked: Duration,
    },
    /// The case's turn behind a rate limit would have come after the run's `--wait-budget` ran out.
    WaitBudget { limit: Limit },
    /// Waiting for an access token to expire would take longer than `--max-wait`.
    Expiry {
        #[serde(rename = "needed_ms", serialize_with = "millis")]
        #[schemars(with = "u64")]
        needed: Duration,
    },
    /// A request got no answer within its timeout: an error (the server may be down or stuck).
    Timeout,
    /// The run's `--deadline` passed before the case finished: an error, and the advice names the option.
    Deadline,
}

impl Cause {
    /// Whether the run's own settings stopped the case (its clauses are untested, the case is not an error).
    pub fn by_settings(&self) -> bool {
        !matches!(self, Cause::Timeout | Cause::Deadline)
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

/// A duration for messages: whole seconds from a second up, whole milliseconds below.
pub fn shown(duration: Duration) -> String {
    let rounded = if duration >= Duration::from_secs(1) {
        Duration::from_secs(duration.as_secs() + u64::from(duration.subsec_millis() >= 500))
    } else {
        Duration::from_millis(duration.as_millis() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

/// A duration for a command-line option: whole seconds rounded up to a round figure (`320s`, `6m`, `2h`).
pub fn option_value(needed: Duration) -> String {
    let secs = needed.as_secs() + u64::from(needed.subsec_nanos() > 0);
    if secs <= 120 {
        format!("{}s", secs.div_ceil(10).max(1) * 10)
    } else if secs <= 3600 {
        let tens = secs.div_ceil(10) * 10;
        if tens % 60 == 0 {
            format!("{}m", tens / 60)
        } else {
            format!("{tens}s")
        }
    } else {
        format!("{}h", secs.div_ceil(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_are_round_and_enough() {
        assert_eq!(option_value(Duration::from_millis(314_975)), "320s");
        assert_eq!(option_value(Duration::from_secs(5)), "10s");
        assert_eq!(option_value(Duration::from_secs(333)), "340s");
        assert_eq!(option_value(Duration::from_secs(595)), "10m");
        assert_eq!(option_value(Duration::from_secs(5 * 3600 + 1)), "6h");
    }
}
