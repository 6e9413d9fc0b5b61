//! The modules of the crate in layers, lowest first: a module uses only those below it, so the dependency
//! graph has no cycle and nothing reaches up. The test reads every `crate::` path in `src/` and holds it
//! against this order (`cargo test --lib layers`).

/// Lowest first. A new module goes above everything it uses and below everything that uses it.
const LAYERS: &[&str] = &[
    // Plain values and text, no knowledge of a run.
    "colour",
    "source",
    "spec_version",
    "redact",
    "cause",
    "oauth_wire",
    "output",
    "clause",
    "reading",
    "transcript",
    // The built-in homeserver: it knows nothing of the harness that tests it.
    "reference",
    // The transport: requests, pacing, transport errors.
    "http",
    "matrix",
    "error",
    // What the cases say, and what a run found.
    "case",
    "verdict",
    "expected",
    "cli",
    "listing",
    "selection",
    // The server under test, then running the cases against it, then the reports.
    "homeserver",
    "run",
    // Client mode: the reference homeserver serving a client under test, and its judge.
    "client",
    "report",
    // The command line resolved into what the runner, client mode and the reports take.
    "config",
    // The orchestration above them all.
    "app",
];

use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to: `run` for `src/run/step.rs`, `http` for `src/http/mod.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "layers")).then(|| name.to_owned())
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let rank = |name: &str| LAYERS.iter().position(|m| *m == name);
    let mut wrong = Vec::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module `{module}` is in no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used == module {
                    continue;
                }
                match rank(&used) {
                    Some(theirs) if theirs < own => {}
                    _ => wrong.push(format!(
                        "{}:{}: `{module}` uses `{used}`, which is not below it",
                        file.display(),
                        number + 1
                    )),
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
