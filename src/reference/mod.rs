//! The built-in reference homeserver.
//!
//! An in-process Matrix homeserver (axum, state in memory) that implements exactly what the suite
//! exercises: password login and registration with refresh tokens, `/refresh` with the retry
//! window, access-token expiry and soft logout, logout, device deletion, password change,
//! deactivation, transaction ids, CORS and rate limiting. It is the suite's default and hermetic
//! target. With one named [`Fault`] switched on it misbehaves in one specific way, which proves
//! that the suite's cases can fail (the mutation matrix).
//!
//! It offers both authentication APIs: the legacy one and the OAuth 2.0 API (metadata, dynamic
//! client registration, the authorisation code grant with PKCE whose consent it gives at once,
//! the refresh token grant and revocation). [`Fault::NoOauth`] and [`Fault::OauthOnly`] take one
//! away.
//!
//! Choices the spec leaves open, and what this server does:
//! - The old access token after a refresh (A1) stays valid until it expires.
//! - Replaying a refresh token before its successors are used (A4) revokes the first, unused pair:
//!   only the latest pair works (as Synapse does). [`Fault::UnusedBranchKept`] keeps both.
//! - Replaying a superseded refresh token (A5) fails with `401 M_UNKNOWN_TOKEN`, `soft_logout:
//!   false`, and ends nothing else. [`Fault::ReplayEndsSession`] ends the session.
//! - Access tokens issued without a refresh token never expire
//!   (`refresh.support.signalled-by-client`).

mod app;
mod auth;
mod cors;
mod error;
mod fault;
pub mod hook;
mod ids;
mod oauth;
mod present;
mod ratelimit;
mod request;
mod rooms;
mod rotation;
mod routes;
mod state;
mod uia;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::oneshot;

pub use fault::{Fault, Hides};
pub use hook::{Answer, Delivery, Hook, SeenRequest, SeenResponse};

/// How a [`ReferenceServer`] behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceConfig {
    /// The one deviation switched on, if any.
    pub fault: Option<Fault>,
    /// Lifetime of access tokens issued together with a refresh token. None = never expire.
    pub access_token_lifetime: Option<Duration>,
    /// Rate limit on /login and /register per server: None = unlimited; Some(n) = n requests per
    /// window ([`RATE_LIMIT_WINDOW`]), then 429.
    pub login_rate_limit: Option<u32>,
}

/// The fixed window of [`ReferenceConfig::login_rate_limit`].
pub const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(1);

impl Default for ReferenceConfig {
    fn default() -> Self {
        ReferenceConfig {
            fault: None,
            access_token_lifetime: Some(Duration::from_secs(3)),
            login_rate_limit: None,
        }
    }
}

impl ReferenceConfig {
    /// The default configuration with `fault` switched on, adjusted where the fault is only visible
    /// under a particular setting:
    /// - [`Fault::ExpiresInSeconds`]: a 15 s lifetime, so that the advertised "15 ms" plus the
    ///   suite's margin (at least 2 s) ends well before the real expiry, even on a busy machine.
    /// - [`Fault::NoExpiresInMs`]: no lifetime at all, so no `expires_in_ms` is ever given.
    /// - [`Fault::NoRetryAfterHeader`]: a rate limit of 10 logins/registrations per second, so 429s
    ///   happen; and a 20 s lifetime, so that the suite's waits for those 429s (a second each) do
    ///   not outlast access tokens a case means to use.
    pub fn for_fault(fault: Fault) -> Self {
        let mut config = ReferenceConfig {
            fault: Some(fault),
            ..ReferenceConfig::default()
        };
        match fault {
            Fault::ExpiresInSeconds => config.access_token_lifetime = Some(Duration::from_secs(15)),
            Fault::NoExpiresInMs => config.access_token_lifetime = None,
            Fault::NoRetryAfterHeader => {
                config.login_rate_limit = Some(10);
                config.access_token_lifetime = Some(Duration::from_secs(20));
            }
            _ => {}
        }
        config
    }
}

/// What [`ReferenceServer::serve`] adds to a plain server.
#[derive(Default)]
pub struct Served {
    /// Accounts that exist from the start: (localpart, password).
    pub accounts: Vec<(String, String)>,
    pub hook: Option<std::sync::Arc<dyn Hook>>,
}

/// The user ID of `localpart` on the reference server.
pub fn user_id(localpart: &str) -> String {
    format!("@{localpart}:{}", ids::SERVER_NAME)
}

/// A running reference homeserver. Dropping it stops serving (graceful shutdown).
#[derive(Debug)]
pub struct ReferenceServer {
    base_url: String,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ReferenceServer {
    /// Binds 127.0.0.1:0 and spawns the server on the current tokio runtime.
    pub async fn start(config: ReferenceConfig) -> std::io::Result<ReferenceServer> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::serve(listener, config, Served::default())
    }

    /// Serves on `listener` (client mode: a port the client was told), with accounts ready and a
    /// hook around every exchange.
    pub fn serve(
        listener: tokio::net::TcpListener,
        config: ReferenceConfig,
        served: Served,
    ) -> std::io::Result<ReferenceServer> {
        let addr = listener.local_addr()?;
        let app = app::App::new(&config);
        for (localpart, password) in &served.accounts {
            let user = ids::UserId::from_localpart(localpart).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{localpart:?} is not a valid user localpart"),
                )
            })?;
            // A name given twice keeps its first password.
            let _ = app.store().register(&user, Some(password.clone()), false);
        }
        let mut router = routes::router(app.clone());
        if let Some(hook) = served.hook {
            // Around everything but CORS: the hook sees what the client sent and what it would
            // get, and its own answers carry the CORS headers too.
            router = router
                .layer(axum::middleware::from_fn_with_state(hook, hook::layer))
                .layer(axum::middleware::from_fn_with_state(app, cors::layer));
        }
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // An error here means the listener failed after binding; there is no one to report it
            // to, and every later request then fails visibly at the client.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // Either a signal or the sender being dropped ends the server.
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(ReferenceServer {
            base_url: format!("http://{addr}"),
            addr,
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server task may already be gone (runtime shut down); nothing to do then.
            let _ = shutdown.send(());
        }
    }
}
