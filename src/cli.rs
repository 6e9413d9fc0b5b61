//! Command-line arguments: the suite's own options plus libtest's (filter, --list, --exact, --skip, ...).

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use url::Url;

use crate::reading::Reading;
use crate::reference::Fault;

/// Runs the Matrix refresh-token conformance cases against a homeserver and reports a verdict per spec clause.
///
/// Without --target, the cases run against the built-in reference homeserver. To judge a Matrix client
/// instead: `refresh-conformance serve --help`.
#[derive(Debug, Parser)]
#[command(name = "refresh-conformance", version)]
pub struct Cli {
    /// Base URL of the homeserver under test, e.g. http://127.0.0.1:8008.
    #[arg(long, env = "MRC_TARGET", value_name = "URL", value_parser = base_url)]
    pub target: Option<Url>,

    /// How to get test accounts: `open` (m.login.dummy), `shared-secret=SECRET` (Synapse admin API) or
    /// `token=TOKEN` (registration token). Default: open.
    #[arg(long, value_name = "MODE", conflicts_with = "user")]
    pub register: Option<String>,

    /// An existing account for servers without registration (cases that need fresh accounts are skipped).
    #[arg(long, value_name = "USER", requires = "password")]
    pub user: Option<String>,

    /// Password of --user.
    #[arg(
        long,
        env = "MRC_PASSWORD",
        value_name = "PASSWORD",
        requires = "user",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// A server-admin access token, for the cases that need one (account locking); without it they are
    /// not applicable.
    #[arg(
        long,
        env = "MRC_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Allow cases that send bursts of up to 200 requests to provoke a 429 (rate-limit clauses); without it
    /// they are not applicable.
    #[arg(long)]
    pub bursts: bool,

    /// Compare the clause verdicts with the expected ones in this JSON file: the exit code is then 0 when
    /// every verdict is as expected and 1 when one moved (each moved clause is listed).
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,

    /// With --expected: rewrite the file with this run's verdicts (and FILE.md with its summary) instead of
    /// comparing.
    #[arg(long, requires = "expected")]
    pub bless: bool,

    /// An application service's as_token, for the case on identity assertion at /refresh (without it that
    /// case is not applicable). Its user namespace must cover @mrc-as-.*: fresh accounts are named there, and
    /// logins that only set a case up are made as the service, which Synapse exempts from rc_login when the
    /// service has rate_limited: false.
    #[arg(
        long,
        env = "MRC_AS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub as_token: Option<String>,

    /// Issuer URL of a plain OAuth 2.0 authorisation server: its metadata is read from the RFC 8414 or
    /// OpenID Connect discovery path instead of GET /_matrix/client/v1/auth_metadata. Without --target, the
    /// issuer is the target and only the OAuth cases that call no Matrix endpoint run.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub oauth_issuer: Option<Url>,

    /// A command that completes a user's login and consent (run with `sh -c`): it gets the authorisation
    /// URL in MRC_OAUTH_AUTHORIZATION_URL and the redirect URI in MRC_OAUTH_REDIRECT_URI, and prints the URL
    /// it was redirected to. For the device authorisation grant (MRC_OAUTH_GRANT=device_code) it gets
    /// MRC_OAUTH_USER_CODE and MRC_OAUTH_VERIFICATION_URI instead, and exits 0 once the code is approved.
    /// Needed for the OAuth cases against a real server.
    #[arg(long, value_name = "CMD")]
    pub oauth_authorize: Option<String>,

    /// Folder of case files with clauses.yaml at its top, run instead of the built-in cases.
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,

    /// Where junit.xml, report.json and summary.md are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,

    /// The longest a case may wait, for access-token expiry or a rate limit; longer waits skip the case.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub max_wait: Duration,

    /// How long into the run requests may still wait for their turn behind a server's rate limit (the run
    /// paces logins and registrations for every case together); a turn that would come later stops its case.
    /// Against Synapse's stock rc_login with --as-token, the password logins of the whole suite take about an
    /// hour.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = humantime::parse_duration)]
    pub wait_budget: Duration,

    /// Timeout of one HTTP request; a login or registration gets more once the server has been slower.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = longer_than_zero)]
    pub request_timeout: Duration,

    /// Timeout of one case; its waits (for expiry, for its turn behind a rate limit) are not counted.
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = longer_than_zero)]
    pub case_timeout: Duration,

    /// The longest the whole run may take; cases not finished by then are errors. Default: --case-timeout
    /// for each wave of cases (cases / --test-threads, rounded up), plus one for the probe and clean-ups.
    #[arg(long, value_name = "DURATION", value_parser = longer_than_zero)]
    pub deadline: Option<Duration>,

    /// Run only cases citing a clause whose ID starts with this prefix (repeatable), e.g. `refresh.rotation`.
    #[arg(long = "clause", value_name = "PREFIX")]
    pub clauses: Vec<String>,

    /// SHOULD-level failures make the run fail (exit 1) too.
    #[arg(long)]
    pub strict: bool,

    /// How to read the spec where its texts disagree (the catalogue's ambiguities A1-A35): `default`
    /// follows the catalogue's recommendation, `strict` the strongest text.
    #[arg(long, value_enum, value_name = "READING", default_value_t = Reading::Default)]
    pub reading: Reading,

    /// Accept invalid TLS certificates (self-signed development servers).
    #[arg(long)]
    pub insecure: bool,

    /// With no --target: switch on one named fault (or allowed variation) of the reference homeserver.
    #[arg(long, value_name = "NAME", value_parser = fault, conflicts_with_all = ["target", "oauth_issuer"])]
    pub reference_fault: Option<Fault>,

    /// With no --target: lifetime of the reference server's refreshable access tokens (default 3s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with = "target")]
    pub reference_lifetime: Option<Duration>,

    #[command(
        flatten,
        next_help_heading = "Test selection and output (libtest-compatible)"
    )]
    pub libtest: libtest_mimic::Arguments,
}

/// What the command line asks for: the suite against a server, or client mode.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<Cli>),
    Serve(Box<ServeCli>),
}

/// The word that selects client mode. A libtest filter with this exact text goes after `--`.
pub const SERVE: &str = "serve";

impl Invocation {
    /// `refresh-conformance serve ...` is client mode; anything else is the suite, exactly as before
    /// (libtest's positional FILTER stays free for everything but the word `serve`).
    pub fn parse_from_iter<I, T>(args: I) -> Result<Invocation, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        if args.get(1).is_some_and(|a| a == SERVE) {
            let rest = std::iter::once(format!("refresh-conformance {SERVE}").into())
                .chain(args.into_iter().skip(2));
            return ServeCli::try_parse_from(rest).map(|cli| Invocation::Serve(Box::new(cli)));
        }
        Cli::parse_from_iter(args).map(|cli| Invocation::Run(Box::new(cli)))
    }

    pub fn parse_args() -> Result<Invocation, clap::Error> {
        Self::parse_from_iter(std::env::args_os())
    }
}

/// Client mode: serves the built-in reference homeserver to a Matrix client under test, applies
/// adversities on a schedule (expiry, soft logout, lost and failing /refresh responses), records
/// every request, and judges the client-side refresh-token clauses from the traffic.
///
/// The client logs in as the printed user with `refresh_token: true`, keeps making authenticated
/// requests for the announced duration, then logs out (see the README, "Client mode").
#[derive(Debug, Parser)]
#[command(name = "refresh-conformance serve", version)]
pub struct ServeCli {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8008")]
    pub listen: std::net::SocketAddr,

    /// The run ends when the client logs out, or after this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Lifetime of the access tokens issued with a refresh token.
    #[arg(long, value_name = "DURATION", default_value = "4s", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,

    /// Localpart of the account the client logs in with.
    #[arg(long, value_name = "LOCALPART", default_value = "client")]
    pub user: String,

    /// Password of that account (never printed: give the client the same one).
    #[arg(
        long,
        env = "MRC_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: String,

    /// The client's name and version, for the reports and --bless (e.g. "matrix-js-sdk 37.5.0").
    #[arg(long, value_name = "NAME", default_value = "the client")]
    pub client: String,

    /// How long the judge waits for the client's reaction to an adversity before calling it none.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub reaction_window: Duration,

    /// Folder with clauses.yaml (the clause catalogue).
    #[arg(long, value_name = "DIR")]
    pub cases: Option<PathBuf>,

    /// Where junit.xml, report.json and summary.md are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,

    /// Compare the clause verdicts with the expected ones in this JSON file (exit 1 when one moved).
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,

    /// With --expected: rewrite the file (and FILE.md) with this run's verdicts.
    #[arg(long, requires = "expected")]
    pub bless: bool,

    /// SHOULD-level failures make the run fail (exit 1) too.
    #[arg(long)]
    pub strict: bool,
}

impl Cli {
    /// Parses the process arguments; libtest-mimic's flattened attributes are undone so that `--help` and
    /// `--version` show this program, and RUST_TEST_THREADS works as it does for cargo test.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        Self::parse_from_iter(std::env::args_os())
    }

    pub fn parse_from_iter<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        // The version names the built-in case set: two runs with the same line ran the same cases.
        let version = format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            crate::case::load::built_in_description()
        );
        let command = Cli::command()
            .version(&*Box::leak(version.into_boxed_str()))
            .help_template("{before-help}{name} {version}\n{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}")
            .disable_version_flag(false)
            .mut_arg("test_threads", |a| a.env("RUST_TEST_THREADS"));
        let matches = command.try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }
}

/// A homeserver's base URL: http(s), a host, no credentials, no path, no query.
fn base_url(text: &str) -> Result<Url, String> {
    // Query and fragment would be silently dropped or, worse, sent along with every request.
    if text.contains(['?', '#']) {
        return Err(
            "it has a query or a fragment; give the homeserver's base URL alone".to_owned(),
        );
    }
    let url = http_url(text)?;
    if url.host().is_none() {
        return Err("it must be an http:// or https:// URL".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "it must not carry credentials; use --register or --user/--password".to_owned(),
        );
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(
            "it has a path; give the homeserver's base URL (the suite adds /_matrix/...)"
                .to_owned(),
        );
    }
    Ok(url)
}

fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("it must be an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

/// A fault of the reference server, by its name (an unknown name lists the valid ones).
fn fault(name: &str) -> Result<Fault, String> {
    name.parse()
}

/// A timeout or a deadline: nothing could finish within zero.
fn longer_than_zero(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("it must be longer than zero: nothing could finish within it".to_owned());
    }
    Ok(duration)
}
