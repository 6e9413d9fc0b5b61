//! The variables every case has: `{{random}}`, `{{nonce}}`, `{{server_name}}`, `{{admin_token}}`, `{{as_token}}`.

/// The variables every case has without defining them: the one list the loader checks names against and
/// the runner resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// 32 random alphanumerics, new at each use.
    Random,
    /// One random value per case.
    Nonce,
    /// The server name the probe learned.
    ServerName,
    /// `--admin-token` (needs the `admin` gate).
    AdminToken,
    /// `--as-token` (needs the `appservice` gate).
    AsToken,
}

impl Builtin {
    pub const ALL: [Builtin; 5] = [
        Builtin::Random,
        Builtin::Nonce,
        Builtin::ServerName,
        Builtin::AdminToken,
        Builtin::AsToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Random => "random",
            Builtin::Nonce => "nonce",
            Builtin::ServerName => "server_name",
            Builtin::AdminToken => "admin_token",
            Builtin::AsToken => "as_token",
        }
    }

    pub fn named(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }
}
