//! Case files as text, positions in them, and the one renderer for diagnostics that point into them.

use std::path::PathBuf;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::de::DeserializeOwned;

/// A YAML file read into memory, kept so that any later diagnostic can quote it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown in diagnostics: `cases/...` for the built-in cases, under `--cases DIR` otherwise.
    pub path: PathBuf,
    /// The path relative to the case root, with `/`: how reports name a case file.
    pub relative: String,
    pub text: String,
}

/// A 1-based line and column in a [`SourceFile`], as serde-saphyr reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos {
            line: loc.line(),
            column: loc.column(),
        }
    }
}

impl SourceFile {
    /// Byte offset of a position; columns count characters, as the YAML parser does.
    fn offset(&self, pos: Pos) -> usize {
        let mut offset = 0;
        for (index, line) in self.text.split_inclusive('\n').enumerate() {
            if index as u64 + 1 == pos.line {
                let column = pos.column.saturating_sub(1) as usize;
                return offset
                    + line
                        .char_indices()
                        .nth(column)
                        .map_or(line.trim_end_matches('\n').len(), |(i, _)| i);
            }
            offset += line.len();
        }
        self.text.len()
    }

    /// Finds `needle` at or after `from` (a step's position) so that an error about a template
    /// can point at the template itself rather than at the start of its step.
    pub fn find_from(&self, from: Pos, needle: &str) -> Option<Pos> {
        let start = self.offset(from);
        let found = start + self.text.get(start..)?.find(needle)?;
        let before = &self.text[..found];
        let line = before.matches('\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..found].chars().count() as u64 + 1;
        Some(Pos { line, column })
    }

    /// `path:line:col: message` followed by the quoted source line and a caret.
    pub fn render(&self, pos: Pos, message: &str, label: &str) -> String {
        let start = self.offset(pos);
        // The label covers the token at the position: up to whitespace or the end of a flow collection, and
        // at least one character (whole, even outside ASCII).
        let rest = &self.text[start..];
        let first = rest.chars().next().map_or(0, char::len_utf8);
        let end = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c.is_whitespace() || c == ',' || c == '}' || c == ']')
            .map_or(self.text.len(), |(n, _)| start + n)
            .max(start + first);
        let path = self.path.display().to_string();
        let report = &[Level::ERROR.primary_title(message).element(
            Snippet::source(self.text.as_str())
                .path(path.as_str())
                .annotation(AnnotationKind::Primary.span(start..end).label(label)),
        )];
        Renderer::plain().render(report).to_string()
    }
}

/// Parses YAML with the options every file of the suite uses; errors come back rendered with a snippet.
pub fn from_yaml<T: DeserializeOwned>(source: &SourceFile) -> Result<T, String> {
    // `no` and `017` stay strings: request bodies and expected values are data, not YAML 1.1 booleans or
    // octal numbers.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    };
    serde_saphyr::from_str_with_options(&source.text, options).map_err(|e| {
        let name = source.path.display().to_string();
        e.render_with_options(serde_saphyr::render_options! { source_name: Some(name.as_str()) })
    })
}
