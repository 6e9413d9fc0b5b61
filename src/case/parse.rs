//! YAML text to [`Case`]: the only module that knows the YAML layout of a case file.
//!
//! Structural errors (syntax, unknown keys, wrong types) come from serde-saphyr with a snippet; shape errors
//! that serde cannot express (exactly one action per step, ...) are rendered here at the step's position.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::case::matcher::Matcher;
use crate::case::model::*;
use crate::clause::Level;
use crate::http::Method;
use crate::reading::BlockReading;
use crate::source::{Pos, SourceFile, from_yaml};
use crate::spec_version::VersionRange;

/// A conformance case: the spec clauses it checks, the gates it needs, and steps. See cases/README.md.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "matrix-refresh-conformance case file",
    extend("$id" = "https://github.com/matrix-refresh-conformance/cases/case.schema.json")
)]
struct RawCase {
    /// One line a spec author recognises.
    title: String,
    /// Clause IDs from cases/clauses.yaml; the first is the case's primary clause.
    #[schemars(
        with = "Vec<String>",
        length(min = 1),
        inner(pattern(r"^[A-Za-z0-9_.-]+$")),
        extend("uniqueItems" = true)
    )]
    clauses: Vec<Spanned<String>>,
    #[serde(default)]
    #[schemars(extend("uniqueItems" = true))]
    requires: Vec<Gate>,
    #[serde(default)]
    spec: Option<VersionRange>,
    #[serde(default)]
    #[schemars(
        with = "Vec<String>",
        inner(pattern(r"^[A-Za-z0-9_-]+$")),
        extend("uniqueItems" = true)
    )]
    users: Vec<Spanned<String>>,
    #[schemars(with = "Vec<RawStep>", length(min = 1))]
    steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawStep>")]
    finally: Vec<Spanned<RawStep>>,
}

/// One step: exactly one action, then checks of its response.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
#[schemars(extend("oneOf" = [
    { "required": ["request"] }, { "required": ["login"] }, { "required": ["register"] },
    { "required": ["refresh"] }, { "required": ["whoami"] }, { "required": ["wait"] }, { "required": ["burst"] },
    { "required": ["oauth_login"] }, { "required": ["oauth_refresh"] }
]))]
struct RawStep {
    name: Option<String>,
    request: Option<RawRequest>,
    login: Option<RawLogin>,
    register: Option<RawRegister>,
    refresh: Option<RawRefresh>,
    whoami: Option<RawTokenSource>,
    oauth_login: Option<RawOauthLogin>,
    oauth_refresh: Option<RawOauthRefresh>,
    wait: Option<RawWait>,
    burst: Option<RawBurst>,
    #[schemars(with = "Option<Expectations>")]
    expect: Option<Spanned<Expectations>>,
    #[schemars(with = "Option<RawBlock>")]
    require: Option<Spanned<RawBlock>>,
    #[schemars(with = "Option<RawBlock>")]
    assume: Option<Spanned<RawBlock>>,
    observe: Option<RawObserve>,
    /// Variable name to a JSON pointer into the response body.
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(schema_with = "pointer_values")]
    capture: Vec<(String, String)>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Request")]
#[schemars(extend(
    "oneOf" = [{ "required": ["path"] }, { "required": ["endpoint"] }],
    "not" = { "anyOf": [
        { "required": ["session", "token"] }, { "required": ["json", "body"] },
        { "required": ["json", "form"] }, { "required": ["body", "form"] }
    ] }
))]
struct RawRequest {
    method: Method,
    #[schemars(pattern(r"^/"))]
    path: Option<String>,
    /// An OAuth 2.0 server metadata field holding the URL, e.g. `token_endpoint`.
    #[schemars(pattern(r"_endpoint$"))]
    endpoint: Option<String>,
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(with = "BTreeMap<String, String>")]
    query: Vec<(String, String)>,
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(with = "BTreeMap<String, String>")]
    headers: Vec<(String, String)>,
    session: Option<String>,
    token: Option<String>,
    json: Option<Value>,
    body: Option<String>,
    /// Sent as application/x-www-form-urlencoded.
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(with = "BTreeMap<String, String>")]
    form: Vec<(String, String)>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OauthLogin")]
struct RawOauthLogin {
    #[serde(default)]
    grant: LoginGrant,
    device_id: Option<String>,
    code_verifier: Option<String>,
    #[serde(rename = "as")]
    session: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OauthRefresh")]
#[schemars(extend("oneOf" = [{ "required": ["session"] }, { "required": ["token"] }]))]
struct RawOauthRefresh {
    session: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    #[serde(rename = "as")]
    out: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Login")]
struct RawLogin {
    user: String,
    refresh_token: Option<bool>,
    device_id: Option<String>,
    device_name: Option<String>,
    #[serde(rename = "as")]
    session: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Register")]
struct RawRegister {
    #[serde(default = "default_kind")]
    kind: AccountKind,
    refresh_token: Option<bool>,
    inhibit_login: Option<bool>,
    device_id: Option<String>,
    #[serde(rename = "as")]
    session: Option<String>,
}

fn default_kind() -> AccountKind {
    AccountKind::User
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Refresh")]
#[schemars(extend("oneOf" = [{ "required": ["session"] }, { "required": ["token"] }]))]
struct RawRefresh {
    session: Option<String>,
    token: Option<String>,
    #[serde(rename = "as")]
    out: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TokenSource")]
#[schemars(extend("oneOf" = [{ "required": ["session"] }, { "required": ["token"] }]))]
struct RawTokenSource {
    session: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Wait")]
#[schemars(extend("oneOf" = [
    { "required": ["expiry_of"] }, { "required": ["before_expiry_of"] }, { "required": ["ms"] }
]))]
struct RawWait {
    expiry_of: Option<String>,
    before_expiry_of: Option<String>,
    ms: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Burst")]
struct RawBurst {
    #[schemars(range(min = 1, max = MAX_BURST))]
    count: u32,
    request: RawRequest,
}

/// Bursts stay small: they provoke a rate limit, they are not a load test.
const MAX_BURST: u32 = 200;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Block")]
#[schemars(extend("anyOf" = [
    { "required": ["status"] }, { "required": ["headers"] }, { "required": ["json"] }
]))]
struct RawBlock {
    clause: Option<String>,
    level: Option<Level>,
    reading: Option<BlockReading>,
    if_status: Option<Matcher>,
    spec: Option<VersionRange>,
    status: Option<Matcher>,
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(with = "BTreeMap<String, Matcher>")]
    headers: Vec<(String, Matcher)>,
    /// JSON pointer to a matcher.
    #[serde(default, deserialize_with = "ordered_map")]
    #[schemars(schema_with = "pointer_keys")]
    json: Vec<(String, Matcher)>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Observe")]
struct RawObserve {
    clause: String,
    label: Option<String>,
}

/// `expect:` takes one block or a list of blocks (one per clause).
enum Expectations {
    /// Located by the `expect:` value itself.
    One(RawBlock),
    Many(Vec<Spanned<RawBlock>>),
}

impl JsonSchema for Expectations {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expectations".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let block = generator.subschema_for::<RawBlock>();
        json_schema!({ "anyOf": [block, { "type": "array", "items": block }] })
    }
}

/// A map whose values are JSON pointers (`capture:`).
fn pointer_values(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "additionalProperties": { "type": "string", "pattern": "^(/.*)?$" } })
}

/// A map from JSON pointers to matchers (`json:` in a check block).
fn pointer_keys(generator: &mut SchemaGenerator) -> Schema {
    let matcher = generator.subschema_for::<Matcher>();
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": "^(/.*)?$" },
        "additionalProperties": matcher
    })
}

/// The JSON Schema of a case file (`cases/case.schema.json`, for editors), generated from the types above.
pub fn schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawCase>();
    schema.to_value()
}

impl<'de> Deserialize<'de> for Expectations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Expectations;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an expectation block or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(Expectations::One(RawBlock::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Ok(Expectations::Many(Vec::deserialize(
                    de::value::SeqAccessDeserializer::new(seq),
                )?))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A YAML map kept in file order (the order checks and captures are written in).
fn ordered_map<'de, D, T>(deserializer: D) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<(String, T)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((key, value)) = map.next_entry::<String, T>()? {
                out.push((key, value));
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(V(PhantomData))
}

/// Parses one case file; `id` is its path under the cases folder without the extension.
pub fn parse_case(id: String, source: Arc<SourceFile>) -> Result<Case, String> {
    let raw: RawCase = from_yaml(&source)?;
    let error = |pos: Pos, message: &str, label: &str| source.render(pos, message, label);
    if raw.clauses.is_empty() {
        return Err(error(
            Pos { line: 1, column: 1 },
            "a case cites at least one clause",
            "no `clauses`",
        ));
    }
    let primary = raw.clauses[0].value.clone();
    let mut steps = Vec::new();
    for step in raw.steps {
        steps.push(convert_step(step, &primary, false, &error)?);
    }
    let mut finally = Vec::new();
    for step in raw.finally {
        finally.push(convert_step(step, &primary, true, &error)?);
    }
    if steps.is_empty() {
        return Err(error(
            Pos { line: 1, column: 1 },
            "a case has at least one step",
            "no `steps`",
        ));
    }
    Ok(Case {
        id,
        title: raw.title,
        clauses: raw.clauses.into_iter().map(|c| c.value).collect(),
        requires: raw.requires,
        spec: raw.spec,
        users: raw.users.into_iter().map(|u| u.value).collect(),
        steps,
        finally,
        source,
    })
}

type Render<'a> = &'a dyn Fn(Pos, &str, &str) -> String;

fn convert_step(
    spanned: Spanned<RawStep>,
    primary: &str,
    in_finally: bool,
    error: Render,
) -> Result<Step, String> {
    let pos: Pos = spanned.referenced.into();
    let raw = spanned.value;
    let fail = |message: &str| error(pos, message, "in this step");
    let one_of = |session: Option<String>, token: Option<String>, what: &str| match (session, token)
    {
        (Some(s), None) => Ok(TokenSource::Session(s)),
        (None, Some(t)) => Ok(TokenSource::Token(t)),
        _ => Err(fail(&format!(
            "`{what}` takes exactly one of `session` or `token`"
        ))),
    };
    let request = |r: RawRequest| -> Result<RequestSpec, String> {
        let auth = match (r.session, r.token) {
            (None, None) => None,
            (s, t) => Some(one_of(s, t, "request")?),
        };
        let form = (!r.form.is_empty()).then_some(r.form);
        let body = match (r.json, r.body, form) {
            (Some(json), None, None) => Some(Body::Json(json)),
            (None, Some(raw), None) => Some(Body::Raw(raw)),
            (None, None, Some(form)) => Some(Body::Form(form)),
            (None, None, None) => None,
            _ => return Err(fail("a request has one of `json`, `body` or `form`")),
        };
        let target = match (r.path, r.endpoint) {
            (Some(path), None) => Target::Path(path),
            (None, Some(endpoint)) => Target::Endpoint(endpoint),
            _ => return Err(fail("a request has exactly one of `path` or `endpoint`")),
        };
        Ok(RequestSpec {
            method: r.method,
            target,
            query: r.query,
            headers: r.headers,
            auth,
            body,
        })
    };
    let mut actions = Vec::new();
    if let Some(r) = raw.request {
        actions.push(Action::Request(request(r)?));
    }
    if let Some(b) = raw.burst {
        if !(1..=MAX_BURST).contains(&b.count) {
            return Err(fail(&format!("a burst sends 1 to {MAX_BURST} requests")));
        }
        actions.push(Action::Burst {
            count: b.count,
            request: request(b.request)?,
        });
    }
    if let Some(l) = raw.login {
        actions.push(Action::Login(LoginSpec {
            user: l.user,
            refresh_token: l.refresh_token,
            device_id: l.device_id,
            device_name: l.device_name,
            session: l.session,
        }));
    }
    if let Some(r) = raw.register {
        actions.push(Action::Register(RegisterSpec {
            kind: r.kind,
            refresh_token: r.refresh_token,
            inhibit_login: r.inhibit_login,
            device_id: r.device_id,
            session: r.session,
        }));
    }
    if let Some(r) = raw.refresh {
        actions.push(Action::Refresh(RefreshSpec {
            token: one_of(r.session, r.token, "refresh")?,
            session: r.out,
        }));
    }
    if let Some(w) = raw.whoami {
        actions.push(Action::Whoami(one_of(w.session, w.token, "whoami")?));
    }
    if let Some(l) = raw.oauth_login {
        if l.grant == LoginGrant::DeviceCode && l.code_verifier.is_some() {
            return Err(fail(
                "`code_verifier` belongs to the authorisation code grant (PKCE), not to `grant: device_code`",
            ));
        }
        actions.push(Action::OauthLogin(OauthLoginSpec {
            grant: l.grant,
            device_id: l.device_id,
            code_verifier: l.code_verifier,
            session: l.session,
        }));
    }
    if let Some(r) = raw.oauth_refresh {
        actions.push(Action::OauthRefresh(OauthRefreshSpec {
            token: one_of(r.session, r.token, "oauth_refresh")?,
            client_id: r.client_id,
            session: r.out,
        }));
    }
    if let Some(w) = raw.wait {
        actions.push(Action::Wait(
            match (w.expiry_of, w.before_expiry_of, w.ms) {
                (Some(session), None, None) => Wait::ExpiryOf(session),
                (None, Some(session), None) => Wait::BeforeExpiryOf(session),
                (None, None, Some(ms)) => Wait::Millis(ms),
                _ => {
                    return Err(fail(
                        "`wait` takes exactly one of `expiry_of`, `before_expiry_of` or `ms`",
                    ));
                }
            },
        ));
    }
    if actions.len() != 1 {
        return Err(fail(
            "a step has exactly one action: request, login, register, refresh, whoami, oauth_login, oauth_refresh, wait or burst",
        ));
    }
    let action = actions.pop().expect("one action");
    let block = |pos: Pos, b: RawBlock, default_clause: &str| -> Result<CheckBlock, String> {
        if b.status.is_none() && b.headers.is_empty() && b.json.is_empty() {
            return Err(error(
                pos,
                "an expectation checks at least one of status, headers or json",
                "empty",
            ));
        }
        if b.level.is_some() && b.reading.is_some() {
            return Err(error(
                pos,
                "a block with `reading` gives its level for each reading there, not in `level`",
                "both `level` and `reading`",
            ));
        }
        Ok(CheckBlock {
            pos,
            clause: b.clause.unwrap_or_else(|| default_clause.to_owned()),
            level: b.level,
            reading: b.reading,
            if_status: b.if_status,
            spec: b.spec,
            status: b.status,
            headers: b.headers,
            json: b.json,
        })
    };
    let expect = match raw.expect {
        None => Vec::new(),
        Some(spanned) => match spanned.value {
            Expectations::One(b) => vec![block(spanned.referenced.into(), b, primary)?],
            Expectations::Many(blocks) => blocks
                .into_iter()
                .map(|b| block(b.referenced.into(), b.value, primary))
                .collect::<Result<_, _>>()?,
        },
    };
    let readings_outside_expect = raw.require.iter().chain(&raw.assume);
    if let Some(b) = readings_outside_expect
        .into_iter()
        .find(|b| b.value.reading.is_some())
    {
        return Err(error(
            b.referenced.into(),
            "`reading` applies to `expect` blocks only: a precondition holds or not whatever the reading",
            "here",
        ));
    }
    let require = raw
        .require
        .map(|b| block(b.referenced.into(), b.value, primary))
        .transpose()?;
    let assume = raw
        .assume
        .map(|b| block(b.referenced.into(), b.value, primary))
        .transpose()?;
    if matches!(action, Action::Wait(_))
        && (!expect.is_empty() || require.is_some() || assume.is_some() || raw.observe.is_some())
    {
        return Err(fail("a `wait` step has nothing to check"));
    }
    if in_finally
        && (!expect.is_empty()
            || raw.observe.is_some()
            || require.is_some()
            || assume.is_some()
            || !raw.capture.is_empty())
    {
        return Err(fail(
            "`finally` steps clean up; they do not check, require, assume, observe or capture",
        ));
    }
    let name = raw.name.unwrap_or_else(|| default_name(&action));
    Ok(Step {
        name,
        pos,
        action,
        expect,
        require,
        assume,
        observe: raw.observe.map(|o| Observe {
            clause: o.clause,
            label: o.label,
        }),
        captures: raw
            .capture
            .into_iter()
            .map(|(name, pointer)| Capture { name, pointer })
            .collect(),
    })
}

fn default_name(action: &Action) -> String {
    let source = |t: &TokenSource| match t {
        TokenSource::Session(s) => s.clone(),
        TokenSource::Token(t) => t.clone(),
    };
    let flag = |v: Option<bool>| v.map_or(String::new(), |v| format!(" refresh_token={v}"));
    let out = |s: &Option<String>| s.as_ref().map_or(String::new(), |s| format!(" as {s}"));
    match action {
        Action::Request(r) => format!("{} {}", r.method.as_str(), r.target.describe()),
        Action::Burst { count, request } => format!(
            "burst of {count} {} {}",
            request.method.as_str(),
            request.target.describe()
        ),
        Action::Login(l) => format!(
            "login {}{}{}",
            l.user,
            flag(l.refresh_token),
            out(&l.session)
        ),
        Action::Register(r) => format!("register{}{}", flag(r.refresh_token), out(&r.session)),
        Action::Refresh(r) => format!("refresh {}{}", source(&r.token), out(&r.session)),
        Action::Whoami(t) => format!("whoami {}", source(t)),
        Action::OauthLogin(l) => match l.grant {
            LoginGrant::AuthorizationCode => {
                format!("OAuth 2.0 authorisation code grant{}", out(&l.session))
            }
            LoginGrant::DeviceCode => {
                format!("OAuth 2.0 device authorisation grant{}", out(&l.session))
            }
        },
        Action::OauthRefresh(r) => format!(
            "OAuth 2.0 refresh token grant {}{}",
            source(&r.token),
            out(&r.session)
        ),
        Action::Wait(Wait::ExpiryOf(s)) => format!("wait for {s} to expire"),
        Action::Wait(Wait::BeforeExpiryOf(s)) => format!("wait until shortly before {s} expires"),
        Action::Wait(Wait::Millis(ms)) => format!("wait {ms} ms"),
    }
}
