//! The HTTP client `guard` uses, against real sockets on loopback: servers that answer,
//! stall, trickle, redirect without end or send too much, IPv6 literals, and (with
//! `openssl s_server`, which CI installs) a TLS server whose certificate is not trusted.

mod support;

use support::net::Running;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use modelops::runtime::http::{HttpError, Limits, get};

/// Serves each connection on `listener` with `answer(request head, stream)`.
fn serve(listener: TcpListener, answer: impl Fn(&str, &mut TcpStream) + Send + 'static) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            answer(&String::from_utf8_lossy(&head), &mut stream);
        }
    });
}

fn local(answer: impl Fn(&str, &mut TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, answer);
    format!("http://127.0.0.1:{port}")
}

fn reply(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn short() -> Limits {
    Limits {
        overall: Duration::from_millis(1500),
        connect: Duration::from_millis(500),
        read: Duration::from_millis(500),
        max_body: 1024,
        max_redirects: 2,
    }
}

#[test]
fn reads_a_response_with_its_status() {
    let base = local(|head, stream| {
        assert!(
            head.starts_with("GET /api/v1/query?query=up HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("accept: application/json")
        );
        reply(stream, "200 OK", r#"{"status":"success"}"#);
    });
    let response = get(
        &format!("{base}/api/v1/query?query=up"),
        "application/json",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"status":"success"}"#);
}

#[test]
fn error_statuses_come_back_with_their_body() {
    let base = local(|_, stream| reply(stream, "503 Service Unavailable", "overloaded"));
    let response = get(&base, "application/json", &Limits::default()).unwrap();
    assert_eq!(response.status, 503);
    assert!(!response.is_success());
    assert_eq!(response.excerpt(), "overloaded");
}

#[test]
fn chunked_bodies_are_joined() {
    let base = local(|_, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n",
        );
    });
    let response = get(&base, "*/*", &Limits::default()).unwrap();
    assert_eq!(response.body, b"abcdef");
}

#[test]
fn ipv6_literals_are_understood() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipping: this host has no IPv6 loopback");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    serve(listener, |_, stream| reply(stream, "200 OK", "{}"));
    let response = get(&format!("http://[::1]:{port}/"), "*/*", &short()).unwrap();
    assert_eq!(response.status, 200);
}

#[test]
fn every_address_of_a_name_is_tried() {
    // `localhost` may resolve to ::1 before 127.0.0.1; the server listens on the
    // IPv4 address only, so where both exist the first attempt is refused and the
    // next one answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, |_, stream| reply(stream, "200 OK", "{}"));
    let response = get(&format!("http://localhost:{port}/"), "*/*", &short()).unwrap();
    assert_eq!(response.status, 200);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let base = local(|_, _stream| std::thread::sleep(Duration::from_secs(10)));
    let started = Instant::now();
    let error = get(&base, "*/*", &short()).unwrap_err();
    assert!(matches!(error, HttpError::Timeout(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_body_that_trickles_forever_hits_the_overall_deadline() {
    let base = local(|_, stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..200 {
            if stream.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut limits = short();
    limits.max_body = 1_000_000;
    let started = Instant::now();
    let error = get(&base, "*/*", &limits).unwrap_err();
    assert!(matches!(error, HttpError::Timeout(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let base = local(|_, stream| reply(stream, "200 OK", &"x".repeat(5000)));
    let error = get(&base, "*/*", &short()).unwrap_err();
    assert_eq!(error, HttpError::TooLarge(1024));
}

#[test]
fn redirects_are_followed_a_bounded_number_of_times() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    serve(listener, move |head, stream| {
        if head.starts_with("GET /final ") {
            reply(stream, "200 OK", "done");
        } else if head.starts_with("GET /once ") {
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/final\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        } else {
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let once = get(&format!("http://127.0.0.1:{port}/once"), "*/*", &short()).unwrap();
    assert_eq!(once.body, b"done");
    let error = get(&format!("http://127.0.0.1:{port}/loop"), "*/*", &short()).unwrap_err();
    assert!(matches!(error, HttpError::Redirect(_)), "{error:?}");
}

#[test]
fn a_refused_connection_says_so_without_credentials() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = get(
        &format!("http://reader:s3cret@127.0.0.1:{port}/"),
        "*/*",
        &short(),
    )
    .unwrap_err();
    assert!(matches!(error, HttpError::Transport(_)), "{error:?}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

/// `https://` speaks TLS and verifies the certificate: a self-signed one is refused.
#[test]
fn https_verifies_the_server_certificate() {
    let Some(openssl) = support::external_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(&openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Running(
        Command::new(&openssl)
            .args([
                "s_server", "-quiet", "-www", "-key", "key.pem", "-cert", "cert.pem",
            ])
            .args(["-accept", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut limits = short();
    limits.overall = Duration::from_secs(5);
    limits.read = Duration::from_secs(3);
    let error = get(&format!("https://127.0.0.1:{port}/"), "*/*", &limits).unwrap_err();
    let text = error.to_string().to_lowercase();
    assert!(matches!(error, HttpError::Transport(_)), "{error:?}");
    assert!(
        text.contains("certificate") || text.contains("issuer"),
        "{text}"
    );
}
