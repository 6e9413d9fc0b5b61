//! Hostile targets, flaky transports and careless inputs: the run still ends, says why in plain words,
//! gives verdicts only on evidence, leaves no stale report and no secret in any output.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::hostile::{self, Action, Proxy, Request};
use crate::support::{RunOutput, binary};

const LOGIN: &str = "/_matrix/client/v3/login";

fn run_in(dir: &Path, args: &[&str]) -> Output {
    binary()
        .args(args)
        .arg("--report-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn run_collect(args: &[&str]) -> RunOutput {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), args);
    RunOutput::collect(output, dir.path())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn is_probe_login(request: &Request) -> bool {
    request.method == "POST"
        && request.path.starts_with(LOGIN)
        && request.body.contains(r#""refresh_token":true"#)
}

/// A login that times out, resets, is rate-limited beyond --max-wait or fails with a 5xx during the probe
/// says nothing about refresh tokens: the cases behind the gate are errors naming the request, and the run
/// exits 2 (it used to skip them as not applicable and exit 0).
#[test]
fn a_probe_login_without_an_answer_makes_errors_not_not_applicable() {
    for (name, action) in [
        ("hang", (|| Action::Hang) as fn() -> Action),
        ("reset", || Action::Reset),
        ("429", || Action::RateLimit(3600)),
        ("500", || Action::ServerError),
    ] {
        let proxy = Proxy::start(move |request| {
            if is_probe_login(request) {
                action()
            } else {
                Action::Forward
            }
        });
        let started = Instant::now();
        let run = run_collect(&[
            "--target",
            &proxy.url,
            "--clause",
            "refresh.rotation",
            "--request-timeout",
            "2s",
            "--max-wait",
            "1s",
        ]);
        assert!(started.elapsed() < Duration::from_secs(60), "{name}");
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        for clause in [
            "refresh.rotation.old-refresh-valid-until-new-used",
            "refresh.rotation.old-refresh-revoked-after-new-access-used",
        ] {
            assert_ne!(run.clause_verdict(clause), "not-applicable", "{name}");
        }
        for case in run.json["cases"].as_array().unwrap() {
            assert_eq!(case["outcome"], "error", "{name}: {case}");
            let message = case["message"].as_str().unwrap();
            assert!(
                message.contains("POST /_matrix/client/v3/login"),
                "{name}: {message}"
            );
        }
    }
}

/// A /refresh that fails every request (the fault refresh-broken-5xx) or refuses a fresh refresh token
/// (refresh-only-after-expiry) is broken, not missing: the rotation clauses are not excused.
#[test]
fn a_broken_refresh_fails_instead_of_not_applicable() {
    for fault in ["refresh-broken-5xx", "refresh-only-after-expiry"] {
        let run = run_collect(&["--reference-fault", fault, "--clause", "refresh.rotation"]);
        assert_ne!(run.code, Some(0), "{fault}: {}", run.stderr);
        for clause in run.json["clauses"].as_array().unwrap() {
            let id = clause["id"].as_str().unwrap();
            if id.starts_with("refresh.rotation") {
                assert_ne!(clause["verdict"], "not-applicable", "{fault}: {clause}");
            }
        }
    }
    let run = run_collect(&[
        "--reference-fault",
        "refresh-broken-5xx",
        "--clause",
        "login.200",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.clause_verdict("login.200.refresh_token"), "fail");
}

/// A server whose registration error quotes what it was sent, in every encoding, must not get the
/// generated password, the registration token or the shared-secret MAC onto the terminal or into a report.
#[test]
fn secrets_echoed_by_a_refusing_server_never_reach_any_output() {
    for register in [
        None,
        Some("token=Tok/en~x+y z"),
        Some("shared-secret=s3cr/et~"),
    ] {
        let proxy = Proxy::start(|request| {
            if request.path.starts_with("/_synapse/admin/v1/register") {
                return if request.method == "GET" {
                    Action::Json(r#"{"nonce":"n0nce"}"#.to_owned())
                } else {
                    Action::Echo
                };
            }
            let registering = request.method == "POST"
                && request.path.starts_with("/_matrix/client/v3/register")
                && request.body.contains("\"auth\"");
            if registering {
                Action::Echo
            } else {
                Action::Forward
            }
        });
        let mut args = vec!["--target", proxy.url.as_str()];
        if let Some(mode) = register {
            args.extend(["--register", mode]);
        }
        let run = run_collect(&args);
        assert_eq!(run.code, Some(2), "{register:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot provision test accounts"),
            "{register:?}: {}",
            run.stderr
        );
        let mut secrets: Vec<String> = proxy
            .requests()
            .iter()
            .flat_map(|r| hostile::secrets_in(&r.body))
            .collect();
        if let Some((_, given)) = register.and_then(|m| m.split_once('=')) {
            secrets.push(given.to_owned());
        }
        assert!(
            !secrets.is_empty(),
            "{register:?}: the server was sent no secret"
        );
        let needles: Vec<String> = secrets.iter().flat_map(|s| hostile::encodings(s)).collect();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        run.assert_free_of(&needles);
    }
}

/// A server that answers 429 to every refresh (after the probe's) cannot hold the run beyond --deadline,
/// however long --max-wait allows each request to wait.
#[test]
fn a_429_storm_ends_at_the_run_deadline() {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let proxy = Proxy::start(move |request| {
        if request.path.contains("/refresh") && refreshes.fetch_add(1, Ordering::SeqCst) > 0 {
            Action::RateLimit(1)
        } else {
            Action::Forward
        }
    });
    let started = Instant::now();
    let run = run_collect(&[
        "--target",
        &proxy.url,
        "--clause",
        "refresh.rotation",
        "--max-wait",
        "10m",
        "--deadline",
        "6s",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let messages: Vec<&str> = run.json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("run deadline passed")),
        "{messages:?}"
    );
    // The advice names the option that ended the run.
    let advice = run.json["advice"].as_array().unwrap();
    let deadline = advice
        .iter()
        .find(|a| a["topic"] == "deadline")
        .unwrap_or_else(|| panic!("no deadline advice: {advice:?}"));
    assert!(
        deadline["text"].as_str().unwrap().contains("`--deadline "),
        "{deadline}"
    );
}

/// Transport failures in plain words: what happened, not "unreachable" for everything.
#[test]
fn transport_failures_are_named_for_what_they_are() {
    type Answer = fn(std::net::TcpStream);
    let cases: [(&str, Answer, &str); 5] = [
        ("hang", hostile::hang, "timed out"),
        ("dribble", hostile::dribble, "timed out"),
        ("endless body", hostile::endless, "oversized body"),
        (
            "429 forever",
            hostile::rate_limited_forever,
            "rate-limited beyond --max-wait",
        ),
        ("reset", hostile::reset, "GET /_matrix/client/versions"),
    ];
    for (name, answer, words) in cases {
        let url = hostile::raw_server(4, answer);
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let output = run_in(
            dir.path(),
            &[
                "--target",
                &url,
                "--request-timeout",
                "1s",
                "--max-wait",
                "1s",
            ],
        );
        let text = stderr(&output);
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
        assert_eq!(output.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains(words), "{name}: {text}");
        assert!(!text.contains("unreachable"), "{name}: {text}");
    }
}

#[test]
fn a_tls_failure_suggests_insecure() {
    // https:// to a server that speaks plain HTTP: the handshake fails.
    let url = hostile::raw_server(4, hostile::rate_limited_forever).replace("http://", "https://");
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["--target", &url, "--request-timeout", "2s"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("--insecure"), "{text}");
}

/// A redirect is never followed (it would carry tokens elsewhere): the other port sees no connection.
#[test]
fn a_redirect_to_another_port_is_not_followed() {
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            hostile::read_head(&mut stream);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/_matrix/client/versions\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &["--target", &url]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("302"), "{}", stderr(&output));
    assert!(elsewhere.accept().is_err(), "the redirect was followed");
}

/// Options that cannot work are refused before a single request is sent.
#[test]
fn bad_options_fail_before_any_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_a_file = file.path().join("reports");
    let with_query = format!("{url}/?server=x");
    let with_fragment = format!("{url}/#x");
    for args in [
        vec!["--target", &with_query],
        vec!["--target", &with_fragment],
        vec!["--target", &url, "--request-timeout", "0s"],
        vec!["--target", &url, "--case-timeout", "0s"],
        vec!["--target", &url, "--deadline", "0s"],
        vec![
            "--target",
            &url,
            "--report-dir",
            under_a_file.to_str().unwrap(),
        ],
    ] {
        let output = binary().args(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(listener.accept().is_err(), "{args:?}: a request was sent");
    }
}

/// An early exit replaces the previous run's reports with ones that say why nothing ran.
#[test]
fn an_early_exit_leaves_no_stale_report() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["junit.xml", "report.json", "summary.md", "report.html"] {
        std::fs::write(dir.path().join(name), "STALE").unwrap();
    }
    let output = run_in(dir.path(), &["--target", "http://127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(2));
    for name in ["junit.xml", "report.json", "summary.md", "report.html"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(!text.contains("STALE"), "{name}: {text}");
        assert!(text.contains("unreachable"), "{name}: {text}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["exit_code"], 2);
    let junit = RunOutput {
        code: None,
        stdout: String::new(),
        stderr: String::new(),
        junit: String::new(),
        json: report,
        json_text: String::new(),
        summary: String::new(),
        html: String::new(),
    };
    junit.assert_junit_valid(dir.path());
}

/// A typo in a filter must not pass CI: nothing selected is exit 2, with the close matches.
#[test]
fn a_filter_that_selects_nothing_exits_2_with_close_matches() {
    for (args, hint) in [
        (vec!["--clause", "refresh.rotatoin"], "refresh.rotation"),
        (vec!["retry-windw"], "rotation/retry-window"),
        (vec!["--exact", "rotation/retry"], "rotation/retry-window"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["--target", "http://127.0.0.1:1"];
        all.extend(args.iter());
        let output = run_in(dir.path(), &all);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains("no case matches") && text.contains(hint),
            "{args:?}: {text}"
        );
    }
}

/// `--test-threads 0` (or RUST_TEST_THREADS=0) used to hang forever; it means all cores.
#[test]
fn zero_test_threads_does_not_hang() {
    for (args, env) in [
        (vec!["--test-threads", "0"], None),
        (vec![], Some(("RUST_TEST_THREADS", "0"))),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = binary();
        command
            .args(&args)
            .args(["--clause", "versions", "--report-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{args:?} {env:?}: still running after 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(status.code(), Some(0), "{args:?} {env:?}");
    }
}

/// Ctrl-C stops a run promptly: the reports hold what finished, the rest is marked not run, and the
/// sessions the interrupted cases held are logged out.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_promptly_reports_and_logs_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut child: std::process::Child = Command::new(env!("CARGO_BIN_EXE_refresh-conformance"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        // Access tokens that live 30 s: the expiry cases are still waiting when Ctrl-C comes.
        .args([
            "--reference-lifetime",
            "30s",
            "--max-wait",
            "2m",
            "--report-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    // SAFETY: signalling the child this test started, by its pid.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if interrupted.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("still running 20 s after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(130));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let cases = report["cases"].as_array().unwrap();
    let stopped: Vec<&serde_json::Value> = cases
        .iter()
        .filter(|c| c["message"].as_str().unwrap_or("").contains("interrupted"))
        .collect();
    assert!(!stopped.is_empty(), "no case marked interrupted");
    assert!(
        cases.iter().any(|c| c["outcome"] == "passed"),
        "no finished case kept"
    );
    // Transcripts are in junit.xml: an interrupted case's shows the logout it sent after the interrupt.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.split("<testcase").any(|case| {
            case.split("logging out the sessions this case holds")
                .nth(1)
                .is_some_and(|after| after.contains("POST") && after.contains("/logout"))
        }),
        "no interrupted case logged out its sessions"
    );
}
