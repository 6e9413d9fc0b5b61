//! Client mode (`refresh-conformance serve`): the reference homeserver serves a client under test,
//! records the traffic, applies adversities on a schedule, and judges the client-side clauses.
//!
//! ```text
//! client ──HTTP──▶ Recorder (hook: records, applies the schedule) ──▶ reference homeserver
//! logout or time limit ──▶ Recording ──judge──▶ CaseRecords ──aggregate──▶ client clause verdicts
//! ```

pub mod judge;
pub mod record;
pub mod schedule;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clause::Catalogue;
use crate::redact::Secrets;
use crate::reference::{ReferenceConfig, ReferenceServer, Served};
use crate::verdict::{self, CaseRecord, ClauseVerdict, Outcome, Reason, Verdict};

pub use judge::Windows;
pub use record::{Recorder, Recording};

/// The clauses client mode judges, in the order of the report; the last one is a definition.
pub const CLAUSES: [&str; 7] = [
    judge::REFRESHES_ON_ERROR,
    judge::CLIENT_REACTION,
    judge::REFRESH_FAILURE,
    judge::USE_NEW_TOKENS,
    judge::RETRY_LOST,
    judge::REFRESH_ENDPOINT,
    DEFINITION,
];

const DEFINITION: &str = "token.use.unknown-token-four-meanings";

/// The client-test profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub listen: SocketAddr,
    /// The run ends when the client logs out, or after this long.
    pub duration: Duration,
    /// Lifetime of access tokens issued with a refresh token.
    pub lifetime: Duration,
    pub user: String,
    pub password: String,
    pub windows: Windows,
}

/// A client-mode server that is up: tell the client where it is, then [`Session::finish`].
pub struct Session {
    server: ReferenceServer,
    recorder: Arc<Recorder>,
    duration: Duration,
}

impl Session {
    /// Binds `profile.listen` and serves on the current tokio runtime.
    pub async fn start(profile: &Profile, secrets: Secrets) -> std::io::Result<Session> {
        let listener = tokio::net::TcpListener::bind(profile.listen).await?;
        let recorder = Arc::new(Recorder::new(secrets));
        let config = ReferenceConfig {
            access_token_lifetime: Some(profile.lifetime),
            ..ReferenceConfig::default()
        };
        let server = ReferenceServer::serve(
            listener,
            config,
            Served {
                accounts: vec![(profile.user.clone(), profile.password.clone())],
                hook: Some(recorder.clone()),
            },
        )?;
        Ok(Session {
            server,
            recorder,
            duration: profile.duration,
        })
    }

    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// Waits for the client to log out, or for the time limit; then stops serving.
    pub async fn finish(self) -> Recording {
        let _ = tokio::time::timeout(self.duration, self.recorder.logged_out.notified()).await;
        let recording = self.recorder.finish();
        drop(self.server);
        recording
    }
}

/// The client clauses of `catalogue` alone.
pub fn catalogue(full: &Catalogue) -> Catalogue {
    full.subset(&CLAUSES)
}

/// Case records and clause verdicts of a recording. Clauses nothing reached are `untested`, with
/// the reason their cases give.
pub fn verdicts(
    client_catalogue: &Catalogue,
    recording: &Recording,
    windows: Windows,
) -> (Vec<CaseRecord>, Vec<ClauseVerdict>) {
    let records = judge::judge(recording, windows);
    let mut verdicts =
        verdict::aggregate(client_catalogue, crate::reading::Reading::Default, &records);
    for v in &mut verdicts {
        if v.verdict != Verdict::NotApplicable {
            continue;
        }
        if v.id == DEFINITION {
            v.reason = Reason::JudgedUnder("token.use.client-reaction");
            continue;
        }
        let cases: Vec<String> = records
            .iter()
            .filter(|r| r.clauses.contains(&v.id) && r.outcome != Outcome::Passed)
            .map(|r| r.id.clone())
            .collect();
        v.verdict = Verdict::Untested;
        v.reason = if cases.is_empty() {
            Reason::NoEvent
        } else {
            Reason::NotExercised { cases }
        };
    }
    (records, verdicts)
}
