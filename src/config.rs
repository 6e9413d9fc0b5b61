//! The run's configuration, resolved once from the command line before any case loads or any request is
//! sent: each option checked and given the type it is used as, then passed down by reference.
//! (clap has already parsed the URLs and durations: `cli.rs`.)

use std::path::PathBuf;
use std::time::Duration;

use libtest_mimic::Arguments;
use url::Url;

use crate::case::CaseRoot;
use crate::cli::Cli;
use crate::colour;
use crate::error::Error;
use crate::homeserver::Privileges;
use crate::homeserver::accounts::Provisioning;
use crate::reading::Reading;
use crate::reference::{Fault, ReferenceConfig};

#[derive(Debug)]
pub struct Config {
    pub target: Target,
    pub provisioning: Provisioning,
    pub privileges: Privileges,
    /// `--oauth-issuer`: the authorisation server of a Matrix server without discovery, or the target.
    pub oauth_issuer: Option<Url>,
    /// `--oauth-authorize CMD`: how a grant gets the user's consent.
    pub oauth_authorize: Option<String>,
    /// Bursts of requests are allowed: the user's to allow on their server, always on the reference server.
    pub bursts: bool,
    pub insecure: bool,
    pub timing: Timing,
    pub cases: CaseRoot,
    /// `--clause` prefixes.
    pub clauses: Vec<String>,
    /// libtest's options, with the colour decided and `--test-threads 0` made one thread per core.
    pub libtest: Arguments,
    pub expected: Option<Expected>,
    pub strict: bool,
    pub reading: Reading,
    pub report_dir: PathBuf,
}

/// What the run talks to.
#[derive(Debug)]
pub enum Target {
    /// `--target`: a homeserver's base URL.
    Homeserver(Url),
    /// `--oauth-issuer` without `--target`: a plain OAuth 2.0 server is its own target, at its origin.
    OAuthServer(Url),
    /// Neither: the built-in reference homeserver, started with this configuration.
    Reference(ReferenceConfig),
}

/// `--expected FILE`: the verdicts are compared with the file, or (`--bless`) become it.
#[derive(Debug)]
pub enum Expected {
    Compare(PathBuf),
    Bless(PathBuf),
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub request_timeout: Duration,
    pub max_wait: Duration,
    pub wait_budget: Duration,
    pub case_timeout: Duration,
    /// `--deadline`; without it, one follows from the selection ([`Timing::deadline`]).
    deadline: Option<Duration>,
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
                .saturating_add(self.wait_budget)
        })
    }
}

impl Config {
    pub fn resolve(cli: &Cli) -> Result<Config, Error> {
        let target = match (&cli.target, &cli.oauth_issuer) {
            (Some(url), _) => Target::Homeserver(url.clone()),
            (None, Some(issuer)) => {
                let mut origin = issuer.clone();
                origin.set_path("/");
                Target::OAuthServer(origin)
            }
            (None, None) => {
                let mut config = cli
                    .reference_fault
                    .map_or_else(ReferenceConfig::default, ReferenceConfig::for_fault);
                if let Some(lifetime) = cli.reference_lifetime {
                    config.access_token_lifetime = Some(lifetime);
                }
                Target::Reference(config)
            }
        };
        let mut libtest = cli.libtest.clone();
        libtest.color = Some(colour::apply(libtest.color));
        if libtest.test_threads == Some(0) {
            // libtest's own meaning of 0 would be "no thread at all", a run that never ends.
            libtest.test_threads =
                Some(std::thread::available_parallelism().map_or(1, |n| n.get()));
        }
        Ok(Config {
            bursts: cli.bursts || matches!(target, Target::Reference(_)),
            target,
            provisioning: provisioning(cli)?,
            privileges: Privileges {
                admin_token: cli.admin_token.clone(),
                as_token: cli.as_token.clone(),
            },
            oauth_issuer: cli.oauth_issuer.clone(),
            oauth_authorize: cli.oauth_authorize.clone(),
            insecure: cli.insecure,
            timing: Timing {
                request_timeout: cli.request_timeout,
                max_wait: cli.max_wait,
                wait_budget: cli.wait_budget,
                case_timeout: cli.case_timeout,
                deadline: cli.deadline,
            },
            cases: cli.cases.clone().map_or(CaseRoot::BuiltIn, CaseRoot::Dir),
            clauses: cli.clauses.clone(),
            libtest,
            expected: cli.expected.clone().map(|path| {
                if cli.bless {
                    Expected::Bless(path)
                } else {
                    Expected::Compare(path)
                }
            }),
            strict: cli.strict,
            reading: cli.reading,
            report_dir: cli.report_dir.clone(),
        })
    }

    /// The reference server's fault, when the run is against one.
    pub fn reference_fault(&self) -> Option<Fault> {
        match &self.target {
            Target::Reference(config) => config.fault,
            Target::Homeserver(_) | Target::OAuthServer(_) => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Config {
        let cli = Cli::parse_from_iter(
            std::iter::once("refresh-conformance").chain(args.iter().copied()),
        )
        .unwrap();
        Config::resolve(&cli).unwrap()
    }

    #[test]
    fn no_target_is_the_reference_server_with_its_fault_and_lifetime() {
        let config = resolve(&[
            "--reference-fault",
            "no-rotation",
            "--reference-lifetime",
            "5m",
        ]);
        let Target::Reference(reference) = &config.target else {
            panic!("{:?}", config.target);
        };
        assert_eq!(reference.fault, Some(Fault::NoRotation));
        assert_eq!(
            reference.access_token_lifetime,
            Some(Duration::from_secs(300))
        );
        // Bursts are always allowed on the suite's own server.
        assert!(config.bursts);
    }

    #[test]
    fn an_oauth_issuer_alone_is_its_own_target_at_its_origin() {
        let config = resolve(&["--oauth-issuer", "http://127.0.0.1:3000/oidc"]);
        let Target::OAuthServer(origin) = &config.target else {
            panic!("{:?}", config.target);
        };
        assert_eq!(origin.as_str(), "http://127.0.0.1:3000/");
        assert!(!config.bursts);
    }

    #[test]
    fn the_deadline_follows_the_selection_unless_given() {
        let config = resolve(&["--target", "http://127.0.0.1:1"]);
        // 10 cases on 4 threads: 3 waves, plus one; (180 s + 60 s) * 4 + 2 h.
        assert_eq!(
            config.timing.deadline(10, 4),
            Duration::from_secs(240 * 4 + 7200)
        );
        let given = resolve(&["--target", "http://127.0.0.1:1", "--deadline", "1m"]);
        assert_eq!(given.timing.deadline(10, 4), Duration::from_secs(60));
    }

    #[test]
    fn a_bad_register_mode_is_a_usage_error() {
        let cli = Cli::parse_from_iter(["refresh-conformance", "--register", "closed"]).unwrap();
        assert!(matches!(Config::resolve(&cli), Err(Error::Usage(_))));
    }
}
