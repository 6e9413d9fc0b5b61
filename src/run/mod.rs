//! Running the cases: one shared tokio runtime, one libtest-mimic trial per case, records collected for the
//! reports.

pub mod ambient;
pub mod case_run;
pub mod events;
pub mod oauth;
pub mod scope;
pub mod step;

use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
pub use libtest_mimic::{Completion, Failed};

use crate::case::Case;
use crate::clause::Catalogue;
use url::Url;

use crate::cause::Limit;
use crate::error::Error;
use crate::homeserver::Privileges;
use crate::homeserver::accounts::{Accounts, Provisioning};
use crate::homeserver::oauth::OauthServer;
use crate::homeserver::{Capabilities, GateStatus, probe};
use crate::http::pacer::Progress;
use crate::http::{Http, HttpConfig};
use crate::reading::Reading;
use crate::redact::Secrets;
use crate::run::events::{Listener, Recorder, run_contained};
use crate::run::oauth::Authoriser;
use crate::transcript::Transcript;
use crate::verdict::CaseRecord;

/// How the harness talks to a target: resolved once from the command line (`config`), or written by a
/// test that drives the runner in-process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timing: Timing,
    /// Who is told when the run starts a long wait for a rate limit.
    pub progress: Progress,
    pub insecure: bool,
    pub privileges: Privileges,
    pub bursts: bool,
    /// A plain OAuth 2.0 server's issuer: its metadata comes from the discovery path, and the target need
    /// not be a Matrix homeserver.
    pub oauth_issuer: Option<Url>,
    /// Who completes the user's login and consent in the authorisation code grant.
    pub authoriser: Option<Authoriser>,
    /// How the ambiguities of the spec are read (`--reading`).
    pub reading: Reading,
}

/// How long requests, waits, cases and the run may take.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub request_timeout: Duration,
    /// The longest one wait may be (for a rate limit, an expiry).
    pub max_wait: Duration,
    /// How long into the run requests may still wait for their turn behind a rate limit; `None`: as long as
    /// they need.
    pub wait_budget: Option<Duration>,
    pub case_timeout: Duration,
    /// `--deadline`; without it, one follows from the selection ([`Timing::deadline`]).
    pub deadline: Option<Duration>,
}

impl Timing {
    /// The whole run's deadline. Without `--deadline`: every wave of cases may take its whole
    /// `--case-timeout` and one `--max-wait` (an expiry), plus one more for the probe and the clean-ups; and
    /// since the turns behind a server's rate limits may take the whole `--wait-budget` before that, a paced
    /// run against stock rate limits is not cut short.
    pub fn deadline(&self, cases: usize, threads: usize) -> Duration {
        self.deadline.unwrap_or_else(|| {
            let waves = cases.div_ceil(threads.max(1)) as u32;
            (self.case_timeout + self.max_wait)
                .saturating_mul(waves + 1)
                .saturating_add(self.wait_budget.unwrap_or_default())
        })
    }
}

/// Everything the trials share.
pub struct RunContext {
    pub http: Http,
    pub accounts: Accounts,
    pub capabilities: Capabilities,
    pub catalogue: Catalogue,
    pub settings: Settings,
    /// The authorisation server, when one was found (gate `oauth`), and how to get grants from it.
    pub oauth: Option<OauthServer>,
    /// After this, cases still to run or running are errors (`--deadline`).
    pub deadline: Instant,
    /// Ctrl-C: cases stop, log out, and those not started are not run.
    pub interrupt: Interrupt,
}

/// The run was asked to stop (Ctrl-C). Cheap to clone; every clone sees the same signal.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Interrupt {
    fn default() -> Interrupt {
        Interrupt(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Interrupt {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the interrupt has fired (at once if it already has).
    pub async fn fired(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|fired| *fired).await;
    }
}

impl RunContext {
    /// Builds the client and probes the target; an unreachable or non-Matrix target is an [`Error`].
    pub async fn connect(
        base: Url,
        provisioning: Provisioning,
        settings: &Settings,
        catalogue: Catalogue,
        secrets: Secrets,
    ) -> Result<RunContext, Error> {
        let config = HttpConfig {
            request_timeout: settings.timing.request_timeout,
            max_wait: settings.timing.max_wait,
            wait_budget: settings.timing.wait_budget,
            progress: settings.progress,
            insecure: settings.insecure,
        };
        let mut http = Http::new(base, config, secrets)
            .map_err(|e| Error::Usage(format!("cannot build the HTTP client: {e}")))?;
        let accounts = Accounts::new(provisioning, settings.privileges.as_token.is_some());
        let probed = probe::probe(
            &http,
            &accounts,
            settings.timing.max_wait,
            &settings.privileges,
            settings.bursts,
        )
        .await;
        let mut capabilities = match (probed, &settings.oauth_issuer) {
            (Ok(capabilities), _) => capabilities,
            // A plain OAuth 2.0 server: only the OAuth cases that call no Matrix endpoint apply.
            (Err(Error::NotMatrix { url, reason }), Some(_)) => {
                Capabilities::without_matrix(url, reason)
            }
            (Err(e), _) => return Err(e),
        };
        if let Some(issuer) = &settings.oauth_issuer {
            http.allow_origins([issuer]);
        }
        let mut transcript = Transcript::default();
        let oauth = crate::homeserver::oauth::discover(
            &http,
            settings.oauth_issuer.as_ref(),
            &mut transcript,
        )
        .await;
        let offered = match &oauth {
            Ok(server) => {
                http.allow_origins(&server.endpoint_urls());
                GateStatus::Met
            }
            Err(status) => status.clone(),
        };
        let device = match &oauth {
            Ok(server) => server.device_grant(),
            Err(_) => Ok(()),
        };
        capabilities.set_oauth(offered, settings.authoriser.is_some(), device);
        Ok(RunContext {
            http,
            accounts,
            capabilities,
            catalogue,
            settings: settings.clone(),
            oauth: oauth.ok(),
            // The embedding caller sets its own; a year is "no deadline" without overflowing Instant.
            deadline: Instant::now() + Duration::from_secs(365 * 24 * 3600),
            interrupt: Interrupt::default(),
        })
    }
}

/// Runs every case concurrently without libtest's front end (for embedding and the suite's own tests), each
/// the way a trial runs it ([`events::run_contained`]); the records come back sorted by case id.
pub async fn run_all(ctx: Arc<RunContext>, cases: Vec<Case>) -> Vec<CaseRecord> {
    plan_logins(&ctx, &cases);
    let recorder = Recorder::default();
    let mut set = tokio::task::JoinSet::new();
    for case in cases {
        let (ctx, recorder) = (ctx.clone(), recorder.clone());
        set.spawn(async move { run_contained(ctx, case, &recorder).await });
    }
    while let Some(joined) = set.join_next().await {
        joined.expect("a contained case ends in a record");
    }
    recorder.take_sorted()
}

/// Tells the pacer how many password logins the cases whose gates are met will send, so that once the server's
/// login pace is known, progress lines and advice can say how long the rest will take.
fn plan_logins(ctx: &RunContext, cases: &[Case]) {
    let appservice = ctx.accounts.appservice_logins();
    let logins: usize = cases
        .iter()
        .filter(|case| case_run::gate_reason(case, &ctx.capabilities).is_none())
        .map(|case| step::password_logins(case, appservice))
        .sum();
    ctx.http.pacer.plan(Limit::Login, logins as u32);
}

/// What libtest shows of a finished case: the reporters word it (`report::terminal::completion`).
pub type Completer = fn(&CaseRecord) -> Result<Completion, Failed>;

/// One trial per case, named by case id, with the primary clause as its kind (so that a libtest filter can
/// select by clause as well as by id).
pub fn trials(
    cases: Vec<Case>,
    ctx: Option<Arc<RunContext>>,
    runtime: tokio::runtime::Handle,
    listener: Arc<dyn Listener>,
    completion: Completer,
) -> Vec<Trial> {
    if let Some(ctx) = &ctx {
        plan_logins(ctx, &cases);
    }
    cases
        .into_iter()
        .map(|case| {
            let name = case.id.clone();
            let kind = case.primary_clause().to_owned();
            let ctx = ctx.clone();
            let runtime = runtime.clone();
            let listener = listener.clone();
            Trial::ignorable_test(name, move || {
                let Some(ctx) = ctx else {
                    return Err(Failed::from("no target"));
                };
                let record = runtime.block_on(run_contained(ctx, case, listener.as_ref()));
                completion(&record)
            })
            .with_kind(kind)
        })
        .collect()
}
