//! cases/case.schema.json (for editors: completion and checking as you type) is generated from the loader's
//! own types and agrees with the loader: every committed case validates against it, and shapes the loader
//! refuses, the schema refuses too.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(cases_dir().join("case.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::new(&schema).expect("the schema is a valid draft-07 schema")
}

fn yaml(text: &str) -> Value {
    let options =
        serde_saphyr::options! { strict_booleans: true, leading_zero_numbers_as_strings: true };
    serde_saphyr::from_str_with_options(text, options).unwrap()
}

fn case_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            case_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().unwrap() != "clauses.yaml"
        {
            out.push(path);
        }
    }
}

/// After a change to the case types, `REGENERATE_SCHEMA=1 cargo test --test suite committed_schema`
/// writes the file anew.
#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = cases_dir().join("case.schema.json");
    let generated =
        serde_json::to_string_pretty(&refresh_conformance::case::parse::schema()).unwrap() + "\n";
    if std::env::var_os("REGENERATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "{} is not the schema the case types generate: rerun with REGENERATE_SCHEMA=1 (see above)",
        path.display()
    );
}

#[test]
fn every_committed_case_validates() {
    let validator = validator();
    let mut files = Vec::new();
    case_files(&cases_dir(), &mut files);
    assert!(files.len() > 10);
    let mut problems = Vec::new();
    for file in files {
        let value = yaml(&std::fs::read_to_string(&file).unwrap());
        for error in validator.iter_errors(&value) {
            problems.push(format!(
                "{}: {} at {}",
                file.display(),
                error,
                error.instance_path()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator = validator();
    let base = "title: t\nclauses: [login.request.refresh_token]\nusers: [alice]\nsteps:\n";
    for step in [
        "  - login: { user: alice }\n    expect: { stauts: 200 }\n",
        "  - login: { user: alice }\n    whoami: { token: x }\n",
        "  - wait: { ms: 1, expiry_of: s0 }\n",
        "  - refresh: { session: s0, token: x }\n",
        "  - request: { method: PATCH, path: /x }\n",
        "  - request: { method: GET, path: x }\n",
        "  - burst: { count: 500, request: { method: GET, path: /x } }\n",
        "  - whoami: { session: s0 }\n    expect: { json: { /x: { equals: 1 } } }\n",
    ] {
        let value = yaml(&format!("{base}{step}"));
        assert!(!validator.is_valid(&value), "the schema accepts:\n{step}");
    }
    assert!(validator.is_valid(&yaml(&format!(
        "{base}  - login: {{ user: alice, as: s0 }}\n"
    ))));
}
