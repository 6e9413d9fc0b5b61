//! Secrets (tokens, passwords, shared secrets) and their removal from every line the suite writes.
//!
//! Secrets are collected as they appear (in requests the harness builds and in responses it reads), and every
//! output passes through [`Secrets::redact`] (see `output` for the sink that does it). A short fingerprint replaces each one so that a reader can still
//! tell *which* token a transcript line is about.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// JSON keys whose string values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "password",
    "new_password",
    "token",
    "mac",
    // OAuth 2.0 (RFC 7591 registration responses, RFC 8628 device authorisation).
    "client_secret",
    "registration_access_token",
    "device_code",
    "user_code",
];
/// Secrets shorter than this are redacted only where they stand alone (not inside a longer word), so that a
/// two-character token does not mangle every word that contains those two characters.
const SHORT_SECRET: usize = 6;

/// Every secret the run saw or was given, and the one place output is cleaned of them.
///
/// Secrets are kept as they are; [`Secrets::redact`] looks for them in the text as written and in decoded
/// views of it, so that every encoding a server or serializer may produce is caught, mixed or not: JSON
/// escapes (`\/`, `\"`, `\u0041`, surrogate pairs), percent-encoding in either case and with any set of
/// reserved characters left alone, form encoding (`+` for a space) and XML entities (`&amp;`, `&#x41;`).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    inner: Arc<RwLock<Known>>,
}

#[derive(Debug, Default)]
struct Known {
    secrets: BTreeSet<String>,
    /// Whether a secret holds a space: only then can form encoding (`+`) hide one.
    has_space: bool,
    /// Secrets not yet in an automaton.
    pending: Vec<String>,
    /// Automata over disjoint sets of secrets, each at least twice the size of the next. Secrets arrive one
    /// by one between redactions (every token of the run), so one automaton rebuilt on each arrival would
    /// cost the square of their number; merging like a binary counter keeps it near-linear.
    matchers: Vec<Arc<Matcher>>,
}

#[derive(Debug)]
struct Matcher {
    automaton: AhoCorasick,
    patterns: Vec<String>,
}

impl Matcher {
    fn new(patterns: Vec<String>) -> Matcher {
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("literal patterns build");
        Matcher {
            automaton,
            patterns,
        }
    }
}

impl Secrets {
    /// The process's secrets: the sink every output passes through (stdout, stderr, report files, the GitHub
    /// step summary, panic messages) redacts with these.
    pub fn global() -> &'static Secrets {
        static GLOBAL: OnceLock<Secrets> = OnceLock::new();
        GLOBAL.get_or_init(Secrets::default)
    }

    /// Registers a secret, whatever its length.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut known = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if known.secrets.insert(secret.to_owned()) {
            known.has_space |= secret.contains(' ');
            known.pending.push(secret.to_owned());
        }
    }

    /// Registers a password and the HTTP Basic credentials `base64(user:password)` that could carry it.
    pub fn add_credentials(&self, user: &str, password: &str) {
        use base64::Engine;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        self.add(password);
        let pair = format!("{user}:{password}");
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            self.add(&engine.encode(&pair));
        }
    }

    /// Registers the values of secret-bearing keys anywhere inside a JSON document.
    pub fn add_from_json(&self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        Value::String(s) if SECRET_KEYS.contains(&key.as_str()) => self.add(s),
                        other => self.add_from_json(other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.add_from_json(v)),
            _ => {}
        }
    }

    fn any_secret_has_space(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .has_space
    }

    fn matchers(&self) -> Vec<Arc<Matcher>> {
        {
            let known = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if known.pending.is_empty() {
                return known.matchers.clone();
            }
        }
        let mut known = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !known.pending.is_empty() {
            let mut patterns = std::mem::take(&mut known.pending);
            while let Some(last) = known.matchers.last() {
                if last.patterns.len() > 2 * patterns.len() {
                    break;
                }
                patterns.extend(last.patterns.iter().cloned());
                known.matchers.pop();
            }
            known.matchers.push(Arc::new(Matcher::new(patterns)));
        }
        known.matchers.clone()
    }

    /// Replaces every known secret in `text`, in any of the encodings above, by `‹secret:1a2b3c›`. Where
    /// matches overlap, the longest wins.
    pub fn redact(&self, text: &str) -> String {
        let matchers = self.matchers();
        if matchers.is_empty() {
            return text.to_owned();
        }
        let mut found: Vec<(usize, usize, &str)> = Vec::new();
        // Decoded views only where an escape may stand, and twice where the first decoding left one (a
        // JSON-escaped secret quoted again: a Rust `{:?}`, JSON inside JSON). Most text needs none.
        let mut views = vec![View::raw(text)];
        for plus_is_space in [false, true] {
            if plus_is_space && !(text.contains('+') && self.any_secret_has_space()) {
                continue;
            }
            let mut view = &views[0];
            for _ in 0..2 {
                if !view.may_hold_escapes(plus_is_space) {
                    break;
                }
                let next = view.decoded(plus_is_space);
                if next.bytes == view.bytes {
                    break;
                }
                views.push(next);
                view = views.last().expect("just pushed");
            }
        }
        for view in &views {
            for matcher in &matchers {
                for m in matcher.automaton.find_iter(&view.bytes) {
                    let secret = matcher.patterns[m.pattern().as_usize()].as_str();
                    if secret.len() < SHORT_SECRET && !view.stands_alone(m.start(), m.end()) {
                        continue;
                    }
                    let (start, end) = (view.span(m.start()).0, view.span(m.end() - 1).1);
                    found.push((start, end, secret));
                }
            }
        }
        if found.is_empty() {
            return text.to_owned();
        }
        // Longest first at each start, then drop what an earlier replacement already covers.
        found.sort_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (mut start, mut end, secret) in found {
            // Whole characters only, should a match start or end inside one.
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            if start < at {
                continue;
            }
            // Spans come from whole encoded units, so they are on character boundaries of `text`.
            out.push_str(&text[at..start]);
            out.push_str(&fingerprint(secret));
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// A text as bytes, each with the byte range of the original text it came from.
struct View {
    bytes: Vec<u8>,
    /// `None`: the text itself, each byte its own range.
    spans: Option<Vec<(usize, usize)>>,
}

impl View {
    fn raw(text: &str) -> View {
        View {
            bytes: text.as_bytes().to_vec(),
            spans: None,
        }
    }

    fn span(&self, i: usize) -> (usize, usize) {
        self.spans.as_ref().map_or((i, i + 1), |spans| spans[i])
    }

    fn may_hold_escapes(&self, plus_is_space: bool) -> bool {
        self.bytes
            .iter()
            .any(|b| matches!(b, b'%' | b'\\' | b'&') || (plus_is_space && *b == b'+'))
    }

    /// Every escape decoded where it stands (JSON, percent, XML, and `+` as a space if `plus_is_space`).
    /// Anything that is not a complete escape stays as it is.
    fn decoded(&self, plus_is_space: bool) -> View {
        let raw = &self.bytes;
        let mut bytes = Vec::with_capacity(raw.len());
        let mut spans = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let Some((decoded, used)) = decode_at(&raw[i..], plus_is_space) else {
                bytes.push(raw[i]);
                spans.push(self.span(i));
                i += 1;
                continue;
            };
            let span = (self.span(i).0, self.span(i + used - 1).1);
            for byte in decoded {
                bytes.push(byte);
                spans.push(span);
            }
            i += used;
        }
        View {
            bytes,
            spans: Some(spans),
        }
    }

    /// Whether the bytes `start..end` are not part of a longer word.
    fn stands_alone(&self, start: usize, end: usize) -> bool {
        let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        !word(start.checked_sub(1).and_then(|i| self.bytes.get(i))) && !word(self.bytes.get(end))
    }
}

/// The bytes an escape at the start of `rest` stands for and its length, if one starts there.
fn decode_at(rest: &[u8], plus_is_space: bool) -> Option<(Vec<u8>, usize)> {
    let hex = |s: &[u8]| {
        s.iter()
            .all(u8::is_ascii_hexdigit)
            .then(|| u32::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok())
            .flatten()
    };
    let utf8 = |c: char| c.to_string().into_bytes();
    match rest[0] {
        b'+' if plus_is_space => Some((vec![b' '], 1)),
        b'%' => Some((vec![hex(rest.get(1..3)?)? as u8], 3)),
        b'\\' => {
            let next = *rest.get(1)?;
            let simple = match next {
                b'"' | b'\\' | b'/' | b'\'' => Some(next),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'b' => Some(8),
                b'f' => Some(12),
                _ => None,
            };
            if let Some(byte) = simple {
                return Some((vec![byte], 2));
            }
            let unit = |at: usize| {
                rest.get(at..at + 6)
                    .filter(|u| u.starts_with(b"\\u"))
                    .and_then(|u| hex(&u[2..]))
            };
            let high = unit(0)?;
            if (0xD800..0xDC00).contains(&high)
                && let Some(low) = unit(6).filter(|low| (0xDC00..0xE000).contains(low))
            {
                let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
                return Some((utf8(c), 12));
            }
            Some((utf8(char::from_u32(high)?), 6))
        }
        b'&' => {
            let end = rest.iter().take(12).position(|b| *b == b';')?;
            let entity = std::str::from_utf8(&rest[1..end]).ok()?;
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(h) => hex(h.as_bytes())?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((utf8(c), end + 1))
        }
        _ => None,
    }
}

/// A stable, non-reversible label for a secret.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("‹secret:{}›", &hex::encode(digest)[..6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_tokens_found_in_json_everywhere() {
        let secrets = Secrets::default();
        secrets.add_from_json(
            &json!({"access_token": "syt_abcdefgh", "nested": [{"refresh_token": "syr_12345678"}]}),
        );
        let text = "Authorization: Bearer syt_abcdefgh body {\"refresh_token\":\"syr_12345678\"}";
        let out = secrets.redact(text);
        assert!(
            !out.contains("syt_abcdefgh") && !out.contains("syr_12345678"),
            "{out}"
        );
        assert!(out.contains(&fingerprint("syt_abcdefgh")));
    }

    /// `%2F` as `%2f`: the hex digits in lower case, the rest as it is.
    fn lower_hex(encoded: &str) -> String {
        let mut out = String::new();
        let mut hex_left = 0;
        for c in encoded.chars() {
            if c == '%' {
                hex_left = 2;
                out.push(c);
            } else if hex_left > 0 {
                hex_left -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    const TILDE_KEPT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'~').remove(b'-');

    /// Every encoding of one secret a server or a serializer may produce; none may survive.
    pub fn encodings(secret: &str) -> Vec<String> {
        let percent = |set: &'static percent_encoding::AsciiSet| {
            percent_encoding::utf8_percent_encode(secret, set).to_string()
        };
        let upper = percent(percent_encoding::NON_ALPHANUMERIC);
        let json = serde_json::to_string(secret).unwrap();
        vec![
            secret.to_owned(),
            json[1..json.len() - 1].to_owned(),
            json[1..json.len() - 1].replace('/', "\\/"),
            secret
                .encode_utf16()
                .map(|u| format!("\\u{u:04x}"))
                .collect(),
            secret
                .encode_utf16()
                .map(|u| format!("\\u{u:04X}"))
                .collect(),
            upper.clone(),
            lower_hex(&upper),
            percent(TILDE_KEPT),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            secret
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('"', "&quot;"),
        ]
    }

    #[test]
    fn every_encoding_of_a_secret_is_redacted() {
        for secret in ["syt_ab/cd+e~f g", "p\"w&<d/~", "s\u{e9}cr\u{1F600}t/x"] {
            let secrets = Secrets::default();
            secrets.add(secret);
            for form in encodings(secret) {
                let text = format!("error: {{\"echo\":\"{form}\"}} end");
                // And once more quoted, as `{:?}` of a server's error text does.
                for text in [text.clone(), format!("{text:?}")] {
                    let out = secrets.redact(&text);
                    assert!(
                        out.contains(&fingerprint(secret)) && !out.contains(&form),
                        "{secret:?} as {form:?}: {out}"
                    );
                }
            }
        }
    }

    #[test]
    fn basic_credentials_are_redacted() {
        let secrets = Secrets::default();
        secrets.add_credentials("alice", "hunter22");
        let out = secrets.redact("Authorization: Basic YWxpY2U6aHVudGVyMjI=");
        assert!(!out.contains("YWxpY2U6aHVudGVyMjI"), "{out}");
    }

    #[test]
    fn short_secrets_are_redacted_where_they_stand_alone() {
        let secrets = Secrets::default();
        secrets.add("tok1");
        secrets.add("a");
        let out = secrets.redact(r#"{"token":"tok1"} ?t=tok1 stok1s and a cat"#);
        assert_eq!(
            out,
            format!(
                r#"{{"token":"{0}"}} ?t={0} stok1s and {1} cat"#,
                fingerprint("tok1"),
                fingerprint("a")
            )
        );
    }

    #[test]
    fn secrets_added_between_redactions_are_all_found() {
        let secrets = Secrets::default();
        let all: Vec<String> = (0..300).map(|i| format!("tok{i:04}xyz")).collect();
        for (i, secret) in all.iter().enumerate() {
            secrets.add(secret);
            let _ = secrets.redact(&all[i / 2]);
        }
        let text = all.join(" ");
        let out = secrets.redact(&text);
        assert!(!out.contains("xyz"), "{out}");
    }

    #[test]
    fn longer_secret_wins() {
        let secrets = Secrets::default();
        secrets.add("abcdefgh");
        secrets.add("abcdefghijkl");
        let out = secrets.redact("x abcdefghijkl abcdefgh");
        assert_eq!(
            out,
            format!(
                "x {} {}",
                fingerprint("abcdefghijkl"),
                fingerprint("abcdefgh")
            )
        );
    }

    #[test]
    fn broken_escapes_and_multibyte_text_are_left_alone() {
        let secrets = Secrets::default();
        secrets.add("secret1");
        let text = "é%zz\\u12 &#xZZ; &amp \\ud800 ü%";
        assert_eq!(secrets.redact(text), text);
    }
}
