//! Finding the OAuth 2.0 authorisation server of a target: its metadata (RFC 8414) from the homeserver's
//! `GET /_matrix/client/v1/auth_metadata`, or, for a plain OAuth 2.0 server named with `--oauth-issuer`,
//! from the RFC 8414 or OpenID Connect discovery path of that issuer.

use serde_json::{Map, Value};
use url::Url;

use crate::case::model::Gate;
use crate::homeserver::GateStatus;
use crate::http::Method;
use crate::http::{Http, Outgoing, Response};
use crate::oauth_wire::{DEVICE_CODE_GRANT, MetadataGap};
use crate::transcript::Transcript;
use crate::verdict::gate::{GateUndecided, GateUnmet, ProbeRequest};

const AUTH_METADATA: &str = "/_matrix/client/v1/auth_metadata";

/// An authorisation server whose metadata was found.
#[derive(Debug, Clone)]
pub struct OauthServer {
    metadata: Map<String, Value>,
    /// The path or URL the metadata was fetched from (with `GET`), for messages.
    pub source: String,
}

impl OauthServer {
    /// The absolute http(s) URL a metadata field (`token_endpoint`, ...) holds.
    pub fn endpoint(&self, field: &str) -> Result<Url, MetadataGap> {
        let value = self
            .metadata
            .get(field)
            .ok_or_else(|| MetadataGap::Missing {
                source: self.source.clone(),
                field: field.to_owned(),
            })?;
        let url = value
            .as_str()
            .and_then(|s| Url::parse(s).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| MetadataGap::NotUrl {
                field: field.to_owned(),
                value: value.to_string(),
            })?;
        Ok(url)
    }

    /// Whether the metadata offers the device authorisation grant (RFC 8628 §4: the grant type in
    /// `grant_types_supported` and a `device_authorization_endpoint`); `Err` says what is missing.
    pub fn device_grant(&self) -> Result<(), GateUnmet> {
        let listed = self
            .metadata
            .get("grant_types_supported")
            .and_then(Value::as_array)
            .is_some_and(|g| g.iter().any(|v| v.as_str() == Some(DEVICE_CODE_GRANT)));
        if !listed {
            return Err(GateUnmet::NoDeviceGrant {
                source: self.source.clone(),
            });
        }
        self.endpoint("device_authorization_endpoint")
            .map(|_| ())
            .map_err(GateUnmet::Metadata)
    }

    /// Every endpoint URL the metadata advertises (the origins requests may go to).
    pub fn endpoint_urls(&self) -> Vec<Url> {
        self.metadata
            .keys()
            .filter(|k| k.ends_with("_endpoint"))
            .filter_map(|k| self.endpoint(k).ok())
            .collect()
    }
}

/// The server's metadata; or why not: [`GateStatus::Unmet`] when the server answered that it offers no
/// OAuth 2.0 API (the evidence in the reason), [`GateStatus::Undecided`] when a discovery request got no
/// answer (its cases are then errors, never "not applicable").
pub async fn discover(
    http: &Http,
    issuer: Option<&Url>,
    transcript: &mut Transcript,
) -> Result<OauthServer, GateStatus> {
    let requests = match issuer {
        None => vec![Outgoing::new(Method::Get, AUTH_METADATA)],
        Some(issuer) => discovery_urls(issuer)
            .into_iter()
            .map(|url| Outgoing::to_url(Method::Get, url))
            .collect(),
    };
    let mut outcome = GateStatus::Undecided(GateUndecided::NotProbed(Gate::Oauth));
    for outgoing in requests {
        let target = match &outgoing.url {
            Some(url) => url.to_string(),
            None => outgoing.path.clone(),
        };
        let response = http.send(&outgoing, transcript).await.map_err(|error| {
            GateStatus::Undecided(GateUndecided::Failed {
                request: ProbeRequest::Discovery(target.clone()),
                error,
            })
        })?;
        match metadata_of(&response, target) {
            Ok(server) => return Ok(server),
            Err(status) => outcome = status,
        }
    }
    Err(outcome)
}

/// RFC 8414 §3.1 (the well-known suffix goes between the host and the issuer's path), then OpenID
/// Connect Discovery 1.0 §4 (appended to the issuer).
fn discovery_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    vec![rfc8414, oidc]
}

/// Only a 4xx (`404 M_UNRECOGNIZED` for a homeserver) shows that there is no OAuth 2.0 API; any other
/// answer leaves the question open.
fn metadata_of(response: &Response, target: String) -> Result<OauthServer, GateStatus> {
    match (&response.status, &response.json) {
        (200, Some(Value::Object(metadata))) => Ok(OauthServer {
            metadata: metadata.clone(),
            source: target,
        }),
        (400..=499, _) if response.status != 429 => Err(GateStatus::Unmet(GateUnmet::NoOauthApi {
            request: ProbeRequest::Discovery(target),
            answer: response.describe(),
        })),
        _ => Err(GateStatus::Undecided(GateUndecided::Answered {
            request: ProbeRequest::Discovery(target),
            answer: response.describe(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(metadata: Value) -> OauthServer {
        OauthServer {
            metadata: metadata.as_object().unwrap().clone(),
            source: "test".to_owned(),
        }
    }

    #[test]
    fn the_device_grant_needs_its_grant_type_and_endpoint() {
        let offered = server(serde_json::json!({
            "grant_types_supported": ["authorization_code", DEVICE_CODE_GRANT],
            "device_authorization_endpoint": "http://127.0.0.1:1/device",
        }));
        assert_eq!(offered.device_grant(), Ok(()));
        let unlisted = server(serde_json::json!({
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "device_authorization_endpoint": "http://127.0.0.1:1/device",
        }));
        assert!(matches!(
            unlisted.device_grant(),
            Err(GateUnmet::NoDeviceGrant { .. })
        ));
        let no_endpoint = server(serde_json::json!({
            "grant_types_supported": [DEVICE_CODE_GRANT],
        }));
        assert!(matches!(
            no_endpoint.device_grant(),
            Err(GateUnmet::Metadata(MetadataGap::Missing { field, .. }))
                if field == "device_authorization_endpoint"
        ));
    }

    #[test]
    fn discovery_paths_follow_rfc8414_then_oidc() {
        let urls = discovery_urls(&Url::parse("http://127.0.0.1:8201/").unwrap());
        assert_eq!(
            urls[0].as_str(),
            "http://127.0.0.1:8201/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            urls[1].as_str(),
            "http://127.0.0.1:8201/.well-known/openid-configuration"
        );
        let urls = discovery_urls(&Url::parse("https://as.example/tenant/").unwrap());
        assert_eq!(
            urls[0].as_str(),
            "https://as.example/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            urls[1].as_str(),
            "https://as.example/tenant/.well-known/openid-configuration"
        );
    }
}
