//! Every procedure on its path in three protocols: Connect with the JSON codec (real `curl`,
//! and a Connect JSON stream), gRPC (a tonic client over HTTP/2, unary and client-streaming),
//! besides Connect with protobuf (everything else). Each test observes what the call did.

use std::process::Command;

use depot_core::proto::depot::cli::v1::{
    CreateBuildRequest, GetBuildRequest, GetBuildResponse, ReportStatusStreamRequest,
    ReportStatusStreamResponse,
};
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;
use depot_core::proto::moby::buildkit::v1::{StatusResponse, Vertex};
use depot_tests::{Server, http, text};
use http::uri::PathAndQuery;
use serde_json::{Value, json};

/// `curl` POSTing `body` as JSON to `procedure` with `token`: HTTP status and JSON body.
fn curl_json(server: &Server, token: &str, procedure: &str, body: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--data",
            body,
            &format!("{}{procedure}", server.url),
        ])
        .output()
        .expect("running curl");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').expect("a status line");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status.parse().unwrap(), json)
}

fn step(digest: &str, name: &str) -> Vertex {
    let at = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    Vertex {
        digest: digest.into(),
        name: name.into(),
        started: Some(at(100)),
        completed: Some(at(102)),
        ..Default::default()
    }
}

/// The steps depot-server keeps for `build_id` (`depot-server build show`).
/// A gRPC request of `message` carrying `token`.
fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn steps(server: &Server, build_id: &str) -> Vec<String> {
    let shown = server.admin_ok(&["build", "show", build_id, "--output", "json"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn connect_json_reaches_every_service() {
    let server = Server::start().await;
    let boot = server.bootstrap("json");

    // The CLI's API and the management API, from curl; camelCase keys as the JSON mapping asks.
    let (status, listed) = curl_json(
        &server,
        &boot.token,
        "/depot.cli.v1beta1.ProjectsService/ListProjects",
        "{}",
    );
    assert_eq!(status, 200, "{listed}");
    let projects = listed["projects"].as_array().unwrap();
    assert!(
        projects
            .iter()
            .any(|p| p["id"] == boot.project_id.as_str() && p["orgId"] == boot.org_id.as_str()),
        "{listed}"
    );
    let (status, created) = curl_json(
        &server,
        &boot.token,
        "/depot.core.v1.ProjectService/CreateProject",
        r#"{"name": "made-with-json"}"#,
    );
    assert_eq!(status, 200, "{created}");
    let id = created["project"]["projectId"].as_str().expect("projectId");
    // Created for real: the protobuf client sees it.
    let seen = server
        .client(&boot.token)
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap();
    assert!(
        seen.projects
            .iter()
            .any(|p| p.id == id && p.name == "made-with-json")
    );

    // Errors are the same JSON: a bad token, a body of the wrong shape.
    let (status, error) = curl_json(
        &server,
        "not-a-token",
        "/depot.cli.v1beta1.ProjectsService/ListProjects",
        "{}",
    );
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, error) = curl_json(
        &server,
        &boot.token,
        "/depot.core.v1.ProjectService/CreateProject",
        r#"{"name": ["x"]}"#,
    );
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_argument"))
    );

    // A client stream in JSON (application/connect+json): the steps are kept.
    let build = server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let message = json!({
        "buildId": build.build_id,
        "statuses": [{ "vertexes": [{
            "digest": "sha256:j", "name": "[1/1] RUN from-json",
            "started": "1970-01-01T00:01:40Z", "completed": "1970-01-01T00:01:42Z"
        }]}]
    })
    .to_string();
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message.as_bytes());
    let auth = format!("Bearer {}", build.build_token);
    let response = http(
        &server.url,
        "POST",
        "/depot.cli.v1.BuildService/ReportStatusStream",
        &[
            ("content-type", "application/connect+json"),
            ("authorization", &auth),
        ],
        &body,
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), "application/connect+json");
    // The (empty) response message in JSON, then the end of the stream without an error.
    let bytes = response.body.to_vec();
    assert_eq!(bytes, b"\x00\x00\x00\x00\x02{}\x02\x00\x00\x00\x02{}");
    assert_eq!(steps(&server, &build.build_id), ["[1/1] RUN from-json"]);
}

#[tokio::test]
async fn grpc_clients_call_procedures_over_http2() {
    let server = Server::start().await;
    let boot = server.bootstrap("grpc");
    let build = server
        .client(&boot.token)
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .expect("an HTTP/2 connection");
    let mut grpc = tonic::client::Grpc::new(channel);

    // Unary.
    grpc.ready().await.unwrap();
    let got: GetBuildResponse = grpc
        .unary(
            authorized(
                GetBuildRequest {
                    build_id: build.build_id.clone(),
                },
                &boot.token,
            ),
            PathAndQuery::from_static("/depot.cli.v1.BuildService/GetBuild"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("GetBuild over gRPC")
        .into_inner();
    assert_eq!(got.build_id, build.build_id);
    assert_eq!(got.project_id, boot.project_id);
    assert_eq!(got.build_url, build.build_url);

    // Client streaming: the steps are kept.
    let batches =
        ["[1/2] COPY . /src", "[2/2] RUN from-grpc"].map(|name| ReportStatusStreamRequest {
            build_id: build.build_id.clone(),
            statuses: vec![StatusResponse {
                vertexes: vec![step(&format!("sha256:{}", name.len()), name)],
                ..Default::default()
            }],
            ..Default::default()
        });
    grpc.ready().await.unwrap();
    let _: ReportStatusStreamResponse = grpc
        .client_streaming(
            authorized(tokio_stream::iter(batches), &build.build_token),
            PathAndQuery::from_static("/depot.cli.v1.BuildService/ReportStatusStream"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("ReportStatusStream over gRPC")
        .into_inner();
    assert_eq!(
        steps(&server, &build.build_id),
        ["[1/2] COPY . /src", "[2/2] RUN from-grpc"]
    );

    // Errors are gRPC statuses.
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, GetBuildResponse, _>(
            authorized(GetBuildRequest::default(), "not-a-token"),
            PathAndQuery::from_static("/depot.cli.v1.BuildService/GetBuild"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, GetBuildResponse, _>(
            authorized(GetBuildRequest::default(), &boot.token),
            PathAndQuery::from_static("/depot.cli.v1.BuildService/NoSuchMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("NoSuchMethod"), "{status:?}");
}
