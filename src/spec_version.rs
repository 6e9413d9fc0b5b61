//! Matrix spec versions (`v1.3`, `r0.6.1`) and their order, for version gates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A released spec version. `r0.x` versions sort before every `v1.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecVersion {
    /// 0 for the historical `r0.x.y` line, otherwise the major version of `vX.Y`.
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FromStr for SpecVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a spec version like v1.3 or r0.6.1");
        let number = |part: Option<&str>| -> Result<u32, String> {
            part.ok_or_else(bad)?.parse::<u32>().map_err(|_| bad())
        };
        if let Some(rest) = s.strip_prefix('v') {
            let mut parts = rest.split('.');
            let major = number(parts.next())?;
            let minor = number(parts.next())?;
            if parts.next().is_some() || major == 0 {
                return Err(bad());
            }
            Ok(SpecVersion {
                major,
                minor,
                patch: 0,
            })
        } else if let Some(rest) = s.strip_prefix("r0.") {
            let mut parts = rest.split('.');
            let minor = number(parts.next())?;
            let patch = number(parts.next())?;
            if parts.next().is_some() {
                return Err(bad());
            }
            Ok(SpecVersion {
                major: 0,
                minor,
                patch,
            })
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major == 0 {
            write!(f, "r0.{}.{}", self.minor, self.patch)
        } else {
            write!(f, "v{}.{}", self.major, self.minor)
        }
    }
}

impl<'de> Deserialize<'de> for SpecVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for SpecVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SpecVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^(v[1-9][0-9]*\.[0-9]+|r0\.[0-9]+\.[0-9]+)$"
        })
    }
}

impl Serialize for SpecVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `[from, until)`: the versions in which a clause or case applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    pub from: Option<SpecVersion>,
    pub until: Option<SpecVersion>,
}

impl VersionRange {
    pub fn contains(&self, version: SpecVersion) -> bool {
        self.from.is_none_or(|from| version >= from)
            && self.until.is_none_or(|until| version < until)
    }

    /// A server is in range when it advertises at least one version in it.
    pub fn any_advertised(&self, advertised: &[SpecVersion]) -> bool {
        advertised.iter().any(|&v| self.contains(v))
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.from, self.until) {
            (Some(from), Some(until)) => write!(f, "{from} up to (not including) {until}"),
            (Some(from), None) => write!(f, "{from} or later"),
            (None, Some(until)) => write!(f, "a version before {until}"),
            (None, None) => write!(f, "any version"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_historical_before_v1() {
        let r0: SpecVersion = "r0.6.1".parse().unwrap();
        let v13: SpecVersion = "v1.3".parse().unwrap();
        let v110: SpecVersion = "v1.10".parse().unwrap();
        assert!(r0 < v13 && v13 < v110);
        assert_eq!(v110.to_string(), "v1.10");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["1.3", "v1", "v1.x", "r1.0.0", "v0.1", ""] {
            assert!(bad.parse::<SpecVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn range_is_half_open() {
        let range = VersionRange {
            from: Some("v1.11".parse().unwrap()),
            until: Some("v1.20".parse().unwrap()),
        };
        assert!(range.contains("v1.19".parse().unwrap()));
        assert!(!range.contains("v1.20".parse().unwrap()));
        assert!(!range.contains("v1.10".parse().unwrap()));
    }
}
