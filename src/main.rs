use std::process::ExitCode;

use refresh_conformance::cli::Invocation;
use refresh_conformance::report::console;
use refresh_conformance::{app, error::EXIT_HARNESS, output};

fn main() -> ExitCode {
    restore_sigpipe();
    output::redact_panics();
    let invocation = match Invocation::parse_args() {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_HARNESS)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match invocation {
        Invocation::Run(cli) => app::run(*cli),
        Invocation::Serve(cli) => app::serve(*cli),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            console::fatal(&e);
            e.exit_code()
        }
    }
}

/// `refresh-conformance | head` must end quietly when the reader goes away, like any Unix filter, instead of
/// panicking on a failed write (libtest-mimic's printer unwraps its writes). Rust ignores SIGPIPE by default.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
