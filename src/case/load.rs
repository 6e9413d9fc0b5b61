//! Finds and loads every case file, from the cases built into the binary or from a folder, collecting all
//! errors before giving up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use crate::case::model::Case;
use crate::case::{parse, validate};
use crate::clause::Catalogue;
use crate::error::Error;
use crate::source::SourceFile;

/// The catalogue's file name inside the cases folder.
pub const CATALOGUE_FILE: &str = "clauses.yaml";

/// The repository's `cases/`, built into the binary so that it runs from any directory after
/// `cargo install` (build.rs makes a change to a case rebuild the crate).
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/cases");

/// Where the cases of a run come from. `--cases DIR` replaces the built-in set: a folder is a whole suite,
/// catalogue included, so that a verdict always means the same cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseRoot {
    BuiltIn,
    Dir(PathBuf),
}

impl std::fmt::Display for CaseRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseRoot::BuiltIn => f.write_str("built-in cases"),
            CaseRoot::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

impl serde::Serialize for CaseRoot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl CaseRoot {
    /// A case file's path as shown in diagnostics and annotations: the built-in ones as they are in the
    /// suite's repository.
    pub fn display_path(&self, relative: &str) -> PathBuf {
        match self {
            CaseRoot::BuiltIn => Path::new("cases").join(relative),
            CaseRoot::Dir(dir) => dir.join(relative),
        }
    }
}

/// The catalogue and the checked cases, sorted by id.
#[derive(Debug)]
pub struct Suite {
    pub catalogue: Catalogue,
    pub cases: Vec<Case>,
    /// A short hash of every file of the case set, so that two runs can tell whether they ran the same cases.
    pub digest: String,
}

/// Loads the cases from a folder (`--cases DIR`, the tests).
pub fn load(dir: &Path) -> Result<Suite, Error> {
    load_from(&CaseRoot::Dir(dir.to_path_buf()))
}

pub fn load_from(root: &CaseRoot) -> Result<Suite, Error> {
    let files = match root {
        CaseRoot::BuiltIn => built_in_files(),
        CaseRoot::Dir(dir) => folder_files(dir)?,
    };
    parse_all(root, files)
}

/// Relative path (with `/`) and text of every YAML file, sorted by path.
type Files = Vec<(String, String)>;

/// `catalogue v1.19, 62 cases, case set 1a2b3c4d5e6f`: what `--version` says of the built-in cases.
pub fn built_in_description() -> String {
    let files = built_in_files();
    let cases = files.len().saturating_sub(1);
    let digest = digest(&files);
    let catalogue = files
        .into_iter()
        .find(|(relative, _)| relative == CATALOGUE_FILE)
        .and_then(|(relative, text)| {
            let source = SourceFile {
                path: CaseRoot::BuiltIn.display_path(&relative),
                relative,
                text,
            };
            Catalogue::parse(&source).ok()
        })
        .map_or_else(
            || "no catalogue".to_owned(),
            |c| format!("catalogue {}", c.spec_version),
        );
    format!("{catalogue}, {cases} cases, case set {digest}")
}

fn built_in_files() -> Files {
    fn walk(dir: &Dir<'static>, out: &mut Files) {
        for file in dir.files() {
            if is_yaml(file.path()) {
                let text = file.contents_utf8().unwrap_or_else(|| {
                    panic!(
                        "{} is not UTF-8 (checked by the tests)",
                        file.path().display()
                    )
                });
                out.push((slashed(file.path()), text.to_owned()));
            }
        }
        for sub in dir.dirs() {
            walk(sub, out);
        }
    }
    let mut files = Vec::new();
    walk(&BUILT_IN, &mut files);
    files.sort();
    files
}

fn folder_files(dir: &Path) -> Result<Files, Error> {
    let io = |path: &Path, source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    collect(dir, &mut paths).map_err(|e| io(dir, e))?;
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        files.push((slashed(path.strip_prefix(dir).unwrap_or(&path)), text));
    }
    files.sort();
    Ok(files)
}

fn parse_all(root: &CaseRoot, files: Files) -> Result<Suite, Error> {
    let digest = digest(&files);
    let source = |relative: &str, text: String| SourceFile {
        path: root.display_path(relative),
        relative: relative.to_owned(),
        text,
    };
    let mut catalogue_source = None;
    let mut case_sources = Vec::new();
    for (relative, text) in files {
        if relative == CATALOGUE_FILE {
            catalogue_source = Some(source(&relative, text));
        } else {
            case_sources.push(source(&relative, text));
        }
    }
    let catalogue_source = catalogue_source.ok_or_else(|| {
        Error::Usage(format!(
            "{} does not exist: a cases folder is a whole suite, catalogue included",
            root.display_path(CATALOGUE_FILE).display()
        ))
    })?;
    let catalogue = Catalogue::parse(&catalogue_source)
        .map_err(|rendered| Error::InvalidCases { count: 1, rendered })?;
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    for source in case_sources {
        let id = case_id(&source.relative);
        match parse::parse_case(id, Arc::new(source)) {
            Err(rendered) => errors.push(rendered),
            Ok(case) => {
                let problems = validate::validate(&case, &catalogue);
                if problems.is_empty() {
                    cases.push(case);
                } else {
                    errors.push(problems.join("\n"));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::InvalidCases {
            count: errors.len(),
            rendered: errors.join("\n"),
        });
    }
    Ok(Suite {
        catalogue,
        cases,
        digest,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// A relative path with `/` on every platform.
fn slashed(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// `refresh/retry.yaml` -> `refresh/retry`.
fn case_id(relative: &str) -> String {
    relative
        .strip_suffix(".yaml")
        .or_else(|| relative.strip_suffix(".yml"))
        .unwrap_or(relative)
        .to_owned()
}

/// The first 12 hex digits of a SHA-256 over every file's path and text, in path order.
fn digest(files: &Files) -> String {
    let mut hasher = Sha256::new();
    for (relative, text) in files {
        for part in [relative.as_bytes(), text.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hex::encode(hasher.finalize())[..12].to_owned()
}
