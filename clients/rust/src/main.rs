//! Drives the matrix-sdk crate against `refresh-conformance serve` (client mode), following the
//! contract in the README: log in with a refresh token as the given user, make authenticated
//! requests until the time is up, then log out. Refreshing is left to the library
//! (`handle_refresh_tokens`); the driver logs in again when the library reports the session gone.
//!
//! Environment: MRC_HOMESERVER, MRC_USER (localpart), MRC_PASSWORD, MRC_DURATION_S.
//! Tokens and the password are never printed.

use std::time::{Duration, Instant};

use matrix_sdk::config::RequestConfig;
use matrix_sdk::{Client, SessionChange};

fn log(message: &str) {
    println!("driver[matrix-sdk]: {message}");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("driver: set MRC_HOMESERVER, MRC_USER and MRC_PASSWORD");
        std::process::exit(2);
    })
}

struct Session {
    client: Client,
    changes: tokio::sync::broadcast::Receiver<SessionChange>,
}

async fn login(homeserver: &str, user: &str, password: &str) -> Result<Session, String> {
    let client = Client::builder()
        .homeserver_url(homeserver)
        .handle_refresh_tokens()
        // Without a limit, a 5xx is retried with backoff for up to 15 minutes.
        .request_config(RequestConfig::new().retry_limit(3))
        .build()
        .await
        .map_err(|e| format!("client: {e}"))?;
    let changes = client.subscribe_to_session_changes();
    let response = client
        .matrix_auth()
        .login_username(user, password)
        .request_refresh_token()
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let received = if response.refresh_token.is_some() {
        "received"
    } else {
        "not received"
    };
    log(&format!("logged in (refresh token {received})"));
    Ok(Session { client, changes })
}

#[tokio::main]
async fn main() {
    let homeserver = env("MRC_HOMESERVER");
    let user = env("MRC_USER");
    let password = env("MRC_PASSWORD");
    let seconds: u64 = std::env::var("MRC_DURATION_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut session: Option<Session> = None;
    let (mut requests, mut failures) = (0u32, 0u32);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(current) = session.as_mut() else {
            match login(&homeserver, &user, &password).await {
                Ok(new) => session = Some(new),
                Err(e) => log(&format!("login failed: {e}")),
            }
            continue;
        };
        match current.client.whoami().await {
            Ok(_) => requests += 1,
            Err(e) => {
                failures += 1;
                if failures <= 20 {
                    log(&format!(
                        "request failed: {}",
                        e.as_client_api_error()
                            .and_then(|e| e.error_kind().map(|k| k.errcode().to_string()))
                            .unwrap_or_else(|| "transport or other error".into())
                    ));
                }
            }
        }
        let mut logged_out = false;
        while let Ok(change) = current.changes.try_recv() {
            if let SessionChange::UnknownToken(data) = change {
                log(&format!(
                    "the library reported an unknown token (soft_logout: {}); logging in again",
                    data.soft_logout
                ));
                logged_out = true;
            }
        }
        if logged_out {
            session = None;
        }
    }
    if let Some(current) = session {
        match current.client.matrix_auth().logout().await {
            Ok(_) => log("logged out"),
            Err(_) => log("logout failed"),
        }
    }
    log(&format!(
        "done: {requests} successful requests, {failures} failed"
    ));
}
