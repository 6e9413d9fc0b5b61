use std::process::ExitCode;

use refresh_conformance::{app, cli::Cli, error::EXIT_HARNESS};

fn main() -> ExitCode {
    let cli = match Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(EXIT_HARNESS) } else { ExitCode::SUCCESS };
        }
    };
    match app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
