//! Pacing against a rate-limited server: the whole suite against the reference homeserver with its login and
//! registration limit switched on. Paced, every case reaches its checks; with a `--max-wait` shorter than the
//! server asks for, a 429 gets the same outcome wherever it strikes in a case.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::support::settings;
use refresh_conformance::case;
use refresh_conformance::cause::Cause;
use refresh_conformance::homeserver::accounts::{Accounts, Provisioning};
use refresh_conformance::http::pacer::Pacer;
use refresh_conformance::http::{Http, HttpConfig, HttpError};
use refresh_conformance::redact::Secrets;
use refresh_conformance::reference::{ReferenceConfig, ReferenceServer};
use refresh_conformance::report::text::message;
use refresh_conformance::run::{self, RunContext};
use refresh_conformance::transcript::Transcript;
use refresh_conformance::verdict::stop::Place;
use refresh_conformance::verdict::{self, CaseRecord, Outcome, StopReason, Verdict};

struct Run {
    records: Vec<CaseRecord>,
    verdicts: Vec<verdict::ClauseVerdict>,
    login_429s: u32,
}

/// The suite against a reference server admitting `per_second` logins and registrations a second; after the
/// probe, `max_wait` replaces the run's --max-wait of 30 s. `fixed`: every case uses one account made before
/// the run (so that the 429s strike in the cases' steps rather than in their setup).
async fn run_limited(per_second: u32, max_wait: Option<Duration>, fixed: bool) -> Run {
    let suite =
        case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")).expect("cases load");
    let server = ReferenceServer::start(ReferenceConfig {
        login_rate_limit: Some(per_second),
        access_token_lifetime: Some(Duration::from_secs(3)),
        ..ReferenceConfig::default()
    })
    .await
    .expect("reference server starts");
    let settings = settings::loopback();
    let provisioning = if fixed {
        let http = Http::new(
            server.base_url().parse().unwrap(),
            HttpConfig {
                request_timeout: Duration::from_secs(30),
                max_wait: Duration::from_secs(30),
                wait_budget: None,
                progress: None,
                insecure: false,
            },
            Secrets::default(),
        )
        .unwrap();
        let account = Accounts::new(Provisioning::Open, false)
            .create(&http, "fixed", &mut Transcript::default())
            .await
            .expect("an account for the run");
        Provisioning::Fixed {
            user: account.user_id,
            password: account.password,
        }
    } else {
        Provisioning::Open
    };
    let mut ctx = RunContext::connect(
        server.base_url().parse().unwrap(),
        provisioning,
        &settings,
        suite.catalogue,
        Secrets::default(),
    )
    .await
    .expect("probe");
    if let Some(max_wait) = max_wait {
        ctx.http.pacer = Arc::new(Pacer::new(max_wait, None, None));
        ctx.settings.timing.max_wait = max_wait;
    }
    let ctx = Arc::new(ctx);
    let records = run::run_all(ctx.clone(), suite.cases).await;
    let stats = ctx.http.pacer.stats();
    Run {
        verdicts: verdict::aggregate(&ctx.catalogue, Default::default(), &records),
        login_429s: stats.values().map(|s| s.rate_limited).sum::<u32>(),
        records,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_server_is_paced_and_every_case_reaches_its_checks() {
    let run = run_limited(8, None, false).await;
    assert!(run.login_429s > 0, "the server never rate-limited the run");
    let stopped: Vec<String> = run
        .records
        .iter()
        .filter(|r| r.outcome == Outcome::Error || r.cause.is_some())
        .map(|r| format!("{} ({:?}): {}", r.id, r.outcome, message(r)))
        .collect();
    assert!(stopped.is_empty(), "{stopped:#?}");
    let failed: Vec<&str> = run
        .verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Fail | Verdict::Warn))
        .map(|v| v.id.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "pacing made the faithful server fail {failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_over_max_wait_gets_one_outcome_wherever_it_strikes() {
    let setup = run_limited(2, Some(Duration::from_millis(50)), false).await;
    let steps = run_limited(2, Some(Duration::from_millis(50)), true).await;
    let limited: Vec<&CaseRecord> = setup
        .records
        .iter()
        .chain(&steps.records)
        .filter(|r| matches!(r.cause, Some(Cause::RateLimit { .. })))
        .collect();
    assert!(!limited.is_empty(), "no case met the rate limit");
    for record in &limited {
        assert_eq!(
            record.outcome,
            Outcome::Skipped,
            "{}: {}",
            record.id,
            message(record)
        );
        assert!(record.skipped_by_settings, "{}", record.id);
        assert!(
            matches!(
                &record.stop,
                Some(StopReason::Transport {
                    error: HttpError::RateLimited { .. },
                    ..
                })
            ),
            "{:?}",
            record.stop
        );
    }
    let at = |r: &CaseRecord| match &r.stop {
        Some(StopReason::Transport { at, .. }) => Some(at.clone()),
        _ => None,
    };
    let in_setup = limited
        .iter()
        .any(|r| matches!(at(r), Some(Place::Setup { .. })));
    let in_step = limited
        .iter()
        .any(|r| matches!(at(r), Some(Place::Step(_) | Place::LoginTurn)));
    assert!(
        in_setup && in_step,
        "a 429 met only in setup or only in steps: {:#?}",
        limited.iter().map(|r| message(r)).collect::<Vec<_>>()
    );
    // Never an error, and never a clause judged "not applicable" for it.
    let errors: Vec<String> = setup
        .records
        .iter()
        .chain(&steps.records)
        .filter(|r| r.outcome == Outcome::Error && message(r).contains("429"))
        .map(|r| format!("{}: {}", r.id, message(r)))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let login = setup
        .verdicts
        .iter()
        .find(|v| v.id == "login.200.refresh_token")
        .expect("clause");
    assert_ne!(login.verdict, Verdict::NotApplicable, "{:?}", login.reason);
}
