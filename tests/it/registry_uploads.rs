//! Unfinished registry uploads: a monolithic upload abandoned halfway leaves nothing staged, a
//! chunk abandoned halfway leaves its session where it was acknowledged, a completion with a
//! bad digest ends its session, and one project cannot stage more than its quota.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use depot_tests::{HttpResponse, RegistryClient as Registry, Server, sha256};

fn error_code(r: &HttpResponse) -> String {
    r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sends `method path` declaring `declared` bytes, then only `sent` of them, and hangs up.
fn send_part_and_hang_up(
    server: &Server,
    reg: &Registry,
    method: &str,
    path: &str,
    declared: usize,
    sent: usize,
) {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n",
        reg.authorization()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![7u8; sent]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
}

/// Waits until `done` holds (or fails after 10 s).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_leave_nothing_behind() {
    let server = Server::start().await;
    let boot = server.bootstrap("abandon");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);

    // A monolithic upload cut off halfway: its session can never be resumed, so it goes.
    let digest = sha256(&vec![7u8; 8 << 20]);
    send_part_and_hang_up(
        &server,
        &reg,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        8 << 20,
        4 << 20,
    );
    eventually("the abandoned monolithic upload is removed", || {
        server.staged_uploads() == (0, 0)
    });

    // A chunk cut off halfway: the session stays where it was acknowledged and resumes.
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    let first = vec![1u8; 1000];
    let r = reg
        .call(
            "PATCH",
            &location,
            &[
                ("content-range", "0-999"),
                ("content-type", "application/octet-stream"),
            ],
            &first,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    send_part_and_hang_up(&server, &reg, "PATCH", &location, 4 << 20, 2 << 20);
    eventually("the broken chunk is cut back", || {
        server.staged_uploads() == (1, 1000)
    });
    let status = reg.call("GET", &location, &[], b"").await;
    assert_eq!(status.status, 204);
    assert_eq!(status.header("range"), "0-999");
    let second = vec![2u8; 500];
    let r = reg
        .call(
            "PATCH",
            &location,
            &[
                ("content-range", "1000-1499"),
                ("content-type", "application/octet-stream"),
            ],
            &second,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let whole = [first.as_slice(), second.as_slice()].concat();
    let separator = if location.contains('?') { '&' } else { '?' };
    let done = reg
        .call(
            "PUT",
            &format!("{location}{separator}digest={}", sha256(&whole)),
            &[],
            b"",
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(server.staged_uploads(), (0, 0));

    // A completion with a digest that is not one ends the session.
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    reg.call("PATCH", &location, &[], b"some bytes").await;
    let bad = reg
        .call(
            "PUT",
            &format!("{location}{separator}digest=sha256:nothex"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (bad.status, error_code(&bad).as_str()),
        (400, "DIGEST_INVALID")
    );
    let gone = reg.call("GET", &location, &[], b"").await;
    assert_eq!(
        (gone.status, error_code(&gone).as_str()),
        (404, "BLOB_UPLOAD_UNKNOWN")
    );
    assert_eq!(server.staged_uploads(), (0, 0));
}

#[tokio::test]
async fn a_project_cannot_stage_more_than_its_quota() {
    let server = Server::start_with(
        [
            "--registry-upload-quota",
            "1000000",
            "--registry-upload-sessions",
            "3",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let boot = server.bootstrap("quota");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);
    let start = || async {
        reg.call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
            .await
            .header("location")
            .to_owned()
    };
    let (a, b) = (start().await, start().await);
    assert_eq!(
        reg.call("PATCH", &a, &[], &vec![0u8; 600_000]).await.status,
        202
    );
    let refused = reg.call("PATCH", &b, &[], &vec![0u8; 600_000]).await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (413, "DENIED"),
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("unfinished uploads"),
        "{}",
        refused.text()
    );
    assert_eq!(
        server.staged_uploads(),
        (2, 600_000),
        "nothing of the refused chunk stays"
    );
    // The refused chunk left the session usable; cancelling the other frees the quota.
    assert_eq!(reg.call("DELETE", &a, &[], b"").await.status, 204);
    assert_eq!(
        reg.call("PATCH", &b, &[], &vec![0u8; 600_000]).await.status,
        202
    );

    // Sessions are capped too; another project has a quota of its own.
    let (_c, _d) = (start().await, start().await);
    let fourth = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    assert_eq!(
        (fourth.status, error_code(&fourth).as_str()),
        (429, "DENIED")
    );
    let other = server.bootstrap("quota-other");
    let theirs = Registry::new(&server, &other.token);
    let digest = theirs
        .push_blob(&format!("{}/app", other.project_id), &vec![3u8; 900_000])
        .await;
    assert!(server.blob_stored(&digest).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_body_fails_within_the_body_read_timeout() {
    let server = Server::start_with(["--body-read-timeout", "1s"].map(String::from).to_vec()).await;
    let boot = server.bootstrap("stall");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n",
        reg.authorization()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[5u8; 100]).unwrap();
    // Then nothing: the request fails once the body has been silent for the timeout.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut answer = [0u8; 64];
    let read = std::io::Read::read(&mut stream, &mut answer).unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stalled request was answered after {:?}",
        started.elapsed()
    );
    assert!(read == 0 || answer.starts_with("HTTP/1.1 400"), "{answer}");
    // The session holds none of the stalled chunk and takes the next one.
    eventually("the stalled chunk is cut back", || {
        server.staged_uploads() == (1, 0)
    });
    let r = reg
        .call("PATCH", &location, &[("content-range", "0-3")], b"next")
        .await;
    assert_eq!((r.status, r.header("range")), (202, "0-3"));
}
