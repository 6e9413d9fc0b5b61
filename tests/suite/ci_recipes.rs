//! The CI recipes under docs/ci/ and the composite action.yml, run as they are: the suite is installed with
//! `cargo install` into a temporary root (`--debug --offline`, sharing this build's target dir, so it costs
//! a link) and run from a directory outside the checkout against the reference homeserver. What only the CI
//! service can do (start your homeserver, upload artifacts, publish JUnit) is not run; the paths those steps
//! name are checked instead. A recipe that rots fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use refresh_conformance::reference::{ReferenceConfig, ReferenceServer};
use serde_json::Value;

/// The step, stage or `before_script` that starts the user's homeserver: the reference server stands in.
const START_STEP: &str = "Start the homeserver";

fn checkout() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_yaml(relative: &str) -> Value {
    let text = std::fs::read_to_string(checkout().join(relative)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The target dir the binary under test was built in (`target/debug/refresh-conformance` -> `target`), so that
/// `cargo install` reuses what `cargo test` compiled.
fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_refresh-conformance"));
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// A reference homeserver for one recipe, a working directory outside the checkout, and an install root.
struct Stage {
    _runtime: tokio::runtime::Runtime,
    server: ReferenceServer,
    work: tempfile::TempDir,
    root: tempfile::TempDir,
}

impl Stage {
    fn new() -> Stage {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(ReferenceServer::start(ReferenceConfig::default()))
            .unwrap();
        let work = tempfile::tempdir().unwrap();
        assert!(!work.path().starts_with(checkout()));
        Stage {
            _runtime: runtime,
            server,
            work,
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self) -> &str {
        self.server.base_url().trim_end_matches('/')
    }

    /// What a recipe says to install (its CONFORMANCE_SOURCE), pointed at this checkout, offline.
    fn source(&self) -> String {
        format!("--path {} --debug --offline", checkout().display())
    }

    /// Runs one script with bash as CI services do (`-e -o pipefail`), with the recipe's environment.
    fn sh(&self, what: &str, script: &str, env: &BTreeMap<String, String>) {
        assert!(
            !script.contains("${{"),
            "{what}: inputs reach scripts through env, never ${{{{ }}}} (script injection)"
        );
        let path = format!(
            "{}:{}",
            self.root.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                script,
            ])
            .current_dir(self.work.path())
            .env_remove("CARGO_MANIFEST_DIR")
            .envs(env)
            .env("PATH", path)
            .env("CARGO_INSTALL_ROOT", self.root.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{what} failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The run left its reports where the recipe's upload and JUnit steps look for them, the JUnit file is
    /// valid, and every built-in case ran (none was missing for want of a `cases/` folder).
    fn assert_reports(&self, report_dir: &str) {
        let dir = self.work.path().join(report_dir.trim_end_matches('/'));
        let output = std::process::Output {
            status: std::process::ExitStatus::default(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let run = crate::support::RunOutput::collect(output, &dir);
        run.assert_junit_valid(&dir);
        assert_eq!(run.json["case_root"], "built-in cases");
        let cases = run.json["cases"].as_array().unwrap();
        let built_in =
            refresh_conformance::case::load_from(&refresh_conformance::case::CaseRoot::BuiltIn)
                .unwrap()
                .cases
                .len();
        assert_eq!(cases.len(), built_in, "every built-in case ran");
        assert_eq!(run.json["exit_code"], 0, "{}", run.summary);
    }

    /// A recipe's environment with the two values it asks users to set pointed here.
    fn recipe_env(&self, declared: &Value, what: &str) -> BTreeMap<String, String> {
        let mut env = strings(declared);
        for key in ["HOMESERVER_URL", "CONFORMANCE_SOURCE"] {
            assert!(env.contains_key(key), "{what} declares {key}");
        }
        env.insert("HOMESERVER_URL".into(), self.url().to_owned());
        env.insert("CONFORMANCE_SOURCE".into(), self.source());
        env
    }
}

fn strings(map: &Value) -> BTreeMap<String, String> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), value)
        })
        .collect()
}

#[test]
fn the_installed_binary_runs_every_case_from_anywhere() {
    let stage = Stage::new();
    let install = format!("cargo install --locked {}", stage.source());
    stage.sh("cargo install", &install, &BTreeMap::new());
    let binary = stage.root.path().join("bin/refresh-conformance");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.contains("catalogue v1."), "{version}");
    let run = format!(
        "refresh-conformance --target {} --report-dir reports -q",
        stage.url()
    );
    stage.sh("the installed binary", &run, &BTreeMap::new());
    stage.assert_reports("reports");
}

#[test]
fn the_composite_action_runs_as_written() {
    let stage = Stage::new();
    let action = read_yaml("action.yml");
    let report_dir = "action-reports";
    let inputs: BTreeMap<&str, String> = [
        ("target", stage.url().to_owned()),
        ("register", "open".to_owned()),
        ("args", String::new()),
        ("report-dir", report_dir.to_owned()),
        ("install-args", "--debug --offline".to_owned()),
    ]
    .into();
    for name in action["inputs"].as_object().unwrap().keys() {
        assert!(inputs.contains_key(name.as_str()), "input {name} is tested");
    }
    let github_output = stage.work.path().join("github-output");
    let expression = regex::Regex::new(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}").unwrap();
    let steps = action["runs"]["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for step in steps {
        let mut env: BTreeMap<String, String> = strings(&step["env"])
            .into_iter()
            .map(|(k, v)| {
                let value = expression
                    .replace_all(&v, |c: &regex::Captures| inputs[&c[1]].clone())
                    .into_owned();
                (k, value)
            })
            .collect();
        env.insert(
            "GITHUB_ACTION_PATH".into(),
            checkout().display().to_string(),
        );
        env.insert("GITHUB_OUTPUT".into(), github_output.display().to_string());
        let script = step["run"].as_str().expect("composite steps are run steps");
        stage.sh(step["name"].as_str().unwrap(), script, &env);
    }
    let outputs = std::fs::read_to_string(&github_output).unwrap();
    assert!(outputs.contains("exit-code=0"), "{outputs}");
    stage.assert_reports(report_dir);
}

#[test]
fn the_github_actions_workflow_runs_as_written() {
    let stage = Stage::new();
    let workflow = read_yaml("docs/ci/github-actions.yml");
    let job = &workflow["jobs"]["conformance"];
    let env = stage.recipe_env(&job["env"], "the workflow");
    let summary = stage.work.path().join("step-summary.md");
    let mut kept = Vec::new();
    for step in job["steps"].as_array().unwrap() {
        let name = step["name"].as_str().unwrap_or("");
        if let Some(uses) = step["uses"].as_str() {
            for key in ["path", "report_paths"] {
                if let Some(path) = step["with"][key].as_str() {
                    kept.push((uses.to_owned(), path.to_owned()));
                }
            }
        } else if name != START_STEP {
            let mut env = env.clone();
            env.extend(strings(&step["env"]));
            env.insert("GITHUB_ACTIONS".into(), "true".into());
            env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
            stage.sh(name, step["run"].as_str().unwrap(), &env);
        }
    }
    assert_eq!(
        kept.len(),
        2,
        "the reports are uploaded and the JUnit file published"
    );
    for (uses, path) in &kept {
        assert!(
            stage.work.path().join(path).exists(),
            "{uses} looks for {path}, which the run did not write"
        );
    }
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("| Clause |")
    );
    stage.assert_reports("conformance-reports");
}

#[test]
fn the_gitlab_job_runs_as_written() {
    let stage = Stage::new();
    let recipe = read_yaml("docs/ci/gitlab-ci.yml");
    let job = &recipe["refresh-conformance"];
    let env = stage.recipe_env(&job["variables"], "the GitLab job");
    let lines: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    stage.sh("the GitLab script", &lines.join("\n"), &env);
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"], "always");
    let mut paths: Vec<&str> = artifacts["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    paths.push(artifacts["reports"]["junit"].as_str().unwrap());
    for path in paths {
        assert!(
            stage.work.path().join(path).exists(),
            "artifact {path} missing"
        );
    }
    stage.assert_reports("conformance-reports");
}

#[test]
fn the_jenkins_stage_runs_as_written() {
    let stage = Stage::new();
    let text = std::fs::read_to_string(checkout().join("docs/ci/Jenkinsfile")).unwrap();
    let quoted = |pattern: &str| -> Vec<(usize, String)> {
        regex::Regex::new(pattern)
            .unwrap()
            .captures_iter(&text)
            .map(|c| (c.get(0).unwrap().start(), c[1].to_owned()))
            .collect()
    };
    let declared: BTreeMap<String, String> =
        regex::Regex::new(r"(?m)^\s*([A-Z_]+)\s*=\s*'([^']*)'\s*$")
            .unwrap()
            .captures_iter(&text)
            .map(|c| (c[1].to_owned(), c[2].to_owned()))
            .collect();
    let env = stage.recipe_env(&serde_json::to_value(&declared).unwrap(), "the Jenkinsfile");
    let stages = quoted(r"stage\('([^']+)'\)");
    let mut scripts = quoted(r"(?s)\bsh\s+'''(.*?)'''");
    scripts.extend(quoted(r"\bsh\s+'([^']*)'"));
    scripts.sort();
    let mut ran = 0;
    for (at, script) in &scripts {
        let stage_name = stages
            .iter()
            .rev()
            .find(|(start, _)| start < at)
            .map(|(_, name)| name.as_str())
            .unwrap_or("");
        if stage_name != START_STEP {
            stage.sh(stage_name, script, &env);
            ran += 1;
        }
    }
    assert!(ran > 0, "the Jenkinsfile has shell steps to run");
    for path in quoted(r"junit\s+testResults:\s*'([^']+)'") {
        assert!(
            stage.work.path().join(&path.1).exists(),
            "junit: {} missing",
            path.1
        );
    }
    for pattern in quoted(r"archiveArtifacts\s+artifacts:\s*'([^']+)'") {
        let dir = pattern.1.trim_end_matches("/**");
        assert!(
            stage.work.path().join(dir).is_dir(),
            "archive {} missing",
            pattern.1
        );
    }
    stage.assert_reports("conformance-reports");
}
