//! JSON matchers: the predicates an expectation applies to a status, a header or a JSON value.
//!
//! In a case file a matcher is either a literal (`M_UNKNOWN_TOKEN`, `401`), meaning equality, or a map of
//! operators that must all hold: `{ gte: 400, lt: 500, ne: 429 }`, `{ type: integer }`, `{ absent: true }`.

use std::fmt;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::case::template;
use crate::case::unresolved::Unresolved;

/// The JSON types a `type:` operator can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    /// A JSON number without a fraction or exponent.
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    fn of(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::Number => value.is_number(),
            JsonType::Integer => value.is_i64() || value.is_u64(),
            JsonType::String => value.is_string(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::Null => value.is_null(),
        }
    }
}

/// One operator. Values may contain `{{variables}}`, rendered when the check runs.
#[derive(Debug, Clone)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    Type(JsonType),
    /// `exists: true` / `exists: false` (`absent: true` is the same as `exists: false`).
    Exists(bool),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Matches(Regex),
    OneOf(Vec<Value>),
    /// Number of elements of an array, members of an object or characters of a string.
    Length(u64),
    /// An array whose every element matches.
    Each(Box<Matcher>),
    /// An array with an element equal to the value, or a string containing it.
    Contains(Value),
}

/// All operators must hold. A missing value fails every operator except `exists: false`, unless the
/// matcher is `optional` (then absence is fine and only a present value is checked).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub ops: Vec<Op>,
    /// `optional: true`: "absent, or present and ..." (an optional field whose form is required).
    pub optional: bool,
}

/// The map form of a matcher, as written in a case file.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MatcherOperators", extend("minProperties" = 1))]
struct OpsForm {
    eq: Option<Value>,
    ne: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<JsonType>,
    exists: Option<bool>,
    absent: Option<bool>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
    matches: Option<String>,
    one_of: Option<Vec<Value>>,
    #[schemars(range(min = 0))]
    length: Option<u64>,
    each: Option<Box<Matcher>>,
    contains: Option<Value>,
    #[serde(default)]
    optional: bool,
}

impl OpsForm {
    fn into_matcher<E: de::Error>(self) -> Result<Matcher, E> {
        let mut ops = Vec::new();
        ops.extend(self.eq.map(Op::Eq));
        ops.extend(self.ne.map(Op::Ne));
        ops.extend(self.kind.map(Op::Type));
        match (self.exists, self.absent) {
            (Some(_), Some(_)) => {
                return Err(E::custom("use either `exists` or `absent`, not both"));
            }
            (Some(exists), None) => ops.push(Op::Exists(exists)),
            (None, Some(absent)) => ops.push(Op::Exists(!absent)),
            (None, None) => {}
        }
        ops.extend(self.gt.map(Op::Gt));
        ops.extend(self.gte.map(Op::Gte));
        ops.extend(self.lt.map(Op::Lt));
        ops.extend(self.lte.map(Op::Lte));
        if let Some(pattern) = self.matches {
            let regex =
                Regex::new(&pattern).map_err(|e| E::custom(format!("invalid regex: {e}")))?;
            ops.push(Op::Matches(regex));
        }
        ops.extend(self.one_of.map(Op::OneOf));
        ops.extend(self.length.map(Op::Length));
        ops.extend(self.each.map(Op::Each));
        ops.extend(self.contains.map(Op::Contains));
        if self.optional && ops.iter().any(|op| matches!(op, Op::Exists(_))) {
            return Err(E::custom(
                "`optional` already allows absence; drop `exists`/`absent`",
            ));
        }
        if ops.is_empty() {
            return Err(E::custom(
                "empty matcher: give a literal or at least one of eq, ne, type, exists, absent, gt, gte, lt, lte, matches, one_of, length, each, contains",
            ));
        }
        Ok(Matcher {
            ops,
            optional: self.optional,
        })
    }
}

/// A literal (equality) or a map of operators that must all hold.
impl JsonSchema for Matcher {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Matcher".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let ops = generator.subschema_for::<OpsForm>();
        json_schema!({
            "description": "A literal (equality) or a map of operators that must all hold.",
            "anyOf": [{ "not": { "type": "object" } }, ops]
        })
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatcherVisitor;

        impl<'de> Visitor<'de> for MatcherVisitor {
            type Value = Matcher;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a literal value or a map of matcher operators")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::String(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Matcher, E> {
                Ok(Matcher::eq(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Matcher, A::Error> {
                let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Matcher::eq(value))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Matcher, A::Error> {
                OpsForm::deserialize(de::value::MapAccessDeserializer::new(map))?.into_matcher()
            }
        }

        deserializer.deserialize_any(MatcherVisitor)
    }
}

impl Matcher {
    pub fn eq(value: Value) -> Matcher {
        Matcher {
            ops: vec![Op::Eq(value)],
            optional: false,
        }
    }

    /// Template strings inside the matcher's values, for load-time variable checks.
    pub fn templates(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for op in &self.ops {
            match op {
                Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => template::strings_in(v, &mut out),
                Op::OneOf(vs) => vs.iter().for_each(|v| template::strings_in(v, &mut out)),
                Op::Each(inner) => out.extend(inner.templates()),
                _ => {}
            }
        }
        out
    }

    /// Checks `actual` (None = absent) after rendering templates with `render`: the first operator that does
    /// not hold, as data (`report/` words it).
    pub fn check(
        &self,
        actual: Option<&Value>,
        render: &dyn Fn(&Value) -> Result<Value, Unresolved>,
    ) -> Result<(), Mismatch> {
        if actual.is_none() && self.optional {
            return Ok(());
        }
        for op in &self.ops {
            let Some(value) = actual else {
                if matches!(op, Op::Exists(false)) {
                    continue;
                }
                return Err(Mismatch::Differs {
                    expected: describe(op, render),
                    actual: None,
                });
            };
            match holds(op, value, render) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Mismatch::Differs {
                        expected: describe(op, render),
                        actual: Some(value.clone()),
                    });
                }
                Err(e) => return Err(Mismatch::Unrenderable(e)),
            }
        }
        Ok(())
    }

    /// What the matcher expects, all operators together (for a check that held).
    pub fn expected(&self, render: &dyn Fn(&Value) -> Result<Value, Unresolved>) -> String {
        let parts: Vec<String> = self.ops.iter().map(|op| describe(op, render)).collect();
        parts.join(" and ")
    }
}

/// Why a matcher did not hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// The operator `expected` (described) does not hold of `actual` (`None`: absent).
    Differs {
        expected: String,
        actual: Option<Value>,
    },
    /// A value the matcher refers to could not be rendered.
    Unrenderable(Unresolved),
}

fn holds(
    op: &Op,
    value: &Value,
    render: &dyn Fn(&Value) -> Result<Value, Unresolved>,
) -> Result<bool, Unresolved> {
    let number = value.as_f64();
    Ok(match op {
        Op::Eq(expected) => &render(expected)? == value,
        Op::Ne(expected) => &render(expected)? != value,
        Op::Type(kind) => kind.matches(value),
        Op::Exists(exists) => *exists,
        Op::Gt(n) => number.is_some_and(|v| v > *n),
        Op::Gte(n) => number.is_some_and(|v| v >= *n),
        Op::Lt(n) => number.is_some_and(|v| v < *n),
        Op::Lte(n) => number.is_some_and(|v| v <= *n),
        Op::Matches(regex) => value.as_str().is_some_and(|s| regex.is_match(s)),
        Op::OneOf(options) => {
            let mut found = false;
            for option in options {
                found |= &render(option)? == value;
            }
            found
        }
        Op::Length(n) => match value {
            Value::Array(a) => a.len() as u64 == *n,
            Value::Object(o) => o.len() as u64 == *n,
            Value::String(s) => s.chars().count() as u64 == *n,
            _ => false,
        },
        Op::Each(inner) => match value {
            Value::Array(items) => items
                .iter()
                .all(|item| inner.check(Some(item), render).is_ok()),
            _ => false,
        },
        Op::Contains(expected) => {
            let expected = render(expected)?;
            match (value, &expected) {
                (Value::Array(items), _) => items.contains(&expected),
                (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
                _ => false,
            }
        }
    })
}

fn describe(op: &Op, render: &dyn Fn(&Value) -> Result<Value, Unresolved>) -> String {
    let rendered = |v: &Value| render(v).map_or_else(|_| show(v), |v| show(&v));
    match op {
        Op::Eq(v) => rendered(v),
        Op::Ne(v) => format!("anything but {}", rendered(v)),
        Op::Type(kind) => format!("a JSON {}", format!("{kind:?}").to_lowercase()),
        Op::Exists(true) => "a value to be present".into(),
        Op::Exists(false) => "no value".into(),
        Op::Gt(n) => format!("a number > {n}"),
        Op::Gte(n) => format!("a number >= {n}"),
        Op::Lt(n) => format!("a number < {n}"),
        Op::Lte(n) => format!("a number <= {n}"),
        Op::Matches(regex) => format!("a string matching /{regex}/"),
        Op::OneOf(options) => {
            let options: Vec<String> = options.iter().map(rendered).collect();
            format!("one of {}", options.join(", "))
        }
        Op::Length(n) => format!("length {n}"),
        Op::Contains(v) => format!("an array or string containing {}", rendered(v)),
        Op::Each(inner) => {
            let parts: Vec<String> = inner.ops.iter().map(|op| describe(op, render)).collect();
            format!("an array whose every element is {}", parts.join(" and "))
        }
    }
}

/// A short rendering of an actual value for messages (type names for large values).
pub fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        if matches!(value, Value::Object(_) | Value::Array(_)) {
            format!("{text} ({})", JsonType::of(value))
        } else {
            text
        }
    } else {
        let head: String = text.chars().take(77).collect();
        format!("{head}... ({})", JsonType::of(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(yaml: &str) -> Matcher {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn check(m: &Matcher, v: Option<Value>) -> Result<(), Mismatch> {
        m.check(v.as_ref(), &|v| Ok(v.clone()))
    }

    #[test]
    fn literal_means_equality() {
        let m = parse("M_UNKNOWN_TOKEN");
        assert!(check(&m, Some(json!("M_UNKNOWN_TOKEN"))).is_ok());
        let err = check(&m, Some(json!("M_FORBIDDEN"))).unwrap_err();
        let differs = |expected: &str, actual: Option<Value>| Mismatch::Differs {
            expected: expected.to_owned(),
            actual,
        };
        assert_eq!(
            err,
            differs(r#""M_UNKNOWN_TOKEN""#, Some(json!("M_FORBIDDEN")))
        );
        assert_eq!(
            check(&m, None).unwrap_err(),
            differs(r#""M_UNKNOWN_TOKEN""#, None)
        );
    }

    #[test]
    fn operators_all_hold() {
        let refusal = parse("{ gte: 400, lt: 500, ne: 429 }");
        assert!(check(&refusal, Some(json!(403))).is_ok());
        assert!(check(&refusal, Some(json!(429))).is_err());
        assert!(check(&refusal, Some(json!(200))).is_err());
        assert!(check(&refusal, Some(json!(500))).is_err());
    }

    #[test]
    fn integer_is_not_a_float_or_string() {
        let m = parse("{ type: integer }");
        assert!(check(&m, Some(json!(3000))).is_ok());
        assert!(check(&m, Some(json!(3000.5))).is_err());
        assert!(check(&m, Some(json!("3000"))).is_err());
    }

    #[test]
    fn absent_holds_only_when_missing() {
        let m = parse("{ absent: true }");
        assert!(check(&m, None).is_ok());
        assert!(check(&m, Some(json!(null))).is_err());
    }

    #[test]
    fn one_of_regex_and_length() {
        assert!(check(&parse("{ one_of: [true, false] }"), Some(json!("true"))).is_err());
        assert!(
            check(
                &parse("{ matches: '^application/json' }"),
                Some(json!("application/json; charset=utf-8"))
            )
            .is_ok()
        );
        assert!(check(&parse("{ length: 1 }"), Some(json!([{}]))).is_ok());
        assert!(check(&parse("{ length: 1 }"), Some(json!([]))).is_err());
    }

    #[test]
    fn optional_allows_absence_but_checks_a_present_value() {
        let m = parse("{ optional: true, eq: false }");
        assert!(check(&m, None).is_ok());
        assert!(check(&m, Some(json!(false))).is_ok());
        assert!(check(&m, Some(json!(true))).is_err());
        assert!(serde_saphyr::from_str::<Matcher>("{ optional: true }").is_err());
        assert!(serde_saphyr::from_str::<Matcher>("{ optional: true, absent: true }").is_err());
    }

    #[test]
    fn each_checks_every_element_of_an_array() {
        let m = parse("{ each: { matches: '^v[0-9]+[.][0-9]+$' } }");
        assert!(check(&m, Some(json!(["v1.3", "v1.10"]))).is_ok());
        let err = check(&m, Some(json!(["v1.3", "1.10"]))).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Differs { expected, .. } if expected.contains("every element")),
            "{err:?}"
        );
        assert!(check(&m, Some(json!("v1.3"))).is_err());
    }

    #[test]
    fn contains_looks_into_arrays_and_strings() {
        let m = parse("{ contains: refresh_token }");
        assert!(check(&m, Some(json!(["authorization_code", "refresh_token"]))).is_ok());
        assert!(check(&m, Some(json!(["authorization_code"]))).is_err());
        assert!(check(&m, Some(json!("GET, POST, refresh_token"))).is_ok());
        assert!(check(&m, Some(json!(3))).is_err());
    }

    #[test]
    fn rejects_unknown_operator_and_empty_map() {
        assert!(serde_saphyr::from_str::<Matcher>("{ equals: 3 }").is_err());
        assert!(serde_saphyr::from_str::<Matcher>("{}").is_err());
        assert!(serde_saphyr::from_str::<Matcher>("{ matches: '(' }").is_err());
    }
}
