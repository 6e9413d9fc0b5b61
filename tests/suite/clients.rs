//! The faulty-client matrix: client mode must catch each deliberately flawed test client on exactly
//! the clauses it breaks, pass a faithful one on every clause it judges, and fail nothing for the
//! behaviours the spec allows (refreshing ahead of expiry, or only after a 401).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use refresh_conformance::case;
use refresh_conformance::client::{self, Profile, Session, Windows};
use refresh_conformance::redact::Secrets;
use refresh_conformance::verdict::Verdict;
use serde_json::{Value, json};

use crate::support::{RunOutput, binary};

const LIFETIME: Duration = Duration::from_millis(1000);
const CLIENT_RUNS: Duration = Duration::from_secs(11);
const POLL: Duration = Duration::from_millis(100);
const PASSWORD: &str = "client-password-0123";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// A faithful client: refreshes after a 401, repeats a lost refresh, stops on a dead session.
    None,
    /// Allowed: refreshes ahead of expiry, from `expires_in_ms`.
    RefreshesAhead,
    /// Never calls /refresh: on any 401 it logs in again with the password.
    NeverRefreshes,
    /// Keeps the first refresh token of a session and presents it at every refresh.
    ReplaysOldRefreshToken,
    /// Sends the refresh token in the query string of /refresh as well as in the body.
    RefreshTokenInQuery,
    /// After `401 soft_logout: false` it goes on sending the refused access token.
    LoopsOnSoftLogoutFalse,
    /// A lost or failed-with-5xx /refresh makes it log in again instead of repeating the refresh.
    NeverRetriesLostResponse,
    /// A /refresh refused with a 4xx is ignored: it keeps the session and refreshes again later.
    IgnoresRefreshFailure,
}

const ON_ERROR: &str = "expiry.client-refreshes-on-error";
const REACTION: &str = "token.use.client-reaction";
const FAILURE: &str = "expiry.refresh-failure-soft-logout";
const NEW_TOKENS: &str = "refresh.client.use-new-tokens";
const RETRY: &str = "rotation.client.retry-lost-refresh";
const ENDPOINT: &str = "expiry.legacy-uses-refresh-endpoint";

impl Flaw {
    /// The clauses the flaw must fail or warn, and nothing else.
    fn breaks(self) -> &'static [&'static str] {
        match self {
            Flaw::None | Flaw::RefreshesAhead => &[],
            Flaw::NeverRefreshes => &[ON_ERROR, REACTION],
            Flaw::ReplaysOldRefreshToken => &[NEW_TOKENS],
            Flaw::RefreshTokenInQuery => &[ENDPOINT],
            Flaw::LoopsOnSoftLogoutFalse => &[REACTION],
            Flaw::NeverRetriesLostResponse => &[RETRY],
            Flaw::IgnoresRefreshFailure => &[REACTION, FAILURE],
        }
    }
}

struct Tokens {
    access: String,
    refresh: Option<String>,
    first_refresh: Option<String>,
    expires: Option<Instant>,
}

enum Refreshed {
    Ok,
    /// Network error or 5xx.
    Transient,
    /// 4xx: logged out.
    Refused,
}

struct TestClient {
    http: reqwest::Client,
    base: String,
    flaw: Flaw,
    session: Option<Tokens>,
}

impl TestClient {
    async fn login(&mut self) {
        let response = self
            .http
            .post(format!("{}/_matrix/client/v3/login", self.base))
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "client"},
                          "password": PASSWORD, "refresh_token": true}))
            .send()
            .await;
        let Ok(response) = response else { return };
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let Some(access) = body["access_token"].as_str() else {
            return;
        };
        let refresh = body["refresh_token"].as_str().map(str::to_owned);
        self.session = Some(Tokens {
            access: access.to_owned(),
            first_refresh: refresh.clone(),
            refresh,
            expires: body["expires_in_ms"]
                .as_u64()
                .map(|ms| Instant::now() + Duration::from_millis(ms)),
        });
    }

    async fn refresh(&mut self) -> Refreshed {
        let Some(tokens) = &self.session else {
            return Refreshed::Refused;
        };
        let Some(presented) = (if self.flaw == Flaw::ReplaysOldRefreshToken {
            tokens.first_refresh.clone()
        } else {
            tokens.refresh.clone()
        }) else {
            return Refreshed::Refused;
        };
        let mut url = format!("{}/_matrix/client/v3/refresh", self.base);
        if self.flaw == Flaw::RefreshTokenInQuery {
            url.push_str(&format!("?refresh_token={presented}"));
        }
        let response = self
            .http
            .post(url)
            .json(&json!({"refresh_token": presented}))
            .send()
            .await;
        let Ok(response) = response else {
            return Refreshed::Transient;
        };
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        if status.is_server_error() {
            return Refreshed::Transient;
        }
        if !status.is_success() {
            return Refreshed::Refused;
        }
        let Some(access) = body["access_token"].as_str() else {
            return Refreshed::Transient;
        };
        let tokens = self.session.as_mut().expect("checked above");
        tokens.access = access.to_owned();
        if let Some(refresh) = body["refresh_token"].as_str() {
            tokens.refresh = Some(refresh.to_owned());
        }
        tokens.expires = body["expires_in_ms"]
            .as_u64()
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        Refreshed::Ok
    }

    /// Refreshes, repeating a transient failure with the same token; a refusal ends the session.
    async fn refresh_or_drop(&mut self) {
        for _ in 0..10 {
            match self.refresh().await {
                Refreshed::Ok => return,
                Refreshed::Transient if self.flaw == Flaw::NeverRetriesLostResponse => {
                    self.session = None;
                    return;
                }
                Refreshed::Transient => tokio::time::sleep(Duration::from_millis(200)).await,
                Refreshed::Refused if self.flaw == Flaw::IgnoresRefreshFailure => return,
                Refreshed::Refused => {
                    self.session = None;
                    return;
                }
            }
        }
    }

    async fn run(mut self) {
        let deadline = Instant::now() + CLIENT_RUNS;
        while Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            if self.session.is_none() {
                self.login().await;
                continue;
            }
            if self.flaw == Flaw::RefreshesAhead
                && self
                    .session
                    .as_ref()
                    .and_then(|t| t.expires)
                    .is_some_and(|at| {
                        at.saturating_duration_since(Instant::now()) < Duration::from_millis(300)
                    })
            {
                self.refresh_or_drop().await;
                continue;
            }
            let access = self.session.as_ref().expect("checked").access.clone();
            let response = self
                .http
                .get(format!("{}/_matrix/client/v3/account/whoami", self.base))
                .bearer_auth(&access)
                .send()
                .await;
            let Ok(response) = response else { continue };
            if response.status() != reqwest::StatusCode::UNAUTHORIZED {
                continue;
            }
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            let soft_logout = body["soft_logout"].as_bool().unwrap_or(false);
            match self.flaw {
                Flaw::NeverRefreshes => self.session = None,
                Flaw::LoopsOnSoftLogoutFalse if !soft_logout => {}
                _ => self.refresh_or_drop().await,
            }
        }
        if let Some(tokens) = &self.session {
            let _ = self
                .http
                .post(format!("{}/_matrix/client/v3/logout", self.base))
                .bearer_auth(&tokens.access)
                .json(&json!({}))
                .send()
                .await;
        }
    }
}

async fn verdicts_for(flaw: Flaw) -> BTreeMap<String, (Verdict, String)> {
    let full = case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases"))
        .expect("cases load")
        .catalogue;
    let windows = Windows {
        grace: Duration::from_millis(400),
        reaction: Duration::from_secs(2),
    };
    let profile = Profile {
        listen: "127.0.0.1:0".parse().unwrap(),
        duration: CLIENT_RUNS + Duration::from_secs(3),
        lifetime: LIFETIME,
        user: "client".into(),
        password: PASSWORD.into(),
        windows,
    };
    let session = Session::start(&profile, Secrets::default()).await.unwrap();
    let client = TestClient {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        base: session.base_url().to_owned(),
        flaw,
        session: None,
    };
    let driver = tokio::spawn(client.run());
    let recording = session.finish().await;
    driver.abort();
    let (records, verdicts) = client::verdicts(&client::catalogue(&full), &recording, windows);
    verdicts
        .into_iter()
        .map(|v| {
            let reason = refresh_conformance::report::text::reason(&v, &records);
            (v.id, (v.verdict, reason))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flawed_client_is_caught_by_exactly_its_clauses() {
    let flaws = [
        Flaw::None,
        Flaw::RefreshesAhead,
        Flaw::NeverRefreshes,
        Flaw::ReplaysOldRefreshToken,
        Flaw::RefreshTokenInQuery,
        Flaw::LoopsOnSoftLogoutFalse,
        Flaw::NeverRetriesLostResponse,
        Flaw::IgnoresRefreshFailure,
    ];
    let runs = futures_util::future::join_all(
        flaws.map(|flaw| async move { (flaw, verdicts_for(flaw).await) }),
    )
    .await;
    let mut problems = Vec::new();
    for (flaw, verdicts) in &runs {
        let caught: BTreeSet<&str> = verdicts
            .iter()
            .filter(|(_, (v, _))| matches!(v, Verdict::Fail | Verdict::Warn))
            .map(|(id, _)| id.as_str())
            .collect();
        let wanted: BTreeSet<&str> = flaw.breaks().iter().copied().collect();
        if caught != wanted {
            problems.push(format!("{flaw:?}: caught {caught:?}, should be {wanted:?}"));
        }
        if matches!(flaw, Flaw::None | Flaw::RefreshesAhead) {
            for clause in [REACTION, FAILURE, NEW_TOKENS, RETRY, ENDPOINT] {
                let (verdict, reason) = &verdicts[clause];
                if *verdict != Verdict::Pass {
                    problems.push(format!("{flaw:?}: {clause} is {verdict:?}: {reason}"));
                }
            }
        }
        if *flaw == Flaw::None && verdicts[ON_ERROR].0 != Verdict::Pass {
            problems.push(format!("faithful: {ON_ERROR}: {:?}", verdicts[ON_ERROR]));
        }
        for (id, (verdict, reason)) in verdicts {
            eprintln!("{flaw:?} {id}: {verdict:?}: {reason}");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The binary end to end: the announcement, a faithful client, the reports, and no token or password
/// anywhere in what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_judges_a_client_and_writes_redacted_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "30s",
            "--lifetime",
            "1s",
        ])
        .args([
            "--reaction-window",
            "2s",
            "--client",
            "test client 1.0",
            "--report-dir",
        ])
        .arg(dir.path())
        .env("MRC_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut announced = String::new();
    let base = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve ended early: {announced}"
        );
        announced.push_str(&line);
        if let Some(url) = line.strip_prefix("homeserver: ") {
            break url.trim().to_owned();
        }
    };
    let client = TestClient {
        http: reqwest::Client::new(),
        base,
        flaw: Flaw::None,
        session: None,
    };
    client.run().await;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    let output = std::process::Output {
        status,
        stdout: format!("{announced}{rest}").into_bytes(),
        stderr: stderr.into_bytes(),
    };
    let run = RunOutput::collect(output, dir.path());
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("user: @client:localhost"),
        "{}",
        run.stdout
    );
    run.assert_free_of(&[PASSWORD, "mrc_at_", "mrc_rt_"]);
    let clauses = run.json["clauses"].as_array().unwrap();
    for clause in clauses {
        let verdict = clause["verdict"].as_str().unwrap();
        assert!(matches!(verdict, "pass" | "not-applicable"), "{clause}");
    }
    assert_eq!(run.json["target"], "test client 1.0");
    assert!(
        run.summary.contains("rotation.client.retry-lost-refresh"),
        "{}",
        run.summary
    );
}
