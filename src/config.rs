//! The run's configuration, resolved once from the command line before any case loads or any request is
//! sent: each option checked and given the type it is used as, then passed down by reference.
//! (clap has already parsed the URLs and durations: `cli.rs`.)

use std::path::PathBuf;

use libtest_mimic::Arguments;
use url::Url;

use crate::case::CaseRoot;
use crate::cli::{Cli, ServeCli};
use crate::client;
use crate::colour;
use crate::error::Error;
use crate::homeserver::Privileges;
use crate::homeserver::accounts::Provisioning;
use crate::reference::{Fault, ReferenceConfig};
use crate::report::console;
use crate::run::oauth::Authoriser;
use crate::run::{Settings, Timing};

#[derive(Debug)]
pub struct Config {
    pub target: Target,
    pub provisioning: Provisioning,
    /// How the cases talk to the target, as the runner takes it.
    pub run: Settings,
    pub cases: CaseRoot,
    /// `--clause` prefixes.
    pub clauses: Vec<String>,
    /// libtest's options, with the colour decided and `--test-threads 0` made one thread per core.
    pub libtest: Arguments,
    pub expected: Option<Expected>,
    pub strict: bool,
    pub report_dir: PathBuf,
}

/// `refresh-conformance serve`: client mode's configuration.
#[derive(Debug)]
pub struct ServeConfig {
    /// The client's name and version, for the reports.
    pub client: String,
    pub profile: client::Profile,
    pub cases: CaseRoot,
    pub expected: Option<Expected>,
    pub strict: bool,
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
        let reference = matches!(target, Target::Reference(_));
        let run = Settings {
            timing: Timing {
                request_timeout: cli.request_timeout,
                max_wait: cli.max_wait,
                wait_budget: Some(cli.wait_budget),
                case_timeout: cli.case_timeout,
                deadline: cli.deadline,
            },
            progress: Some(console::waiting),
            insecure: cli.insecure,
            privileges: Privileges {
                admin_token: cli.admin_token.clone(),
                as_token: cli.as_token.clone(),
            },
            // Bursts of requests are the user's to allow on their server, and always allowed on the suite's own.
            bursts: cli.bursts || reference,
            oauth_issuer: cli.oauth_issuer.clone(),
            // The reference server consents on its own; a real server needs the user's command.
            authoriser: match &cli.oauth_authorize {
                Some(command) => Some(Authoriser::Command(command.clone())),
                None => reference.then_some(Authoriser::Builtin),
            },
            reading: cli.reading,
        };
        Ok(Config {
            target,
            provisioning: provisioning(cli)?,
            run,
            cases: cli.cases.clone().map_or(CaseRoot::BuiltIn, CaseRoot::Dir),
            clauses: cli.clauses.clone(),
            libtest,
            expected: Expected::given(cli.expected.as_ref(), cli.bless),
            strict: cli.strict,
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

impl ServeConfig {
    pub fn resolve(cli: &ServeCli) -> ServeConfig {
        ServeConfig {
            client: cli.client.clone(),
            profile: client::Profile {
                listen: cli.listen,
                duration: cli.duration,
                lifetime: cli.lifetime,
                user: cli.user.clone(),
                password: cli.password.clone(),
                windows: client::Windows {
                    reaction: cli.reaction_window,
                    ..client::Windows::default()
                },
            },
            cases: cli.cases.clone().map_or(CaseRoot::BuiltIn, CaseRoot::Dir),
            expected: Expected::given(cli.expected.as_ref(), cli.bless),
            strict: cli.strict,
            report_dir: cli.report_dir.clone(),
        }
    }
}

impl Expected {
    /// `--expected FILE`, with or without `--bless`.
    fn given(path: Option<&PathBuf>, bless: bool) -> Option<Expected> {
        let path = path?.clone();
        Some(if bless {
            Expected::Bless(path)
        } else {
            Expected::Compare(path)
        })
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
    use std::time::Duration;

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
        assert!(config.run.bursts);
        assert_eq!(config.run.authoriser, Some(Authoriser::Builtin));
    }

    #[test]
    fn an_oauth_issuer_alone_is_its_own_target_at_its_origin() {
        let config = resolve(&["--oauth-issuer", "http://127.0.0.1:3000/oidc"]);
        let Target::OAuthServer(origin) = &config.target else {
            panic!("{:?}", config.target);
        };
        assert_eq!(origin.as_str(), "http://127.0.0.1:3000/");
        assert!(!config.run.bursts);
        assert_eq!(config.run.authoriser, None);
    }

    #[test]
    fn the_deadline_follows_the_selection_unless_given() {
        let config = resolve(&["--target", "http://127.0.0.1:1"]);
        // 10 cases on 4 threads: 3 waves, plus one; (180 s + 60 s) * 4 + 2 h.
        assert_eq!(
            config.run.timing.deadline(10, 4),
            Duration::from_secs(240 * 4 + 7200)
        );
        let given = resolve(&["--target", "http://127.0.0.1:1", "--deadline", "1m"]);
        assert_eq!(given.run.timing.deadline(10, 4), Duration::from_secs(60));
    }

    #[test]
    fn a_bad_register_mode_is_a_usage_error() {
        let cli = Cli::parse_from_iter(["refresh-conformance", "--register", "closed"]).unwrap();
        assert!(matches!(Config::resolve(&cli), Err(Error::Usage(_))));
    }
}
