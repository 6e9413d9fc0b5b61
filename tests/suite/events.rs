//! The events a case reports as it runs, in the order a listener hears them: its start, each check that
//! counts for its clause, its end, with the record the reports and the verdicts are made from.

use std::sync::{Arc, Mutex};

use crate::support::settings;
use refresh_conformance::case::{self, CaseRoot};
use refresh_conformance::homeserver::accounts::Provisioning;
use refresh_conformance::redact::Secrets;
use refresh_conformance::reference::{Fault, ReferenceConfig, ReferenceServer};
use refresh_conformance::run::RunContext;
use refresh_conformance::run::events::{Event, Listener, run_contained};
use refresh_conformance::verdict::Outcome;

/// What a listener heard, as plain values.
#[derive(Debug, PartialEq)]
enum Heard {
    Started(String),
    Check { case: String, held: bool },
    Finished(String, Outcome),
}

#[derive(Default)]
struct Log(Mutex<Vec<Heard>>);

impl Listener for Log {
    fn event(&self, event: Event<'_>) {
        let heard = match event {
            Event::CaseStarted(case) => Heard::Started(case.id.clone()),
            Event::CheckRecorded { case, check } => Heard::Check {
                case: case.to_owned(),
                held: check.held,
            },
            Event::CaseFinished(record) => Heard::Finished(record.id.clone(), record.outcome),
        };
        self.0.lock().unwrap().push(heard);
    }
}

#[tokio::test]
async fn a_case_is_heard_starting_then_each_check_then_finishing() {
    const ID: &str = "rotation/revoked-after-new-refresh-used";
    let suite = case::load_from(&CaseRoot::BuiltIn).unwrap();
    let case = suite.cases.iter().find(|c| c.id == ID).unwrap().clone();
    // The replayed refresh token is refused with the wrong error: held and failed checks are both heard.
    let server = ReferenceServer::start(ReferenceConfig::for_fault(Fault::UsedRefreshForbidden))
        .await
        .unwrap();
    let ctx = RunContext::connect(
        server.base_url().parse().unwrap(),
        Provisioning::Open,
        &settings::loopback(),
        suite.catalogue,
        Secrets::default(),
    )
    .await
    .unwrap();
    let log = Log::default();
    let record = run_contained(Arc::new(ctx), case, &log).await;
    assert_eq!(record.outcome, Outcome::Failed, "{record:?}");

    let heard = log.0.into_inner().unwrap();
    let mut expected = vec![Heard::Started(ID.to_owned())];
    expected.extend(record.checks.iter().map(|check| Heard::Check {
        case: ID.to_owned(),
        held: check.held,
    }));
    expected.push(Heard::Finished(ID.to_owned(), Outcome::Failed));
    assert_eq!(heard, expected);
    assert!(heard.contains(&Heard::Check {
        case: ID.to_owned(),
        held: false
    }));
    assert!(heard.contains(&Heard::Check {
        case: ID.to_owned(),
        held: true
    }));
}
