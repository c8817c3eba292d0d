//! The Connect client against the Connect server codec over real sockets: unary, client- and
//! server-streaming calls, errors, timeouts, h2c and TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::Version;
use axum::routing::post;
use depot_control::connect::{decode_stream, decode_unary, stream_response, unary_response};
use depot_control::http::{ConnectionLimits, serve, tls_config};
use depot_core::connect::{Client, ClientOptions, Code, ConnectError};
use depot_core::proto::depot::cli::v1::ReportStatusStreamRequest;
use depot_core::proto::depot::cli::v1beta1::{
    ListProjectsRequest, ListProjectsResponse, ResetProjectCacheRequest, list_projects_response,
};
use futures_util::stream;

fn project(name: String) -> list_projects_response::Project {
    list_projects_response::Project {
        name,
        ..Default::default()
    }
}

/// `/test.Echo/Version` answers with the HTTP version the request arrived on and the bearer
/// token; `/test.Echo/Count` (client stream) with one project per received message;
/// `/test.Echo/Repeat` (server stream) repeats the request's project id N times, then fails if
/// asked to; `/test.Echo/Slow` sleeps; `/test.Echo/Fail` fails with `not_found`.
fn test_router() -> Router {
    Router::new()
        .route(
            "/test.Echo/Version",
            post(|request: Request| async move {
                let version = format!("{:?}", request.version());
                let auth = request
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let (parts, body) = request.into_parts();
                let result = decode_unary::<ListProjectsRequest>(&parts.headers, body)
                    .await
                    .map(|_| ListProjectsResponse {
                        projects: vec![project(version), project(auth)],
                    });
                unary_response(result)
            }),
        )
        .route(
            "/test.Echo/Count",
            post(|request: Request| async move {
                let (parts, body) = request.into_parts();
                let result = async {
                    let mut messages =
                        decode_stream::<ReportStatusStreamRequest>(&parts.headers, body)?;
                    let mut projects = Vec::new();
                    while let Some(m) = messages.message().await? {
                        projects.push(project(m.build_id));
                    }
                    Ok::<_, ConnectError>(ListProjectsResponse { projects })
                };
                match result.await {
                    Ok(response) => stream_response(stream::iter([Ok(response)])),
                    Err(err) => {
                        stream_response(stream::iter([Err::<ListProjectsResponse, _>(err)]))
                    }
                }
            }),
        )
        .route(
            "/test.Echo/Repeat",
            post(|request: Request| async move {
                let (parts, body) = request.into_parts();
                let mut messages =
                    decode_stream::<ResetProjectCacheRequest>(&parts.headers, body).unwrap();
                let request = messages.message().await.unwrap().unwrap();
                let (text, times) = request.project_id.split_once('*').unwrap();
                let times: usize = times.parse().unwrap();
                let fail = text == "fail";
                let items = (0..times)
                    .map(|i| {
                        Ok(ListProjectsResponse {
                            projects: vec![project(format!("{text}{i}"))],
                        })
                    })
                    .chain(
                        fail.then(|| Err(ConnectError::new(Code::Aborted, "stopped on purpose"))),
                    );
                stream_response(stream::iter(items.collect::<Vec<_>>()))
            }),
        )
        .route(
            "/test.Echo/Slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                unary_response(Ok(ListProjectsResponse::default()))
            }),
        )
        .route(
            "/test.Echo/Fail",
            post(|| async {
                unary_response::<ListProjectsResponse>(Err(ConnectError::not_found(
                    "no such thing",
                )))
            }),
        )
}

async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        tls,
        test_router(),
        ConnectionLimits::default(),
        std::future::pending(),
    ));
    addr
}

fn client(base: String, token: Option<&str>, ca: Option<Vec<u8>>) -> Client {
    let mut options = ClientOptions::new(base);
    options.token = token.map(str::to_owned);
    options.extra_ca_pem = ca;
    options.timeout = Some(Duration::from_millis(500));
    Client::new(options).unwrap()
}

async fn version_and_auth(client: &Client) -> (String, String) {
    let response: ListProjectsResponse = client
        .unary("/test.Echo/Version", &ListProjectsRequest {})
        .await
        .unwrap();
    (
        response.projects[0].name.clone(),
        response.projects[1].name.clone(),
    )
}

#[tokio::test]
async fn h2c_unary_and_both_streaming_kinds() {
    let addr = start(None).await;
    let client = client(format!("http://{addr}"), Some("tok1"), None);

    let (version, auth) = version_and_auth(&client).await;
    assert_eq!(
        version,
        format!("{:?}", Version::HTTP_2),
        "http:// must use h2c"
    );
    assert_eq!(auth, "Bearer tok1");
    assert_eq!(
        version_and_auth(&client.with_token("tok2")).await.1,
        "Bearer tok2"
    );

    let sent = (0..50).map(|i| ReportStatusStreamRequest {
        build_id: format!("b{i}"),
        ..Default::default()
    });
    let counted: ListProjectsResponse = client
        .client_stream("/test.Echo/Count", stream::iter(sent))
        .await
        .unwrap();
    let names: Vec<_> = counted.projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 50);
    assert_eq!((names[0], names[49]), ("b0", "b49"));

    let mut repeated = client
        .server_stream::<_, ListProjectsResponse>(
            "/test.Echo/Repeat",
            &ResetProjectCacheRequest {
                project_id: "x*3".into(),
            },
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(m) = repeated.message().await.unwrap() {
        got.push(m.projects[0].name.clone());
    }
    assert_eq!(got, ["x0", "x1", "x2"]);

    let mut failing = client
        .server_stream::<_, ListProjectsResponse>(
            "/test.Echo/Repeat",
            &ResetProjectCacheRequest {
                project_id: "fail*1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        failing.message().await.unwrap().unwrap().projects[0].name,
        "fail0"
    );
    let err = failing.message().await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Aborted, "stopped on purpose")
    );
}

#[tokio::test]
async fn errors_and_timeouts_are_typed() {
    let addr = start(None).await;
    let client = client(format!("http://{addr}"), None, None);

    let err = client
        .unary::<_, ListProjectsResponse>("/test.Echo/Fail", &ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.to_string(), "not_found: no such thing");

    let err = client
        .unary::<_, ListProjectsResponse>("/test.Echo/Slow", &ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);

    // No route: the server answers 405/404 without a Connect body; the code comes from HTTP.
    let err = client
        .unary::<_, ListProjectsResponse>("/nope.Service/Method", &ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Unknown, "{err}");

    // Nothing listening: unavailable, with the cause in the message.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let err = self::client(format!("http://{dead}"), None, None)
        .unary::<_, ListProjectsResponse>("/test.Echo/Version", &ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.to_string().contains("refused"), "{err}");

    let err = Client::new(ClientOptions::new("ftp://x")).unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn tls_negotiates_h2_and_verifies_the_server() {
    let key = rcgen::KeyPair::generate().unwrap();
    let ca_params = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p
    };
    let ca = ca_params.self_signed(&key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, server_cert.pem()).unwrap();
    std::fs::write(&key_path, server_key.serialize_pem()).unwrap();

    let addr = start(Some(tls_config(&cert_path, &key_path).unwrap())).await;
    let base = format!("https://localhost:{}", addr.port());

    let trusted = client(base.clone(), Some("t"), Some(ca.pem().into_bytes()));
    let (version, _) = version_and_auth(&trusted).await;
    assert_eq!(
        version,
        format!("{:?}", Version::HTTP_2),
        "ALPN must pick h2"
    );

    let untrusted = client(base, None, None);
    let err = untrusted
        .unary::<_, ListProjectsResponse>("/test.Echo/Version", &ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let err = Client::new(ClientOptions {
        extra_ca_pem: Some(b"not pem".to_vec()),
        ..ClientOptions::new("https://localhost")
    })
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn http1_clients_are_served_on_the_same_port() {
    let addr = start(None).await;
    // A raw HTTP/1.1 unary Connect call, as curl would send it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"POST /test.Echo/Fail HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        response.contains(r#"{"code":"not_found","message":"no such thing"}"#),
        "{response}"
    );
}
