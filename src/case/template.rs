//! `{{name}}` templates in case files: parsing, the names they use, and rendering.
//!
//! A string that is exactly one `{{name}}` renders to the variable's JSON value (so a captured integer stays
//! an integer); any other string interpolates the values as text.

use serde_json::Value;

use crate::case::unresolved::Unresolved;

/// A piece of a template string.
#[derive(Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits a template into text and variable names; `Err` says what is malformed.
pub fn parse(template: &str) -> Result<Vec<Segment<'_>>, String> {
    let mut segments = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            segments.push(Segment::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in {template:?}"))?;
        let name = after[..close].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(format!(
                "`{{{{{}}}}}` is not a variable name (letters, digits, _ . -)",
                &after[..close]
            ));
        }
        segments.push(Segment::Var(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest));
    }
    Ok(segments)
}

/// The variable names a template uses.
pub fn names(template: &str) -> Result<Vec<&str>, String> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|s| match s {
            Segment::Var(name) => Some(name),
            Segment::Text(_) => None,
        })
        .collect())
}

/// Collects every string inside a JSON value (keys excluded), where templates may appear.
pub fn strings_in<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

/// Renders a template to a JSON value; `lookup` resolves one variable name.
pub fn render(
    template: &str,
    lookup: &dyn Fn(&str) -> Result<Value, Unresolved>,
) -> Result<Value, Unresolved> {
    let segments = parse(template).map_err(Unresolved::Malformed)?;
    if let [Segment::Var(name)] = segments.as_slice() {
        return lookup(name);
    }
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Var(name) => match lookup(name)? {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(Value::String(out))
}

/// Renders a template that must produce text (paths, headers, tokens).
pub fn render_text(
    template: &str,
    lookup: &dyn Fn(&str) -> Result<Value, Unresolved>,
) -> Result<String, Unresolved> {
    match render(template, lookup)? {
        Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

/// Renders every string inside a JSON value.
pub fn render_value(
    value: &Value,
    lookup: &dyn Fn(&str) -> Result<Value, Unresolved>,
) -> Result<Value, Unresolved> {
    Ok(match value {
        Value::String(s) => render(s, lookup)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, lookup)?)))
                .collect::<Result<_, Unresolved>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(name: &str) -> Result<Value, Unresolved> {
        match name {
            "s0.expires_in_ms" => Ok(json!(3000)),
            "s0.device_id" => Ok(json!("DEV")),
            _ => Err(Unresolved::NotCaptured(name.to_owned())),
        }
    }

    #[test]
    fn whole_template_keeps_the_json_type() {
        assert_eq!(
            render("{{ s0.expires_in_ms }}", &lookup).unwrap(),
            json!(3000)
        );
        assert_eq!(
            render("x-{{s0.device_id}}-{{s0.expires_in_ms}}", &lookup).unwrap(),
            json!("x-DEV-3000")
        );
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(parse("{{ unclosed").is_err());
        assert!(parse("{{}}").is_err());
        assert!(parse("{{a b}}").is_err());
        assert_eq!(names("a{{x}}b{{y.z}}").unwrap(), vec!["x", "y.z"]);
    }

    #[test]
    fn renders_nested_values() {
        let v = render_value(&json!({"d": ["{{s0.device_id}}"], "n": 1}), &lookup).unwrap();
        assert_eq!(v, json!({"d": ["DEV"], "n": 1}));
        assert!(render_value(&json!({"x": "{{missing}}"}), &lookup).is_err());
    }
}
