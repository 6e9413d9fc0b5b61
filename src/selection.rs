//! Which cases run: `--clause` prefixes, then libtest's filters; a selection of nothing is an error that
//! names the close matches, since a typo in CI must not pass.

use crate::case::Case;
use crate::clause::Catalogue;
use crate::error::Error;

/// `--clause PREFIX`: keep the cases citing a clause with one of the prefixes.
pub fn by_clause(cases: Vec<Case>, prefixes: &[String]) -> Vec<Case> {
    if prefixes.is_empty() {
        return cases;
    }
    cases
        .into_iter()
        .filter(|case| {
            case.clauses
                .iter()
                .any(|c| prefixes.iter().any(|p| c.starts_with(p.as_str())))
        })
        .collect()
}

/// A filter (`--clause`, the name filter, `--skip`, `--exact`) that selects no case: a typo must not pass CI.
pub fn nothing_selected(
    clauses: &[String],
    libtest: &libtest_mimic::Arguments,
    case_ids: &[String],
    catalogue: &Catalogue,
) -> Error {
    let clause_ids: Vec<String> = catalogue.iter().map(|c| c.id.clone()).collect();
    let mut lines = Vec::new();
    for prefix in clauses {
        lines.push(close_matches("--clause", prefix, &clause_ids));
    }
    if let Some(filter) = &libtest.filter {
        let candidates: Vec<String> = case_ids.iter().chain(&clause_ids).cloned().collect();
        lines.push(close_matches("the name filter", filter, &candidates));
    }
    Error::Usage(format!("no case matches the selection{}", lines.concat()))
}

fn close_matches(what: &str, given: &str, candidates: &[String]) -> String {
    let mut scored: Vec<(f64, &String)> = candidates
        .iter()
        .map(|c| {
            // A prefix is compared with the candidate's beginning, and a name filter with every tail of
            // the candidate after a `/` or `.` (`retry-windw` is close to `rotation/retry-window`).
            let head: String = c.chars().take(given.chars().count()).collect();
            let tails = c
                .match_indices(['/', '.'])
                .map(|(at, _)| &c[at + 1..])
                .chain([c.as_str(), head.as_str()]);
            let score = tails
                .map(|tail| strsim::jaro_winkler(given, tail))
                .fold(0.0, f64::max);
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    let shown: Vec<&str> = scored.iter().take(5).map(|(_, c)| c.as_str()).collect();
    if shown.is_empty() {
        format!("\n  {what} {given:?}: nothing close (see --list)")
    } else {
        format!("\n  {what} {given:?}: did you mean {}?", shown.join(", "))
    }
}
