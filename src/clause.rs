//! The clause catalogue (`cases/clauses.yaml`): stable IDs, requirement levels, test kinds and spec links.

use std::collections::HashMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec_version::SpecVersion;

/// RFC 2119 strength of a clause, as the catalogue records it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
    /// The spec leaves the behaviour to the server: observed, never failed.
    #[serde(rename = "choice")]
    Choice,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::Choice => "choice",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Qualifiers that say how directly the spec states a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    /// Stated as a fact or by a schema, without an RFC 2119 keyword.
    Implied,
    /// Follows from two or more statements; no single sentence says it.
    Derived,
    /// The spec used the keyword in lower case.
    Lowercase,
    /// A required field of the OpenAPI schema.
    Schema,
}

/// How a clause can be tested black-box (the catalogue's test kinds; `clauses.yaml` and the reports keep
/// the catalogue's letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum TestKind {
    /// Functional, runs at once (`F`).
    #[serde(rename = "F")]
    Functional,
    /// Waits for an access token to expire (`W`).
    #[serde(rename = "W")]
    WaitsForExpiry,
    /// Needs privileged setup: admin token, appservice, locking (`C`).
    #[serde(rename = "C")]
    Privileged,
    /// Informational: recorded, no verdict (`I`).
    #[serde(rename = "I")]
    Informational,
    /// Not testable against a server: a client-side requirement or a definition (`X`).
    #[serde(rename = "X")]
    Untestable,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub id: String,
    pub level: Level,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub kind: TestKind,
    pub since: SpecVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<SpecVersion>,
    pub section: String,
    pub summary: String,
}

/// One ambiguity of the catalogue (`ambiguities:` in `clauses.yaml`) and what each reading makes of it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// `A14`: the catalogue's numbering.
    pub id: String,
    pub title: String,
    /// The clauses whose verdicts depend on how the ambiguity is read.
    pub clauses: Vec<String>,
    /// What the default reading makes of it, one line.
    pub default: String,
    /// What the strict reading makes of it, one line.
    pub strict: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    spec_version: SpecVersion,
    clauses: Vec<serde_saphyr::Spanned<Clause>>,
    #[serde(default)]
    ambiguities: Vec<serde_saphyr::Spanned<Ambiguity>>,
}

/// All clauses, in catalogue order, with lookup by ID.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub spec_version: SpecVersion,
    clauses: Vec<Clause>,
    index: HashMap<String, usize>,
    ambiguities: Vec<Ambiguity>,
}

impl Catalogue {
    /// Parses the catalogue; errors are rendered with the file position and a snippet.
    pub fn parse(source: &crate::source::SourceFile) -> Result<Catalogue, String> {
        let file: CatalogueFile = crate::source::from_yaml(source)?;
        let mut index = HashMap::new();
        let mut clauses = Vec::with_capacity(file.clauses.len());
        for spanned in file.clauses {
            let clause = spanned.value;
            if index.insert(clause.id.clone(), clauses.len()).is_some() {
                return Err(source.render(
                    spanned.referenced.into(),
                    &format!("duplicate clause id `{}`", clause.id),
                    "defined a second time here",
                ));
            }
            clauses.push(clause);
        }
        let mut ambiguities: Vec<Ambiguity> = Vec::with_capacity(file.ambiguities.len());
        for spanned in file.ambiguities {
            let ambiguity = spanned.value;
            let at = |message: String| {
                source.render(spanned.referenced.into(), &message, "in this ambiguity")
            };
            if ambiguities.iter().any(|a| a.id == ambiguity.id) {
                return Err(at(format!("duplicate ambiguity id `{}`", ambiguity.id)));
            }
            if let Some(unknown) = ambiguity.clauses.iter().find(|c| !index.contains_key(*c)) {
                return Err(at(format!("unknown clause `{unknown}`")));
            }
            ambiguities.push(ambiguity);
        }
        Ok(Catalogue {
            spec_version: file.spec_version,
            clauses,
            index,
            ambiguities,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Clause> {
        self.index.get(id).map(|&i| &self.clauses[i])
    }

    /// The clauses of `ids` that exist, in the order of `ids` (client mode judges only these).
    pub fn subset(&self, ids: &[&str]) -> Catalogue {
        let clauses: Vec<Clause> = ids.iter().filter_map(|id| self.get(id)).cloned().collect();
        let index: HashMap<String, usize> = clauses
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let ambiguities = self
            .ambiguities
            .iter()
            .filter(|a| a.clauses.iter().any(|c| index.contains_key(c)))
            .cloned()
            .collect();
        Catalogue {
            spec_version: self.spec_version,
            clauses,
            index,
            ambiguities,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.iter()
    }

    pub fn ambiguity(&self, id: &str) -> Option<&Ambiguity> {
        self.ambiguities.iter().find(|a| a.id == id)
    }

    /// The ambiguities that touch a clause, in catalogue order.
    pub fn ambiguities_of<'a>(&'a self, clause: &'a str) -> impl Iterator<Item = &'a Ambiguity> {
        self.ambiguities
            .iter()
            .filter(move |a| a.clauses.iter().any(|c| c == clause))
    }
}
