//! `--list --format json`: the cases and clauses of the selected case set as one JSON document, for CI scripts
//! that ask what exists before (or instead of) running.

use serde::Serialize;

use crate::case::model::Gate;
use crate::case::{Case, CaseRoot};
use crate::clause::{Catalogue, Clause};

/// Bumped when a field changes meaning or disappears.
pub const LISTING_VERSION: u32 = 1;

#[derive(Serialize)]
struct Listing<'a> {
    listing_version: u32,
    suite_version: &'static str,
    spec_version: String,
    case_root: &'a CaseRoot,
    case_set: &'a str,
    cases: Vec<ListedCase<'a>>,
    clauses: Vec<ListedClause<'a>>,
}

#[derive(Serialize)]
struct ListedCase<'a> {
    id: &'a str,
    title: &'a str,
    /// Relative to the case root.
    file: &'a str,
    clauses: &'a [String],
    requires: &'a [Gate],
}

#[derive(Serialize)]
struct ListedClause<'a> {
    #[serde(flatten)]
    clause: &'a Clause,
    /// The selected cases citing this clause.
    cases: Vec<&'a str>,
}

pub fn render(catalogue: &Catalogue, cases: &[Case], root: &CaseRoot, case_set: &str) -> String {
    let listing = Listing {
        listing_version: LISTING_VERSION,
        suite_version: env!("CARGO_PKG_VERSION"),
        spec_version: catalogue.spec_version.to_string(),
        case_root: root,
        case_set,
        cases: cases
            .iter()
            .map(|case| ListedCase {
                id: &case.id,
                title: &case.title,
                file: &case.source.relative,
                clauses: &case.clauses,
                requires: &case.requires,
            })
            .collect(),
        clauses: catalogue
            .iter()
            .map(|clause| ListedClause {
                clause,
                cases: cases
                    .iter()
                    .filter(|case| case.clauses.contains(&clause.id))
                    .map(|case| case.id.as_str())
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&listing).expect("a listing serializes") + "\n"
}
