//! One case from gates to outcome: gates, fixture users, steps, clean-up, outcome and message.

use std::time::{Duration, Instant};

use crate::case::model::{Case, Gate};
use crate::cause::{Cause, Limit};
use crate::homeserver::accounts::AccountError;
use crate::homeserver::probe::expiry_margin;
use crate::homeserver::{Capabilities, GateStatus};
use crate::run::RunContext;
use crate::run::scope::Scope;
use crate::run::step::{self, Findings, Part, StepRunner, Stop};
use crate::transcript::Transcript;
use crate::verdict::stop::{Need, Place};
use crate::verdict::{CaseRecord, Outcome, StopReason, Unreached};

/// The record of a case the harness itself could not run to its end.
pub fn harness_failure(case: &Case, reason: StopReason) -> CaseRecord {
    CaseRecord {
        id: case.id.clone(),
        title: case.title.clone(),
        file: case.source.relative.clone(),
        clauses: case.clauses.clone(),
        outcome: Outcome::Error,
        skipped_by_settings: false,
        cause: None,
        stopped_at: None,
        duration: Duration::ZERO,
        stop: Some(reason),
        checks: Vec::new(),
        unreached: Vec::new(),
        observations: Vec::new(),
        transcript: Transcript::default(),
    }
}

/// How long `finally` steps may take after the case itself.
const CLEANUP_BUDGET: Duration = Duration::from_secs(15);

/// The first unmet gate of a case, as the reason it stops before its first step.
pub fn gate_reason(case: &Case, capabilities: &Capabilities) -> Option<Stop> {
    // A target without the Matrix API says so first: its versions are not the reason.
    if case.implied_gates().contains(&Gate::MatrixApi)
        && let GateStatus::Unmet(reason) = capabilities.gate(Gate::MatrixApi)
    {
        return Some(Stop::Skip(StopReason::Unmet {
            need: Need::Gate(Gate::MatrixApi),
            reason,
        }));
    }
    if let Some(range) = &case.spec
        && !range.any_advertised(&capabilities.versions)
    {
        // No readable version is no evidence that the server lacks what the range covers.
        if capabilities.versions.is_empty() {
            return Some(Stop::Error(StopReason::UnreadableVersions(*range)));
        }
        return Some(Stop::Skip(StopReason::NoSpecVersion(*range)));
    }
    let unmet = |gate: Gate, status: GateStatus, need: Need| match status {
        GateStatus::Met => None,
        GateStatus::Undecided(reason) => Some(Stop::Error(StopReason::Undecided { need, reason })),
        GateStatus::Unmet(reason) if capabilities.unmet_by_settings.contains(&gate) => {
            let reason = StopReason::Unmet { need, reason };
            // A lifetime over --max-wait: the same cause as an expiry wait over it within a case.
            Some(match (gate, capabilities.access_token_lifetime_ms) {
                (Gate::Expiry, Some(ms)) => {
                    let lifetime = Duration::from_millis(ms);
                    let needed = lifetime + expiry_margin(lifetime);
                    Stop::Timing(Cause::Expiry { needed }, reason)
                }
                _ => Stop::NotRun(reason),
            })
        }
        GateStatus::Unmet(reason) => Some(Stop::Skip(StopReason::Unmet { need, reason })),
    };
    for gate in case.implied_gates().iter().chain(&case.requires) {
        if let Some(stop) = unmet(*gate, capabilities.gate(*gate), Need::Gate(*gate)) {
            return Some(stop);
        }
    }
    // Several accounts in one case need fresh ones, declared or not: one --user account cannot be two.
    if case.users.len() > 1 {
        return unmet(
            Gate::FreshUsers,
            capabilities.gate(Gate::FreshUsers),
            Need::Accounts(case.users.len()),
        );
    }
    None
}

pub async fn run_case(ctx: &RunContext, case: &Case) -> CaseRecord {
    let started = Instant::now();
    if let Some(stop) = gate_reason(case, &ctx.capabilities) {
        return finish(ctx, case, runner(ctx, case), Some(stop), started);
    }
    let (first, stop) = attempt(ctx, case).await;
    let Some(Stop::Restart { reason, .. }) = stop else {
        return finish(ctx, case, first, stop, started);
    };
    // Once: the second attempt reserves its logins on a lane that now knows the server's interval.
    let mut transcript = first.transcript;
    // Worded by report/ (Display of StopReason), like every reason.
    transcript.note(&format!("starting the case again: {reason}"));
    let (mut again, stop) = attempt(ctx, case).await;
    transcript.extend(std::mem::take(&mut again.transcript));
    again.transcript = transcript;
    let stop = match stop {
        // Not a wait over --max-wait: each was within it, but outlasted a session of the case.
        Some(Stop::Restart {
            limit,
            waited,
            reason,
        }) => {
            let cause = Cause::SessionOutlived { limit, waited };
            Some(Stop::Timing(cause, StopReason::Twice(Box::new(reason))))
        }
        stop => stop,
    };
    finish(ctx, case, again, stop, started)
}

fn runner<'a>(ctx: &'a RunContext, case: &'a Case) -> StepRunner<'a> {
    StepRunner {
        ctx,
        case,
        scope: Scope::new(
            ctx.settings.privileges.clone(),
            ctx.capabilities.server.server_name.clone(),
        ),
        transcript: Transcript::default(),
        findings: Findings::default(),
        judged: 0,
        logins: None,
        slowest: Duration::ZERO,
        current_step: None,
    }
}

/// One run of the case's steps and clean-up; the runner comes back with its reservation released.
async fn attempt<'a>(ctx: &'a RunContext, case: &'a Case) -> (StepRunner<'a>, Option<Stop>) {
    let mut runner = runner(ctx, case);
    if ctx.interrupt.is_fired() {
        return (runner, Some(Stop::NotRun(StopReason::Interrupted)));
    }
    let now = tokio::time::Instant::now();
    let Some(left) = tokio::time::Instant::from(ctx.deadline).checked_duration_since(now) else {
        let stop = Stop::Timing(Cause::Deadline, StopReason::DeadlineBeforeStart);
        return (runner, Some(stop));
    };
    let stop = tokio::select! {
        stop = within_case_timeout(ctx.settings.timing.case_timeout, &mut runner) => stop,
        () = tokio::time::sleep(left) => {
            Some(Stop::Timing(Cause::Deadline, StopReason::DeadlineWhileRunning))
        }
        () = ctx.interrupt.fired() => Some(Stop::NotRun(StopReason::Interrupted)),
    };
    runner.logins = None;
    runner.transcript.reserved = None;
    let interrupted = ctx.interrupt.is_fired();
    // Clean-up gets a budget of its own, so that a case never overruns its timeout by much; after Ctrl-C
    // only the sessions the case holds are ended, within a few seconds.
    let cleanup = async {
        if interrupted {
            runner.log_out_everything().await;
            return;
        }
        for step in &case.finally {
            if let Err(stop) = runner.run(step, Part::Finally).await {
                runner
                    .transcript
                    .note(&format!("clean-up step skipped: {}", stop.into_reason()));
            }
        }
    };
    let budget = if interrupted {
        INTERRUPTED_CLEANUP_BUDGET
    } else {
        CLEANUP_BUDGET
    };
    if tokio::time::timeout(budget, cleanup).await.is_err() {
        runner
            .transcript
            .note(&format!("clean-up stopped after {budget:?}"));
    }
    (runner, stop)
}

/// Runs the steps within the case timeout, which counts the case's own work: the time it waited (for expiry,
/// for its turn behind a rate limit) extends it.
async fn within_case_timeout(limit: Duration, runner: &mut StepRunner<'_>) -> Option<Stop> {
    let started = tokio::time::Instant::now();
    let clock = runner.transcript.clock();
    let steps = steps(runner);
    tokio::pin!(steps);
    loop {
        let deadline = started + limit + clock.total();
        tokio::select! {
            stop = &mut steps => return stop,
            () = tokio::time::sleep_until(deadline) => {
                if started + limit + clock.total() <= tokio::time::Instant::now() {
                    return Some(Stop::Error(StopReason::CaseTimeout(limit)));
                }
            }
        }
    }
}

/// How long an interrupted case may spend logging out the sessions it holds.
const INTERRUPTED_CLEANUP_BUDGET: Duration = Duration::from_secs(3);

async fn steps(runner: &mut StepRunner<'_>) -> Option<Stop> {
    for user in &runner.case.users {
        match runner
            .ctx
            .accounts
            .create(&runner.ctx.http, user, &mut runner.transcript)
            .await
        {
            Ok(account) => {
                runner.scope.users.insert(user.clone(), account);
            }
            Err(AccountError::Http(e)) => {
                return Some(Stop::from_http(Place::Setup { user: user.clone() }, e));
            }
            Err(AccountError::Refused(reason)) => {
                return Some(Stop::Error(StopReason::AccountRefused {
                    at: Place::Setup { user: user.clone() },
                    reason,
                }));
            }
        }
    }
    let logins = step::reserved_logins(runner.case, runner.ctx.accounts.appservice_logins());
    let pacer = runner.ctx.http.pacer.clone();
    match pacer
        .reserve(Limit::Login, logins, &mut runner.transcript)
        .await
    {
        Ok(reservation) => runner.logins = reservation.map(|r| (r, logins)),
        Err(e) => return Some(Stop::from_http(Place::LoginTurn, e)),
    }
    for step in &runner.case.steps {
        if let Err(stop) = runner.run(step, Part::Steps).await {
            return Some(stop);
        }
    }
    None
}

fn finish(
    ctx: &RunContext,
    case: &Case,
    runner: StepRunner<'_>,
    stop: Option<Stop>,
    started: Instant,
) -> CaseRecord {
    let secrets = &ctx.http.secrets;
    let mut findings = runner.findings;
    // A clause is not judged on the half of a case that ran: if the case stopped before some of the clause's
    // checks, its checks that held and its observations do not count (a failure still does).
    let unreached = if stop.is_some() {
        unreached(case, runner.judged)
    } else {
        Vec::new()
    };
    let cut_short = |clause: &str| unreached.iter().any(|u| u.clause == clause);
    findings.checks.retain(|c| !c.held || !cut_short(&c.clause));
    findings.observations.retain(|o| !cut_short(&o.clause));
    let failed = findings.checks.iter().any(|c| !c.held);
    let cause = match &stop {
        Some(Stop::Timing(cause, _)) => Some(cause.clone()),
        _ => None,
    };
    let by_settings = match &stop {
        Some(Stop::NotRun(_)) => true,
        Some(Stop::Timing(cause, _)) => cause.by_settings(),
        _ => false,
    };
    let outcome = match &stop {
        _ if failed => Outcome::Failed,
        Some(Stop::Skip(_)) => Outcome::Skipped,
        Some(_) if by_settings => Outcome::Skipped,
        Some(_) => Outcome::Error,
        None => Outcome::Passed,
    };
    let mut clauses = case.clauses.clone();
    for check in &findings.ambient {
        if !clauses.contains(&check.clause) {
            clauses.push(check.clause.clone());
        }
    }
    let mut checks = findings.checks;
    checks.extend(findings.ambient);
    CaseRecord {
        id: case.id.clone(),
        title: case.title.clone(),
        file: case.source.relative.clone(),
        clauses,
        outcome,
        skipped_by_settings: outcome == Outcome::Skipped && by_settings,
        cause,
        stopped_at: stop.as_ref().and(runner.current_step.clone()),
        duration: started.elapsed(),
        stop: stop.map(Stop::into_reason),
        checks,
        observations: findings.observations,
        transcript: runner.transcript.redacted(secrets),
        unreached,
    }
}

/// The checks and observations of the steps from `judged` on, which did not run.
fn unreached(case: &Case, judged: usize) -> Vec<Unreached> {
    let mut out: Vec<Unreached> = Vec::new();
    for step in case.steps.iter().skip(judged) {
        let clauses = step
            .expect
            .iter()
            .map(|b| &b.clause)
            .chain(step.observe.iter().map(|o| &o.clause));
        for clause in clauses {
            let entry = Unreached {
                step: step.name.clone(),
                clause: clause.clone(),
            };
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}
