//! What a case sent and received, step by step, kept typed so that each report shows the part it needs: the
//! JUnit system-out the whole text, the terminal and report.html the exchange of a failed step.
//!
//! Every string is redacted when it is recorded (before bodies are clipped: a clipped token would no longer
//! match) and again when the case ends, with every secret the case learnt by then. Response headers are left
//! to that last pass.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
// Tokio's clock, so that the tests can run on paused time.
use tokio::time::Instant;

use crate::cause::Limit;
use crate::redact::Secrets;

/// How much of a body a transcript keeps.
const BODY_CLIP: usize = 600;

/// Response headers worth showing: the ones clauses are about (content type, CORS, rate limits, auth).
const SHOWN_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "retry-after",
    "www-authenticate",
    "location",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
];

#[derive(Debug, Default, Clone, Serialize)]
pub struct Transcript {
    pub entries: Vec<Entry>,
    /// The case's time spent waiting (expiry, its turn behind a rate limit); clones share it.
    #[serde(skip)]
    waited: WaitClock,
    /// The lane the case holds a reservation of (see [`crate::http::pacer::Reservation`]).
    #[serde(skip)]
    pub reserved: Option<Limit>,
    /// The requests of the reservation not yet sent: a `429` on one of them waits until the server can take
    /// them all, or the case's sessions would expire between its logins.
    #[serde(skip)]
    pub reserved_left: u32,
    /// The earliest expiry of a session the case holds while it sends a request: a turn that would come
    /// later is not waited for (see [`crate::http::HttpError::OutlivesSession`]).
    #[serde(skip)]
    pub sessions_expire: Option<Instant>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The start of a case step; what follows belongs to it.
    Step {
        name: String,
    },
    /// Something the harness did or decided (a wait, a skipped clean-up step).
    Note {
        text: String,
    },
    Exchange(Exchange),
}

#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub request: SentRequest,
    /// None when no response came (timeout, connection error).
    pub response: Option<ReceivedResponse>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SentRequest {
    pub method: String,
    /// The whole URL, query string included.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceivedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SentRequest {
    /// The path and query of the URL: the request line without the host every request shares.
    pub fn path(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(parsed) => parsed[url::Position::BeforePath..].to_owned(),
            Err(_) => self.url.clone(),
        }
    }
}

impl Transcript {
    /// The case's clock of time spent waiting; clones share it.
    pub fn clock(&self) -> WaitClock {
        self.waited.clone()
    }

    pub fn step(&mut self, name: &str) {
        self.entries.push(Entry::Step {
            name: name.to_owned(),
        });
    }

    pub fn note(&mut self, text: &str) {
        self.entries.push(Entry::Note {
            text: text.to_owned(),
        });
    }

    /// Records a request about to be sent; its response is added by [`Transcript::response`].
    pub fn request(&mut self, secrets: &Secrets, mut request: SentRequest) {
        request.url = secrets.redact(&request.url);
        for (_, value) in &mut request.headers {
            *value = secrets.redact(value);
        }
        request.body = request.body.map(|body| clip(&secrets.redact(&body)));
        self.entries.push(Entry::Exchange(Exchange {
            request,
            response: None,
        }));
    }

    /// Completes the last exchange with the response to it.
    pub fn response(
        &mut self,
        secrets: &Secrets,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) {
        let response = ReceivedResponse {
            status,
            headers: headers
                .iter()
                .filter(|(name, _)| SHOWN_RESPONSE_HEADERS.contains(&name.as_str()))
                .cloned()
                .collect(),
            body: clip(secrets.redact(&String::from_utf8_lossy(body)).trim()),
        };
        if let Some(Entry::Exchange(exchange)) = self.entries.last_mut() {
            exchange.response = Some(response);
        }
    }

    pub fn extend(&mut self, other: Transcript) {
        self.entries.extend(other.entries);
    }

    /// The same transcript with every string redacted again, with the secrets known now.
    pub fn redacted(self, secrets: &Secrets) -> Transcript {
        // Usually nothing is left to redact: one scan of the whole text says so.
        let whole = self.text();
        if secrets.redact(&whole) == whole {
            return self;
        }
        let text = |s: String| secrets.redact(&s);
        let pairs = |headers: Vec<(String, String)>| {
            headers
                .into_iter()
                .map(|(name, value)| (name, text(value)))
                .collect()
        };
        let entries = self
            .entries
            .into_iter()
            .map(|entry| match entry {
                Entry::Step { name } => Entry::Step { name },
                Entry::Note { text: note } => Entry::Note { text: text(note) },
                Entry::Exchange(Exchange { request, response }) => Entry::Exchange(Exchange {
                    request: SentRequest {
                        method: request.method,
                        url: text(request.url),
                        headers: pairs(request.headers),
                        body: request.body.map(text),
                    },
                    response: response.map(|r| ReceivedResponse {
                        status: r.status,
                        headers: pairs(r.headers),
                        body: text(r.body),
                    }),
                }),
            })
            .collect();
        Transcript {
            entries,
            ..Transcript::default()
        }
    }

    /// The exchanges of one step, in order (a rate-limited request shows each attempt).
    pub fn step_exchanges(&self, step: &str) -> Vec<&Exchange> {
        let mut current: Option<&str> = None;
        self.entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Step { name } => {
                    current = Some(name);
                    None
                }
                Entry::Exchange(exchange) if current == Some(step) => Some(exchange),
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The whole transcript as text: `> POST url` and `< 200 body` lines, `# notes`.
    pub fn text(&self) -> String {
        let mut lines = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Step { name } => lines.push(format!("# step: {name}")),
                Entry::Note { text } => lines.push(format!("# {text}")),
                Entry::Exchange(exchange) => lines.extend(exchange.lines()),
            }
        }
        lines.join("\n")
    }
}

impl Exchange {
    /// `> METHOD url [headers] body` and `< status body`.
    pub fn lines(&self) -> Vec<String> {
        let request = &self.request;
        let mut first = format!("> {} {}", request.method, request.url);
        for (name, value) in &request.headers {
            first.push_str(&format!(" [{name}: {value}]"));
        }
        if let Some(body) = &request.body {
            first.push(' ');
            first.push_str(body);
        }
        let second = match &self.response {
            Some(response) => format!("< {} {}", response.status, response.body),
            None => "< (no response)".to_owned(),
        };
        vec![first, second]
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= BODY_CLIP {
        text.to_owned()
    } else {
        let head: String = text.chars().take(BODY_CLIP).collect();
        format!("{head}… ({} bytes)", text.len())
    }
}

/// The time a case spent waiting (for expiry, for its turn): the case timeout does not count it.
#[derive(Debug, Clone, Default)]
pub struct WaitClock(Arc<Mutex<ClockState>>);

#[derive(Debug, Default)]
struct ClockState {
    total: Duration,
    /// A wait under way, counted as it goes (the case timeout looks while the case waits).
    since: Option<Instant>,
}

impl WaitClock {
    fn state(&self) -> MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, wait: Duration) {
        self.state().total += wait;
    }

    /// Counts the time until the returned guard is dropped.
    pub fn waiting(&self) -> Waiting {
        self.state().since = Some(Instant::now());
        Waiting(self.clone())
    }

    pub fn total(&self) -> Duration {
        let state = self.state();
        state.total + state.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// A wait under way on a [`WaitClock`].
pub struct Waiting(WaitClock);

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = self.0.state();
        if let Some(since) = state.since.take() {
            state.total += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_keeps_its_exchanges_and_secrets_stay_out() {
        let secrets = Secrets::default();
        secrets.add("syt_secret_token_value");
        let mut transcript = Transcript::default();
        transcript.step("login");
        transcript.request(
            &secrets,
            SentRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:1/_matrix/client/v3/login?x=1".into(),
                headers: vec![(
                    "authorization".into(),
                    "Bearer syt_secret_token_value".into(),
                )],
                body: Some(r#"{"password":"syt_secret_token_value"}"#.into()),
            },
        );
        transcript.response(
            &secrets,
            200,
            &[
                ("content-type".into(), "application/json".into()),
                ("date".into(), "today".into()),
            ],
            br#"{"access_token":"syt_secret_token_value"}"#,
        );
        transcript.step("refresh");
        let exchanges = transcript.step_exchanges("login");
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].request.path(), "/_matrix/client/v3/login?x=1");
        let response = exchanges[0].response.as_ref().unwrap();
        assert_eq!(response.headers.len(), 1, "only the headers that matter");
        assert!(transcript.step_exchanges("refresh").is_empty());
        assert!(!transcript.text().contains("syt_secret_token_value"));
    }
}
