//! Registry clients for tests: a small OCI distribution client over plain HTTP, and skopeo.

use std::process::{Command, Output};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::binaries::text;
use crate::http_client::{HttpResponse, http};
use crate::images::{Layer, image_config, image_layer, image_manifest};
use crate::server::Server;

/// Runs skopeo.
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is not installed: run scripts/test.sh, which installs it")
}

/// Runs skopeo, which must succeed; returns its stdout.
pub fn skopeo_ok(args: &[&str]) -> String {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A registry client of one depot-server with one token, for tests.
pub struct RegistryClient {
    url: String,
    auth: String,
}

impl RegistryClient {
    /// A client of the server's registry authenticating as `x-token:<token>`.
    pub fn new(server: &Server, token: &str) -> Self {
        let url = server.registry_url.as_ref().unwrap_or(&server.url);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-token:{token}"));
        RegistryClient {
            url: url.clone(),
            auth: format!("Basic {basic}"),
        }
    }

    /// The `Authorization` header value the client sends.
    pub fn authorization(&self) -> &str {
        &self.auth
    }

    /// Sends a request with the client's credentials.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut all = vec![("authorization", self.auth.as_str())];
        all.extend_from_slice(headers);
        http(&self.url, method, path, &all, body).await
    }

    /// `GET path`, which must answer 200; returns the body.
    pub async fn get_ok(&self, path: &str) -> bytes::Bytes {
        let r = self.call("GET", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.body
    }

    /// Uploads a blob with a single `POST ?digest=`; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let r = self
            .call(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[],
                data,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        digest
    }

    /// Pushes a manifest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> HttpResponse {
        self.call(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            body,
        )
        .await
    }

    /// Pushes an image docker can run (a real layer holding `files`) tagged `tag`; returns the
    /// manifest digest.
    pub async fn push_runnable_image(
        &self,
        repo: &str,
        tag: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        self.push_layers(repo, tag, &[image_layer(files)]).await
    }

    /// Pushes an image of `layers` tagged `tag`; returns the manifest digest.
    pub async fn push_layers(&self, repo: &str, tag: &str, layers: &[Layer]) -> String {
        let mut pushed = Vec::new();
        for layer in layers {
            pushed.push((self.push_blob(repo, &layer.gz).await, layer.gz.len()));
        }
        let refs: Vec<(&str, usize)> = pushed.iter().map(|(d, s)| (d.as_str(), *s)).collect();
        let config = image_config(layers);
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = image_manifest((&config_digest, config.len()), &refs, None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status, 201, "{}", r.text());
        sha256(&manifest)
    }

    /// Pushes a config and one layer and an image manifest tagged `tag`; returns the manifest
    /// bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let layer = format!("layer of {seed}").repeat(100);
        let manifest = image_manifest(
            (&self.push_blob(repo, config.as_bytes()).await, config.len()),
            &[(&self.push_blob(repo, layer.as_bytes()).await, layer.len())],
            None,
        );
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let digest = sha256(&manifest);
        assert_eq!(r.header("docker-content-digest"), digest);
        (manifest, digest)
    }
}
