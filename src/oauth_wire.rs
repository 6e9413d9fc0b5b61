//! OAuth 2.0 values that both ends of the wire compute or name: the harness as a client and the reference
//! server as the authorisation server, so that neither borrows them from the other.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The device authorisation grant's `grant_type` (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What an OAuth 2.0 server's metadata (RFC 8414) lacks for a request the harness would send; `report/` words
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataGap {
    /// The metadata (found at `source`) has no `field`.
    Missing { source: String, field: String },
    /// `field` holds `value`, which is no absolute http(s) URL.
    NotUrl { field: String, value: String },
}

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
