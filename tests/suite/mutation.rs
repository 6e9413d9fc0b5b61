//! The mutation matrix: the whole suite against the reference homeserver, faithful and with each named
//! fault in turn. The faithful server must pass every clause it can be tested on; each fault must make
//! exactly the clauses it declares (`Fault::breaks`) fail or warn, and nothing else; the allowed variations
//! must make nothing fail. Finally, every MUST clause with a server-side test must be caught by some fault.
//!
//! Under a fault, every clause the fault does not break keeps the verdict it has on the faithful server
//! (run with the same configuration): one deviation, one verdict moves. The only exceptions are the
//! clauses the fault hides (`Fault::hides`, derived here from the cases): those whose every case can reach
//! its checks only through what the fault breaks; they may move to `untested` (or `not-applicable`, for a
//! gate the faulty server no longer meets), never to another verdict. No case may end in error on the
//! faithful server or under an allowed variation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::support::settings;
use refresh_conformance::case::model::{Action, Step, Target, TokenSource};
use refresh_conformance::case::{self, Case};
use refresh_conformance::clause::{Level, TestKind};
use refresh_conformance::homeserver::accounts::Provisioning;
use refresh_conformance::reading::Reading;
use refresh_conformance::redact::Secrets;
use refresh_conformance::reference::{Fault, Hides, ReferenceConfig, ReferenceServer};
use refresh_conformance::report::text::message;
use refresh_conformance::run::oauth::Authoriser;
use refresh_conformance::run::{self, RunContext, Settings};
use refresh_conformance::verdict::{self, ClauseVerdict, Outcome, Reason, Verdict};

/// MUST clauses with a server-side test (kind F or W) that no fault catches, each with the reason.
const UNCAUGHT: &[(&str, &str)] = &[(
    "versions.endpoint",
    "a server without /versions stops the harness at its probe (exit 2) rather than failing a clause",
)];

/// How many faulty servers run at once: enough to keep the run short, few enough for 2 cores.
const PARALLEL_SERVERS: usize = 6;

struct Run {
    verdicts: Vec<ClauseVerdict>,
    errors: Vec<String>,
}

async fn run_suite(config: ReferenceConfig) -> Run {
    let suite =
        case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")).expect("cases load");
    let server = ReferenceServer::start(config)
        .await
        .expect("reference server starts");
    let settings = Settings {
        bursts: true,
        authoriser: Some(Authoriser::Builtin),
        ..settings::loopback()
    };
    let base = server.base_url().parse().unwrap();
    let ctx = RunContext::connect(
        base,
        Provisioning::Open,
        &settings,
        suite.catalogue,
        Secrets::default(),
    )
    .await
    .expect("probe");
    let ctx = Arc::new(ctx);
    let records = run::run_all(ctx.clone(), suite.cases).await;
    let errors = records
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .map(|r| format!("{}: {}", r.id, message(r)))
        .collect();
    Run {
        verdicts: verdict::aggregate(&ctx.catalogue, Reading::Default, &records),
        errors,
    }
}

/// The server's configuration, with access tokens living long enough that a case's few requests fit in
/// their lifetime while a dozen servers share two cores (faults that need a lifetime of their own keep it).
fn config_for(fault: Option<Fault>) -> ReferenceConfig {
    let mut config = fault.map_or_else(ReferenceConfig::default, ReferenceConfig::for_fault);
    if config.access_token_lifetime == ReferenceConfig::default().access_token_lifetime {
        config.access_token_lifetime = Some(Duration::from_secs(20));
    }
    config
}

fn failing(run: &Run) -> BTreeMap<String, String> {
    run.verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Fail | Verdict::Warn))
        .map(|v| {
            (
                v.id.clone(),
                format!("{}: {:?}", v.verdict.as_str(), v.reason),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_fails_exactly_its_clauses() {
    let faithful = run_suite(config_for(None)).await;
    let mut problems = Vec::new();
    for error in &faithful.errors {
        problems.push(format!("faithful server: case error: {error}"));
    }
    for v in &faithful.verdicts {
        let testable = matches!(v.level, Level::Must | Level::Should);
        if testable
            && matches!(v.verdict, Verdict::Fail | Verdict::Warn | Verdict::Untested)
            && !untested_ok(v)
        {
            problems.push(format!(
                "faithful server: {} is {}: {:?}",
                v.id,
                v.verdict.as_str(),
                v.reason
            ));
        }
    }

    let semaphore = Arc::new(tokio::sync::Semaphore::new(PARALLEL_SERVERS));
    // A fault shown under a configuration of its own (a rate limit, another lifetime) is compared with a
    // faithful server of that configuration: the configuration alone may make clauses testable.
    let mut twins = tokio::task::JoinSet::new();
    let mut configs: Vec<ReferenceConfig> = Vec::new();
    for &fault in Fault::ALL {
        let twin = ReferenceConfig {
            fault: None,
            ..config_for(Some(fault))
        };
        if !fault.is_allowed_variation() && twin != config_for(None) && !configs.contains(&twin) {
            configs.push(twin.clone());
            let semaphore = semaphore.clone();
            twins.spawn(async move {
                let _permit = semaphore.acquire().await.unwrap();
                let run = run_suite(twin.clone()).await;
                (twin, run)
            });
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for &fault in Fault::ALL {
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            (fault, run_suite(config_for(Some(fault))).await)
        });
    }
    let mut baselines = vec![(config_for(None), faithful)];
    while let Some(joined) = twins.join_next().await {
        baselines.push(joined.unwrap());
    }
    let suite = case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")).unwrap();
    let mut caught: BTreeSet<String> = BTreeSet::new();
    let mut moves = 0;
    while let Some(joined) = tasks.join_next().await {
        let (fault, run) = joined.unwrap();
        let actual = failing(&run);
        let expected: BTreeSet<&str> = fault.breaks().iter().copied().collect();
        caught.extend(actual.keys().cloned());
        for (clause, reason) in &actual {
            if !expected.contains(clause.as_str()) {
                problems.push(format!("fault {fault}: unexpected {clause} ({reason})"));
            }
        }
        for clause in &expected {
            if !actual.contains_key(*clause) {
                let verdict = run.verdicts.iter().find(|v| v.id == *clause);
                let shown = verdict.map_or("not in the catalogue".to_owned(), |v| {
                    format!("{}: {:?}", v.verdict.as_str(), v.reason)
                });
                problems.push(format!(
                    "fault {fault}: {clause} should fail but is {shown}"
                ));
            }
        }
        // One deviation, one verdict moves: a clause the fault does not break keeps its faithful verdict,
        // rather than dropping to untested because a neighbouring case stumbled over the fault; only the
        // clauses the fault hides may move, and only to the verdict that says they were not judged.
        if !fault.is_allowed_variation() {
            let twin = ReferenceConfig {
                fault: None,
                ..config_for(Some(fault))
            };
            let (_, baseline) = baselines.iter().find(|(c, _)| *c == twin).unwrap();
            let hidden = hidden(fault, &suite.cases);
            // A clause named by hand must really be hidden: the lists stay minimal.
            for hides in fault.hides() {
                if let Hides::Clauses(ids) | Hides::NotApplicable(ids) = hides {
                    for id in *ids {
                        let now = run.verdicts.iter().find(|v| v.id == *id);
                        let before = baseline.verdicts.iter().find(|v| v.id == *id);
                        if now.map(|v| v.verdict) == before.map(|v| v.verdict) {
                            problems.push(format!(
                                "fault {fault}: {id} is declared hidden but keeps its verdict"
                            ));
                        }
                    }
                }
            }
            for v in &run.verdicts {
                let before = baseline.verdicts.iter().find(|f| f.id == v.id);
                if let Some(before) = before
                    && !expected.contains(v.id.as_str())
                    && !actual.contains_key(&v.id)
                    && before.verdict != v.verdict
                {
                    moves += 1;
                    if hidden.get(&v.id) != Some(&v.verdict) {
                        problems.push(format!(
                            "fault {fault}: {} moved from {} to {}: {:?}",
                            v.id,
                            before.verdict.as_str(),
                            v.verdict.as_str(),
                            v.reason
                        ));
                    }
                }
            }
        }
        if fault.is_allowed_variation() {
            for error in &run.errors {
                problems.push(format!("allowed variation {fault}: case error: {error}"));
            }
        }
    }

    let uncaught: Vec<&str> = suite
        .catalogue
        .iter()
        .filter(|c| {
            c.level == Level::Must
                && matches!(c.kind, TestKind::Functional | TestKind::WaitsForExpiry)
        })
        .filter(|c| !caught.contains(&c.id))
        .map(|c| c.id.as_str())
        .collect();
    let known: Vec<&str> = UNCAUGHT.iter().map(|(id, _)| *id).collect();
    if uncaught != known {
        problems.push(format!(
            "MUST clauses no fault catches: {uncaught:?} (documented: {known:?})"
        ));
    }
    eprintln!(
        "{moves} verdict(s) of clauses a fault does not break moved (hidden by the fault or not)"
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Clauses the faithful server cannot be tested on here: no case, or cases needing a privilege (an admin or
/// application-service token) this run does not give.
fn untested_ok(verdict: &ClauseVerdict) -> bool {
    verdict.verdict == Verdict::Untested
        && matches!(verdict.reason, Reason::NoCase | Reason::NotRun { .. })
}

/// The clauses `fault` hides (see [`Hides`]), each with the one verdict it may move to.
fn hidden(fault: Fault, cases: &[Case]) -> BTreeMap<String, Verdict> {
    let mut hidden = BTreeMap::new();
    for hides in fault.hides() {
        let (clauses, verdict): (Vec<String>, Verdict) = match *hides {
            Hides::Clauses(ids) => (
                ids.iter().map(|id| (*id).to_owned()).collect(),
                Verdict::Untested,
            ),
            Hides::NotApplicable(ids) => (
                ids.iter().map(|id| (*id).to_owned()).collect(),
                Verdict::NotApplicable,
            ),
            Hides::Gate(gates) => (
                clauses_where(cases, |case, _| {
                    case.requires.iter().any(|g| gates.contains(&g.as_str()))
                }),
                Verdict::NotApplicable,
            ),
            Hides::UndecidedGate(gate) => (
                clauses_where(cases, |case, _| {
                    case.requires.iter().any(|g| g.as_str() == gate)
                }),
                Verdict::Untested,
            ),
            Hides::SpecRange => (
                clauses_where(cases, |case, _| case.spec.is_some()),
                Verdict::Untested,
            ),
            step_kind => (
                clauses_where(cases, |case, clause| {
                    checked_after(case, clause, |step, refreshed| {
                        needs(step_kind, step, refreshed)
                    })
                }),
                Verdict::Untested,
            ),
        };
        hidden.extend(clauses.into_iter().map(|id| (id, verdict)));
    }
    hidden
}

/// The clauses every citing case of which meets `all`.
fn clauses_where(cases: &[Case], all: impl Fn(&Case, &str) -> bool) -> Vec<String> {
    let mut citing: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in cases {
        for clause in &case.clauses {
            citing.entry(clause).or_default().push(case);
        }
    }
    citing
        .into_iter()
        .filter(|(clause, cases)| cases.iter().all(|case| all(case, clause)))
        .map(|(clause, _)| clause.to_owned())
        .collect()
}

/// Whether `case` can give `clause` no verdict under a fault whose broken steps `needed` names (it also
/// gets the sessions made by `refresh` steps so far): the case checks or observes the clause in a step
/// after such a step, so that it stops before, and a clause is not judged on the half of a case that ran;
/// or in such a step that stops on its failure, or only on its success (`if_status`); or it has no step
/// of its own for the clause.
fn checked_after(
    case: &Case,
    clause: &str,
    needed: impl Fn(&Step, &BTreeSet<&str>) -> bool,
) -> bool {
    let mut refreshed = BTreeSet::new();
    let mut blocked = false;
    let mut checked = false;
    for step in &case.steps {
        let checks = step.expect.iter().any(|b| b.clause == clause)
            || step.observe.as_ref().is_some_and(|o| o.clause == clause);
        let needed = needed(step, &refreshed);
        let only_on_success = step
            .expect
            .iter()
            .filter(|b| b.clause == clause)
            .all(|b| b.if_status.is_some());
        if checks && (blocked || needed && (stops_on_failure(step) || only_on_success)) {
            return true;
        }
        checked |= checks;
        blocked |= needed;
        if let Action::Refresh(r) = &step.action
            && let Some(session) = &r.session
        {
            refreshed.insert(session.as_str());
        }
    }
    !checked
}

/// Whether a failed answer stops the case at `step`, before its own checks: a `require`, a fixture's
/// implicit 200 (see cases/README.md), or the OAuth steps' own preconditions (a client registration, a
/// refresh token to send).
fn stops_on_failure(step: &Step) -> bool {
    if matches!(step.action, Action::OauthLogin(_) | Action::OauthRefresh(_)) {
        return true;
    }
    let checks_status = step
        .expect
        .iter()
        .any(|b| b.status.is_some() && b.if_status.is_none() && b.spec.is_none());
    step.require.is_some() || step.action.is_fixture() && !checks_status && step.observe.is_none()
}

/// Whether `step` needs what `kind` says the fault breaks.
fn needs(kind: Hides, step: &Step, refreshed: &BTreeSet<&str>) -> bool {
    let token = match &step.action {
        Action::Whoami(source) => Some(source),
        Action::Request(r) | Action::Burst { request: r, .. } => r.auth.as_ref(),
        _ => None,
    };
    match kind {
        Hides::Refresh => match &step.action {
            Action::Refresh(_) => true,
            Action::Request(r) => matches!(&r.target, Target::Path(p) if p.ends_with("/refresh")),
            _ => false,
        },
        Hides::RefreshTokenLogin => {
            matches!(&step.action, Action::Login(l) if l.refresh_token.is_some())
        }
        Hides::RefreshedAccessToken => matches!(
            token,
            Some(TokenSource::Session(s)) if refreshed.contains(s.as_str())
        ),
        Hides::WhoamiDeviceId => {
            matches!(step.action, Action::Whoami(_))
                && step
                    .require
                    .iter()
                    .chain(&step.expect)
                    .any(|b| b.json.iter().any(|(pointer, _)| pointer == "/device_id"))
        }
        Hides::OauthLogin => match &step.action {
            Action::OauthLogin(_) => true,
            Action::Request(r) => {
                matches!(&r.target, Target::Endpoint(e) if e == "registration_endpoint")
            }
            _ => false,
        },
        Hides::OauthRefresh => matches!(step.action, Action::OauthRefresh(_)),
        Hides::Gate(_)
        | Hides::UndecidedGate(_)
        | Hides::SpecRange
        | Hides::Clauses(_)
        | Hides::NotApplicable(_) => false,
    }
}
