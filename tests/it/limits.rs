//! depot-server's edges against clients that hold connections open, send slowly, open too many
//! or declare huge bodies: each is disconnected or refused within its limit, and real clients
//! keep being served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use depot_tests::{Server, raise_open_files_limit, rss, text};

/// The server's API address.
fn address(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("a host:port")
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// whether it closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (text(&received), true),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                return (text(&received), true);
            }
            Err(_) => {}
        }
    }
    (text(&received), false)
}

/// A connection from `source` (another loopback address stands for another client).
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    rustix::net::bind(&socket, &source).unwrap();
    rustix::net::connect(&socket, &to).unwrap();
    TcpStream::from(socket)
}

/// `GET /healthz` on `stream`: whether the server answered 200.
fn healthy(stream: &mut TcpStream) -> bool {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: depot\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = read_until_closed(stream, Duration::from_secs(10));
    answer.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn silent_and_slow_clients_are_disconnected_within_the_header_timeout() {
    let server = Server::start_with(vec!["--header-timeout".into(), "1s".into()]).await;
    let to = address(&server);

    // A connection that sends nothing.
    let mut silent = TcpStream::connect(to).unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10));
    assert!(closed, "a silent connection was kept open");

    // Slowloris: a header line every 300 ms, never the end of the headers.
    let mut slow = TcpStream::connect(to).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: depot\r\n")
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(300));
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            closed = true;
            break;
        }
        let (_, gone) = read_until_closed(&mut slow, Duration::from_millis(10));
        if gone {
            closed = true;
            break;
        }
    }
    assert!(closed, "a client sending headers slowly was kept connected");

    // A kept-alive connection that goes quiet after a request is closed too.
    let mut idle = TcpStream::connect(to).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: depot\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle kept-alive connection was kept open");
}

#[tokio::test]
async fn a_flood_of_idle_connections_from_one_address_leaves_others_served() {
    raise_open_files_limit();
    let server = Server::start_with(vec![
        "--max-connections-per-client".into(),
        "100".into(),
        // Long enough that only the per-client limit can close the flood's connections.
        "--header-timeout".into(),
        "120s".into(),
    ])
    .await;
    let to = address(&server);
    let pid = server.pid().expect("a running server");
    let before = rss(pid);

    // 10 000 connections from 127.0.0.1 that send nothing: the server keeps at most 100 of
    // them and closes the rest as soon as it accepts them.
    let mut flood = Vec::new();
    for _ in 0..10_000 {
        match TcpStream::connect(to) {
            Ok(stream) => flood.push(stream),
            Err(err) => panic!("connecting failed after {} connections: {err}", flood.len()),
        }
    }
    // Another client is served meanwhile.
    assert!(
        healthy(&mut connect_from("127.0.0.2", to)),
        "a client from another address was not served during the flood"
    );
    // Connections over the limit were closed by the server.
    let mut closed = 0;
    for stream in flood.iter_mut().rev().take(200) {
        if read_until_closed(stream, Duration::from_millis(50)).1 {
            closed += 1;
        }
    }
    assert!(
        closed >= 100,
        "only {closed} of the last 200 flood connections were closed"
    );
    let during = rss(pid);
    drop(flood);
    // Once the flood is gone, the flooding address is served again and memory comes back.
    let started = Instant::now();
    while !healthy(&mut TcpStream::connect(to).unwrap()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "127.0.0.1 was not served after the flood"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = rss(pid);
    assert!(
        after < before + (64 << 20),
        "memory grew from {before} to {after} bytes (during the flood: {during})"
    );
}

#[tokio::test]
async fn bodies_declared_over_a_limit_are_refused_before_they_are_read() {
    let server = Server::start().await;
    let to = address(&server);
    let boot = server.bootstrap("limits");
    let project = &boot.project_id;
    // Each request declares 10^12 bytes and sends 10: the answer must not wait for the rest.
    let requests = [
        format!("POST /v2/{project}/blobs/uploads/ HTTP/1.1\r\n"),
        format!("PATCH /v2/{project}/blobs/uploads/abc HTTP/1.1\r\n"),
        format!("PUT /v2/{project}/manifests/v1 HTTP/1.1\r\n"),
        "POST /depot.cli.v1beta1.ProjectsService/ListProjects HTTP/1.1\r\n\
         Content-Type: application/proto\r\n"
            .to_owned(),
    ];
    for request in requests {
        let mut stream = TcpStream::connect(to).unwrap();
        stream
            .write_all(
                format!(
                    "{request}Host: depot\r\nAuthorization: Bearer {}\r\n\
                     Content-Length: 1000000000000\r\n\r\n0123456789",
                    boot.token
                )
                .as_bytes(),
            )
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = [0u8; 512];
        let n = stream.read(&mut head).unwrap_or(0);
        let head = text(&head[..n]);
        let first_line = head.lines().next().unwrap_or_default();
        assert!(
            first_line.contains(" 413 ") || first_line.contains(" 429 "),
            "{request}: {head}"
        );
    }
}
