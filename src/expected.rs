//! Expected clause verdicts for a known server (e.g. the pinned Synapse): a run compares against them so
//! that a change of the suite that moves a verdict on that server is seen, clause by clause.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::verdict::{ClauseVerdict, Verdict};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Free text: which server and configuration these verdicts belong to.
    pub server: String,
    pub clauses: BTreeMap<String, Verdict>,
}

/// One clause whose verdict differs from the expected one (`None`: absent on that side).
#[derive(Debug, PartialEq, Eq)]
pub struct Moved {
    pub clause: String,
    pub expected: Option<Verdict>,
    pub actual: Option<Verdict>,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: Option<Verdict>| v.map_or("(absent)", Verdict::as_str);
        write!(
            f,
            "{}: expected {}, got {}",
            self.clause,
            show(self.expected),
            show(self.actual)
        )
    }
}

pub fn read(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn write(path: &Path, server: &str, verdicts: &[ClauseVerdict]) -> Result<(), String> {
    let expected = Expected {
        server: server.to_owned(),
        clauses: verdicts.iter().map(|v| (v.id.clone(), v.verdict)).collect(),
    };
    let mut text = serde_json::to_string_pretty(&expected).expect("serializes");
    text.push('\n');
    crate::output::write_file(path, &text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn compare(expected: &Expected, verdicts: &[ClauseVerdict]) -> Vec<Moved> {
    let actual: BTreeMap<&str, Verdict> = verdicts
        .iter()
        .map(|v| (v.id.as_str(), v.verdict))
        .collect();
    let mut moved = Vec::new();
    for (clause, &want) in &expected.clauses {
        let got = actual.get(clause.as_str()).copied();
        if got != Some(want) {
            moved.push(Moved {
                clause: clause.clone(),
                expected: Some(want),
                actual: got,
            });
        }
    }
    for (clause, &got) in &actual {
        if !expected.clauses.contains_key(*clause) {
            moved.push(Moved {
                clause: clause.to_string(),
                expected: None,
                actual: Some(got),
            });
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clause::Level;

    fn verdict(id: &str, verdict: Verdict) -> ClauseVerdict {
        ClauseVerdict {
            id: id.into(),
            level: Level::Must,
            tags: vec![],
            verdict,
            reason: crate::verdict::Reason::NoCase,
            cases: vec![],
            section: String::new(),
            summary: String::new(),
            readings: vec![],
        }
    }

    #[test]
    fn reports_every_moved_clause_both_ways() {
        let expected = Expected {
            server: "x".into(),
            clauses: [
                ("a".to_owned(), Verdict::Pass),
                ("b".to_owned(), Verdict::Fail),
            ]
            .into(),
        };
        let moved = compare(
            &expected,
            &[
                verdict("a", Verdict::Pass),
                verdict("b", Verdict::Pass),
                verdict("c", Verdict::Warn),
            ],
        );
        let lines: Vec<String> = moved.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "b: expected fail, got pass",
                "c: expected (absent), got warn"
            ]
        );
        assert!(
            compare(
                &expected,
                &[verdict("a", Verdict::Pass), verdict("b", Verdict::Fail)]
            )
            .is_empty()
        );
    }
}
