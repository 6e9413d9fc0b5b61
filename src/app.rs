//! Orchestration only: arguments -> cases -> target -> probe -> trials -> verdicts -> reports -> exit code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use libtest_mimic::FormatSetting;
use url::Url;

use crate::case;
use crate::cli::{Cli, ServeCli};
use crate::client;
use crate::config::{Config, Expected, ServeConfig, Target};
use crate::error::{EXIT_INTERRUPTED, EXIT_OK, Error, run_exit_code};
use crate::expected;
use crate::redact::Secrets;
use crate::reference::{self, ReferenceServer};
use crate::report::reporter::{self, Reporters};
use crate::report::{self, ReportDir, RunReport, SCHEMA_VERSION, Totals, console};
use crate::run::events::{Listener, Recorder};
use crate::run::{self, Interrupt, RunContext};
use crate::selection;
use crate::verdict::{self, Outcome};

/// Cases run concurrently: they mostly wait (for the server, for expiry), so many run at once by default.
const DEFAULT_THREADS: usize = 64;

pub fn run(cli: Cli) -> Result<u8, Error> {
    // The user's secrets are known to the sink before anything can echo them, a usage error included.
    let secrets = Secrets::global().clone();
    register_user_secrets(&cli, &secrets);
    let result = Config::resolve(&cli).and_then(|config| run_configured(&config, secrets));
    if let Err(error) = &result
        && !cli.libtest.list
    {
        write_aborted_reports(&cli.report_dir, error);
    }
    result
}

/// An early exit still leaves reports, saying why nothing ran, instead of a previous run's.
fn write_aborted_reports(dir: &Path, error: &Error) {
    if matches!(error, Error::Report { .. }) {
        return;
    }
    let written = ReportDir::prepare(dir)
        .and_then(|reports| reports.write_aborted(&error.to_string(), error.code()));
    if let Err(e) = written {
        console::warning(&e.to_string());
    }
}

fn run_configured(config: &Config, secrets: Secrets) -> Result<u8, Error> {
    let mut libtest = config.libtest.clone();
    let case_root = config.cases.clone();
    let suite = case::load_from(&case_root)?;
    let suite_digest = suite.digest;
    let known_ids: Vec<String> = suite.cases.iter().map(|c| c.id.clone()).collect();
    let mut cases = selection::by_clause(suite.cases, &config.clauses);
    if libtest.list && libtest.format == Some(FormatSetting::Json) {
        console::listing(&suite.catalogue, &cases, &case_root, &suite_digest);
        return Ok(EXIT_OK);
    }
    // Cases that wait for expiry are the longest: start them first so that the run lasts little more than
    // the longest case.
    cases.sort_by_key(|case| !case.waits());
    let runtime = runtime()?;
    let recorder = Recorder::default();
    if libtest.list {
        let _listed = libtest_mimic::run(
            &libtest,
            run::trials(
                cases,
                None,
                runtime.handle().clone(),
                Arc::new(recorder),
                report::terminal::completion,
            ),
        );
        return Ok(EXIT_OK);
    }
    let selected = run::trials(
        cases.clone(),
        None,
        runtime.handle().clone(),
        Arc::new(recorder.clone()),
        report::terminal::completion,
    )
    .iter()
    .filter(|trial| !libtest.is_filtered_out(trial))
    .count();
    if selected == 0 {
        return Err(selection::nothing_selected(
            &config.clauses,
            &libtest,
            &known_ids,
            &suite.catalogue,
        ));
    }
    let threads = *libtest
        .test_threads
        .get_or_insert(selected.clamp(1, DEFAULT_THREADS));
    let timing = &config.run.timing;
    let deadline_after = timing.deadline(selected, threads);
    let deadline = Instant::now() + deadline_after;
    let reporters = reporters(
        &ReportDir::prepare(&config.report_dir)?,
        &case_root,
        config.expected.as_ref(),
    );

    let interrupt = Interrupt::default();
    runtime.spawn(stop_on_ctrl_c(interrupt.clone()));
    // Kept until the end of the run: dropping it stops the server.
    let (target, _reference) = start_target(&runtime, &config.target)?;
    let connect = RunContext::connect(
        target.clone(),
        config.provisioning.clone(),
        &config.run,
        suite.catalogue,
        secrets.clone(),
    );
    let mut ctx = runtime.block_on(async {
        tokio::select! {
            ctx = tokio::time::timeout_at(deadline.into(), connect) => ctx.unwrap_or_else(|_| {
                Err(Error::Deadline(format!(
                    "probing the target took the whole run deadline ({})",
                    humantime::format_duration(deadline_after)
                )))
            }),
            () = interrupt.fired() => Err(Error::Interrupted),
        }
    })?;
    ctx.deadline = deadline;
    ctx.interrupt = interrupt.clone();
    console::probe(&ctx.capabilities);
    let ctx = Arc::new(ctx);

    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let listeners: Vec<Arc<dyn Listener>> = vec![Arc::new(recorder.clone()), reporters.clone()];
    let trials = run::trials(
        cases,
        Some(ctx.clone()),
        runtime.handle().clone(),
        Arc::new(listeners),
        report::terminal::completion,
    );
    // The exit code comes from the clause verdicts, not from libtest's count of failed trials.
    let _conclusion = libtest_mimic::run(&libtest, trials);
    let duration = started.elapsed();

    let records = recorder.take_sorted();
    let verdicts = verdict::aggregate(&ctx.catalogue, config.run.reading, &records);
    let errors = records
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .count();
    let judged_wrong = judged_wrong(config.expected.as_ref(), &verdicts, config.strict)?;
    let exit_code = if interrupt.is_fired() {
        EXIT_INTERRUPTED
    } else {
        run_exit_code(judged_wrong, errors)
    };
    let pacing = ctx.http.pacer.stats();
    let advice = report::advice::advise(&report::advice::Inputs {
        cases: &records,
        capabilities: &ctx.capabilities,
        pacing: &pacing,
        max_wait: timing.max_wait,
        wait_budget: timing.wait_budget,
        request_timeout: timing.request_timeout,
        deadline: deadline_after,
        appservice_logins: ctx.accounts.appservice_logins(),
    });
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        suite_version: env!("CARGO_PKG_VERSION"),
        target: target.to_string(),
        reference_fault: config.reference_fault().map(|f| f.name().to_owned()),
        server: ctx.capabilities.clone(),
        spec_version: ctx.catalogue.spec_version.to_string(),
        case_root,
        case_set: suite_digest,
        started_at,
        duration_ms: duration.as_millis() as u64,
        strict: config.strict,
        reading: config.run.reading,
        exit_code,
        totals: Totals::of(&records, &verdicts),
        clauses: verdicts,
        cases: records,
        advice,
        pacing,
    };
    reporters.run_finished(&report)?;
    if interrupt.is_fired() {
        console::interrupted();
    }
    console::written(&config.report_dir, exit_code);
    Ok(exit_code)
}

/// The runtime every request and case of a run shares.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

/// The URL the run talks to, and the built-in reference homeserver when that is the target.
fn start_target(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
) -> Result<(Url, Option<ReferenceServer>), Error> {
    match target {
        Target::Homeserver(url) | Target::OAuthServer(url) => Ok((url.clone(), None)),
        Target::Reference(reference) => {
            let server = runtime
                .block_on(ReferenceServer::start(reference.clone()))
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot start the built-in reference homeserver: {e}"
                    ))
                })?;
            let url = Url::parse(server.base_url()).map_err(|e| {
                Error::Usage(format!("the reference homeserver has no usable URL: {e}"))
            })?;
            console::reference_target(&url, reference.fault);
            Ok((url, Some(server)))
        }
    }
}

/// Every secret on the command line, as given (`--register shared-secret=S` and `token=T` hold one after
/// the `=`), and the HTTP Basic credentials of the `--user` account, should anything build them.
fn register_user_secrets(cli: &Cli, secrets: &Secrets) {
    let register = cli
        .register
        .as_deref()
        .and_then(|mode| mode.split_once('='))
        .map(|(_, secret)| secret);
    [
        cli.password.as_deref(),
        cli.admin_token.as_deref(),
        cli.as_token.as_deref(),
        register,
    ]
    .into_iter()
    .flatten()
    .for_each(|s| secrets.add(s));
    if let (Some(user), Some(password)) = (&cli.user, &cli.password) {
        secrets.add_credentials(user, password);
    }
}

/// The first Ctrl-C stops the run promptly (see `run::case_run`); a second one ends the process at once.
async fn stop_on_ctrl_c(interrupt: Interrupt) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    console::stopping();
    interrupt.fire();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
}

/// `refresh-conformance serve`: client mode, from the announcement to the reports.
pub fn serve(cli: ServeCli) -> Result<u8, Error> {
    let config = ServeConfig::resolve(&cli);
    let suite = case::load_from(&config.cases)?;
    let catalogue = client::catalogue(&suite.catalogue);
    let secrets = Secrets::global().clone();
    secrets.add_credentials(&config.profile.user, &config.profile.password);
    let reporters = reporters(
        &ReportDir::prepare(&config.report_dir)?,
        &config.cases,
        config.expected.as_ref(),
    );
    let profile = &config.profile;
    let runtime = runtime()?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let session = runtime
        .block_on(client::Session::start(profile, secrets))
        .map_err(|e| Error::Usage(format!("cannot serve on {}: {e}", profile.listen)))?;
    let url = session.base_url().to_owned();
    console::client_announcement(&console::ClientAnnouncement {
        client: &config.client,
        url: &url,
        duration: profile.duration,
        lifetime: profile.lifetime,
        user: &profile.user,
    });
    let recording = runtime.block_on(session.finish());
    let duration = started.elapsed();
    let (records, verdicts) = client::verdicts(&catalogue, &recording, profile.windows);
    let judged_wrong = judged_wrong(config.expected.as_ref(), &verdicts, config.strict)?;
    let never_came = recording.schedule.logins == 0;
    // A client that never came is the harness not getting its job done, as a case in error would be.
    let exit_code = run_exit_code(judged_wrong, usize::from(never_came));
    for record in &records {
        reporters.event(run::events::Event::CaseFinished(record));
    }
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        suite_version: env!("CARGO_PKG_VERSION"),
        target: config.client.clone(),
        reference_fault: None,
        reading: crate::reading::Reading::Default,
        server: client_capabilities(&config, &url),
        spec_version: catalogue.spec_version.to_string(),
        case_root: config.cases.clone(),
        case_set: suite.digest,
        started_at,
        duration_ms: duration.as_millis() as u64,
        strict: config.strict,
        exit_code,
        totals: Totals::of(&records, &verdicts),
        clauses: verdicts,
        cases: records,
        advice: Vec::new(),
        pacing: Default::default(),
    };
    reporters.run_finished(&report)?;
    if never_came {
        console::no_client(profile.duration);
    } else if recording.schedule.logins_with_refresh_token == 0 {
        console::no_refresh_token(&config.client);
    }
    console::written(&config.report_dir, exit_code);
    Ok(exit_code)
}

/// What the reports say about the server side of a client-mode run: the reference homeserver.
fn client_capabilities(config: &ServeConfig, url: &str) -> crate::homeserver::Capabilities {
    crate::homeserver::Capabilities {
        server: crate::homeserver::ServerInfo {
            base_url: url.to_owned(),
            software: Some(config.client.clone()),
            versions: Vec::new(),
            provisioning: format!(
                "client mode: user {}, access tokens live {}",
                reference::user_id(&config.profile.user),
                humantime::format_duration(config.profile.lifetime)
            ),
            server_name: None,
        },
        versions: Vec::new(),
        gates: Default::default(),
        unmet_by_settings: Default::default(),
        access_token_lifetime_ms: Some(config.profile.lifetime.as_millis() as u64),
    }
}

/// The reporters of a run, in the order they write: the terminal's table, the report files, GitHub's
/// annotations and summary (on GitHub Actions), the expected verdicts (`--bless`).
fn reporters(
    dir: &ReportDir,
    case_root: &case::CaseRoot,
    expected: Option<&Expected>,
) -> Arc<Reporters> {
    let mut list: Vec<Box<dyn reporter::Reporter>> = vec![Box::new(reporter::Terminal)];
    list.extend(dir.reporters());
    if let Some(github) = reporter::GitHub::from_env(case_root.clone()) {
        list.push(Box::new(github));
    }
    if let Some(Expected::Bless(path)) = expected {
        list.push(Box::new(reporter::Bless { path: path.clone() }));
    }
    Arc::new(Reporters::new(list))
}

/// Whether the run's verdicts are wrong: with `--expected`, against the file (a verdict that moved, each one
/// listed); with `--bless`, never (they are taken as they are); otherwise against the spec's levels.
fn judged_wrong(
    expected: Option<&Expected>,
    verdicts: &[verdict::ClauseVerdict],
    strict: bool,
) -> Result<bool, Error> {
    match expected {
        Some(Expected::Compare(path)) => moved_from(path, verdicts),
        Some(Expected::Bless(_)) => Ok(false),
        None => Ok(verdict::nonconformant(verdicts, strict)),
    }
}

/// `--expected FILE`: whether a clause verdict differs from the file (each one is listed).
fn moved_from(path: &std::path::Path, verdicts: &[verdict::ClauseVerdict]) -> Result<bool, Error> {
    let expected = expected::read(path).map_err(Error::Usage)?;
    let moved = expected::compare(&expected, verdicts);
    console::comparison(&expected.server, path, &moved);
    Ok(!moved.is_empty())
}
