//! Secrets (tokens, passwords, shared secrets) and their removal from every line the suite writes.
//!
//! Secrets are collected as they appear (in requests the harness builds and in responses it reads), and every
//! output passes through [`Secrets::redact`]. A short fingerprint replaces each one so that a reader can still
//! tell *which* token a transcript line is about.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

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
];
/// Shorter strings are not registered: redacting them would mangle ordinary text.
const MIN_SECRET_LEN: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    known: Arc<RwLock<BTreeSet<String>>>,
}

impl Secrets {
    /// Registers a secret seen in traffic; very short strings are ignored (see [`MIN_SECRET_LEN`]).
    pub fn add(&self, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN {
            self.add_exact(secret);
        }
    }

    /// Registers a secret the user handed over (password, shared secret, tokens), whatever its length, in
    /// the forms it can take in output: as is, escaped inside a JSON string, and form-encoded in a URL.
    pub fn add_exact(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let json = serde_json::to_string(secret).expect("a string serializes");
        let json = json[1..json.len() - 1].to_owned();
        let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        for form in [secret.to_owned(), json, url] {
            known.insert(form);
        }
    }

    /// Registers the values of secret-bearing keys anywhere inside a JSON document.
    pub fn add_from_json(&self, value: &Value) {
        // Values found in JSON are registered in all their forms, like the user's own secrets.
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        Value::String(s) if SECRET_KEYS.contains(&key.as_str()) => {
                            if s.len() >= MIN_SECRET_LEN {
                                self.add_exact(s);
                            }
                        }
                        other => self.add_from_json(other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.add_from_json(v)),
            _ => {}
        }
    }

    /// Replaces every known secret in `text` by `‹secret:1a2b3c›`. Longer secrets go first so that a secret
    /// containing another is replaced whole.
    pub fn redact(&self, text: &str) -> String {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut secrets: Vec<&String> =
            known.iter().filter(|s| text.contains(s.as_str())).collect();
        if secrets.is_empty() {
            return text.to_owned();
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_owned();
        for secret in secrets {
            out = out.replace(secret.as_str(), &fingerprint(secret));
        }
        out
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

    #[test]
    fn escaped_forms_and_short_user_secrets_are_redacted() {
        let secrets = Secrets::default();
        secrets.add_exact("ab\"c/+=");
        secrets.add_exact("tok1");
        let text = r#"{"password":"ab\"c/+="} ?t=ab%22c%2F%2B%3D token=tok1"#;
        let out = secrets.redact(text);
        assert!(
            !out.contains("ab\\\"c") && !out.contains("ab%22c") && !out.contains("tok1"),
            "{out}"
        );
    }

    #[test]
    fn longer_secret_wins_and_short_strings_are_ignored() {
        let secrets = Secrets::default();
        secrets.add("abcdefgh");
        secrets.add("abcdefghijkl");
        secrets.add("abc");
        let out = secrets.redact("x abcdefghijkl abc");
        assert_eq!(out, format!("x {} abc", fingerprint("abcdefghijkl")));
    }
}
