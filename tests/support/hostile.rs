//! Hostile targets for the end-to-end tests, all on loopback and all bounded: a proxy in front of the
//! reference homeserver that misbehaves on the requests a test picks, and raw servers that answer every
//! connection the same bad way. Each stops by itself (a fixed number of connections, a fixed hold time) or
//! with the test's runtime.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use refresh_conformance::reference::{ReferenceConfig, ReferenceServer};

pub use super::encodings::encodings;

/// How long a hanging server holds a connection before it lets go.
const HOLD: Duration = Duration::from_secs(30);

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// What the proxy does with a request.
pub enum Action {
    Forward,
    /// Never answers (until the test ends).
    Hang,
    /// Closes the connection with a TCP reset instead of answering.
    Reset,
    /// 429 M_LIMIT_EXCEEDED asking to wait this many seconds.
    RateLimit(u64),
    /// 500 M_UNKNOWN.
    ServerError,
    /// 403 M_FORBIDDEN whose error text quotes the request body in every encoding of [`encodings`].
    Echo,
    /// 200 with this JSON body.
    Json(String),
}

/// The reference homeserver behind a proxy that applies `decide` to every request.
pub struct Proxy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Request>>>,
    _reference: ReferenceServer,
    runtime: tokio::runtime::Runtime,
}

impl Proxy {
    pub fn start(decide: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let reference = runtime
            .block_on(ReferenceServer::start(ReferenceConfig::default()))
            .unwrap();
        let upstream = reference.local_addr();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let decide = Arc::new(decide);
        let log = seen.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let decide = decide.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, upstream, &*decide, &log).await;
                });
            }
        });
        Proxy {
            url,
            seen,
            _reference: reference,
            runtime,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Hanging connections must not keep the test process waiting.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        runtime.shutdown_background();
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    decide: &(dyn Fn(&Request) -> Action + Send + Sync),
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    // One request per connection: the answer says `Connection: close`.
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut buffer).await?;
        if n == 0 || raw.len() > 1 << 20 {
            return Ok(());
        }
        raw.extend_from_slice(&buffer[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let n = client.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
    }
    let mut words = head.split_whitespace();
    let request = Request {
        method: words.next().unwrap_or_default().to_owned(),
        path: words.next().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&raw[head_end..]).into_owned(),
    };
    log.lock().unwrap().push(request.clone());
    let answer = match decide(&request) {
        Action::Forward => {
            let mut out = Vec::new();
            for line in head[..head_end].split("\r\n").filter(|l| !l.is_empty()) {
                if !line.to_ascii_lowercase().starts_with("connection:") {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            out.extend_from_slice(&raw[head_end..]);
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&out).await?;
            let mut answer = Vec::new();
            server.read_to_end(&mut answer).await?;
            answer
        }
        Action::Hang => {
            tokio::time::sleep(HOLD).await;
            return Ok(());
        }
        Action::Reset => {
            let client = client.into_std()?;
            zero_linger(&client);
            return Ok(());
        }
        Action::RateLimit(seconds) => json_answer(
            "429 Too Many Requests",
            &format!("Retry-After: {seconds}\r\n"),
            &format!(
                r#"{{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":{}}}"#,
                seconds * 1000
            ),
        ),
        Action::ServerError => json_answer(
            "500 Internal Server Error",
            "",
            r#"{"errcode":"M_UNKNOWN","error":"Internal server error"}"#,
        ),
        Action::Echo => {
            let quoted = echo(&request.body);
            let body = serde_json::json!({"errcode": "M_FORBIDDEN", "error": quoted});
            json_answer("403 Forbidden", "", &body.to_string())
        }
        Action::Json(body) => json_answer("200 OK", "", &body),
    };
    client.write_all(&answer).await?;
    client.shutdown().await
}

fn json_answer(status: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The secrets of a request body: every secret-bearing value, and the Basic credentials of username and
/// password.
pub fn secrets_in(body: &str) -> Vec<String> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect(&json, &mut out);
    if let (Some(user), Some(password)) = (
        json.get("username").and_then(|v| v.as_str()),
        json.get("password").and_then(|v| v.as_str()),
    ) {
        out.push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    }
    out
}

fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(s)
                        if ["password", "token", "mac", "access_token", "refresh_token"]
                            .contains(&key.as_str()) =>
                    {
                        out.push(s.clone())
                    }
                    other => collect(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// The error text of [`Action::Echo`]: every secret of the body in every encoding, and the body itself.
fn echo(body: &str) -> String {
    let mut parts = vec![format!("you sent {body}")];
    for secret in secrets_in(body) {
        parts.extend(encodings(&secret));
    }
    parts.join(" | ")
}

/// A raw server: every connection (up to `connections`) gets `answer`, on its own thread.
pub fn raw_server(connections: usize, answer: fn(std::net::TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || answer(stream));
        }
    });
    url
}

/// Reads the request head, so that the client is past sending when the answer starts.
pub fn read_head(stream: &mut std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buffer = [0u8; 4096];
    let _ = stream.read(&mut buffer);
}

pub fn hang(mut stream: std::net::TcpStream) {
    read_head(&mut stream);
    std::thread::sleep(HOLD);
}

/// Headers at once, then one byte of body every 300 ms, never finishing in time.
pub fn dribble(mut stream: std::net::TcpStream) {
    read_head(&mut stream);
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    );
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(300));
        if stream.write_all(b" ").is_err() {
            return;
        }
    }
}

/// A chunked body that never ends (until the client goes away).
pub fn endless(mut stream: std::net::TcpStream) {
    read_head(&mut stream);
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
    for _ in 0..10_000 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            return;
        }
    }
}

pub fn reset(mut stream: std::net::TcpStream) {
    read_head(&mut stream);
    zero_linger(&stream);
}

/// `SO_LINGER` with a zero timeout: closing the socket sends a TCP reset instead of a FIN.
#[allow(unsafe_code)]
fn zero_linger(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

pub fn rate_limited_forever(mut stream: std::net::TcpStream) {
    read_head(&mut stream);
    let _ = stream.write_all(&json_answer(
        "429 Too Many Requests",
        "Retry-After: 3600\r\n",
        r#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}"#,
    ));
}
