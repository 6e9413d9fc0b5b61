//! The binary's contract at its edges: exit codes and messages for bad input, unreachable or non-Matrix
//! targets, and the help text.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::binary;

fn run(args: &[&str]) -> Output {
    let report_dir = tempfile::tempdir().unwrap();
    binary()
        .args(args)
        .arg("--report-dir")
        .arg(report_dir.path())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unreachable_target_exits_2_at_once_with_one_line() {
    let started = Instant::now();
    let output = run(&["--target", "http://127.0.0.1:1"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("http://127.0.0.1:1/ is unreachable") && text.contains("Connection refused"),
        "{text}"
    );
    assert_eq!(text.trim().lines().count(), 1, "{text}");
}

/// A server that answers every request with the same raw HTTP response.
fn canned_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn an_absurd_retry_after_is_reported_not_a_panic() {
    let url = canned_server(
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 18446744073709551615\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    let output = run(&["--target", &url]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rate-limited"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_target_that_is_not_matrix_exits_2() {
    // A web server that answers every request with an HTML page.
    let url = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 18\r\nConnection: close\r\n\r\n<html>hello</html>",
    );
    let output = run(&["--target", &url]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not look like a Matrix homeserver"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["--target", "ftp://example.org"][..],
        &["--target", "http://127.0.0.1:1/some/path"],
        &["--register", "closed", "--target", "http://127.0.0.1:1"],
        &["--no-such-flag"],
        &["--reference-fault", "no-such-fault"],
    ] {
        let output = run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn a_broken_case_file_exits_2_pointing_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/clauses.yaml");
    std::fs::copy(cases, dir.path().join("clauses.yaml")).unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "title: t\nclauses: [login.request.refresh_token]\nsteps:\n  - wait: { sm: 3 }\n",
    )
    .unwrap();
    let output = run(&[
        "--cases",
        dir.path().to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("broken.yaml:4:"), "{text}");
    assert!(text.contains("sm"), "{text}");
}

#[test]
fn help_and_version_name_the_program() {
    let help = binary().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("refresh-conformance")
            && text.contains("--target")
            && text.contains("--exact"),
        "{text}"
    );
    let version = binary().arg("--version").output().unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn list_needs_no_target() {
    let output = binary().arg("--list").output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("rotation/retry-window: test"), "{text}");
}

#[test]
fn serve_is_a_subcommand_that_needs_a_password() {
    let help = binary().args(["serve", "--help"]).output().unwrap();
    assert_eq!(help.status.code(), Some(0), "{}", stderr(&help));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--listen") && text.contains("--duration"),
        "{text}"
    );
    let output = binary()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("MRC_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--password"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn list_as_json_names_every_case_and_clause() {
    let output = binary()
        .args(["--list", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let cases = listing["cases"].as_array().unwrap();
    let retry = cases
        .iter()
        .find(|c| c["id"] == "rotation/retry-window")
        .expect("the retry-window case is listed");
    assert_eq!(retry["file"], "rotation/retry-window.yaml");
    assert!(!retry["clauses"].as_array().unwrap().is_empty());
    let clauses = listing["clauses"].as_array().unwrap();
    let endpoint = clauses
        .iter()
        .find(|c| c["id"] == "refresh.endpoint.path")
        .expect("a catalogue clause is listed");
    assert_eq!(endpoint["level"], "MUST");
    assert!(!endpoint["cases"].as_array().unwrap().is_empty());
    // The same case set --version names.
    let version = binary().arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    let case_set = listing["case_set"].as_str().unwrap();
    assert!(version.contains(case_set), "{version} / {case_set}");
    assert!(
        version.contains(&format!("{} cases", cases.len())),
        "{version}"
    );
}

#[test]
fn a_cases_folder_without_a_catalogue_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .arg("--cases")
        .arg(dir.path())
        .arg("--list")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("clauses.yaml does not exist"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_filter_still_selects_cases_next_to_serve() {
    let output = binary().args(["--list", "retry-window"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("rotation/retry-window: test"));
}
