//! Orchestration only: arguments -> cases -> target -> probe -> trials -> verdicts -> reports -> exit code.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use url::Url;

use crate::case::{self, Case};
use crate::cli::Cli;
use crate::colour;
use crate::error::{EXIT_HARNESS, EXIT_NONCONFORMANT, EXIT_OK, Error};
use crate::expected;
use crate::redact::Secrets;
use crate::reference::{Fault, ReferenceConfig, ReferenceServer};
use crate::report::{self, RunReport, SCHEMA_VERSION, Totals};
use crate::run::{self, Privileges, RunContext, Settings};
use crate::target::accounts::Provisioning;
use crate::verdict::{self, Outcome};

/// Cases run concurrently: they mostly wait (for the server, for expiry), so many run at once by default.
const DEFAULT_THREADS: usize = 64;

pub fn run(cli: Cli) -> Result<u8, Error> {
    let mut libtest = cli.libtest.clone();
    libtest.color = Some(colour::apply(libtest.color));
    let cases_dir = cli.cases.clone().unwrap_or_else(default_cases_dir);
    let suite = case::load(&cases_dir)?;
    let mut cases = select(suite.cases, &cli.clauses);
    // Cases that wait for expiry are the longest: start them first so that the run lasts little more than
    // the longest case.
    cases.sort_by_key(|case| !case.waits());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
    let records: run::Records = Arc::new(Mutex::new(Vec::new()));
    if libtest.list {
        let _listed = libtest_mimic::run(
            &libtest,
            run::trials(cases, None, runtime.handle().clone(), records),
        );
        return Ok(EXIT_OK);
    }
    libtest
        .test_threads
        .get_or_insert(cases.len().clamp(1, DEFAULT_THREADS));

    let provisioning = provisioning(&cli)?;
    let secrets = Secrets::default();
    provisioning
        .secrets()
        .into_iter()
        .chain(cli.admin_token.as_deref())
        .chain(cli.as_token.as_deref())
        .for_each(|s| secrets.add_exact(s));
    let reference_fault = cli
        .reference_fault
        .as_deref()
        .map(str::parse::<Fault>)
        .transpose()
        .map_err(Error::Usage)?;
    let _reference: Option<ReferenceServer>;
    let target = match &cli.target {
        Some(target) => {
            _reference = None;
            target.clone()
        }
        None => {
            let mut config =
                reference_fault.map_or_else(ReferenceConfig::default, ReferenceConfig::for_fault);
            if let Some(lifetime) = cli.reference_lifetime {
                config.access_token_lifetime = Some(lifetime);
            }
            let server = runtime
                .block_on(ReferenceServer::start(config))
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot start the built-in reference homeserver: {e}"
                    ))
                })?;
            let url = server.base_url().to_owned();
            let fault =
                reference_fault.map_or(String::new(), |f| format!(" with fault `{}`", f.name()));
            eprintln!(
                "no --target given: running against the built-in reference homeserver at {url}{fault}"
            );
            _reference = Some(server);
            url
        }
    };
    let base = parse_target(&target)?;
    let settings = Settings {
        request_timeout: cli.request_timeout,
        max_wait: cli.max_wait,
        case_timeout: cli.case_timeout,
        insecure: cli.insecure,
        privileges: Privileges {
            admin_token: cli.admin_token.clone(),
            as_token: cli.as_token.clone(),
        },
        // Bursts are the user's to allow on their server; on our own reference server they always are.
        bursts: cli.bursts || cli.target.is_none(),
        reading: cli.reading,
    };
    let ctx = runtime.block_on(RunContext::connect(
        base,
        provisioning,
        &settings,
        suite.catalogue,
        secrets.clone(),
    ))?;
    eprintln!("{}", secrets.redact(&describe_probe(&ctx.capabilities)));
    let ctx = Arc::new(ctx);

    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let trials = run::trials(
        cases,
        Some(ctx.clone()),
        runtime.handle().clone(),
        records.clone(),
    );
    // The exit code comes from the clause verdicts, not from libtest's count of failed trials.
    let _conclusion = libtest_mimic::run(&libtest, trials);
    let duration = started.elapsed();

    let mut records = std::mem::take(&mut *records.lock().unwrap_or_else(|e| e.into_inner()));
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let verdicts = verdict::aggregate(&ctx.catalogue, cli.reading, &records);
    let errors = records.iter().any(|r| r.outcome == Outcome::Error);
    // With --expected, the verdicts are judged against the file (a verdict that moved) instead of against
    // the spec's levels; --bless takes them as they are.
    let judged_wrong = match (&cli.expected, cli.bless) {
        (Some(path), false) => moved_from(path, &verdicts)?,
        (Some(_), true) => false,
        (None, _) => verdict::nonconformant(&verdicts, cli.strict),
    };
    let exit_code = if judged_wrong {
        EXIT_NONCONFORMANT
    } else if errors {
        EXIT_HARNESS
    } else {
        EXIT_OK
    };
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        suite_version: env!("CARGO_PKG_VERSION"),
        target,
        reference_fault: reference_fault.map(|f| f.name().to_owned()),
        server: ctx.capabilities.clone(),
        spec_version: ctx.catalogue.spec_version.to_string(),
        started_at,
        duration_ms: duration.as_millis() as u64,
        strict: cli.strict,
        reading: cli.reading,
        exit_code,
        totals: Totals::of(&records, &verdicts),
        clauses: verdicts,
        cases: records,
    };
    print!("{}", secrets.redact(&report::terminal::render(&report)));
    report::write_all(&report, &cli.report_dir, &secrets)?;
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        print!("{}", secrets.redact(&report::github::render(&report)));
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append(
            &PathBuf::from(summary),
            &secrets.redact(&report::markdown::render(&report)),
        );
    }
    if let (Some(path), true) = (&cli.expected, cli.bless) {
        bless(path, &report, &secrets)?;
    }
    eprintln!(
        "reports: {0}/junit.xml, {0}/report.json, {0}/summary.md (exit code {exit_code})",
        cli.report_dir.display()
    );
    Ok(exit_code)
}

/// `--bless`: the verdicts of this run become the expected ones, and its summary goes beside them.
fn bless(path: &std::path::Path, report: &RunReport, secrets: &Secrets) -> Result<(), Error> {
    let server = report
        .server
        .server
        .software
        .clone()
        .unwrap_or_else(|| report.target.clone());
    expected::write(path, &server, &report.clauses).map_err(Error::Usage)?;
    let summary = path.with_extension("md");
    std::fs::write(&summary, secrets.redact(&report::markdown::render(report))).map_err(
        |source| Error::Report {
            path: summary.display().to_string(),
            source,
        },
    )?;
    eprintln!(
        "wrote the expected verdicts to {} and the summary to {}",
        path.display(),
        summary.display()
    );
    Ok(())
}

/// `--expected FILE`: whether a clause verdict differs from the file (each one is listed).
fn moved_from(path: &std::path::Path, verdicts: &[verdict::ClauseVerdict]) -> Result<bool, Error> {
    let expected = expected::read(path).map_err(Error::Usage)?;
    let moved = expected::compare(&expected, verdicts);
    if moved.is_empty() {
        eprintln!(
            "every clause verdict is as expected for {} ({})",
            expected.server,
            path.display()
        );
    } else {
        eprintln!(
            "{} clause verdict(s) moved from {}:",
            moved.len(),
            path.display()
        );
        for m in &moved {
            eprintln!("  {m}");
        }
    }
    Ok(!moved.is_empty())
}

fn default_cases_dir() -> PathBuf {
    let local = PathBuf::from("cases");
    if local.join(case::load::CATALOGUE_FILE).is_file() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases")
    }
}

/// `--clause PREFIX`: keep the cases citing a clause with one of the prefixes.
fn select(cases: Vec<Case>, prefixes: &[String]) -> Vec<Case> {
    if prefixes.is_empty() {
        return cases;
    }
    cases
        .into_iter()
        .filter(|case| {
            case.clauses
                .iter()
                .any(|c| prefixes.iter().any(|p| c.starts_with(p.as_str())))
        })
        .collect()
}

fn provisioning(cli: &Cli) -> Result<Provisioning, Error> {
    match (&cli.user, &cli.password, &cli.register) {
        (Some(user), Some(password), _) => Ok(Provisioning::Fixed {
            user: user.clone(),
            password: password.clone(),
        }),
        (_, _, Some(mode)) => Provisioning::parse_register(mode).map_err(Error::Usage),
        _ => Ok(Provisioning::Open),
    }
}

fn parse_target(target: &str) -> Result<Url, Error> {
    let url = Url::parse(target)
        .map_err(|e| Error::Usage(format!("--target {target:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::Usage(format!(
            "--target {target:?} must be an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Usage(
            "--target must not carry credentials; use --register or --user/--password".to_owned(),
        ));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(Error::Usage(format!(
            "--target {target:?} has a path; give the homeserver's base URL (the suite adds /_matrix/...)"
        )));
    }
    Ok(url)
}

fn describe_probe(capabilities: &crate::target::Capabilities) -> String {
    let server = &capabilities.server;
    let mut out = format!(
        "target {} ({}), versions {}, accounts: {}",
        server.base_url,
        server.software.as_deref().unwrap_or("unknown software"),
        server.versions.join(" "),
        server.provisioning
    );
    for (gate, status) in &capabilities.gates {
        match status {
            Ok(()) => out.push_str(&format!("\n  gate {}: met", gate.as_str())),
            Err(reason) => out.push_str(&format!("\n  gate {}: not met ({reason})", gate.as_str())),
        }
    }
    out
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
            path.display()
        );
    }
}
