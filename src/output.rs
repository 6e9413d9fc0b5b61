//! The one sink every byte the program writes passes through: stdout, stderr, report files, the GitHub step
//! summary and panic messages. Each is redacted with the process's secrets ([`Secrets::global`]) first, so
//! that no path out of the process can carry a token, a password or a shared secret.
//!
//! Trials hand libtest-mimic only text that went through [`Secrets::redact`] (case messages), since its
//! printer writes to stdout itself.

use std::io::Write;
use std::path::Path;

use crate::redact::Secrets;

fn redacted(text: &str) -> String {
    Secrets::global().redact(text)
}

/// Writes to stdout, redacted.
#[allow(clippy::print_stdout)]
pub fn out(text: &str) {
    print!("{}", redacted(text));
    let _ = std::io::stdout().flush();
}

/// Writes one line to stderr, redacted.
#[allow(clippy::print_stderr)]
pub fn err_line(text: &str) {
    eprintln!("{}", redacted(text));
}

/// Replaces `path` with `text`, redacted, atomically: a reader sees the old file or the whole new one, and an
/// interrupted write leaves no half file behind.
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    // Reports are for everyone who can read the folder (a temporary file starts private).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.write_all(redacted(text).as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Appends `text`, redacted, to `path` (the GitHub step summary, which other steps write too).
pub fn append(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(redacted(text).as_bytes())
}

/// Panic messages go through the sink too: a panic's text may quote a response that carried a token.
pub fn redact_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        err_line(&format!("the harness panicked{location}: {payload}"));
    }));
}
