//! Orchestration only: arguments -> cases -> target -> probe -> trials -> verdicts -> reports -> exit code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use libtest_mimic::FormatSetting;
use url::Url;

use crate::case;
use crate::cli::{Cli, ServeCli};
use crate::client;
use crate::config::{Config, Expected, Target};
use crate::error::{EXIT_INTERRUPTED, EXIT_OK, Error, run_exit_code};
use crate::expected;
use crate::listing;
use crate::output;
use crate::redact::Secrets;
use crate::reference::{self, ReferenceServer};
use crate::report::{self, ReportDir, RunReport, SCHEMA_VERSION, Totals, console};
use crate::run::events::Recorder;
use crate::run::oauth::Authoriser;
use crate::run::{self, Interrupt, RunContext, Settings};
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
        output::out(&listing::render(
            &suite.catalogue,
            &cases,
            &case_root,
            &suite_digest,
        ));
        return Ok(EXIT_OK);
    }
    // Cases that wait for expiry are the longest: start them first so that the run lasts little more than
    // the longest case.
    cases.sort_by_key(|case| !case.waits());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
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
    let deadline_after = config.timing.deadline(selected, threads);
    let deadline = Instant::now() + deadline_after;
    let reports = ReportDir::prepare(&config.report_dir)?;

    let interrupt = Interrupt::default();
    runtime.spawn(stop_on_ctrl_c(interrupt.clone()));
    let _reference: Option<ReferenceServer>;
    let target = match &config.target {
        Target::Homeserver(url) | Target::OAuthServer(url) => {
            _reference = None;
            url.clone()
        }
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
            _reference = Some(server);
            url
        }
    };
    let timing = &config.timing;
    let settings = Settings {
        request_timeout: timing.request_timeout,
        max_wait: timing.max_wait,
        wait_budget: Some(timing.wait_budget),
        progress: true,
        case_timeout: timing.case_timeout,
        insecure: config.insecure,
        privileges: config.privileges.clone(),
        bursts: config.bursts,
        oauth_issuer: config.oauth_issuer.clone(),
        // The reference server consents on its own; a real server needs the user's command.
        authoriser: match (&config.oauth_authorize, &_reference) {
            (Some(command), _) => Some(Authoriser::Command(command.clone())),
            (None, Some(_)) => Some(Authoriser::Builtin),
            (None, None) => None,
        },
        reading: config.reading,
    };
    let connect = RunContext::connect(
        target.clone(),
        config.provisioning.clone(),
        &settings,
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
    let trials = run::trials(
        cases,
        Some(ctx.clone()),
        runtime.handle().clone(),
        Arc::new(recorder.clone()),
        report::terminal::completion,
    );
    // The exit code comes from the clause verdicts, not from libtest's count of failed trials.
    let _conclusion = libtest_mimic::run(&libtest, trials);
    let duration = started.elapsed();

    let records = recorder.take_sorted();
    let verdicts = verdict::aggregate(&ctx.catalogue, config.reading, &records);
    let errors = records
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .count();
    // With --expected, the verdicts are judged against the file (a verdict that moved) instead of against
    // the spec's levels; --bless takes them as they are.
    let judged_wrong = match &config.expected {
        Some(Expected::Compare(path)) => moved_from(path, &verdicts)?,
        Some(Expected::Bless(_)) => false,
        None => verdict::nonconformant(&verdicts, config.strict),
    };
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
        wait_budget: Some(timing.wait_budget),
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
        reading: config.reading,
        exit_code,
        totals: Totals::of(&records, &verdicts),
        clauses: verdicts,
        cases: records,
        advice,
        pacing,
    };
    console::report(&report);
    reports.write(&report)?;
    console::github(&report);
    if let Some(Expected::Bless(path)) = &config.expected {
        bless(path, &report)?;
    }
    if interrupt.is_fired() {
        console::interrupted();
    }
    console::written(&config.report_dir, exit_code);
    Ok(exit_code)
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
    let case_root = cli
        .cases
        .clone()
        .map_or(case::CaseRoot::BuiltIn, case::CaseRoot::Dir);
    let suite = case::load_from(&case_root)?;
    let catalogue = client::catalogue(&suite.catalogue);
    let secrets = Secrets::global().clone();
    secrets.add_credentials(&cli.user, &cli.password);
    let reports = ReportDir::prepare(&cli.report_dir)?;
    let profile = client::Profile {
        listen: cli.listen,
        duration: cli.duration,
        lifetime: cli.lifetime,
        user: cli.user.clone(),
        password: cli.password.clone(),
        windows: client::Windows {
            reaction: cli.reaction_window,
            ..client::Windows::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let session = runtime
        .block_on(client::Session::start(&profile, secrets))
        .map_err(|e| Error::Usage(format!("cannot serve on {}: {e}", cli.listen)))?;
    let url = session.base_url().to_owned();
    console::client_announcement(&console::ClientAnnouncement {
        client: &cli.client,
        url: &url,
        duration: cli.duration,
        lifetime: cli.lifetime,
        user: &cli.user,
    });
    let recording = runtime.block_on(session.finish());
    let duration = started.elapsed();
    let (records, verdicts) = client::verdicts(&catalogue, &recording, profile.windows);
    let judged_wrong = match (&cli.expected, cli.bless) {
        (Some(path), false) => moved_from(path, &verdicts)?,
        (Some(_), true) => false,
        (None, _) => verdict::nonconformant(&verdicts, cli.strict),
    };
    let never_came = recording.schedule.logins == 0;
    // A client that never came is the harness not getting its job done, as a case in error would be.
    let exit_code = run_exit_code(judged_wrong, usize::from(never_came));
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        suite_version: env!("CARGO_PKG_VERSION"),
        target: cli.client.clone(),
        reference_fault: None,
        reading: crate::reading::Reading::Default,
        server: client_capabilities(&cli, &url),
        spec_version: catalogue.spec_version.to_string(),
        case_root,
        case_set: suite.digest,
        started_at,
        duration_ms: duration.as_millis() as u64,
        strict: cli.strict,
        exit_code,
        totals: Totals::of(&records, &verdicts),
        clauses: verdicts,
        cases: records,
        advice: Vec::new(),
        pacing: Default::default(),
    };
    console::report(&report);
    reports.write(&report)?;
    if let (Some(path), true) = (&cli.expected, cli.bless) {
        bless(path, &report)?;
    }
    if never_came {
        console::no_client(cli.duration);
    } else if recording.schedule.logins_with_refresh_token == 0 {
        console::no_refresh_token(&cli.client);
    }
    console::written(&cli.report_dir, exit_code);
    Ok(exit_code)
}

/// What the reports say about the server side of a client-mode run: the reference homeserver.
fn client_capabilities(cli: &ServeCli, url: &str) -> crate::homeserver::Capabilities {
    crate::homeserver::Capabilities {
        server: crate::homeserver::ServerInfo {
            base_url: url.to_owned(),
            software: Some(cli.client.clone()),
            versions: Vec::new(),
            provisioning: format!(
                "client mode: user {}, access tokens live {}",
                reference::user_id(&cli.user),
                humantime::format_duration(cli.lifetime)
            ),
            server_name: None,
        },
        versions: Vec::new(),
        gates: Default::default(),
        unmet_by_settings: Default::default(),
        access_token_lifetime_ms: Some(cli.lifetime.as_millis() as u64),
    }
}

/// `--bless`: the verdicts of this run become the expected ones, and its summary goes beside them.
fn bless(path: &std::path::Path, report: &RunReport) -> Result<(), Error> {
    let server = report
        .server
        .server
        .software
        .clone()
        .unwrap_or_else(|| report.target.clone());
    expected::write(path, &server, &report.clauses).map_err(Error::Usage)?;
    let summary = path.with_extension("md");
    output::write_file(&summary, &report::markdown::render(report)).map_err(|source| {
        Error::Report {
            path: summary.display().to_string(),
            source,
        }
    })?;
    console::blessed(path, &summary);
    Ok(())
}

/// `--expected FILE`: whether a clause verdict differs from the file (each one is listed).
fn moved_from(path: &std::path::Path, verdicts: &[verdict::ClauseVerdict]) -> Result<bool, Error> {
    let expected = expected::read(path).map_err(Error::Usage)?;
    let moved = expected::compare(&expected, verdicts);
    console::comparison(&expected.server, path, &moved);
    Ok(!moved.is_empty())
}
