//! Finds and loads every case file under the cases folder, collecting all errors before giving up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::case::model::Case;
use crate::case::{parse, validate};
use crate::clause::Catalogue;
use crate::error::Error;
use crate::source::SourceFile;

/// The catalogue's file name inside the cases folder.
pub const CATALOGUE_FILE: &str = "clauses.yaml";

/// The catalogue and the checked cases, sorted by id.
#[derive(Debug)]
pub struct Suite {
    pub catalogue: Catalogue,
    pub cases: Vec<Case>,
}

pub fn load(dir: &Path) -> Result<Suite, Error> {
    let io = |path: &Path, source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let catalogue_path = dir.join(CATALOGUE_FILE);
    let catalogue_source = SourceFile::read(&catalogue_path).map_err(|e| io(&catalogue_path, e))?;
    let catalogue = Catalogue::parse(&catalogue_source)
        .map_err(|rendered| Error::InvalidCases { count: 1, rendered })?;
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| io(dir, e))?;
    files.sort();
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    for path in files {
        if path == catalogue_path {
            continue;
        }
        let source = Arc::new(SourceFile::read(&path).map_err(|e| io(&path, e))?);
        let id = case_id(dir, &path);
        match parse::parse_case(id, source) {
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
    Ok(Suite { catalogue, cases })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `cases/refresh/retry.yaml` -> `refresh/retry`, with `/` on every platform.
fn case_id(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path).with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}
