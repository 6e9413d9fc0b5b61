//! One case from gates to outcome: gates, fixture users, steps, clean-up, outcome and message.

use std::time::{Duration, Instant};

use crate::case::model::{Case, Gate};
use crate::run::RunContext;
use crate::run::scope::Scope;
use crate::run::step::{Findings, StepRunner, Stop};
use crate::target::{Capabilities, GateStatus};
use crate::transcript::Transcript;
use crate::verdict::{CaseRecord, Outcome};

/// The record of a case the harness itself could not run to its end.
pub fn harness_failure(case: &Case, message: &str) -> CaseRecord {
    CaseRecord {
        id: case.id.clone(),
        title: case.title.clone(),
        file: case.source.relative.clone(),
        clauses: case.clauses.clone(),
        outcome: Outcome::Error,
        skipped_by_settings: false,
        stopped_at: None,
        duration: Duration::ZERO,
        message: message.to_owned(),
        checks: Vec::new(),
        observations: Vec::new(),
        transcript: Transcript::default(),
    }
}

/// How long `finally` steps may take after the case itself.
const CLEANUP_BUDGET: Duration = Duration::from_secs(15);

/// The first unmet gate of a case, as the reason it stops before its first step.
pub fn gate_reason(case: &Case, capabilities: &Capabilities) -> Option<Stop> {
    if let Some(range) = &case.spec
        && !range.any_advertised(&capabilities.versions)
    {
        return Some(Stop::Skip(format!(
            "the server advertises no spec version in {range}"
        )));
    }
    let unmet = |gate: Gate, status: GateStatus, context: String| match status {
        GateStatus::Met => None,
        GateStatus::Undecided(reason) => Some(Stop::Error(format!(
            "{context}: the probe could not decide it: {reason}"
        ))),
        GateStatus::Unmet(reason) if capabilities.unmet_by_settings.contains(&gate) => {
            Some(Stop::NotRun(format!("{context}: {reason}")))
        }
        GateStatus::Unmet(reason) => Some(Stop::Skip(format!("{context}: {reason}"))),
    };
    for gate in &case.requires {
        let context = format!("gate {}", gate.as_str());
        if let Some(stop) = unmet(*gate, capabilities.gate(*gate), context) {
            return Some(stop);
        }
    }
    // Several accounts in one case need fresh ones, declared or not: one --user account cannot be two.
    if case.users.len() > 1 {
        let context = format!("{} accounts needed", case.users.len());
        return unmet(
            Gate::FreshUsers,
            capabilities.gate(Gate::FreshUsers),
            context,
        );
    }
    None
}

pub async fn run_case(ctx: &RunContext, case: &Case) -> CaseRecord {
    let started = Instant::now();
    let mut runner = StepRunner {
        ctx,
        case,
        scope: Scope::new(
            ctx.privileges.clone(),
            ctx.capabilities.server.server_name.clone(),
        ),
        transcript: Transcript::default(),
        findings: Findings::default(),
        slowest: Duration::ZERO,
        current_step: None,
    };
    if let Some(stop) = gate_reason(case, &ctx.capabilities) {
        return finish(ctx, case, runner, Some(stop), started);
    }
    if ctx.interrupt.is_fired() {
        return finish(
            ctx,
            case,
            runner,
            Some(Stop::NotRun(INTERRUPTED.to_owned())),
            started,
        );
    }
    let now = tokio::time::Instant::now();
    let Some(left) = tokio::time::Instant::from(ctx.deadline).checked_duration_since(now) else {
        let stop = Stop::Error("the run deadline passed before the case started".to_owned());
        return finish(ctx, case, runner, Some(stop), started);
    };
    // A case's timeout grows by the waits --max-wait allows it, so that a long lifetime gives verdicts.
    let case_timeout = ctx.case_timeout + case.allowed_waits(ctx.max_wait);
    let (limit, cut) = if left < case_timeout {
        (
            left,
            "the run deadline passed while the case ran".to_owned(),
        )
    } else {
        (
            case_timeout,
            format!(
                "the case did not finish within {case_timeout:?} (--case-timeout {:?} plus the waits --max-wait allows it)",
                ctx.case_timeout
            ),
        )
    };
    let stop = tokio::select! {
        finished = tokio::time::timeout(limit, steps(&mut runner)) => {
            finished.unwrap_or(Some(Stop::Error(cut)))
        }
        () = ctx.interrupt.fired() => Some(Stop::NotRun(INTERRUPTED.to_owned())),
    };
    let interrupted = ctx.interrupt.is_fired();
    // Clean-up gets a budget of its own, so that a case never overruns its timeout by much; after Ctrl-C
    // only the sessions the case holds are ended, within a few seconds.
    let cleanup = async {
        if interrupted {
            runner.log_out_everything().await;
            return;
        }
        for step in &case.finally {
            if let Err(Stop::Error(e) | Stop::Skip(e) | Stop::NotRun(e)) =
                runner.run(step, true).await
            {
                runner
                    .transcript
                    .note(&format!("clean-up step skipped: {e}"));
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
    finish(ctx, case, runner, stop, started)
}

const INTERRUPTED: &str = "not run: the run was interrupted (Ctrl-C)";
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
            Err(e) => {
                return Some(Stop::Error(format!(
                    "setup: cannot create user `{user}`: {e}"
                )));
            }
        }
    }
    for step in &runner.case.steps {
        if let Err(stop) = runner.run(step, false).await {
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
    let findings = runner.findings;
    let failures: Vec<String> = findings
        .checks
        .iter()
        .filter(|c| !c.held)
        .map(|c| {
            format!(
                "{}:{}:{}: [{} {}] {}: {}",
                case.source.relative, c.pos.line, c.pos.column, c.level, c.clause, c.step, c.detail
            )
        })
        .collect();
    let (outcome, mut message) = match (&stop, failures.is_empty()) {
        (_, false) => (Outcome::Failed, failures.join("\n")),
        (Some(Stop::Error(e)), true) => (Outcome::Error, e.clone()),
        (Some(Stop::Skip(reason) | Stop::NotRun(reason)), true) => {
            (Outcome::Skipped, reason.clone())
        }
        (None, true) => (Outcome::Passed, String::new()),
    };
    if outcome == Outcome::Failed
        && let Some(Stop::Error(e) | Stop::Skip(e) | Stop::NotRun(e)) = &stop
    {
        message.push_str(&format!("\nthen the case stopped: {e}"));
    }
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
        skipped_by_settings: outcome == Outcome::Skipped && matches!(stop, Some(Stop::NotRun(_))),
        stopped_at: stop.as_ref().and(runner.current_step.clone()),
        duration: started.elapsed(),
        message: secrets.redact(&message),
        checks: checks
            .into_iter()
            .map(|mut c| {
                c.detail = secrets.redact(&c.detail);
                c
            })
            .collect(),
        observations: findings
            .observations
            .into_iter()
            .map(|mut o| {
                o.note = secrets.redact(&o.note);
                o
            })
            .collect(),
        transcript: runner.transcript.redacted(secrets),
    }
}
