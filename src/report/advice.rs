//! Advice after the table: the reasons that cost the run coverage or time, grouped, each with the option or the
//! server setting to change. Computed from typed causes and the pacer's figures, never from message text.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::case::model::Gate;
use crate::cause::{Cause, Limit, option_value};
use crate::homeserver::{Capabilities, GateStatus};
use crate::http::pacer::LimitStats;
use crate::verdict::gate::GateUnmet;
use crate::verdict::stop::Need;
use crate::verdict::{CaseRecord, StopReason};

/// What the advice is about, for report.json and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    /// A server rate limit made cases wait, or stopped them.
    RateLimit,
    /// The run's wait budget ran out before some cases got their turn.
    WaitBudget,
    /// A case's turn behind a rate limit came after a session it had opened expired: the server's pace
    /// outlasts its token lifetime (`--max-wait` is not the cause).
    SessionOutlived,
    /// Access tokens live longer than `--max-wait`.
    Expiry,
    /// Requests got no answer in time.
    Timeout,
    /// The server issued no refresh token to a login that asked for one.
    RefreshTokensOff,
    /// The run's deadline stopped cases.
    Deadline,
    /// Set-up logins could skip the server's login rate limit through an application service.
    AppserviceLogins,
}

#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub topic: Topic,
    pub text: String,
}

/// What the advice is computed from.
pub struct Inputs<'a> {
    pub cases: &'a [CaseRecord],
    pub capabilities: &'a Capabilities,
    pub pacing: &'a BTreeMap<Limit, LimitStats>,
    pub max_wait: Duration,
    pub wait_budget: Option<Duration>,
    pub request_timeout: Duration,
    /// The run's deadline (`--deadline` or the derived one).
    pub deadline: Duration,
    /// Set-up logins were the application service's (`--as-token` with fresh accounts).
    pub appservice_logins: bool,
}

/// The application service a stock Synapse needs so that set-up logins skip `rc_login`, in YAML flow style so
/// that it fits one line of advice.
pub const APPSERVICE_SNIPPET: &str = "id: mrc-conformance, url: null, as_token: <random>, hs_token: <random>, \
    sender_localpart: mrc-as-sender, rate_limited: false, namespaces: {users: [{exclusive: false, regex: '@mrc-as-.*'}]}";

pub fn advise(inputs: &Inputs<'_>) -> Vec<Advice> {
    let mut out = Vec::new();
    refresh_tokens_off(inputs, &mut out);
    for (limit, stats) in inputs.pacing {
        rate_limit(inputs, *limit, stats, &mut out);
        session_outlived(inputs, *limit, stats, &mut out);
    }
    appservice_logins(inputs, &mut out);
    expiry(inputs, &mut out);
    timeouts(inputs, &mut out);
    deadline(inputs, &mut out);
    out
}

fn causes<'a>(inputs: &'a Inputs<'_>) -> impl Iterator<Item = &'a Cause> {
    inputs.cases.iter().filter_map(|c| c.cause.as_ref())
}

fn setting(limit: Limit) -> String {
    match limit.synapse_setting() {
        Some(setting) => format!("relax `{setting}` (Synapse) on a test server"),
        None => "relax the server's rate limit on a test server".to_owned(),
    }
}

fn show(duration: Duration) -> String {
    crate::cause::shown(duration)
}

fn rate_limit(inputs: &Inputs<'_>, limit: Limit, stats: &LimitStats, out: &mut Vec<Advice>) {
    if stats.rate_limited == 0 {
        return;
    }
    let over: Vec<Duration> = causes(inputs)
        .filter_map(|c| match c {
            Cause::RateLimit { limit: l, asked } if *l == limit => Some(*asked),
            _ => None,
        })
        .collect();
    let over_budget = causes(inputs)
        .filter(|c| matches!(c, Cause::WaitBudget { limit: l } if *l == limit))
        .count();
    let mut text = format!(
        "{} answered 429 {} time(s), asking for waits up to {}",
        capitalised(limit.what()),
        stats.rate_limited,
        show(stats.longest_asked)
    );
    if stats.waits > 0 {
        text.push_str(&format!(
            "; requests waited their turn {} time(s), {} in all",
            stats.waits,
            show(stats.waited)
        ));
    }
    if let Some(longest) = over.iter().max() {
        text.push_str(&format!(
            ". {} case(s) stopped because one wait was over --max-wait {}: {}, or run with `--max-wait {}`",
            over.len(),
            show(inputs.max_wait),
            setting(limit),
            option_value(*longest)
        ));
    } else {
        text.push_str(&format!(": {} to make the run faster", setting(limit)));
    }
    if stats.planned > 0 {
        // After its burst, the server admits one request per interval: that is what the run's share costs.
        let paced = stats.planned.saturating_sub(stats.burst);
        text.push_str(&format!(
            ". The server admitted {} before its first 429, then one per {}: this run's {} password login(s) \
             need about {} at that pace",
            stats.burst,
            show(stats.longest_asked),
            stats.planned,
            show(stats.longest_asked * paced)
        ));
        if let Some(left) = stats.time_left().filter(|_| stats.left > 0) {
            text.push_str(&format!(
                ", and {} of them were never sent (about {} more)",
                stats.left,
                show(left)
            ));
        }
    }
    out.push(Advice {
        topic: Topic::RateLimit,
        text: format!("{text}."),
    });
    if over_budget > 0 {
        let budget = inputs.wait_budget.unwrap_or_default();
        // Each of those cases needs at least one more request on the lane, one per interval.
        let more = stats.longest_asked * over_budget as u32;
        out.push(Advice {
            topic: Topic::WaitBudget,
            text: format!(
                "{over_budget} case(s) did not get their turn behind {} within --wait-budget {}; at one request \
                 per {} they need about {} more: {}, or run with `--wait-budget {}`.",
                limit.what(),
                show(budget),
                show(stats.longest_asked),
                show(more),
                setting(limit),
                option_value(budget + more)
            ),
        });
    }
}

/// Cases whose wait for their turn (within `--max-wait`) outlasted a session they had opened: a longer
/// `--max-wait` changes nothing; a faster pace or a longer token lifetime does.
fn session_outlived(inputs: &Inputs<'_>, limit: Limit, stats: &LimitStats, out: &mut Vec<Advice>) {
    let waited: Vec<Duration> = causes(inputs)
        .filter_map(|c| match c {
            Cause::SessionOutlived { limit: l, waited } if *l == limit => Some(*waited),
            _ => None,
        })
        .collect();
    let Some(longest) = waited.iter().max() else {
        return;
    };
    let lifetime = lifetime_note(inputs);
    out.push(Advice {
        topic: Topic::SessionOutlived,
        text: format!(
            "{} case(s) stopped because their turn behind {} came only after a session they had opened had \
             expired{lifetime}, on a second attempt too (a wait of up to {}, at one request per {}); every \
             wait was within --max-wait {}, so a longer one does not help: {}, or give access tokens a longer \
             lifetime there (`refreshable_access_token_lifetime` on Synapse).",
            waited.len(),
            limit.what(),
            show(*longest),
            show(stats.longest_asked),
            show(inputs.max_wait),
            setting(limit)
        ),
    });
}

/// Password logins waited on the login limit while set-up logins could have gone around it.
fn appservice_logins(inputs: &Inputs<'_>, out: &mut Vec<Advice>) {
    let Some(stats) = inputs.pacing.get(&Limit::Login) else {
        return;
    };
    if stats.rate_limited == 0 || inputs.appservice_logins {
        return;
    }
    out.push(Advice {
        topic: Topic::AppserviceLogins,
        text: format!(
            "Most logins only set a case up: with `--as-token` of an application service whose user namespace \
             covers `@mrc-as-.*`, they log in as that service (`m.login.application_service`), which Synapse \
             does not hold to `rc_login` when the service has `rate_limited: false`; logins whose answer a \
             clause is judged on keep the password. On Synapse, list a file in `app_service_config_files` \
             holding {{{APPSERVICE_SNIPPET}}} and pass its as_token (`scripts/synapse.sh` does this)."
        ),
    });
}

/// Cases the run's deadline stopped: the deadline to give, from what the pace of logins still needed.
fn deadline(inputs: &Inputs<'_>, out: &mut Vec<Advice>) {
    let cut = causes(inputs)
        .filter(|c| matches!(c, Cause::Deadline))
        .count();
    if cut == 0 {
        return;
    }
    let left = inputs
        .pacing
        .get(&Limit::Login)
        .and_then(LimitStats::time_left)
        .unwrap_or_default();
    // Without an estimate, twice the time: the run was cut, not measured.
    let suggested = if left.is_zero() {
        inputs.deadline * 2
    } else {
        inputs.deadline + left
    };
    let pace = if left.is_zero() {
        String::new()
    } else {
        format!(
            " (the logins not yet sent need about {} at the server's pace)",
            show(left)
        )
    };
    out.push(Advice {
        topic: Topic::Deadline,
        text: format!(
            "{cut} case(s) were stopped by the run's deadline of {}{pace}: run with `--deadline {}`, and \
             `--wait-budget` as long, or relax the server's rate limits on a test server.",
            show(inputs.deadline),
            option_value(suggested)
        ),
    });
}

/// " (access tokens live 5m)" when the probe learned the lifetime, else nothing.
fn lifetime_note(inputs: &Inputs<'_>) -> String {
    inputs
        .capabilities
        .access_token_lifetime_ms
        .map(|ms| format!(" (access tokens live {})", show(Duration::from_millis(ms))))
        .unwrap_or_default()
}

fn expiry(inputs: &Inputs<'_>, out: &mut Vec<Advice>) {
    let needed: Vec<Duration> = causes(inputs)
        .filter_map(|c| match c {
            Cause::Expiry { needed } => Some(*needed),
            _ => None,
        })
        .collect();
    let Some(longest) = needed.iter().max() else {
        return;
    };
    let lifetime = lifetime_note(inputs);
    out.push(Advice {
        topic: Topic::Expiry,
        text: format!(
            "{} expiry case(s) need `--max-wait {}`{lifetime}, or a shorter \
             `refreshable_access_token_lifetime` (Synapse) on a test server.",
            needed.len(),
            option_value(*longest)
        ),
    });
}

fn timeouts(inputs: &Inputs<'_>, out: &mut Vec<Advice>) {
    let cases = causes(inputs)
        .filter(|c| matches!(c, Cause::Timeout))
        .count();
    if cases == 0 {
        return;
    }
    let crowded: u32 = inputs.pacing.values().map(|s| s.crowded_timeouts).sum();
    let slowest = inputs
        .pacing
        .values()
        .map(|s| s.slowest)
        .max()
        .unwrap_or_default();
    let suggested = (inputs.request_timeout * 3).max(slowest * 4);
    let crowd = if crowded > 0 {
        format!(
            "; {crowded} of the timeouts came while the suite had other password checks in flight (the suite \
             narrowed its pace after them)"
        )
    } else {
        String::new()
    };
    out.push(Advice {
        topic: Topic::Timeout,
        text: format!(
            "{cases} case(s) ended in error on a request that got no answer within --request-timeout {}{crowd}: \
             if the server is only slow, run with `--request-timeout {}` or `--test-threads 4`.",
            show(inputs.request_timeout),
            option_value(suggested)
        ),
    });
}

fn refresh_tokens_off(inputs: &Inputs<'_>, out: &mut Vec<Advice>) {
    let off = matches!(
        inputs.capabilities.gates.get(&Gate::RefreshTokens),
        Some(GateStatus::Unmet(GateUnmet::NoRefreshToken))
    );
    if !off {
        return;
    }
    let cases = inputs
        .cases
        .iter()
        .filter(|c| {
            matches!(
                &c.stop,
                Some(StopReason::Unmet {
                    need: Need::Gate(Gate::RefreshTokens),
                    reason: GateUnmet::NoRefreshToken,
                })
            )
        })
        .count();
    out.push(Advice {
        topic: Topic::RefreshTokensOff,
        text: format!(
            "The server issued no refresh token to a login that asked for one: refresh tokens appear to be \
             switched off ({cases} case(s) not applicable). If that is a mistake, on Synapse set \
             `refreshable_access_token_lifetime` (for example `5m`)."
        ),
    });
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::homeserver::ServerInfo;
    use crate::verdict::Outcome;

    fn capabilities(refresh: GateStatus) -> Capabilities {
        Capabilities {
            server: ServerInfo {
                base_url: "http://127.0.0.1:1/".into(),
                software: None,
                versions: vec![],
                provisioning: String::new(),
                server_name: None,
            },
            versions: vec![],
            gates: [(Gate::RefreshTokens, refresh)].into_iter().collect(),
            unmet_by_settings: BTreeSet::new(),
            access_token_lifetime_ms: Some(300_000),
        }
    }

    fn case(cause: Option<Cause>, stop: Option<StopReason>) -> CaseRecord {
        CaseRecord {
            id: "c".into(),
            title: String::new(),
            file: String::new(),
            clauses: vec![],
            outcome: Outcome::Skipped,
            skipped_by_settings: true,
            cause,
            duration: Duration::ZERO,
            stop,
            checks: vec![],
            observations: vec![],
            unreached: vec![],
            transcript: Default::default(),
            stopped_at: None,
        }
    }

    fn advise_on(
        cases: &[CaseRecord],
        refresh: GateStatus,
        pacing: BTreeMap<Limit, LimitStats>,
    ) -> Vec<Advice> {
        advise_with(cases, refresh, pacing, true)
    }

    fn advise_with(
        cases: &[CaseRecord],
        refresh: GateStatus,
        pacing: BTreeMap<Limit, LimitStats>,
        appservice_logins: bool,
    ) -> Vec<Advice> {
        let capabilities = capabilities(refresh);
        advise(&Inputs {
            cases,
            capabilities: &capabilities,
            pacing: &pacing,
            max_wait: Duration::from_secs(60),
            wait_budget: Some(Duration::from_secs(3600)),
            request_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(3600),
            appservice_logins,
        })
    }

    fn login_stats() -> BTreeMap<Limit, LimitStats> {
        let stats = LimitStats {
            rate_limited: 3,
            longest_asked: Duration::from_secs(333),
            waits: 2,
            waited: Duration::from_secs(40),
            ..LimitStats::default()
        };
        [(Limit::Login, stats)].into_iter().collect()
    }

    #[test]
    fn a_rate_limit_over_max_wait_names_the_setting_and_the_option() {
        let stopped = Cause::RateLimit {
            limit: Limit::Login,
            asked: Duration::from_secs(333),
        };
        let cases = [case(Some(stopped.clone()), None), case(Some(stopped), None)];
        let advice = advise_on(&cases, GateStatus::Met, login_stats());
        assert_eq!(advice.len(), 1, "{advice:?}");
        assert_eq!(advice[0].topic, Topic::RateLimit);
        let text = &advice[0].text;
        assert!(text.contains("2 case(s) stopped"), "{text}");
        assert!(text.contains("`rc_login`"), "{text}");
        assert!(text.contains("`--max-wait 340s`"), "{text}");
    }

    /// A wait within --max-wait that outlasted a session (331 s against 5-minute tokens) is not advised as a
    /// wait over --max-wait: a longer one would change nothing.
    #[test]
    fn a_wait_that_outlived_a_session_names_the_lifetime_not_max_wait() {
        let outlived = Cause::SessionOutlived {
            limit: Limit::Login,
            waited: Duration::from_secs(331),
        };
        let cases = [case(Some(outlived), None)];
        let advice = advise_on(&cases, GateStatus::Met, login_stats());
        let rate = advice.iter().find(|a| a.topic == Topic::RateLimit);
        let rate = &rate.expect("rate-limit advice").text;
        assert!(!rate.contains("stopped"), "{rate}");
        let outlived = advice.iter().find(|a| a.topic == Topic::SessionOutlived);
        let text = &outlived.expect("session-outlived advice").text;
        assert!(text.starts_with("1 case(s) stopped"), "{text}");
        assert!(text.contains("up to 5m 31s"), "{text}");
        assert!(text.contains("access tokens live 5m"), "{text}");
        assert!(text.contains("a longer one does not help"), "{text}");
        assert!(text.contains("`rc_login`"), "{text}");
        assert!(
            text.contains("`refreshable_access_token_lifetime`"),
            "{text}"
        );
        assert!(!text.contains("`--max-wait"), "{text}");
    }

    #[test]
    fn waits_alone_advise_relaxing_the_limit() {
        let advice = advise_on(&[], GateStatus::Met, login_stats());
        assert_eq!(advice.len(), 1);
        assert!(advice[0].text.contains("waited their turn 2 time(s)"));
        assert!(advice[0].text.contains("to make the run faster"));
    }

    #[test]
    fn a_spent_wait_budget_says_how_much_more_is_needed() {
        let cases = [case(
            Some(Cause::WaitBudget {
                limit: Limit::Login,
            }),
            None,
        )];
        let advice = advise_on(&cases, GateStatus::Met, login_stats());
        let budget = advice.iter().find(|a| a.topic == Topic::WaitBudget);
        let text = &budget.expect("wait-budget advice").text;
        assert!(text.contains("`--wait-budget 2h`"), "{text}");
    }

    #[test]
    fn expiry_over_max_wait_gives_the_max_wait_to_use() {
        let cases = [case(
            Some(Cause::Expiry {
                needed: Duration::from_millis(314_975),
            }),
            None,
        )];
        let advice = advise_on(&cases, GateStatus::Met, BTreeMap::new());
        assert_eq!(advice.len(), 1);
        assert_eq!(advice[0].topic, Topic::Expiry);
        assert!(
            advice[0].text.contains("`--max-wait 320s`"),
            "{}",
            advice[0].text
        );
        assert!(advice[0].text.contains("live 5m"), "{}", advice[0].text);
    }

    #[test]
    fn timeouts_suggest_a_longer_timeout() {
        let mut pacing = BTreeMap::new();
        pacing.insert(
            Limit::Registration,
            LimitStats {
                timeouts: 2,
                crowded_timeouts: 2,
                slowest: Duration::from_secs(9),
                ..LimitStats::default()
            },
        );
        let cases = [case(Some(Cause::Timeout), None)];
        let advice = advise_on(&cases, GateStatus::Met, pacing);
        assert_eq!(advice.len(), 1);
        assert_eq!(advice[0].topic, Topic::Timeout);
        let text = &advice[0].text;
        assert!(text.contains("`--request-timeout 40s`"), "{text}");
        assert!(text.contains("2 of the timeouts"), "{text}");
    }

    #[test]
    fn no_refresh_token_says_refresh_tokens_look_switched_off() {
        let stop = StopReason::Unmet {
            need: Need::Gate(Gate::RefreshTokens),
            reason: GateUnmet::NoRefreshToken,
        };
        let cases = [case(None, Some(stop))];
        let advice = advise_on(
            &cases,
            GateStatus::Unmet(GateUnmet::NoRefreshToken),
            BTreeMap::new(),
        );
        assert_eq!(advice.len(), 1);
        assert_eq!(advice[0].topic, Topic::RefreshTokensOff);
        assert!(advice[0].text.contains("switched off (1 case(s)"));
        assert!(advice[0].text.contains("refreshable_access_token_lifetime"));
    }

    /// The login lane as a stock Synapse leaves it: a burst of 5, then one login per 333 s.
    fn learned_login_stats(left: u32) -> BTreeMap<Limit, LimitStats> {
        let mut stats = login_stats();
        let login = stats.get_mut(&Limit::Login).unwrap();
        login.burst = 5;
        login.planned = 14;
        login.left = left;
        stats
    }

    #[test]
    fn a_learned_login_pace_gives_the_time_the_run_needs() {
        let advice = advise_on(&[], GateStatus::Met, learned_login_stats(0));
        let text = &advice[0].text;
        assert!(
            text.contains("admitted 5 before its first 429, then one per 5m 33s"),
            "{text}"
        );
        // 9 logins after the burst, at 333 s each.
        assert!(
            text.contains("14 password login(s) need about 49m 57s"),
            "{text}"
        );
        assert!(!text.contains("never sent"), "{text}");
        let advice = advise_on(&[], GateStatus::Met, learned_login_stats(3));
        assert!(
            advice[0]
                .text
                .contains("3 of them were never sent (about 16m 39s more)")
        );
    }

    #[test]
    fn a_login_limit_without_an_appservice_shows_how_to_set_one_up() {
        let advice = advise_with(&[], GateStatus::Met, login_stats(), false);
        let service = advice.iter().find(|a| a.topic == Topic::AppserviceLogins);
        let text = &service.expect("application-service advice").text;
        assert!(text.contains("`--as-token`"), "{text}");
        assert!(text.contains("rate_limited: false"), "{text}");
        assert!(text.contains("regex: '@mrc-as-.*'"), "{text}");
        assert!(text.contains("app_service_config_files"), "{text}");
        // Already in use: nothing to say.
        let advice = advise_with(&[], GateStatus::Met, login_stats(), true);
        assert!(advice.iter().all(|a| a.topic != Topic::AppserviceLogins));
    }

    #[test]
    fn a_deadline_that_cut_cases_names_the_deadline_to_give() {
        let cases = [
            case(Some(Cause::Deadline), None),
            case(Some(Cause::Deadline), None),
        ];
        let advice = advise_on(&cases, GateStatus::Met, learned_login_stats(4));
        let cut = advice.iter().find(|a| a.topic == Topic::Deadline);
        let text = &cut.expect("deadline advice").text;
        assert!(
            text.contains("2 case(s) were stopped by the run's deadline of 1h"),
            "{text}"
        );
        // One hour, plus 4 logins at 333 s.
        assert!(text.contains("`--deadline 2h`"), "{text}");
        assert!(text.contains("about 22m 12s"), "{text}");
        let advice = advise_on(&cases, GateStatus::Met, BTreeMap::new());
        assert!(
            advice[0].text.contains("`--deadline 2h`"),
            "{}",
            advice[0].text
        );
    }

    #[test]
    fn a_clean_run_gets_no_advice() {
        assert!(advise_on(&[], GateStatus::Met, BTreeMap::new()).is_empty());
    }
}
