//! Everything a run says on stdout and stderr besides libtest's lines: what it runs against, the probe's
//! findings, the reports and where they went, the `--expected` comparison, interruptions. The orchestration
//! calls these; only this module and the reporters decide what is printed, and all of it goes through
//! `output`, which redacts.

use std::path::Path;
use std::time::Duration;

use url::Url;

use crate::case::{Case, CaseRoot};
use crate::clause::Catalogue;
use crate::expected::Moved;
use crate::homeserver::Capabilities;
use crate::http::pacer::Waiting;
use crate::listing;
use crate::output;
use crate::reference::{self, Fault};

use super::terminal;

/// No `--target`: the run starts the built-in reference homeserver.
pub fn reference_target(url: &Url, fault: Option<Fault>) {
    let fault = fault.map_or(String::new(), |f| format!(" with fault `{}`", f.name()));
    output::err_line(&format!(
        "no --target given: running against the built-in reference homeserver at {url}{fault}"
    ));
}

/// What the probe found out about the target.
pub fn probe(capabilities: &Capabilities) {
    output::err_line(&terminal::probe(capabilities));
}

/// A long wait for a rate limit, as it starts.
pub fn waiting(waiting: &Waiting) {
    output::err_line(&terminal::waiting(waiting));
}

/// `--list --format json`: the selected cases, with their clauses and files.
pub fn listing(catalogue: &Catalogue, cases: &[Case], case_root: &CaseRoot, case_set: &str) {
    output::out(&listing::render(catalogue, cases, case_root, case_set));
}

/// `--expected`: the verdicts that moved from the committed file.
pub fn comparison(server: &str, path: &Path, moved: &[Moved]) {
    output::err_line(&terminal::comparison(server, path, moved));
}

/// `--bless`: where the expected verdicts and their summary went.
pub fn blessed(verdicts: &Path, summary: &Path) {
    output::err_line(&format!(
        "wrote the expected verdicts to {} and the summary to {}",
        verdicts.display(),
        summary.display()
    ));
}

/// Where the reports went, and what the exit code means.
pub fn written(dir: &Path, exit_code: u8) {
    output::err_line(&terminal::written(dir, exit_code));
}

/// The first Ctrl-C.
pub fn stopping() {
    output::err_line(
        "interrupted: stopping the cases, logging out their sessions, writing the reports (Ctrl-C again to quit at once)",
    );
}

/// After an interrupted run's reports are written.
pub fn interrupted() {
    output::err_line(
        "interrupted: the reports hold the cases that finished; the others are marked not run",
    );
}

pub fn warning(text: &str) {
    output::err_line(&format!("warning: {text}"));
}

/// A fatal error of the harness, as the last line of the run.
pub fn fatal(error: &dyn std::fmt::Display) {
    output::err_line(&format!("error: {error}"));
}

/// Client mode: what the client under test is to be given.
pub struct ClientAnnouncement<'a> {
    pub client: &'a str,
    pub url: &'a str,
    pub duration: Duration,
    pub lifetime: Duration,
    pub user: &'a str,
}

pub fn client_announcement(a: &ClientAnnouncement<'_>) {
    output::out(&format!(
        "client mode: the reference homeserver serves {} at {} for {} (access tokens live {})\n\
         homeserver: {}\n\
         user: {} (password: the one given with --password or MRC_PASSWORD)\n\
         contract: log in with refresh_token: true, make authenticated requests until the time is up, then log out\n",
        a.client,
        a.url,
        humantime::format_duration(a.duration),
        humantime::format_duration(a.lifetime),
        a.url,
        reference::user_id(a.user),
    ));
}

/// Client mode: the client never logged in.
pub fn no_client(duration: Duration) {
    output::err_line(&format!(
        "error: no client logged in within {}",
        humantime::format_duration(duration)
    ));
}

/// Client mode: the client logged in but never asked for a refresh token.
pub fn no_refresh_token(client: &str) {
    output::err_line(&format!(
        "finding: {client} never obtained a refresh token (no refresh-token support)"
    ));
}
