//! One case from gates to outcome: gates, fixture users, steps, clean-up, outcome and message.

use std::time::{Duration, Instant};

use crate::case::model::{Case, Gate};
use crate::run::RunContext;
use crate::run::http::Transcript;
use crate::run::scope::Scope;
use crate::run::step::{Findings, StepRunner, Stop};
use crate::target::Capabilities;
use crate::verdict::{CaseRecord, Outcome};

/// The record of a case the harness itself could not run to its end.
pub fn harness_failure(case: &Case, message: &str) -> CaseRecord {
    CaseRecord {
        id: case.id.clone(),
        title: case.title.clone(),
        file: case.source.path.display().to_string(),
        clauses: case.clauses.clone(),
        outcome: Outcome::Error,
        skipped_by_settings: false,
        duration: Duration::ZERO,
        message: message.to_owned(),
        checks: Vec::new(),
        observations: Vec::new(),
        transcript: String::new(),
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
    let unmet = |gate: Gate, reason: String| {
        if capabilities.unmet_by_settings.contains(&gate) {
            Stop::NotRun(reason)
        } else {
            Stop::Skip(reason)
        }
    };
    for gate in &case.requires {
        if let Err(reason) = capabilities.gate(*gate) {
            return Some(unmet(*gate, format!("gate {}: {reason}", gate.as_str())));
        }
    }
    // Several accounts in one case need fresh ones, declared or not: one --user account cannot be two.
    if case.users.len() > 1
        && let Err(reason) = capabilities.gate(Gate::FreshUsers)
    {
        let reason = format!("{} accounts needed: {reason}", case.users.len());
        return Some(unmet(Gate::FreshUsers, reason));
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
    };
    if let Some(stop) = gate_reason(case, &ctx.capabilities) {
        return finish(ctx, case, runner, Some(stop), started);
    }
    let timeout = ctx.case_timeout + case.allowed_waits(ctx.max_wait);
    let stop = match tokio::time::timeout(timeout, steps(&mut runner)).await {
        Ok(stop) => stop,
        Err(_) => Some(Stop::Error(format!(
            "the case did not finish within {timeout:?} (--case-timeout {:?} plus the waits --max-wait allows it)",
            ctx.case_timeout
        ))),
    };
    // Clean-up gets a budget of its own, so that a case never overruns its timeout by much.
    let cleanup = async {
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
    if tokio::time::timeout(CLEANUP_BUDGET, cleanup).await.is_err() {
        runner
            .transcript
            .note(&format!("clean-up stopped after {CLEANUP_BUDGET:?}"));
    }
    finish(ctx, case, runner, stop, started)
}

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
                case.source.path.display(),
                c.pos.line,
                c.pos.column,
                c.level,
                c.clause,
                c.step,
                c.detail
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
        file: case.source.path.display().to_string(),
        clauses,
        outcome,
        skipped_by_settings: outcome == Outcome::Skipped && matches!(stop, Some(Stop::NotRun(_))),
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
        transcript: secrets.redact(&runner.transcript.text()),
    }
}
