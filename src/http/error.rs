//! Why a request got no response.

use std::time::Duration;

use crate::cause::{Cause, Limit};

/// Responses larger than this are an error, not something to buffer.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why no response could be had; never the server's fault in the sense of a clause. Each says in plain words
/// what happened, so that a timeout is never called "unreachable" (README, "When things go wrong").
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("unreachable: cannot connect to the target: {0}")]
    Connect(String),
    #[error("timed out: no answer within {0:?} (--request-timeout)")]
    Timeout(Duration),
    #[error("oversized body: the response body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error(
        "rate-limited beyond --max-wait: 429 ({}), and the server asks to wait {}, more than --max-wait {}",
        limit.what(), crate::cause::shown(*asked), crate::cause::shown(*max_wait)
    )]
    RateLimited {
        limit: Limit,
        asked: Duration,
        max_wait: Duration,
    },
    #[error(
        "rate-limited beyond --wait-budget: 429 ({}), and this request's turn would come after the run's --wait-budget {} is spent",
        limit.what(), crate::cause::shown(*budget)
    )]
    WaitBudget { limit: Limit, budget: Duration },
    #[error(
        "this request's turn behind {} would come in {}, after a session the case holds has expired",
        limit.what(), crate::cause::shown(*wait)
    )]
    OutlivesSession { limit: Limit, wait: Duration },
    #[error(
        "TLS failure: {0} (a self-signed certificate needs --insecure; a server that speaks plain HTTP needs an http:// URL)"
    )]
    Tls(String),
    #[error("bad request path `{0}`: paths start with a single `/` and stay on the target")]
    BadPath(String),
    #[error("`{0}` is not on the target nor on an OAuth 2.0 endpoint's host it advertised")]
    ForeignUrl(String),
    #[error("transport error: {0}")]
    Other(String),
}

impl HttpError {
    /// The cause for the advice and the outcome, when it is one of the run's timing causes.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            HttpError::RateLimited { limit, asked, .. } => Some(Cause::RateLimit {
                limit: *limit,
                asked: *asked,
            }),
            HttpError::WaitBudget { limit, .. } => Some(Cause::WaitBudget { limit: *limit }),
            HttpError::OutlivesSession { limit, wait } => Some(Cause::SessionOutlived {
                limit: *limit,
                waited: *wait,
            }),
            HttpError::Timeout(_) => Some(Cause::Timeout),
            _ => None,
        }
    }
}
