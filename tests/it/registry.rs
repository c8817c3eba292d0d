//! OCI Distribution Spec v1.1 conformance of depot-server's registry, over real HTTP: the
//! spec's four categories (pull, push, content discovery, content management), every upload
//! mode, error cases, token scopes and crash safety.

use depot_tests::{HttpResponse, RegistryClient as Registry, Server, http, image_manifest, sha256};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

use depot_tests::OCI_MANIFEST;
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn error_code(r: &HttpResponse) -> String {
    r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn pull_and_push_with_every_upload_mode() {
    let server = Server::start().await;
    let boot = server.bootstrap("reg1");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/app", boot.project_id);

    // Base endpoint and the token flow docker login uses.
    let anonymous = http(&server.url, "GET", "/v2/", &[], b"").await;
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous
            .header("www-authenticate")
            .starts_with("Bearer realm=\""),
        "{:?}",
        anonymous.headers
    );
    let base = reg.call("GET", "/v2/", &[], b"").await;
    assert_eq!(
        (base.status, base.header("content-type"), base.json()),
        (200, "application/json", json!({}))
    );
    let token = reg
        .call(
            "GET",
            "/auth/token?service=x&scope=repository:a:pull",
            &[],
            b"",
        )
        .await;
    assert_eq!(token.status, 200);
    let bearer = format!("Bearer {}", token.json()["token"].as_str().unwrap());
    assert_eq!(
        http(
            &server.url,
            "GET",
            "/v2/",
            &[("authorization", &bearer)],
            b""
        )
        .await
        .status,
        200
    );
    let bad = http(
        &server.url,
        "GET",
        "/v2/",
        &[("authorization", "Bearer nope")],
        b"",
    )
    .await;
    assert_eq!(
        (bad.status, error_code(&bad).as_str()),
        (401, "UNAUTHORIZED")
    );

    // Monolithic: POST then PUT with the whole body.
    let data = b"monolithic blob".to_vec();
    let start = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    assert_eq!(start.status, 202);
    let location = start.header("location").to_owned();
    assert!(
        location.starts_with(&format!("/v2/{repo}/blobs/uploads/")),
        "{location}"
    );
    let put = reg
        .call(
            "PUT",
            &format!("{location}?digest={}", sha256(&data)),
            &[("content-type", "application/octet-stream")],
            &data,
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(put.header("docker-content-digest"), sha256(&data));
    let got = reg
        .call(
            "GET",
            &format!("/v2/{repo}/blobs/{}", sha256(&data)),
            &[],
            b"",
        )
        .await;
    assert_eq!((got.status, &got.body[..]), (200, &data[..]));

    // Chunked: PATCH with Content-Range, then PUT with no body.
    let chunked: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let start = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    let location = start.header("location").to_owned();
    let (a, b) = chunked.split_at(150_000);
    let first = reg
        .call("PATCH", &location, &[("content-range", "0-149999")], a)
        .await;
    assert_eq!((first.status, first.header("range")), (202, "0-149999"));
    // A chunk that does not start where the upload stands is refused.
    let gap = reg
        .call(
            "PATCH",
            &location,
            &[("content-range", "150001-150010")],
            &b[..10],
        )
        .await;
    assert_eq!(gap.status, 416);
    let status = reg.call("GET", &location, &[], b"").await;
    assert_eq!((status.status, status.header("range")), (204, "0-149999"));
    let range = format!("150000-{}", chunked.len() - 1);
    assert_eq!(
        reg.call("PATCH", &location, &[("content-range", &range)], b)
            .await
            .status,
        202
    );
    let put = reg
        .call(
            "PUT",
            &format!("{location}?digest={}", sha256(&chunked)),
            &[],
            b"",
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text());

    // Streamed: PATCH without Content-Range, final chunk on the PUT, sha512.
    let streamed = b"streamed part one, ".to_vec();
    let tail = b"and the final part".to_vec();
    let whole = [streamed.clone(), tail.clone()].concat();
    let sha512 = format!("sha512:{}", hex::encode(Sha512::digest(&whole)));
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    assert_eq!(
        reg.call("PATCH", &location, &[], &streamed).await.status,
        202
    );
    let put = reg
        .call("PUT", &format!("{location}?digest={sha512}"), &[], &tail)
        .await;
    assert_eq!(put.status, 201, "{}", put.text());
    let head = reg
        .call("HEAD", &format!("/v2/{repo}/blobs/{sha512}"), &[], b"")
        .await;
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, whole.len().to_string().as_str())
    );

    // Range reads.
    let blob = format!("/v2/{repo}/blobs/{}", sha256(&chunked));
    let part = reg
        .call("GET", &blob, &[("range", "bytes=10-19")], b"")
        .await;
    assert_eq!((part.status, &part.body[..]), (206, &chunked[10..20]));
    assert_eq!(
        part.header("content-range"),
        format!("bytes 10-19/{}", chunked.len())
    );
    let beyond = reg
        .call("GET", &blob, &[("range", "bytes=999999999-")], b"")
        .await;
    assert_eq!(
        (beyond.status, error_code(&beyond).as_str()),
        (416, "RANGE_INVALID")
    );
    assert_eq!(
        beyond.header("content-range"),
        format!("bytes */{}", chunked.len())
    );
    // RFC 9110: another unit, several ranges or a malformed one are ignored: the whole blob.
    for ignored in ["items=0-5", "bytes=0-1,5-9", "bytes=9-2"] {
        let whole = reg.call("GET", &blob, &[("range", ignored)], b"").await;
        assert_eq!(
            (whole.status, whole.body.len()),
            (200, chunked.len()),
            "{ignored}"
        );
    }

    // A body that does not match its digest is refused and leaves nothing behind.
    let wrong = sha256(b"something else");
    let r = reg
        .call(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={wrong}"),
            &[],
            b"actual",
        )
        .await;
    assert_eq!((r.status, error_code(&r).as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{repo}/blobs/{wrong}"), &[], b"")
            .await
            .status,
        404
    );
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    let r = reg
        .call("PUT", &format!("{location}?digest={wrong}"), &[], b"actual")
        .await;
    assert_eq!(error_code(&r), "DIGEST_INVALID");
    assert_eq!(
        reg.call("GET", &location, &[], b"").await.status,
        404,
        "a failed upload is discarded"
    );

    // Cancel.
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    assert_eq!(reg.call("DELETE", &location, &[], b"").await.status, 204);
    let gone = reg.call("GET", &location, &[], b"").await;
    assert_eq!(
        (gone.status, error_code(&gone).as_str()),
        (404, "BLOB_UPLOAD_UNKNOWN")
    );

    // Manifests need their blobs first.
    let missing = image_manifest((&sha256(b"no config"), 9), &[], None);
    let r = reg
        .put_manifest(&repo, "broken", OCI_MANIFEST, &missing)
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    let (manifest, digest) = reg.push_image(&repo, "v1", "one").await;
    for reference in ["v1", digest.as_str()] {
        let got = reg
            .call(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                &[("accept", OCI_MANIFEST)],
                b"",
            )
            .await;
        assert_eq!(
            (got.status, got.header("content-type")),
            (200, OCI_MANIFEST)
        );
        assert_eq!(got.body, manifest);
        assert_eq!(got.header("docker-content-digest"), digest);
    }
    let head = reg
        .call("HEAD", &format!("/v2/{repo}/manifests/v1"), &[], b"")
        .await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let r = reg
        .put_manifest(&repo, &sha256(b"other"), OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(error_code(&r), "DIGEST_INVALID");
    let r = reg
        .put_manifest(&repo, "junk", OCI_MANIFEST, b"{not json")
        .await;
    assert_eq!(error_code(&r), "MANIFEST_INVALID");
    let r = reg
        .put_manifest(&repo, "mismatch", DOCKER_MANIFEST, &manifest)
        .await;
    assert_eq!(
        error_code(&r),
        "MANIFEST_INVALID",
        "Content-Type must match mediaType"
    );

    // Docker schema 2 and an index over two manifests.
    let (second_manifest, second) = reg.push_image(&repo, "v2", "two").await;
    let mut docker = serde_json::from_slice::<Value>(&image_manifest(
        (&reg.push_blob(&repo, b"{\"os\":\"linux\"}").await, 14),
        &[],
        None,
    ))
    .unwrap();
    docker["mediaType"] = json!(DOCKER_MANIFEST);
    let docker = serde_json::to_vec(&docker).unwrap();
    assert_eq!(
        reg.put_manifest(&repo, "docker", DOCKER_MANIFEST, &docker)
            .await
            .status,
        201
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": second, "size": second_manifest.len(), "platform": {"os": "linux", "architecture": "arm64"}},
        ]
    }))
    .unwrap();
    // Descriptors must give the sizes of what they name (the spec: MANIFEST_INVALID), and
    // nothing is recorded when they do not.
    let mut wrong_child = serde_json::from_slice::<Value>(&index).unwrap();
    wrong_child["manifests"][1]["size"] = json!(1);
    let mut wrong_layer = serde_json::from_slice::<Value>(&manifest).unwrap();
    wrong_layer["layers"][0]["size"] = json!(3);
    let mut sizeless = serde_json::from_slice::<Value>(&manifest).unwrap();
    sizeless["config"].as_object_mut().unwrap().remove("size");
    for (tag, media_type, bad) in [
        ("wrong-child", OCI_INDEX, wrong_child),
        ("wrong-layer", OCI_MANIFEST, wrong_layer),
        ("sizeless", OCI_MANIFEST, sizeless),
    ] {
        let r = reg
            .put_manifest(&repo, tag, media_type, &serde_json::to_vec(&bad).unwrap())
            .await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "MANIFEST_INVALID"),
            "{tag}: {}",
            r.text()
        );
        assert_eq!(
            reg.call("GET", &format!("/v2/{repo}/manifests/{tag}"), &[], b"")
                .await
                .status,
            404
        );
    }
    assert_eq!(
        reg.put_manifest(&repo, "multi", OCI_INDEX, &index)
            .await
            .status,
        201
    );
    let dangling = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(b"nothing"), "size": 7}]
    }))
    .unwrap();
    assert_eq!(
        error_code(
            &reg.put_manifest(&repo, "dangling", OCI_INDEX, &dangling)
                .await
        ),
        "MANIFEST_BLOB_UNKNOWN"
    );
}

#[tokio::test]
async fn content_discovery_tags_catalog_and_referrers() {
    let server = Server::start().await;
    let boot = server.bootstrap("reg2");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/lib", boot.project_id);
    let (_, subject) = reg.push_image(&repo, "base", "s").await;
    for tag in ["b", "a", "c", "d"] {
        reg.push_image(&repo, tag, tag).await;
    }

    let all = reg
        .call("GET", &format!("/v2/{repo}/tags/list"), &[], b"")
        .await;
    assert_eq!(
        all.json(),
        json!({"name": repo, "tags": ["a", "b", "base", "c", "d"]})
    );
    let page = reg
        .call("GET", &format!("/v2/{repo}/tags/list?n=2"), &[], b"")
        .await;
    assert_eq!(page.json()["tags"], json!(["a", "b"]));
    assert_eq!(
        page.header("link"),
        format!("</v2/{repo}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let next = reg
        .call("GET", &format!("/v2/{repo}/tags/list?n=2&last=b"), &[], b"")
        .await;
    assert_eq!(next.json()["tags"], json!(["base", "c"]));
    let last = reg
        .call("GET", &format!("/v2/{repo}/tags/list?n=2&last=c"), &[], b"")
        .await;
    assert_eq!(
        (last.json()["tags"].clone(), last.header("link")),
        (json!(["d"]), "")
    );
    let unknown = reg
        .call(
            "GET",
            &format!("/v2/{}/nothing/tags/list", boot.project_id),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (unknown.status, error_code(&unknown).as_str()),
        (404, "NAME_UNKNOWN")
    );

    reg.push_image(&boot.project_id, "root", "r").await;
    let catalog = reg.call("GET", "/v2/_catalog", &[], b"").await;
    assert_eq!(
        catalog.json(),
        json!({"repositories": [boot.project_id.clone(), repo.clone()]})
    );
    let first = reg.call("GET", "/v2/_catalog?n=1", &[], b"").await;
    assert_eq!(first.json()["repositories"], json!([boot.project_id]));
    assert!(
        first.header("link").contains("last="),
        "{:?}",
        first.headers
    );

    // Two artifacts referring to the base image, of different types.
    let empty = reg.push_blob(&repo, b"{}").await;
    for (kind, note) in [
        ("application/vnd.example.sbom", "sbom"),
        ("application/vnd.example.sig", "sig"),
    ] {
        let artifact = image_manifest(
            (&empty, 2),
            &[],
            Some(json!({
                "artifactType": kind,
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
                "annotations": {"note": note},
            })),
        );
        let r = reg
            .put_manifest(&repo, &sha256(&artifact), OCI_MANIFEST, &artifact)
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("oci-subject"), subject);
    }
    let referrers = reg
        .call("GET", &format!("/v2/{repo}/referrers/{subject}"), &[], b"")
        .await;
    assert_eq!(referrers.header("content-type"), OCI_INDEX);
    let listed = referrers.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0]["artifactType"],
        json!("application/vnd.example.sbom")
    );
    assert_eq!(listed[0]["annotations"], json!({"note": "sbom"}));
    let filtered = reg
        .call(
            "GET",
            &format!("/v2/{repo}/referrers/{subject}?artifactType=application/vnd.example.sig"),
            &[],
            b"",
        )
        .await;
    assert_eq!(filtered.header("oci-filters-applied"), "artifactType");
    assert_eq!(filtered.json()["manifests"].as_array().unwrap().len(), 1);
    let none = reg
        .call(
            "GET",
            &format!("/v2/{repo}/referrers/{}", sha256(b"x")),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (none.status, none.json()["manifests"].clone()),
        (200, json!([]))
    );
}

#[tokio::test]
async fn content_management_and_mounts() {
    let server = Server::start().await;
    let boot = server.bootstrap("reg3");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/svc", boot.project_id);
    let (_, digest) = reg.push_image(&repo, "keep", "k").await;
    let put = reg
        .put_manifest(
            &repo,
            "drop",
            OCI_MANIFEST,
            &reg.call("GET", &format!("/v2/{repo}/manifests/keep"), &[], b"")
                .await
                .body,
        )
        .await;
    assert_eq!(put.status, 201);

    // Deleting a tag leaves the manifest and its other tags.
    assert_eq!(
        reg.call("DELETE", &format!("/v2/{repo}/manifests/drop"), &[], b"")
            .await
            .status,
        202
    );
    assert_eq!(
        reg.call("GET", &format!("/v2/{repo}/manifests/drop"), &[], b"")
            .await
            .status,
        404
    );
    assert_eq!(
        reg.call("GET", &format!("/v2/{repo}/manifests/keep"), &[], b"")
            .await
            .status,
        200
    );
    // Deleting by digest removes the manifest and every tag pointing at it.
    assert_eq!(
        reg.call(
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            b""
        )
        .await
        .status,
        202
    );
    let r = reg
        .call("GET", &format!("/v2/{repo}/manifests/keep"), &[], b"")
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    assert_eq!(
        reg.call(
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            b""
        )
        .await
        .status,
        404
    );

    // Blobs: mount from another repository, mount without `from`, delete.
    let blob = reg.push_blob(&repo, b"shared layer").await;
    let other = format!("{}/other", boot.project_id);
    let mounted = reg
        .call(
            "POST",
            &format!("/v2/{other}/blobs/uploads/?mount={blob}&from={repo}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (mounted.status, mounted.header("location")),
        (201, format!("/v2/{other}/blobs/{blob}").as_str())
    );
    let third = format!("{}/third", boot.project_id);
    assert_eq!(
        reg.call(
            "POST",
            &format!("/v2/{third}/blobs/uploads/?mount={blob}"),
            &[],
            b""
        )
        .await
        .status,
        201
    );
    let unknown = sha256(b"never pushed");
    let fallback = reg
        .call(
            "POST",
            &format!("/v2/{third}/blobs/uploads/?mount={unknown}&from={repo}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        fallback.status, 202,
        "an impossible mount starts a regular upload"
    );
    assert_eq!(
        reg.call("DELETE", &format!("/v2/{repo}/blobs/{blob}"), &[], b"")
            .await
            .status,
        202
    );
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{repo}/blobs/{blob}"), &[], b"")
            .await
            .status,
        404
    );
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{other}/blobs/{blob}"), &[], b"")
            .await
            .status,
        200,
        "other repositories keep it"
    );

    // Grammar: bad names, references and digests.
    for (path, code) in [
        ("/v2/UPPER/manifests/x", "NAME_INVALID"),
        ("/v2/a/../b/manifests/x", "NAME_INVALID"),
        (&format!("/v2/{repo}/blobs/sha256:xyz"), "DIGEST_INVALID"),
        (
            &format!("/v2/{repo}/manifests/bad%20tag"),
            "MANIFEST_INVALID",
        ),
    ] {
        let r = reg.call("GET", path, &[], b"").await;
        assert_eq!((r.status, error_code(&r).as_str()), (400, code), "{path}");
    }
}

#[tokio::test]
async fn token_scopes_limit_repositories() {
    let server = Server::start().await;
    let boot = server.bootstrap("reg4");
    let owner = Registry::new(&server, &boot.token);
    let repo = format!("{}/img", boot.project_id);
    owner.push_image(&repo, "v1", "x").await;

    let other_project = server.admin_ok(&["project", "create", "other", "--org", &boot.org_id]);
    let project_token = server.admin_ok(&["token", "create", "--project", other_project.trim()]);
    let scoped = Registry::new(&server, project_token.trim());
    let denied = scoped
        .call("GET", &format!("/v2/{repo}/manifests/v1"), &[], b"")
        .await;
    assert_eq!(
        (denied.status, error_code(&denied).as_str()),
        (403, "DENIED")
    );
    let r = scoped
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    assert_eq!(r.status, 403);
    scoped
        .push_image(&format!("{}/own", other_project.trim()), "v1", "y")
        .await;
    let catalog = scoped.call("GET", "/v2/_catalog", &[], b"").await;
    assert_eq!(
        catalog.json()["repositories"],
        json!([format!("{}/own", other_project.trim())])
    );

    let pull = server.pull_token(&boot.token, &boot.project_id).await;
    let reader = Registry::new(&server, &pull);
    assert_eq!(
        reader
            .call("GET", &format!("/v2/{repo}/manifests/v1"), &[], b"")
            .await
            .status,
        200
    );
    let r = reader
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    assert_eq!((r.status, error_code(&r).as_str()), (403, "DENIED"));
    assert_eq!(
        reader
            .call("DELETE", &format!("/v2/{repo}/manifests/v1"), &[], b"")
            .await
            .status,
        403
    );

    let nowhere = owner
        .call("GET", "/v2/noproject/app/tags/list", &[], b"")
        .await;
    assert_eq!(
        (nowhere.status, error_code(&nowhere).as_str()),
        (404, "NAME_UNKNOWN")
    );

    let listed = server.admin_ok(&["token", "list", "--output", "json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scope"] == json!(other_project.trim()) && t["kind"] == json!("project"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.admin_ok(&["token", "revoke", &id]);
    let r = scoped.call("GET", "/v2/", &[], b"").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_killed_server_leaves_no_partial_blob_and_uploads_resume() {
    let mut server = Server::start().await;
    let boot = server.bootstrap("reg5");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/big", boot.project_id);
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let digest = sha256(&data);
    let (first, rest) = data.split_at(3 * 1024 * 1024);

    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    let r = reg
        .call(
            "PATCH",
            &location,
            &[("content-range", &format!("0-{}", first.len() - 1))],
            first,
        )
        .await;
    assert_eq!(r.status, 202);

    server.restart();
    let reg = Registry::new(&server, &boot.token);
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")
            .await
            .status,
        404,
        "no partial blob"
    );
    let status = reg.call("GET", &location, &[], b"").await;
    assert_eq!(
        (status.status, status.header("range")),
        (204, format!("0-{}", first.len() - 1).as_str())
    );
    let range = format!("{}-{}", first.len(), data.len() - 1);
    assert_eq!(
        reg.call("PATCH", &location, &[("content-range", &range)], rest)
            .await
            .status,
        202
    );
    let put = reg
        .call("PUT", &format!("{location}?digest={digest}"), &[], b"")
        .await;
    assert_eq!(put.status, 201, "{}", put.text());

    server.restart();
    let reg = Registry::new(&server, &boot.token);
    let got = reg
        .call("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(
        sha256(&got.body),
        digest,
        "acknowledged blobs survive intact"
    );
}

#[tokio::test]
async fn registry_service_pages_and_deletes_atomically() {
    use depot_core::proto::depot::build::v1::{DeleteImageRequest, ListImagesRequest};
    let server = Server::start().await;
    let boot = server.bootstrap("reg6");
    let reg = Registry::new(&server, &boot.token);
    for tag in ["a", "b", "c"] {
        reg.push_image(&boot.project_id, tag, tag).await;
    }
    let client = server.client(&boot.token).registry();
    let mut seen = Vec::new();
    let mut page_token = None;
    loop {
        let page = client
            .list_images(ListImagesRequest {
                project_id: boot.project_id.clone(),
                page_size: Some(2),
                page_token,
            })
            .await
            .unwrap();
        assert!(page.images.len() <= 2);
        seen.extend(page.images.into_iter().map(|i| i.tag));
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);

    // One missing tag: nothing is deleted.
    let err = client
        .delete_image(DeleteImageRequest {
            project_id: boot.project_id.clone(),
            image_tags: vec!["a".into(), "zzz".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), depot_core::connect::Code::NotFound);
    assert!(err.message().contains("zzz"), "{err}");
    assert_eq!(
        reg.call(
            "HEAD",
            &format!("/v2/{}/manifests/a", boot.project_id),
            &[],
            b""
        )
        .await
        .status,
        200
    );
    client
        .delete_image(DeleteImageRequest {
            project_id: boot.project_id.clone(),
            image_tags: vec!["a".into(), "b".into()],
        })
        .await
        .unwrap();
    assert_eq!(
        reg.call(
            "HEAD",
            &format!("/v2/{}/manifests/a", boot.project_id),
            &[],
            b""
        )
        .await
        .status,
        404
    );
    assert_eq!(
        reg.call(
            "HEAD",
            &format!("/v2/{}/manifests/c", boot.project_id),
            &[],
            b""
        )
        .await
        .status,
        200
    );

    // Pull tokens cannot use the API.
    let pull = server.pull_token(&boot.token, &boot.project_id).await;
    let err = server
        .client(&pull)
        .registry()
        .list_images(ListImagesRequest {
            project_id: boot.project_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), depot_core::connect::Code::PermissionDenied);
}

#[tokio::test]
async fn concurrent_appends_to_one_upload_never_publish_mismatched_content() {
    let server = Server::start().await;
    let boot = server.bootstrap("reg7");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/race", boot.project_id);
    let a = vec![b'a'; 2 * 1024 * 1024];
    let b = vec![b'b'; 2 * 1024 * 1024];
    for _ in 0..3 {
        let location = reg
            .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
            .await
            .header("location")
            .to_owned();
        let (ra, rb) = tokio::join!(
            reg.call("PATCH", &location, &[], &a),
            reg.call("PATCH", &location, &[], &b)
        );
        assert_eq!(
            (ra.status, rb.status),
            (202, 202),
            "{} {}",
            ra.text(),
            rb.text()
        );
        let status = reg.call("GET", &location, &[], b"").await;
        assert_eq!(
            status.header("range"),
            format!("0-{}", a.len() + b.len() - 1)
        );
        // Whichever order the appends took, exactly one digest commits, and the stored blob
        // has that digest.
        let ab = sha256(&[a.clone(), b.clone()].concat());
        let ba = sha256(&[b.clone(), a.clone()].concat());
        let put = reg
            .call("PUT", &format!("{location}?digest={ab}"), &[], b"")
            .await;
        let digest = if put.status == 201 {
            ab
        } else {
            assert_eq!(error_code(&put), "DIGEST_INVALID", "{}", put.text());
            let location = reg
                .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
                .await
                .header("location")
                .to_owned();
            let whole = [b.clone(), a.clone()].concat();
            let put = reg
                .call("PUT", &format!("{location}?digest={ba}"), &[], &whole)
                .await;
            assert_eq!(put.status, 201);
            ba
        };
        let got = reg
            .call("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")
            .await;
        assert_eq!(sha256(&got.body), digest);
    }
}

#[tokio::test]
async fn garbage_collection_runs_beside_pushes() {
    let server = Server::start_with(
        [
            "--registry-gc-interval",
            "300ms",
            // Long enough that a loaded machine (and S3) still sees the orphan below.
            "--registry-gc-grace",
            "3s",
            "--registry-upload-ttl",
            "1s",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let boot = server.bootstrap("gc");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/gc", boot.project_id);
    let orphan = reg
        .push_blob(&repo, b"never referenced by a manifest")
        .await;
    let (_, kept) = reg.push_image(&repo, "keep", "kept").await;
    let (dropped_manifest, dropped) = reg.push_image(&repo, "drop", "dropped").await;
    let dropped_layer =
        serde_json::from_slice::<Value>(&dropped_manifest).unwrap()["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        reg.call(
            "DELETE",
            &format!("/v2/{repo}/manifests/{dropped}"),
            &[],
            b""
        )
        .await
        .status,
        202
    );
    let abandoned = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    assert_eq!(
        reg.call("PATCH", &abandoned, &[], b"partial").await.status,
        202
    );
    assert!(server.blob_stored(&orphan).await && server.blob_stored(&dropped_layer).await);

    // Push while collections run; every push must stay intact.
    let mut pushed = Vec::new();
    for i in 0..12 {
        let (manifest, digest) = reg
            .push_image(&repo, &format!("busy{i}"), &format!("busy{i}"))
            .await;
        pushed.push((format!("busy{i}"), manifest, digest));
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Collected once the grace period is over (a collection every 300 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline
        && (server.blob_stored(&orphan).await
            || server.blob_stored(&dropped_layer).await
            || server.blob_stored(&dropped).await)
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !server.blob_stored(&orphan).await,
        "an unreferenced blob is reclaimed"
    );
    assert!(
        !server.blob_stored(&dropped_layer).await,
        "a deleted manifest's blobs are reclaimed"
    );
    assert!(
        !server.blob_stored(&dropped).await,
        "and so is the deleted manifest"
    );
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{repo}/blobs/{orphan}"), &[], b"")
            .await
            .status,
        404
    );
    assert_eq!(
        reg.call("GET", &abandoned, &[], b"").await.status,
        404,
        "stale uploads are removed"
    );
    pushed.push((
        "keep".into(),
        reg.get_ok(&format!("/v2/{repo}/manifests/keep"))
            .await
            .to_vec(),
        kept,
    ));
    for (tag, manifest, digest) in pushed {
        let got = reg
            .call("GET", &format!("/v2/{repo}/manifests/{tag}"), &[], b"")
            .await;
        assert_eq!(
            (got.status, sha256(&got.body)),
            (200, digest.clone()),
            "{tag}"
        );
        let parsed: Value = serde_json::from_slice(&manifest).unwrap();
        let blobs = std::iter::once(&parsed["config"]).chain(parsed["layers"].as_array().unwrap());
        for descriptor in blobs {
            let d = descriptor["digest"].as_str().unwrap();
            let blob = reg
                .call("GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"")
                .await;
            assert_eq!(
                (blob.status, sha256(&blob.body)),
                (200, d.to_owned()),
                "{tag}: {d}"
            );
        }
    }
}

#[tokio::test]
async fn killing_the_server_during_a_200_mib_upload_loses_nothing() {
    let mut server = Server::start().await;
    let boot = server.bootstrap("kill");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/huge", boot.project_id);
    let mut data = vec![0u8; 200 * 1024 * 1024];
    let mut state = 0x9e3779b97f4a7c15u64;
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let digest = sha256(&data);
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();

    // Stream the whole blob and kill the server while it arrives.
    let streaming = {
        let (url, auth, location, data) = (
            server.url.clone(),
            reg.authorization().to_owned(),
            location.clone(),
            data.clone(),
        );
        tokio::spawn(async move {
            http(&url, "PATCH", &location, &[("authorization", &auth)], &data).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    server.restart();
    let _ = streaming.await;

    let reg = Registry::new(&server, &boot.token);
    assert_eq!(
        reg.call("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")
            .await
            .status,
        404,
        "nothing partial is visible"
    );
    // The upload resumes from what the server holds.
    let status = reg.call("GET", &location, &[], b"").await;
    assert_eq!(status.status, 204, "{}", status.text());
    let held: usize = match status.header("range").split_once('-') {
        Some((_, end)) if status.header("range") != "0-0" => end.parse::<usize>().unwrap() + 1,
        _ => 0,
    };
    assert!(held <= data.len());
    let rest = &data[held..];
    let range = format!("{held}-{}", data.len() - 1);
    if !rest.is_empty() {
        let r = reg
            .call("PATCH", &location, &[("content-range", &range)], rest)
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let put = reg
        .call("PUT", &format!("{location}?digest={digest}"), &[], b"")
        .await;
    assert_eq!(put.status, 201, "{}", put.text());

    server.restart();
    let reg = Registry::new(&server, &boot.token);
    let got = reg
        .call("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")
        .await;
    assert_eq!((got.status, got.body.len()), (200, data.len()));
    assert_eq!(
        sha256(&got.body),
        digest,
        "the acknowledged blob is intact after another kill"
    );
}

/// Polls `check` every 100 ms until it holds, for at most 15 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn tag_list(reg: &Registry, repo: &str) -> Vec<String> {
    let body = reg.get_ok(&format!("/v2/{repo}/tags/list")).await;
    let tags = serde_json::from_slice::<Value>(&body).unwrap()["tags"].clone();
    serde_json::from_value::<Option<Vec<String>>>(tags)
        .unwrap()
        .unwrap_or_default()
}

/// Pushes a one-layer manifest by digest (no tag); returns its digest and size.
async fn push_untagged(
    reg: &Registry,
    repo: &str,
    seed: &str,
    extra: Option<Value>,
) -> (String, usize) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","untagged":"{seed}"}}"#);
    let layer = format!("untagged layer {seed}").repeat(50);
    let manifest = image_manifest(
        (&reg.push_blob(repo, config.as_bytes()).await, config.len()),
        &[(&reg.push_blob(repo, layer.as_bytes()).await, layer.len())],
        extra,
    );
    let digest = sha256(&manifest);
    let r = reg
        .put_manifest(repo, &digest, OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    (digest, manifest.len())
}

#[tokio::test]
async fn retention_by_tag_count_and_by_age_prunes_images() {
    use depot_core::connect::Code;
    use depot_core::proto::depotrs::v1::{
        RetentionPolicy, SetRetentionPolicyRequest, retention_policy::Rule,
    };

    let server = Server::start_with(
        [
            "--registry-gc-interval",
            "300ms",
            "--registry-gc-grace",
            "1s",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let boot = server.bootstrap("retention");
    let project = boot.project_id.clone();
    let reg = Registry::new(&server, &boot.token);
    let cli = depot_tests::Cli::ours(&server)
        .env("DEPOT_TOKEN", &boot.token)
        .env("DEPOT_PROJECT_ID", &project);

    // Policies: the default, setting one through the CLI, and what is refused.
    let shown: Value =
        serde_json::from_str(&cli.ok(&["registry", "retention", "show", "--output", "json"]))
            .unwrap();
    assert_eq!(
        shown,
        json!([{"repository": "(project)", "rule": "max_age_days", "value": 7, "default": true}])
    );
    cli.ok(&["registry", "retention", "set", "--tags", "5"]);
    cli.ok(&["registry", "retention", "set", "aged", "--days", "14"]);
    let shown = cli.ok(&["registry", "retention", "show", "aged", "--output", "csv"]);
    assert!(shown.contains("aged,max_age_days,14,false"), "{shown}");
    let refused = cli.run(&["registry", "retention", "set", "--days", "3"]);
    assert!(!refused.status.success());
    let retention = server.client(&boot.token).retention();
    let set = |repository: &str, rule: Rule| SetRetentionPolicyRequest {
        project_id: project.clone(),
        repository: repository.into(),
        policy: Some(RetentionPolicy { rule: Some(rule) }),
    };
    let err = retention
        .set_retention_policy(set("", Rule::MaxAgeDays(3)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.to_string().contains("1, 7, 14, 30"), "{err}");
    let err = retention
        .set_retention_policy(set("", Rule::KeepTags(6)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = retention
        .set_retention_policy(set("../other", Rule::KeepTags(5)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // By tag count: the project's own repository keeps its 5 newest tags.
    let mut images = Vec::new();
    for i in 0..7 {
        let (manifest, digest) = reg
            .push_image(&project, &format!("v{i}"), &format!("count{i}"))
            .await;
        images.push((manifest, digest));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eventually("the two oldest tags expire", || async {
        tag_list(&reg, &project).await.len() == 5
    })
    .await;
    assert_eq!(
        tag_list(&reg, &project).await,
        ["v2", "v3", "v4", "v5", "v6"]
    );
    for (manifest, digest) in &images[..2] {
        eventually("an expired image's manifest is deleted", || async {
            reg.call(
                "HEAD",
                &format!("/v2/{project}/manifests/{digest}"),
                &[],
                b"",
            )
            .await
            .status
                == 404
        })
        .await;
        let layer = serde_json::from_slice::<Value>(manifest).unwrap()["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        eventually("an expired image's layer is reclaimed", || async {
            !server.blob_stored(&layer).await
        })
        .await;
    }

    // By age: 14 days in `aged`, the default 7 days in `plain`, where an index with untagged
    // children and a referrer is expired as a whole.
    let aged = format!("{project}/aged");
    let plain = format!("{project}/plain");
    reg.push_image(&aged, "old", "aged-old").await;
    reg.push_image(&aged, "recent", "aged-recent").await;
    reg.push_image(&plain, "old", "plain-old").await;
    reg.push_image(&plain, "recent", "plain-recent").await;
    let (child_a, size_a) = push_untagged(&reg, &plain, "a", None).await;
    let (child_b, size_b) = push_untagged(&reg, &plain, "b", None).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child_a, "size": size_a,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": child_b, "size": size_b,
             "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let index_digest = sha256(&index);
    assert_eq!(
        reg.put_manifest(&plain, "multi", OCI_INDEX, &index)
            .await
            .status,
        201
    );
    let subject = json!({"subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": index.len()},
                         "artifactType": "application/vnd.example.sbom"});
    let (referrer, _) = push_untagged(&reg, &plain, "sbom", Some(subject)).await;

    let day_ms: i64 = 24 * 60 * 60 * 1000;
    for (repo, tag, days) in [
        (&aged, "old", 20),
        (&aged, "recent", 10),
        (&plain, "old", 8),
        (&plain, "multi", 8),
        (&plain, "recent", 6),
    ] {
        let updated = server
            .database
            .execute(&format!(
                "UPDATE registry_tags SET updated_at = updated_at - {} \
                 WHERE repository = '{repo}' AND tag = '{tag}'",
                days * day_ms
            ))
            .await;
        assert_eq!(updated, 1);
    }
    eventually("tags older than their policy expire", || async {
        tag_list(&reg, &aged).await == ["recent"] && tag_list(&reg, &plain).await == ["recent"]
    })
    .await;
    // Pruning follows the expiry of the tags in the same collection.
    for digest in [&index_digest, &child_a, &child_b, &referrer] {
        eventually(&format!("{digest} goes with its index"), || async {
            reg.call("HEAD", &format!("/v2/{plain}/manifests/{digest}"), &[], b"")
                .await
                .status
                == 404
        })
        .await;
    }
    reg.get_ok(&format!("/v2/{aged}/manifests/recent")).await;
    reg.get_ok(&format!("/v2/{plain}/manifests/recent")).await;

    // Back to the default.
    cli.ok(&["registry", "retention", "set", "aged", "--default"]);
    let shown = cli.ok(&["registry", "retention", "show", "aged", "--output", "csv"]);
    assert!(shown.contains("aged,max_age_days,7,true"), "{shown}");

    // Deleting an image's only tag deletes its manifest at once; a manifest with another tag
    // stays.
    let (_, single) = reg.push_image(&plain, "single", "rm-single").await;
    let (twice_manifest, twice) = reg.push_image(&plain, "twice-a", "rm-twice").await;
    assert_eq!(
        reg.put_manifest(&plain, "twice-b", OCI_MANIFEST, &twice_manifest)
            .await
            .status,
        201
    );
    cli.ok(&["image", "rm", "plain:single", "plain:twice-a"]);
    let manifest_status = |digest: String| {
        let reg = &reg;
        let plain = &plain;
        async move {
            reg.call("HEAD", &format!("/v2/{plain}/manifests/{digest}"), &[], b"")
                .await
                .status
        }
    };
    assert_eq!(manifest_status(single).await, 404);
    assert_eq!(manifest_status(twice).await, 200);
}

/// Size of the blob `a_large_blob_streams_with_flat_memory` sends, in MiB
/// (`DEPOT_TEST_LARGE_BLOB_MIB`, default 512; the registry was also checked with 51200).
fn large_blob_mib() -> u64 {
    std::env::var("DEPOT_TEST_LARGE_BLOB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

#[tokio::test]
async fn a_large_blob_streams_with_flat_memory() {
    use bytes::Bytes;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use sha2::Sha256;
    use std::sync::{Arc, Mutex};

    const CHUNK: usize = 1024 * 1024;
    let server = Server::start().await;
    let boot = server.bootstrap("large");
    let reg = Registry::new(&server, &boot.token);
    let repo = format!("{}/large", boot.project_id);
    let pid = server.pid().expect("running");
    let baseline = depot_tests::peak_rss(pid);
    let size = large_blob_mib() * CHUNK as u64;

    // Upload: one streamed PATCH of generated bytes (never all in this process's memory
    // either), hashed as they are generated.
    let location = reg
        .call("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await
        .header("location")
        .to_owned();
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let body_hasher = hasher.clone();
    let chunks = futures_util::stream::iter(0..size / CHUNK as u64).map(move |i| {
        let mut chunk = vec![0u8; CHUNK];
        let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        body_hasher.lock().unwrap().update(&chunk);
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(chunk)))
    });
    let client = Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::builder()
        .method("PATCH")
        .uri(format!("{}{location}", server.url))
        .header("authorization", reg.authorization())
        .header("content-type", "application/octet-stream")
        .body(StreamBody::new(chunks))
        .unwrap();
    let response = client.request(request).await.expect("PATCH");
    assert_eq!(response.status(), 202);
    let digest = format!(
        "sha256:{}",
        hex::encode(
            Arc::try_unwrap(hasher)
                .unwrap()
                .into_inner()
                .unwrap()
                .finalize()
        )
    );
    let put = reg
        .call("PUT", &format!("{location}?digest={digest}"), &[], b"")
        .await;
    assert_eq!(put.status, 201, "{}", put.text());

    // Download, streamed and hashed.
    let request = http::Request::builder()
        .uri(format!("{}/v2/{repo}/blobs/{digest}", server.url))
        .header("authorization", reg.authorization())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = Client::builder(TokioExecutor::new())
        .build_http()
        .request(request)
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut received, mut check) = (0u64, Sha256::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("reading the blob").into_data() {
            received += data.len() as u64;
            check.update(&data);
        }
    }
    assert_eq!(received, size);
    assert_eq!(format!("sha256:{}", hex::encode(check.finalize())), digest);

    let growth = depot_tests::peak_rss(pid).saturating_sub(baseline);
    assert!(
        growth < 160 * 1024 * 1024,
        "the server's peak memory grew by {} MiB moving a {} MiB blob",
        growth / (1024 * 1024),
        size / (1024 * 1024)
    );
}

#[tokio::test]
async fn the_registry_can_listen_on_a_port_of_its_own() {
    let server = Server::start_with(
        ["--registry-listen", "127.0.0.1:0"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let registry_url = server.registry_url.clone().expect("a registry address");
    assert_ne!(registry_url, server.url);
    let boot = server.bootstrap("ownport");
    let reg = Registry::new(&server, &boot.token);

    // The Distribution API and its token flow are on the registry's port only.
    let challenge = http(&registry_url, "GET", "/v2/", &[], b"").await;
    assert_eq!(challenge.status, 401);
    assert!(
        challenge
            .header("www-authenticate")
            .contains(&format!("realm=\"{registry_url}/auth/token\"")),
        "{}",
        challenge.header("www-authenticate")
    );
    assert_eq!(reg.call("GET", "/v2/", &[], b"").await.status, 200);
    let api_port = http(&server.url, "GET", "/v2/", &[], b"").await.status;
    assert!(
        matches!(api_port, 404 | 405),
        "the API port has no /v2/: {api_port}"
    );
    let (_, digest) = reg.push_image(&boot.project_id, "v1", "own-port").await;

    // The API names the registry's host, and lists what was pushed there.
    let pull = server
        .client(&boot.token)
        .builds()
        .get_pull_token(depot_core::proto::depot::cli::v1::GetPullTokenRequest {
            project_id: Some(boot.project_id.clone()),
            build_id: None,
        })
        .await
        .unwrap();
    assert_eq!(pull.registry_host, server.host());
    let images = server
        .client(&boot.token)
        .registry()
        .list_images(depot_core::proto::depot::build::v1::ListImagesRequest {
            project_id: boot.project_id.clone(),
            page_size: None,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(images.images.len(), 1);
    assert_eq!(images.images[0].digest, digest);
}
