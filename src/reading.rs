//! Readings of the spec where the clause catalogue records an ambiguity (A1–A35): the default reading
//! follows the catalogue's recommendation, the strict one the strongest text. A check block can count at a
//! different level under each reading, and every verdict of a clause touched by an ambiguity says which
//! reading produced it.

use serde::{Deserialize, Serialize};

use crate::clause::{Ambiguity, Level};

/// Which reading of the ambiguous spec text judges the run (`--reading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Reading {
    /// The catalogue's recommendation for each ambiguity.
    #[default]
    Default,
    /// The strongest text wherever two spec texts disagree.
    Strict,
}

impl Reading {
    /// What this reading makes of an ambiguity, one line.
    pub fn reads(self, ambiguity: &Ambiguity) -> &str {
        match self {
            Reading::Default => &ambiguity.default,
            Reading::Strict => &ambiguity.strict,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reading::Default => "default",
            Reading::Strict => "strict",
        }
    }
}

/// The level a check block counts at under one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum ReadingLevel {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    /// The block is not checked under this reading.
    #[serde(rename = "off")]
    Off,
}

impl ReadingLevel {
    pub fn level(self) -> Option<Level> {
        match self {
            ReadingLevel::Must => Some(Level::Must),
            ReadingLevel::Should => Some(Level::Should),
            ReadingLevel::Off => None,
        }
    }
}

/// `reading: { ambiguity: A14, default: SHOULD, strict: MUST }` on an `expect` block.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockReading {
    #[schemars(pattern(r"^A[0-9]+$"))]
    pub ambiguity: String,
    pub default: ReadingLevel,
    pub strict: ReadingLevel,
}

impl BlockReading {
    /// The level under `reading`, or `None` when the block is not checked under it.
    pub fn level(&self, reading: Reading) -> Option<Level> {
        match reading {
            Reading::Default => self.default.level(),
            Reading::Strict => self.strict.level(),
        }
    }
}

/// The line a clause verdict carries for one ambiguity that touches it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadingNote {
    pub ambiguity: String,
    pub reading: Reading,
    pub note: String,
}

impl std::fmt::Display for ReadingNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} reading): {}",
            self.ambiguity,
            self.reading.as_str(),
            self.note
        )
    }
}
