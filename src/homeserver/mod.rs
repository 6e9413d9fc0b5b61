//! The server under test: what it advertises and offers (probed once before the run), and its accounts.

pub mod accounts;
pub mod oauth;
pub mod probe;

use std::collections::{BTreeMap, BTreeSet};

use crate::case::model::Gate;
use crate::spec_version::SpecVersion;
use crate::verdict::gate::{GateUndecided, GateUnmet, Setting};

pub use probe::probe;

/// Tokens the user hands over for the cases that need privileges; each enables a gate and a variable.
#[derive(Debug, Clone, Default)]
pub struct Privileges {
    /// A server admin's access token: gate `admin`, `{{admin_token}}`.
    pub admin_token: Option<String>,
    /// An application service's `as_token`: gate `appservice`, `{{as_token}}`.
    pub as_token: Option<String>,
}

/// What the probe learned; cases are gated on it.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub server: ServerInfo,
    /// Advertised versions this suite understands, sorted.
    pub versions: Vec<SpecVersion>,
    /// Each gate and what the probe found out about it.
    pub gates: BTreeMap<Gate, GateStatus>,
    /// Unmet gates that the run's own settings decided (no --bursts, a lifetime over --max-wait, ...), as
    /// opposed to what the server offers: their cases are untested, not "not applicable".
    pub unmet_by_settings: BTreeSet<Gate>,
    /// `expires_in_ms` of an access token issued with a refresh token, if any.
    pub access_token_lifetime_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub base_url: String,
    /// The `Server` response header, e.g. `Synapse/1.163.2`, when the server sends one.
    pub software: Option<String>,
    /// `versions` of `GET /_matrix/client/versions`, as advertised.
    pub versions: Vec<String>,
    pub provisioning: String,
    /// The part of user IDs after the colon, from the probe's account (`{{server_name}}` in cases).
    pub server_name: Option<String>,
}

/// What the probe learned about one gate. Only an answer from the server can show that it lacks a feature;
/// a probe request that got no usable answer leaves the gate undecided, and the cases behind it are errors.
#[derive(Debug, Clone)]
pub enum GateStatus {
    Met,
    /// The server answered, correctly formed, that it does not offer the feature (or the run's settings
    /// exclude it); the reason says which.
    Unmet(GateUnmet),
    /// The probe could not find out: the reason names the request that failed and how.
    Undecided(GateUndecided),
}

impl GateStatus {
    /// `met`, or unmet for want of `setting`.
    pub fn given(met: bool, setting: Setting) -> GateStatus {
        if met {
            GateStatus::Met
        } else {
            GateStatus::Unmet(GateUnmet::NotGiven(setting))
        }
    }

    pub fn is_met(&self) -> bool {
        matches!(self, GateStatus::Met)
    }
}

impl Capabilities {
    /// A target that is no Matrix homeserver (a plain `--oauth-issuer`): every gate but the OAuth ones is
    /// unmet; `reason` is the probe's, why the target is not one.
    pub fn without_matrix(base_url: String, reason: String) -> Capabilities {
        let gates = [
            Gate::RefreshTokens,
            Gate::Rotation,
            Gate::Expiry,
            Gate::Registration,
            Gate::Guest,
            Gate::Admin,
            Gate::Appservice,
            Gate::Bursts,
            Gate::FreshUsers,
            Gate::MatrixApi,
            Gate::LegacyApi,
        ]
        .into_iter()
        .map(|gate| {
            (
                gate,
                GateStatus::Unmet(GateUnmet::NotMatrix(reason.clone())),
            )
        })
        .collect();
        Capabilities {
            server: ServerInfo {
                base_url,
                software: None,
                versions: Vec::new(),
                provisioning: "none (no Matrix API)".to_owned(),
                server_name: None,
            },
            versions: Vec::new(),
            gates,
            unmet_by_settings: BTreeSet::new(),
            access_token_lifetime_ms: None,
        }
    }

    /// The OAuth gates: `oauth` as discovery found it; `oauth-grant` also needs an authoriser, which is the
    /// run's setting (without one the grant cases are untested, not "not applicable");
    /// `oauth-device-grant` also needs the metadata to offer the device authorisation grant (`device`:
    /// `Err` says what the metadata lacks).
    pub fn set_oauth(
        &mut self,
        offered: GateStatus,
        authoriser: bool,
        device: Result<(), GateUnmet>,
    ) {
        let grant = match (&offered, authoriser) {
            (GateStatus::Met, false) => {
                self.unmet_by_settings.insert(Gate::OauthGrant);
                GateStatus::Unmet(GateUnmet::NotGiven(Setting::Authoriser))
            }
            (other, _) => other.clone(),
        };
        let device_grant = match (&offered, device) {
            // The metadata's own word that the grant is not offered (RFC 8414 lists what is).
            (GateStatus::Met, Err(lacking)) => GateStatus::Unmet(lacking),
            _ => {
                if self.unmet_by_settings.contains(&Gate::OauthGrant) {
                    self.unmet_by_settings.insert(Gate::OauthDeviceGrant);
                }
                grant.clone()
            }
        };
        self.gates.insert(Gate::Oauth, offered);
        self.gates.insert(Gate::OauthGrant, grant);
        self.gates.insert(Gate::OauthDeviceGrant, device_grant);
    }

    pub fn gate(&self, gate: Gate) -> GateStatus {
        self.gates
            .get(&gate)
            .cloned()
            .unwrap_or(GateStatus::Undecided(GateUndecided::NotProbed(gate)))
    }
}

impl PartialOrd for Gate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Gate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
