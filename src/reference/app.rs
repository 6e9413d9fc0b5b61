//! The state every handler shares.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use crate::reference::error::ApiError;
use crate::reference::fault::Fault;
use crate::reference::oauth::OAuthState;
use crate::reference::ratelimit::RateLimiter;
use crate::reference::rooms::Rooms;
use crate::reference::rotation::Policy;
use crate::reference::state::Store;
use crate::reference::{RATE_LIMIT_WINDOW, ReferenceConfig};

/// Cheap to clone: one `Arc`.
#[derive(Clone, Debug)]
pub(crate) struct App(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    policy: Policy,
    store: Mutex<Store>,
    rooms: Mutex<Rooms>,
    oauth: Mutex<OAuthState>,
    login_limiter: Option<RateLimiter>,
}

/// Locks a mutex, ignoring poisoning: a panicking handler (there should be none) must not take the
/// server down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl App {
    pub(crate) fn new(config: &ReferenceConfig) -> App {
        let policy = Policy {
            fault: config.fault,
            lifetime: config.access_token_lifetime,
        };
        App(Arc::new(Shared {
            policy,
            store: Mutex::new(Store::new(policy)),
            rooms: Mutex::new(Rooms::default()),
            oauth: Mutex::new(OAuthState::default()),
            login_limiter: config
                .login_rate_limit
                .map(|n| RateLimiter::new(n, RATE_LIMIT_WINDOW)),
        }))
    }

    pub(crate) fn has(&self, fault: Fault) -> bool {
        self.0.policy.has(fault)
    }

    /// The lifetime of access tokens issued with a refresh token (None = never expire).
    pub(crate) fn access_token_lifetime(&self) -> Option<std::time::Duration> {
        self.0.policy.lifetime
    }

    /// The store. Hold the guard only for synchronous work (never across an `.await`).
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.0.store)
    }

    pub(crate) fn rooms(&self) -> MutexGuard<'_, Rooms> {
        lock(&self.0.rooms)
    }

    /// The OAuth 2.0 clients, codes and session owners. Never lock the store while holding this.
    pub(crate) fn oauth(&self) -> MutexGuard<'_, OAuthState> {
        lock(&self.0.oauth)
    }

    /// Counts a `/login` or `/register` request against the configured limit.
    pub(crate) fn check_login_rate(&self) -> Result<(), ApiError> {
        match &self.0.login_limiter {
            Some(limiter) => limiter
                .check(Instant::now())
                .map_err(ApiError::limit_exceeded),
            None => Ok(()),
        }
    }
}
