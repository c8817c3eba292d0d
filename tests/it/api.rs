//! depot-server's API semantics through the SDK and raw HTTP: token scopes, revocation,
//! bad input, persistence across restarts, trust policies.

use depot_core::connect::Code;
use depot_core::proto::depot::cli::v1::{
    CreateBuildRequest, GetBuildRequest, GetPullTokenRequest, ListBuildsRequest,
};
use depot_core::proto::depot::cli::v1beta1::{
    FinishLoginRequest, ListProjectsRequest, ResetProjectCacheRequest, StartLoginRequest,
};
use depot_core::proto::depot::core::v1::{
    AddTrustPolicyRequest, CachePolicy, CreateProjectRequest, DeleteProjectRequest,
    GetProjectRequest, ListOrganizationsRequest, ListTrustPoliciesRequest,
    RemoveTrustPolicyRequest, UpdateProjectRequest, add_trust_policy_request, trust_policy,
};
use depot_tests::{Server, http};
use prost::Message;

#[tokio::test]
async fn project_tokens_only_reach_their_project() {
    let server = Server::start().await;
    let boot = server.bootstrap("gina");
    let admin = server.client(&boot.token);
    let other = admin
        .project_admin()
        .create_project(CreateProjectRequest {
            name: "other".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .project
        .unwrap()
        .project_id;
    let token = server.admin_ok(&["token", "create", "--project", &boot.project_id]);
    let scoped = server.client(token.trim());

    let listed = scoped
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap()
        .projects;
    assert_eq!(
        listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [boot.project_id.as_str()]
    );
    assert_eq!(
        admin
            .projects()
            .list_projects(ListProjectsRequest {})
            .await
            .unwrap()
            .projects
            .len(),
        2
    );

    scoped
        .projects()
        .reset_project_cache(ResetProjectCacheRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap();
    let denied = [
        scoped
            .projects()
            .reset_project_cache(ResetProjectCacheRequest {
                project_id: other.clone(),
            })
            .await
            .unwrap_err(),
        scoped
            .project_admin()
            .get_project(GetProjectRequest {
                project_id: other.clone(),
            })
            .await
            .unwrap_err(),
        scoped
            .builds()
            .list_builds(ListBuildsRequest {
                project_id: other.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        scoped
            .builds()
            .create_build(CreateBuildRequest {
                project_id: Some(other.clone()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        scoped
            .builds()
            .get_pull_token(GetPullTokenRequest {
                project_id: Some(other.clone()),
                build_id: Some(String::new()),
            })
            .await
            .unwrap_err(),
        scoped
            .project_admin()
            .delete_project(DeleteProjectRequest {
                project_id: boot.project_id.clone(),
            })
            .await
            .unwrap_err(),
        scoped
            .project_admin()
            .create_project(CreateProjectRequest {
                name: "sneaky".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ];
    for err in denied {
        assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    }
    // A project token builds in its own project even without naming it.
    let build = scoped
        .builds()
        .create_build(CreateBuildRequest::default())
        .await
        .unwrap();
    assert_eq!(build.project_id, boot.project_id);
    assert!(
        build.additional_tags[0]
            .tag
            .ends_with(&format!("/{}:{}", boot.project_id, build.build_id))
    );

    // Build tokens reach their own build only.
    let build_client = server.client(&build.build_token);
    let got = build_client
        .builds()
        .get_build(GetBuildRequest {
            build_id: build.build_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(got.project_id, boot.project_id);
    let err = build_client
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let second = admin
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(boot.project_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = build_client
        .builds()
        .get_build(GetBuildRequest {
            build_id: second.build_id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Unknown projects are not_found (the official CLI's onboarding path relies on it).
    let err = admin
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some("nope".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn revoked_and_bogus_tokens_are_unauthenticated() {
    let server = Server::start().await;
    let boot = server.bootstrap("hank");
    let created = server.admin_ok(&["token", "create", "--org", &boot.org_id, "--output", "json"]);
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let client = server.client(created["token"].as_str().unwrap());
    assert_eq!(
        client
            .projects()
            .list_projects(ListProjectsRequest {})
            .await
            .unwrap()
            .projects
            .len(),
        1
    );

    server.admin_ok(&["token", "revoke", created["id"].as_str().unwrap()]);
    let err = client
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        !server
            .admin(&["token", "revoke", created["id"].as_str().unwrap()])
            .status
            .success()
    );

    let err = server
        .client("dpu_made_up")
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let response = http(
        &server.url,
        "POST",
        "/depot.cli.v1beta1.ProjectsService/ListProjects",
        &[("content-type", "application/proto")],
        b"",
    )
    .await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"unauthenticated""#), "{body}");

    let expiring = server.admin_ok(&[
        "token",
        "create",
        "--user",
        &boot.user_id,
        "--expires-in",
        "1s",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let err = server
        .client(expiring.trim())
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let server = Server::start().await;
    let boot = server.bootstrap("iris");
    let auth = format!("Bearer {}", boot.token);
    let headers = [
        ("content-type", "application/proto"),
        ("authorization", auth.as_str()),
    ];
    let create = "/depot.core.v1.ProjectService/CreateProject";

    // Garbage protobuf: a field tag with wire type 7 does not exist.
    let response = http(&server.url, "POST", create, &headers, &[0x0f, 0xff, 0xff]).await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""code":"invalid_argument""#), "{body}");

    // Valid protobuf, invalid values.
    for bad in [
        CreateProjectRequest {
            name: "   ".into(),
            ..Default::default()
        },
        CreateProjectRequest {
            name: "x".into(),
            region_id: "../etc".into(),
            ..Default::default()
        },
        CreateProjectRequest {
            name: "x".into(),
            cache_policy: Some(CachePolicy {
                keep_bytes: -1,
                keep_days: 1,
            }),
            ..Default::default()
        },
    ] {
        let response = http(&server.url, "POST", create, &headers, &bad.encode_to_vec()).await;
        let (status, body) = (response.status, response.text());
        assert_eq!(status, 400, "{body}");
    }
    // Oversized body.
    let huge = vec![0u8; 17 * 1024 * 1024];
    let response = http(&server.url, "POST", create, &headers, &huge).await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("resource_exhausted"), "{body}");
    // JSON of the wrong shape (the JSON codec is tested in protocols.rs).
    let json_headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let response = http(&server.url, "POST", create, &json_headers, br#"{"name":5}"#).await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("not a valid depot.core.v1.CreateProjectRequest in JSON"),
        "{body}"
    );
    // A content type no protocol here uses.
    let text_headers = [
        ("content-type", "text/plain"),
        ("authorization", auth.as_str()),
    ];
    let response = http(&server.url, "POST", create, &text_headers, b"name=x").await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 415, "{body}");
    assert!(
        response.header("accept-post").contains("application/grpc"),
        "{}",
        response.header("accept-post")
    );
    assert!(
        body.contains("Connect (protobuf or JSON) and gRPC"),
        "{body}"
    );
    // Unknown procedure.
    let response = http(
        &server.url,
        "POST",
        "/depot.cli.v1.BuildService/NoSuchMethod",
        &headers,
        b"",
    )
    .await;
    let (status, body) = (response.status, response.text());
    assert_eq!(status, 501);
    assert!(body.contains(r#""code":"unimplemented""#), "{body}");

    let client = server.client(&boot.token);
    let projects = client
        .project_admin()
        .list_projects(Default::default())
        .await
        .unwrap()
        .projects;
    assert_eq!(
        projects.len(),
        1,
        "no bad request may create a row: {projects:?}"
    );

    let err = client
        .builds()
        .list_builds(ListBuildsRequest {
            project_id: boot.project_id.clone(),
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client
        .project_admin()
        .add_trust_policy(AddTrustPolicyRequest {
            project_id: boot.project_id.clone(),
            provider: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn state_survives_a_killed_server() {
    let mut server = Server::start().await;
    let boot = server.bootstrap("jack");
    let client = server.client(&boot.token);
    let created = client
        .project_admin()
        .create_project(CreateProjectRequest {
            name: "persisted".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .project
        .unwrap();
    let build = client
        .builds()
        .create_build(CreateBuildRequest {
            project_id: Some(created.project_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let project_token = server.admin_ok(&["token", "create", "--project", &created.project_id]);

    server.restart();

    let client = server.client(&boot.token);
    let names: Vec<_> = client
        .projects()
        .list_projects(ListProjectsRequest {})
        .await
        .unwrap()
        .projects
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["default", "persisted"]);
    let builds = client
        .builds()
        .list_builds(ListBuildsRequest {
            project_id: created.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .builds;
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].id, build.build_id);
    let scoped = server.client(project_token.trim());
    assert_eq!(
        scoped
            .projects()
            .list_projects(ListProjectsRequest {})
            .await
            .unwrap()
            .projects
            .len(),
        1
    );
}

#[tokio::test]
async fn projects_trust_policies_organizations_and_paging() {
    let server = Server::start().await;
    let boot = server.bootstrap("kate");
    let client = server.client(&boot.token);
    let admin = client.project_admin();

    let updated = admin
        .update_project(UpdateProjectRequest {
            project_id: boot.project_id.clone(),
            name: Some("renamed".into()),
            region_id: None,
            cache_policy: Some(CachePolicy {
                keep_bytes: 1024,
                keep_days: 3,
            }),
        })
        .await
        .unwrap()
        .project
        .unwrap();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.region_id, "us-east-1");
    assert_eq!(
        updated.cache_policy,
        Some(CachePolicy {
            keep_bytes: 1024,
            keep_days: 3
        })
    );

    let added = admin
        .add_trust_policy(AddTrustPolicyRequest {
            project_id: boot.project_id.clone(),
            provider: Some(add_trust_policy_request::Provider::Github(
                trust_policy::GitHub {
                    repository_owner: "acme".into(),
                    repository: "app".into(),
                },
            )),
        })
        .await
        .unwrap()
        .trust_policy
        .unwrap();
    let listed = admin
        .list_trust_policies(ListTrustPoliciesRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap()
        .trust_policies;
    assert_eq!(listed, vec![added.clone()]);
    admin
        .remove_trust_policy(RemoveTrustPolicyRequest {
            project_id: boot.project_id.clone(),
            trust_policy_id: added.trust_policy_id.clone(),
        })
        .await
        .unwrap();
    let err = admin
        .remove_trust_policy(RemoveTrustPolicyRequest {
            project_id: boot.project_id.clone(),
            trust_policy_id: added.trust_policy_id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let orgs = client
        .organizations()
        .list_organizations(ListOrganizationsRequest {})
        .await
        .unwrap()
        .organizations;
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].org_id, boot.org_id);

    let mut ids = Vec::new();
    for _ in 0..5 {
        let b = client
            .builds()
            .create_build(CreateBuildRequest {
                project_id: Some(boot.project_id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(b.build_id);
    }
    ids.reverse();
    let mut paged = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .builds()
            .list_builds(ListBuildsRequest {
                project_id: boot.project_id.clone(),
                page_size: 2,
                page_token,
            })
            .await
            .unwrap();
        assert!(page.builds.len() <= 2);
        paged.extend(page.builds.into_iter().map(|b| b.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(paged, ids, "pages cover every build once, newest first");

    admin
        .delete_project(DeleteProjectRequest {
            project_id: boot.project_id.clone(),
        })
        .await
        .unwrap();
    let err = admin
        .get_project(GetProjectRequest {
            project_id: boot.project_id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn finish_login_streams_the_token_after_approval() {
    let server = Server::start().await;
    let boot = server.bootstrap("liam");
    let anonymous = server.client("");
    let started = anonymous
        .login()
        .start_login(StartLoginRequest {})
        .await
        .unwrap();
    assert!(
        started.approve_url.starts_with(&server.url),
        "{}",
        started.approve_url
    );

    let err = anonymous
        .login()
        .finish_login(FinishLoginRequest {
            id: "unknown".into(),
        })
        .await
        .unwrap()
        .message()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut stream = anonymous
        .login()
        .finish_login(FinishLoginRequest {
            id: started.id.clone(),
        })
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        let first = stream.message().await;
        let end = stream.message().await;
        (first, end)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "FinishLogin must wait for approval");
    server.admin_ok(&["login", "approve", &started.id, "--user", &boot.user_id]);
    let (first, end) = waiter.await.unwrap();
    let token = first.unwrap().unwrap().token;
    assert!(
        end.unwrap().is_none(),
        "the stream ends cleanly after the token"
    );
    let orgs = server
        .client(&token)
        .organizations()
        .list_organizations(ListOrganizationsRequest {})
        .await
        .unwrap()
        .organizations;
    assert_eq!(orgs[0].org_id, boot.org_id);
}

#[tokio::test]
async fn admin_status_and_print_config_report_the_server() {
    let server = Server::start().await;
    let boot = server.bootstrap("nora");
    server.admin_ok(&["token", "create", "--project", &boot.project_id]);
    let status: serde_json::Value =
        serde_json::from_str(&server.admin_ok(&["status", "--output", "json"])).unwrap();
    assert_eq!(
        status,
        serde_json::json!({"database": "ok", "organizations": 1, "users": 1, "projects": 1, "live_tokens": 2})
    );

    let printed = server.admin_ok(&[
        "--listen",
        "127.0.0.1:9999",
        "--public-url",
        "https://depot.example.com",
        "--registry-gc-grace",
        "2h",
        "--print-config",
    ]);
    let config: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(config["listen"], "127.0.0.1:9999");
    assert_eq!(config["public_url"], "https://depot.example.com");
    assert_eq!(config["registry_host"], "depot.example.com");
    assert_eq!(config["registry_gc_grace"], "2h");
    assert!(!printed.contains("password"), "{printed}");
}
