//! Careless inputs: mutated case files and arbitrary templates never panic the loader, and every error it
//! reports names file:line:col.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use refresh_conformance::case::{self, template};
use refresh_conformance::error::Error;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

fn seed_files() -> Vec<String> {
    let mut out = Vec::new();
    for area in std::fs::read_dir(cases_dir()).unwrap() {
        let area = area.unwrap().path();
        if area.is_dir() {
            for file in std::fs::read_dir(&area).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "yaml") {
                    out.push(std::fs::read_to_string(file).unwrap());
                }
            }
        }
    }
    out.sort();
    out
}

/// Loads one case file beside the real catalogue; an error must point into the file.
fn load_one(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        cases_dir().join("clauses.yaml"),
        dir.path().join("clauses.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("mutated.yaml"), text).unwrap();
    match case::load(dir.path()) {
        Ok(_) => Ok(()),
        Err(Error::InvalidCases { rendered, .. }) => {
            let located = regex::Regex::new(r"mutated\.yaml:\d+:\d+").unwrap();
            if located.is_match(&rendered) {
                Ok(())
            } else {
                Err(format!("error without file:line:col:\n{rendered}"))
            }
        }
        Err(other) => Err(format!("unexpected error: {other}")),
    }
}

/// Bits of YAML and of the case language, so that mutations reach past the YAML parser.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "-",
    "- ",
    "\"",
    "'",
    "#",
    "\n",
    "  ",
    "|",
    ">",
    "&a",
    "*a",
    "!!str ",
    "{{",
    "}}",
    "{{random}}",
    "{{ nope }}",
    "status: 200",
    "expect:",
    "steps:",
    "requires: [bogus]",
    "clauses: [no.such]",
    "\t",
    "é",
    "\u{0}",
    "~",
    "null",
    "1e999",
    "-1",
    "as: s0",
    "session: s9",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Mutation::Insert { at, piece }),
        (any::<usize>(), 1usize..80).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// The nearest character boundary at or below `at`, within `text`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_owned();
    for m in mutations {
        match *m {
            Mutation::Delete { at, len } => {
                let start = boundary(&text, at);
                let end = boundary(&text, start + len.min(text.len() - start));
                text.replace_range(start..end.max(start), "");
            }
            Mutation::Insert { at, piece } => {
                let at = boundary(&text, at);
                text.insert_str(at, PIECES[piece]);
            }
            Mutation::Duplicate { at, len } => {
                let start = boundary(&text, at);
                let end = boundary(&text, start + len.min(text.len() - start));
                let copy = text[start..end.max(start)].to_owned();
                text.insert_str(end.max(start), &copy);
            }
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_case_files_load_or_point_at_the_error(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seed_files();
        let text = apply(seeds[seed.index(seeds.len())].as_str(), &mutations);
        if let Err(problem) = load_one(&text) {
            prop_assert!(false, "{problem}\n--- case file ---\n{text}");
        }
    }

    #[test]
    fn any_template_parses_or_says_why(text in "(\\PC|\\{\\{|\\}\\}|[{}])*") {
        let _ = template::parse(&text);
        let _ = template::names(&text);
    }

    #[test]
    fn a_template_in_a_case_file_loads_or_points_at_the_error(text in "(\\PC|\\{\\{|\\}\\}|[{}])*") {
        let quoted = serde_json::to_string(&text).unwrap();
        let case = format!(
            "title: t\nclauses: [refresh.401.unknown-or-used]\nrequires: [refresh-tokens]\nsteps:\n  - refresh: {{ token: {quoted} }}\n    expect:\n      status: 401\n"
        );
        if let Err(problem) = load_one(&case) {
            prop_assert!(false, "{problem}\n--- case file ---\n{case}");
        }
    }
}
