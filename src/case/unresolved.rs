//! What a step refers to that is not there when it runs (a session never created, a variable never captured),
//! as data; `report/` words it. The case is then an error: it cannot reach its checks.

use crate::case::builtin::Builtin;
use crate::oauth_wire::MetadataGap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The template is malformed (the loader's words); validation keeps this from happening at run time.
    Malformed(String),
    /// A built-in variable whose value the run does not have (no `--admin-token`, no server name).
    Builtin(Builtin),
    /// A variable that no step captured: its step failed or the value was absent.
    NotCaptured(String),
    /// A fixture user the case names was not created.
    UserNotCreated(String),
    /// A session the case names was not created: the step that names it got no access token.
    SessionNotCreated(String),
    /// `{{user.field}}` with a field users do not have.
    NoUserField(String),
    /// `{{session.field}}` with a field sessions do not have.
    NoSessionField(String),
    /// `{{variable}}` (`session.field`): the server's response gave no such field.
    NotReturned {
        variable: String,
        field: &'static str,
    },
    /// `{{variable}}` (`session.client_id`): the session was not issued through OAuth 2.0.
    NotOauth { variable: String },
    /// A refresh needs the session's refresh token, and it has none.
    NoRefreshToken { session: String },
    /// The step needs the OAuth 2.0 server, and discovery found none.
    NoOauthServer,
    /// The step needs an endpoint the OAuth 2.0 server's metadata lacks.
    Metadata(MetadataGap),
}
