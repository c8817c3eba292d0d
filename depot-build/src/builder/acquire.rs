//! Getting a builder: `CreateBuild` with the user's token, then, with the build token,
//! `GetBuildKitConnection` until the builder is active, and BuildKit's `ListWorkers` until it
//! answers.

use std::time::{Duration, Instant};

use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use depot_core::DepotClient;
use depot_core::proto::depot::cli::v1::{
    self as api, BuilderPlatform, Command, CreateBuildRequest, GetBuildKitConnectionRequest,
    get_build_kit_connection_response::{ActiveConnection, Connection},
};
use tokio_util::sync::CancellationToken;

use super::credentials::AdditionalCredential;
use super::{BuildInfo, Builder, BuilderRequest, Error, PlatformConnection, health};
use crate::buildkit::{BuildKit, Endpoint, OutputSpec, TlsSettings};

/// The shortest wait between `GetBuildKitConnection` calls, whatever `wait_ms` says.
const MIN_POLL: Duration = Duration::from_millis(50);
/// The longest wait between them.
const MAX_POLL: Duration = Duration::from_secs(10);
/// The wait between BuildKit readiness probes.
const READY_RETRY: Duration = Duration::from_secs(1);

/// Registers a build and waits for its builder: [`Builder::register`], then
/// [`Builder::connect`].
pub async fn acquire_builder(
    client: &DepotClient,
    request: &BuilderRequest,
) -> Result<Builder, Error> {
    let mut builder = Builder::register(client, request).await?;
    builder.connect().await?;
    Ok(builder)
}

impl Builder {
    /// Registers a build with `CreateBuild` (using `client`'s token) and starts reporting its
    /// health. The builder is not connected yet: call [`Builder::connect`].
    pub async fn register(client: &DepotClient, request: &BuilderRequest) -> Result<Self, Error> {
        let created = client
            .builds()
            .create_build(create_request(request))
            .await
            .map_err(|source| Error::Api {
                call: "CreateBuild",
                source,
            })?;
        if created.build_id.is_empty() || created.build_token.is_empty() {
            return Err(Error::Protocol(
                "CreateBuild answered without a build ID or build token".into(),
            ));
        }
        let info = BuildInfo {
            project_id: if created.project_id.is_empty() {
                request.project_id.clone().unwrap_or_default()
            } else {
                created.project_id
            },
            build_url: created.build_url,
            additional_tags: created.additional_tags.into_iter().map(|t| t.tag).collect(),
            additional_credentials: created
                .additional_credentials
                .into_iter()
                .map(|c| AdditionalCredential {
                    host: c.host,
                    token: c.token,
                })
                .collect(),
            load_using_registry: created.registry.is_some_and(|r| r.load_using_registry),
            platform: request.platform,
            build_id: created.build_id,
            build_token: created.build_token,
        };
        let client = client.with_token(info.build_token.clone());
        let canceled = CancellationToken::new();
        let mut builder = Builder {
            info,
            client,
            connections: Vec::new(),
            canceled,
            health: Vec::new(),
            reports: Vec::new(),
            finished: false,
            acquire_timeout: request.acquire_timeout,
            ready_timeout: request.ready_timeout,
        };
        builder.report_health(builder.info.platform);
        Ok(builder)
    }

    /// Waits for the server to hand out the builder of the build's platform, connects to its
    /// BuildKit and waits until it answers.
    pub async fn connect(&mut self) -> Result<&BuildKit, Error> {
        self.connect_platforms(&[self.info.platform]).await?;
        self.buildkit()
    }

    /// Connects the builders of `platforms` at once (a multi-platform build holds one per
    /// architecture; the server may give one builder for several), each with its own
    /// `GetBuildKitConnection` and health reports. Platforms already connected are kept.
    pub async fn connect_platforms(&mut self, platforms: &[BuilderPlatform]) -> Result<(), Error> {
        let missing: Vec<BuilderPlatform> = platforms
            .iter()
            .copied()
            .filter(|&platform| self.connected(platform).is_none())
            .collect();
        for &platform in &missing {
            self.report_health(platform);
        }
        let opened =
            futures_util::future::try_join_all(missing.iter().map(|&platform| self.open(platform)))
                .await?;
        self.connections.extend(opened);
        Ok(())
    }

    /// Reports `platform`'s health from now on (once per platform).
    fn report_health(&mut self, platform: BuilderPlatform) {
        if self.health.iter().any(|(held, _)| *held == platform) {
            return;
        }
        let task = tokio::spawn(health::report(
            self.client.clone(),
            self.info.build_id.clone(),
            platform,
            self.canceled.clone(),
        ));
        self.health.push((platform, task));
    }

    /// Waits for `platform`'s builder and its BuildKit.
    async fn open(&self, platform: BuilderPlatform) -> Result<PlatformConnection, Error> {
        let active = self.wait_for_active(platform).await?;
        let buildkit = self.wait_for_ready(endpoint(&active)?).await?;
        Ok(PlatformConnection {
            platform,
            endpoint: active.endpoint,
            buildkit,
        })
    }

    async fn wait_for_active(&self, platform: BuilderPlatform) -> Result<ActiveConnection, Error> {
        let started = Instant::now();
        loop {
            let response = self
                .client
                .builds()
                .get_build_kit_connection(GetBuildKitConnectionRequest {
                    build_id: self.info.build_id.clone(),
                    platform: platform as i32,
                })
                .await
                .map_err(|source| Error::Api {
                    call: "GetBuildKitConnection",
                    source,
                })?;
            let wait = match response.connection {
                Some(Connection::Active(active)) => return Ok(active),
                Some(Connection::Pending(pending)) => {
                    Duration::from_millis(pending.wait_ms.max(0) as u64).clamp(MIN_POLL, MAX_POLL)
                }
                None => {
                    return Err(Error::Protocol(
                        "GetBuildKitConnection answered neither pending nor active".into(),
                    ));
                }
            };
            if started.elapsed() + wait > self.acquire_timeout {
                return Err(Error::NotReady {
                    build_id: self.info.build_id.clone(),
                    waited: started.elapsed(),
                    last: "the server kept the builder pending".into(),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn wait_for_ready(&self, endpoint: Endpoint) -> Result<BuildKit, Error> {
        let started = Instant::now();
        loop {
            let last = match BuildKit::connect(endpoint.clone()).await {
                Ok(buildkit) => match buildkit
                    .control()
                    .list_workers(ListWorkersRequest { filter: Vec::new() })
                    .await
                {
                    Ok(_) => return Ok(buildkit),
                    Err(status) => format!("ListWorkers: {}", status.message()),
                },
                // A certificate or endpoint the client cannot use will not get better.
                Err(
                    err @ (crate::buildkit::Error::Tls { .. }
                    | crate::buildkit::Error::Endpoint { .. }),
                ) => {
                    return Err(err.into());
                }
                Err(err) => depot_core::ErrorChain(&err).to_string(),
            };
            if started.elapsed() + READY_RETRY > self.ready_timeout {
                return Err(Error::NotReady {
                    build_id: self.info.build_id.clone(),
                    waited: started.elapsed(),
                    last,
                });
            }
            tokio::time::sleep(READY_RETRY).await;
        }
    }
}

/// `CreateBuild` as the official CLI sends it for `depot build`, or for `depot bake` (one
/// option per target).
fn create_request(request: &BuilderRequest) -> CreateBuildRequest {
    let options = if request.bake_targets.is_empty() {
        vec![build_options(
            request,
            Command::Build,
            None,
            &request.tags,
            &request.outputs,
        )]
    } else {
        request
            .bake_targets
            .iter()
            .map(|target| {
                build_options(
                    request,
                    Command::Bake,
                    Some(target.name.clone()),
                    &target.tags,
                    &target.outputs,
                )
            })
            .collect()
    };
    CreateBuildRequest {
        project_id: Some(request.project_id.clone().unwrap_or_default()),
        options,
        required_engine: None,
    }
}

/// One entry of `CreateBuildRequest.options`.
fn build_options(
    request: &BuilderRequest,
    command: Command,
    target_name: Option<String>,
    tags: &[String],
    specs: &[OutputSpec],
) -> api::BuildOptions {
    let mut outputs: Vec<api::BuildOutput> = specs
        .iter()
        .map(|spec| api::BuildOutput {
            kind: spec.kind.clone(),
            attributes: spec
                .attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect();
    if request.save
        && !outputs
            .iter()
            .any(|o| o.kind == "image" || o.kind == "registry")
    {
        outputs.push(api::BuildOutput {
            kind: "image".into(),
            attributes: Default::default(),
        });
    }
    api::BuildOptions {
        command: command as i32,
        tags: tags.to_vec(),
        outputs,
        push: request.push,
        load: request.load,
        target_name,
        lint: request.lint,
        save: request.save,
        save_tags: request.save_tags.clone(),
    }
}

/// The BuildKit endpoint of an active connection: plain h2c unless both the client
/// certificate and the CA are given, like the official CLI.
fn endpoint(active: &ActiveConnection) -> Result<Endpoint, Error> {
    let endpoint: Endpoint = active.endpoint.parse()?;
    if !matches!(endpoint, Endpoint::Tcp { .. }) {
        return Err(Error::Protocol(format!(
            "the builder's endpoint {} is not tcp://host:port",
            active.endpoint
        )));
    }
    Ok(match (&active.cert, &active.ca_cert) {
        (Some(cert), Some(ca)) => endpoint.with_tls(TlsSettings {
            ca_pem: ca.cert.clone().into_bytes(),
            cert_pem: cert.cert.clone().into_bytes(),
            key_pem: cert.key.clone().into_bytes(),
            server_name: Some(active.server_name.clone()).filter(|n| !n.is_empty()),
        }),
        _ => endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::OutputSpec;
    use depot_core::proto::depot::cli::v1::Cert;

    #[test]
    fn create_build_carries_the_flags_like_the_official_cli() {
        let request = BuilderRequest {
            project_id: None,
            tags: vec!["app:1".into()],
            outputs: vec!["type=oci,dest=x.tar".parse::<OutputSpec>().unwrap()],
            save: true,
            save_tags: vec!["extra".into()],
            ..BuilderRequest::default()
        };
        let sent = create_request(&request);
        assert_eq!(sent.project_id.as_deref(), Some(""));
        let options = &sent.options[0];
        assert_eq!(options.command, Command::Build as i32);
        assert_eq!(options.tags, ["app:1"]);
        assert_eq!(options.save_tags, ["extra"]);
        assert!(options.save && !options.push && !options.load);
        let kinds: Vec<_> = options.outputs.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["oci", "image"]);
        assert_eq!(options.outputs[0].attributes["dest"], "x.tar");
    }

    #[test]
    fn endpoints_use_mtls_only_with_both_certificates() {
        let mut active = ActiveConnection {
            endpoint: "tcp://127.0.0.1:1234".into(),
            server_name: "buildkit.local".into(),
            cert: Some(Cert {
                cert: "client".into(),
                key: "key".into(),
            }),
            ca_cert: None,
            compressor: None,
        };
        assert_eq!(
            endpoint(&active).unwrap(),
            Endpoint::Tcp {
                address: "127.0.0.1:1234".into(),
                tls: None
            }
        );
        active.ca_cert = Some(Cert {
            cert: "ca".into(),
            key: String::new(),
        });
        let Endpoint::Tcp { tls: Some(tls), .. } = endpoint(&active).unwrap() else {
            panic!("expected mTLS");
        };
        assert_eq!(tls.server_name.as_deref(), Some("buildkit.local"));
        assert_eq!(tls.ca_pem, b"ca");
        assert_eq!(tls.key_pem, b"key");
        active.endpoint = "unix:///run/buildkit.sock".into();
        assert!(endpoint(&active).is_err());
    }
}
