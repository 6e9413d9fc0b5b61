//! Identifiers: users, devices, the (user, device) session, and random tokens and ids.

use std::fmt;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};

/// The server name: user ids are `@name:localhost`.
pub(crate) const SERVER_NAME: &str = "localhost";

/// A fully qualified user id of this server, `@localpart:localhost`, with a valid localpart.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct UserId(String);

impl UserId {
    /// From a localpart; `None` when it has characters the spec does not allow in new user ids (CS
    /// § User Identifiers: `a-z`, `0-9`, `.`, `_`, `=`, `-`, `/`, `+`), or is empty or too long.
    pub(crate) fn from_localpart(localpart: &str) -> Option<UserId> {
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b);
        let valid =
            !localpart.is_empty() && localpart.len() <= 200 && localpart.bytes().all(allowed);
        valid.then(|| UserId(format!("@{localpart}:{SERVER_NAME}")))
    }

    /// What a client may put in `identifier.user` (or the deprecated top-level `user`): a localpart
    /// or a full user id of this server. Case-insensitive, as Synapse lowercases at login.
    pub(crate) fn from_login_name(name: &str) -> Option<UserId> {
        let name = name.to_ascii_lowercase();
        let localpart = match name.strip_prefix('@') {
            Some(rest) => rest.strip_suffix(&format!(":{SERVER_NAME}"))?,
            None => &name,
        };
        UserId::from_localpart(localpart)
    }

    /// The user named by a login body or a UIA `auth` object: `identifier: {type: m.id.user, user}`
    /// or the deprecated top-level `user`. `None` when neither is present or usable.
    pub(crate) fn from_identifier(object: &Map<String, Value>) -> Option<UserId> {
        let name = match object.get("identifier") {
            Some(Value::Object(identifier)) => {
                if identifier.get("type").and_then(Value::as_str) != Some("m.id.user") {
                    return None;
                }
                identifier.get("user")?.as_str()?
            }
            Some(_) => return None,
            None => object.get("user")?.as_str()?,
        };
        UserId::from_login_name(name)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device id: any non-empty string a client chose, or one the server generated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DeviceId(String);

impl DeviceId {
    /// A client-supplied device id; `None` when empty or absurdly long.
    pub(crate) fn from_client(id: &str) -> Option<DeviceId> {
        (!id.is_empty() && id.len() <= 255).then(|| DeviceId(id.to_owned()))
    }

    /// A fresh server-generated id: ten upper-case letters, like Synapse's.
    pub(crate) fn generate() -> DeviceId {
        let mut rng = rand::rng();
        DeviceId(
            (0..10)
                .map(|_| char::from(rng.random_range(b'A'..=b'Z')))
                .collect(),
        )
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A logged-in device of a user: what every access and refresh token is bound to (CS § Relationship
/// between access tokens and devices).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Session {
    pub(crate) user: UserId,
    pub(crate) device: DeviceId,
}

/// `n` random ASCII letters and digits.
pub(crate) fn random_alphanumeric(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A new opaque access token. The prefix is for humans reading logs; nothing relies on it.
pub(crate) fn new_access_token() -> String {
    format!("mrc_at_{}", random_alphanumeric(32))
}

/// A new opaque refresh token.
pub(crate) fn new_refresh_token() -> String {
    format!("mrc_rt_{}", random_alphanumeric(32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_names() {
        let alice = UserId::from_localpart("alice").unwrap();
        assert_eq!(alice.as_str(), "@alice:localhost");
        assert_eq!(UserId::from_login_name("Alice"), Some(alice.clone()));
        assert_eq!(
            UserId::from_login_name("@alice:localhost"),
            Some(alice.clone())
        );
        assert_eq!(UserId::from_login_name("@alice:example.org"), None);
        assert_eq!(UserId::from_login_name(""), None);
        assert_eq!(UserId::from_login_name("a b"), None);
    }

    #[test]
    fn identifiers() {
        let object = |v: Value| v.as_object().cloned().unwrap();
        let alice = UserId::from_localpart("alice");
        let by_identifier = object(json!({"identifier": {"type": "m.id.user", "user": "alice"}}));
        assert_eq!(UserId::from_identifier(&by_identifier), alice);
        assert_eq!(
            UserId::from_identifier(&object(json!({"user": "alice"}))),
            alice
        );
        let phone = object(json!({"identifier": {"type": "m.id.phone", "user": "alice"}}));
        assert_eq!(UserId::from_identifier(&phone), None);
        assert_eq!(UserId::from_identifier(&object(json!({"user": 5}))), None);
    }

    #[test]
    fn generated_ids() {
        let device = DeviceId::generate();
        assert_eq!(device.as_str().len(), 10);
        assert_ne!(new_access_token(), new_access_token());
        assert!(new_refresh_token().len() > 32);
    }
}
