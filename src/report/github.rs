//! GitHub Actions workflow commands: one `::error` (MUST) or `::warning` (SHOULD) per failed check, pointing
//! at the expectation in its case file, so that failures show up as annotations on the pull request. They
//! are printed as each case ends (`reporter::GitHub`).

use std::fmt::Write;

use crate::case::CaseRoot;
use crate::clause::Level;
use crate::report::text;
use crate::verdict::CaseRecord;

/// The annotations of one finished case.
pub fn annotations(case: &CaseRecord, case_root: &CaseRoot) -> String {
    let mut out = String::new();
    let file = case_root.display_path(&case.file);
    for check in case.checks.iter().filter(|c| !c.held) {
        let command = if check.level == Level::Must {
            "error"
        } else {
            "warning"
        };
        let mut properties = format!("file={}", property(&file.display().to_string()));
        if let Some(pos) = check.pos.filter(|p| p.line > 0) {
            let _ = write!(properties, ",line={},col={}", pos.line, pos.column);
        }
        let title = format!("{} {}", check.level, check.clause);
        let message = format!("{}: {}: {}", case.id, check.step, text::detail(check));
        let _ = writeln!(
            out,
            "::{command} {properties},title={}::{}",
            property(&title),
            data(&message)
        );
    }
    out
}

/// Escaping of a workflow command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_github_requires() {
        assert_eq!(data("50% a\nb"), "50%25 a%0Ab");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
