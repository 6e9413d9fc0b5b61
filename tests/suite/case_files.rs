//! The case-file loader: the committed cases load, and bad files are refused with file:line:col.

use std::path::{Path, PathBuf};

use refresh_conformance::case;
use refresh_conformance::error::Error;

fn repo_cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// A cases folder with the real catalogue and one case file.
fn folder_with(case_yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_cases().join("clauses.yaml"),
        dir.path().join("clauses.yaml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("area")).unwrap();
    std::fs::write(dir.path().join("area/case.yaml"), case_yaml).unwrap();
    dir
}

fn load_error(case_yaml: &str) -> String {
    let dir = folder_with(case_yaml);
    match case::load(dir.path()) {
        Err(Error::InvalidCases { rendered, .. }) => rendered,
        Err(other) => panic!("expected invalid cases, got {other}"),
        Ok(_) => panic!("the case loaded:\n{case_yaml}"),
    }
}

const GOOD: &str = "\
title: t
clauses: [login.request.refresh_token]
users: [alice]
steps:
  - login: { user: alice, refresh_token: true, as: s0 }
    expect:
      status: 200
";

#[test]
fn committed_cases_all_load_and_cite_known_clauses() {
    let suite = case::load(&repo_cases()).expect("the committed cases load");
    assert!(!suite.cases.is_empty());
    for c in &suite.cases {
        for id in &c.clauses {
            assert!(suite.catalogue.get(id).is_some(), "{} cites {id}", c.id);
        }
    }
}

#[test]
fn a_good_case_loads_with_its_id() {
    let dir = folder_with(GOOD);
    let suite = case::load(dir.path()).unwrap();
    assert_eq!(suite.cases.len(), 1);
    assert_eq!(suite.cases[0].id, "area/case");
}

#[test]
fn unknown_key_points_at_its_line_and_column() {
    let rendered = load_error(&GOOD.replace(
        "    expect:\n      status: 200",
        "    expect:\n      stauts: 200",
    ));
    assert!(rendered.contains("area/case.yaml:7:7"), "{rendered}");
    assert!(rendered.contains("stauts"), "{rendered}");
}

#[test]
fn yaml_syntax_error_points_at_the_file() {
    let rendered = load_error("title: t\nclauses: [login.request.refresh_token\nsteps: []\n");
    assert!(rendered.contains("area/case.yaml:"), "{rendered}");
}

#[test]
fn unknown_clause_is_an_error() {
    let rendered =
        load_error(&GOOD.replace("[login.request.refresh_token]", "[login.no-such-clause]"));
    assert!(
        rendered.contains("unknown clause `login.no-such-clause`"),
        "{rendered}"
    );
    assert!(rendered.contains("area/case.yaml:2:"), "{rendered}");
}

#[test]
fn variable_used_before_capture_is_an_error_at_its_use() {
    let yaml = format!(
        "{GOOD}  - request: {{ method: GET, path: /_matrix/client/v3/account/whoami, token: \"{{{{later}}}}\" }}\n    capture: {{ later: /user_id }}\n"
    );
    let rendered = load_error(&yaml);
    assert!(
        rendered.contains("variable `later` is used before it is defined"),
        "{rendered}"
    );
    assert!(rendered.contains("area/case.yaml:8:"), "{rendered}");
}

#[test]
fn a_json_key_that_is_not_a_pointer_is_an_error() {
    // `access_token: { absent: true }` would look at a key nobody can have: a check that cannot fail.
    let rendered = load_error(&GOOD.replace(
        "      status: 200",
        "      json: { access_token: { absent: true } }",
    ));
    assert!(
        rendered.contains("`access_token` is not a JSON Pointer"),
        "{rendered}"
    );
}

#[test]
fn a_path_that_could_leave_the_target_is_an_error() {
    let yaml = format!("{GOOD}  - request: {{ method: GET, path: //elsewhere.example/x }}\n");
    let rendered = load_error(&yaml);
    assert!(
        rendered.contains("must start with a single `/`"),
        "{rendered}"
    );
}

#[test]
fn session_used_before_creation_is_an_error() {
    let rendered = load_error(&GOOD.replace("as: s0 }", "}\n  - whoami: { session: s0 }"));
    assert!(
        rendered.contains("session `s0` is used before"),
        "{rendered}"
    );
}

#[test]
fn a_step_needing_a_gate_must_declare_it() {
    let yaml = format!("{GOOD}  - refresh: {{ session: s0 }}\n");
    let rendered = load_error(&yaml);
    assert!(
        rendered.contains("requires: [refresh-tokens]"),
        "{rendered}"
    );
}

#[test]
fn a_choice_clause_cannot_be_checked() {
    let yaml = GOOD.replace(
        "[login.request.refresh_token]",
        "[refresh.old-access-token.server-choice]",
    );
    let rendered = load_error(&yaml);
    assert!(rendered.contains("is a server choice"), "{rendered}");
}

#[test]
fn two_actions_in_one_step_are_refused() {
    let yaml = GOOD.replace("    expect:", "    whoami: { token: x }\n    expect:");
    let rendered = load_error(&yaml);
    assert!(rendered.contains("exactly one action"), "{rendered}");
}

#[test]
fn every_error_of_every_file_is_reported_at_once() {
    let dir = folder_with(&GOOD.replace("[login.request.refresh_token]", "[nope.one]"));
    std::fs::write(
        dir.path().join("area/second.yaml"),
        GOOD.replace("title: t", "titel: t"),
    )
    .unwrap();
    match case::load(dir.path()) {
        Err(Error::InvalidCases { count, rendered }) => {
            assert_eq!(count, 2, "{rendered}");
            assert!(rendered.contains("area/case.yaml") && rendered.contains("area/second.yaml"));
        }
        other => panic!("{other:?}"),
    }
}

/// A status expectation that a server error meets, or that every status meets, passes a broken server:
/// such a check can never fail for the server that breaks its clause. The list must stay empty.
#[test]
fn no_expectation_is_met_by_any_status_or_by_a_server_error() {
    use serde_json::json;
    let suite = case::load(&repo_cases()).expect("the committed cases load");
    let identity = |v: &serde_json::Value| Ok(v.clone());
    let meets = |m: &refresh_conformance::case::matcher::Matcher, status: u16| {
        m.check(Some(&json!(status)), &identity).is_ok()
    };
    let mut hollow = Vec::new();
    for c in &suite.cases {
        for step in &c.steps {
            for block in &step.expect {
                let Some(status) = &block.status else {
                    continue;
                };
                let every = (100..600).all(|s| meets(status, s));
                let server_error = [500, 502, 503, 504].into_iter().any(|s| meets(status, s));
                if every || server_error {
                    hollow.push(format!(
                        "{}:{}: step `{}`: {}",
                        c.id,
                        block.pos.line,
                        step.name,
                        if every {
                            "any status meets it"
                        } else {
                            "a server error meets it"
                        }
                    ));
                }
            }
        }
    }
    assert!(
        hollow.is_empty(),
        "hollow status checks:\n{}",
        hollow.join("\n")
    );
}

#[test]
fn the_built_in_cases_are_the_cases_folder() {
    // build.rs makes a changed case file rebuild the binary; a stale embedded set would differ here.
    let built_in = case::load_from(&case::CaseRoot::BuiltIn).expect("the built-in cases load");
    let folder = case::load(&repo_cases()).unwrap();
    assert_eq!(built_in.digest, folder.digest);
    let ids = |suite: &case::Suite| suite.cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&built_in), ids(&folder));
    assert!(
        built_in
            .cases
            .iter()
            .all(|c| !c.source.relative.starts_with('/'))
    );
}

/// What a case author reads for the mistakes made most: the position, the snippet and the message, whole.
/// A change to the wording or the layout shows here as a snapshot diff (`cargo insta review`).
#[test]
fn rendered_errors_read_as_the_snapshot() {
    let mistakes = [
        (
            "a misspelt key",
            GOOD.replace("      status: 200", "      stauts: 200"),
        ),
        (
            "broken YAML",
            "title: t\nclauses: [login.request.refresh_token\nsteps: []\n".to_owned(),
        ),
        (
            "an unknown clause",
            GOOD.replace("[login.request.refresh_token]", "[login.no-such-clause]"),
        ),
        (
            "a session used before it exists",
            GOOD.replace("as: s0 }", "}\n  - whoami: { session: s0 }"),
        ),
        (
            "a gate not declared",
            format!("{GOOD}  - refresh: {{ session: s0 }}\n"),
        ),
    ];
    let rendered: Vec<String> = mistakes
        .iter()
        .map(|(what, yaml)| format!("## {what}\n{}", load_error(yaml)))
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"/\S*/\.tmp\w+/", "[cases]/");
    settings.bind(|| insta::assert_snapshot!(rendered.join("\n")));
}
