//! A build on a builder per architecture: each builder solves its platforms (the frontend is
//! told the build is multi-platform), their events are streamed as one, prefixed with the
//! platform; a failure on one platform cancels the others. Images pushed (`--push`, `--save`)
//! are pushed by digest by each builder and merged here into one index pushed to every tag,
//! like `docker buildx` with several nodes; `--load` and `type=docker` outputs take the host
//! architecture's platform; `type=local` writes each platform into `<dir>/<os>_<arch>`;
//! `type=oci` tarballs are written per builder and merged into one (see [`oci_merge`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use depot_core::ErrorChain;
use depot_registry::client::{Endpoint, IndexSource, RegistryAuth, push_index};
use futures_util::StreamExt;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::drive::{canceled, release};
use super::labeled::labeled;
use super::nodes::Node;
use super::oci_merge;
use super::steps::Step;
use super::{BuildOutput, BuildSpec, Error, Finished, metadata};
use crate::builder::{self, Builder, Outcome, host_platform, platform_arch};
use crate::buildkit::session::{Credentials, CredentialsProvider};
use crate::buildkit::{self, BuildResult, ExporterResponse, Output, TarDestination};
use crate::events::BuildEvent;

/// Connects a builder per node, builds on each and merges the results.
pub(super) async fn drive(
    mut builder: Builder,
    spec: BuildSpec,
    nodes: Vec<Node>,
    events: &UnboundedSender<BuildEvent>,
    cancel: CancellationToken,
) -> Finished {
    let send = |event: BuildEvent| {
        let _ = events.send(event);
    };
    let steps: Vec<Step> = nodes
        .iter()
        .map(|node| {
            let (step, started) = Step::start(format!(
                "[depot] connecting to {} builder",
                platform_arch(node.platform)
            ));
            send(started);
            step
        })
        .collect();
    let platforms: Vec<_> = nodes.iter().map(|node| node.platform).collect();
    let connected = tokio::select! {
        connected = builder.connect_platforms(&platforms) => connected,
        () = cancel.cancelled() => {
            steps.into_iter().for_each(|step| send(step.failed("canceled")));
            return canceled(builder).await;
        }
    };
    if let Err(err) = connected {
        let message = ErrorChain(&err).to_string();
        steps
            .into_iter()
            .for_each(|step| send(step.failed(&message)));
        return release(builder, Outcome::Error(message), Err(Error::Connect(err))).await;
    }
    steps.into_iter().for_each(|step| send(step.done()));
    report_shared_builders(&builder, &nodes, &send);

    let plan = builder
        .plan_outputs(spec.outputs, &spec.request)
        .and_then(|outputs| split_outputs(outputs, &nodes).map_err(builder::Error::Unsupported));
    let plan = match plan {
        Ok(plan) => plan,
        Err(err) => {
            let outcome = Outcome::Error(ErrorChain(&err).to_string());
            return release(builder, outcome, Err(Error::Plan(err))).await;
        }
    };
    let (sender, mut merged) = mpsc::unbounded_channel();
    let mut builds = JoinSet::new();
    for (index, (node, outputs)) in nodes.iter().zip(plan.outputs).enumerate() {
        let options = spec.options.for_platforms(node.platforms.clone(), outputs);
        let mut build = match builder.build_on(node.platform, options) {
            Ok(build) => build,
            Err(err) => {
                let outcome = Outcome::Error(ErrorChain(&err).to_string());
                return release(builder, outcome, Err(Error::Plan(err))).await;
            }
        };
        let (sender, label) = (sender.clone(), node.label());
        builds.spawn(async move {
            while let Some(event) = build.next().await {
                let _ = sender.send(labeled(event, &label));
            }
            (index, build.result().await)
        });
    }
    drop(sender);

    let mut results: Vec<Option<BuildResult>> = vec![None; nodes.len()];
    let ended = loop {
        tokio::select! {
            Some(event) = merged.recv() => send(event),
            joined = builds.join_next() => match joined {
                None => break Ended::Built,
                Some(Ok((index, Ok(result)))) => results[index] = Some(result),
                Some(Ok((index, Err(err)))) => break Ended::Failed(index, err),
                Some(Err(err)) => break Ended::Panicked(err.to_string()),
            },
            () = cancel.cancelled() => break Ended::Stopped,
            () = builder.canceled() => break Ended::Stopped,
        }
    };
    // The builds still running stop on their daemons (dropping a build cancels it).
    builds.abort_all();
    while builds.join_next().await.is_some() {}
    while let Ok(event) = merged.try_recv() {
        send(event);
    }
    let results = match ended {
        Ended::Built => results.into_iter().flatten().collect::<Vec<_>>(),
        Ended::Stopped => return canceled(builder).await,
        Ended::Panicked(message) => {
            let outcome = Outcome::Error(message.clone());
            return release(builder, outcome, Err(Error::Task(message))).await;
        }
        Ended::Failed(index, err) => {
            let platforms = nodes[index].label();
            let outcome = match Outcome::of_failure(&err) {
                Outcome::Error(message) => Outcome::Error(format!("{platforms}: {message}")),
                other => other,
            };
            let error = Error::Platform {
                platforms,
                source: err,
            };
            return release(builder, outcome, Err(error)).await;
        }
    };

    let exporter_response = match &plan.index {
        Some(index) => {
            let (step, started) = Step::start(format!(
                "[depot] merging {} into one index",
                nodes.iter().map(Node::label).collect::<Vec<_>>().join(", ")
            ));
            send(started);
            match merge(index, &nodes, &results, builder.credentials().as_ref()).await {
                Ok(response) => {
                    send(step.done());
                    response
                }
                Err(err) => {
                    let message = ErrorChain(&err).to_string();
                    send(step.failed(&message));
                    return release(builder, Outcome::Error(message), Err(err)).await;
                }
            }
        }
        None => results[host_node(&nodes)].exporter_response.clone(),
    };
    let exporter_response = match plan.oci {
        Some(oci) => {
            let (step, started) = Step::start("[depot] merging the platforms' OCI tarballs".into());
            send(started);
            match write_oci(oci, &nodes).await {
                Ok(digest) => {
                    send(step.done());
                    if plan.index.is_some() {
                        exporter_response
                    } else {
                        ExporterResponse::from_raw([("containerimage.digest".to_owned(), digest)])
                    }
                }
                Err(message) => {
                    send(step.failed(&message));
                    let error = Error::Invalid(format!("writing the OCI tarball: {message}"));
                    return release(builder, Outcome::Error(message), Err(error)).await;
                }
            }
        }
        None => exporter_response,
    };
    let info = builder.info().clone();
    let mut transfers = BTreeMap::new();
    for result in &results {
        for (name, stats) in &result.transfers {
            transfers.entry(name.clone()).or_insert(*stats);
        }
    }
    let output = BuildOutput {
        metadata: metadata::metadata(&exporter_response.raw, &info.build_id, &info.project_id),
        saved_tags: if spec.request.save || spec.request.load {
            info.additional_tags.clone()
        } else {
            Vec::new()
        },
        result: BuildResult {
            build_ref: results[0].build_ref.clone(),
            exporter_response,
            transfers,
        },
        info,
        targets: Vec::new(),
    };
    release(builder, Outcome::Success, Ok(output)).await
}

/// How the per-platform builds ended.
enum Ended {
    /// All of them succeeded.
    Built,
    /// The build of node `.0` failed (the first failure; the others were canceled).
    Failed(usize, buildkit::Error),
    /// A build's task panicked.
    Panicked(String),
    /// The build was canceled, here or by the server.
    Stopped,
}

/// Says which platforms build on another architecture's builder: the server had none of
/// theirs and gave the same builder (it builds there what needs no emulation).
fn report_shared_builders(builder: &Builder, nodes: &[Node], send: &dyn Fn(BuildEvent)) {
    for (index, node) in nodes.iter().enumerate() {
        let endpoint = builder.endpoint_of(node.platform);
        let Some(host) = nodes[..index]
            .iter()
            .find(|earlier| builder.endpoint_of(earlier.platform) == endpoint)
        else {
            continue;
        };
        let (step, started) = Step::start(format!(
            "[depot] no {arch} builder: {platforms} builds on the {host} builder (without \
             emulation, only steps that run nothing of {arch} succeed)",
            arch = platform_arch(node.platform),
            platforms = node.label(),
            host = platform_arch(host.platform),
        ));
        send(started);
        send(step.done());
    }
}

/// Each node's outputs, and what to merge afterwards.
struct Split {
    outputs: Vec<Vec<Output>>,
    index: Option<IndexPush>,
    oci: Option<OciMerge>,
}

/// An OCI layout tarball every node writes to a file of its own, merged into `dest`.
struct OciMerge {
    dest: TarDestination,
    /// Each node's tarball, in a directory beside `dest` (or the system's for a stream).
    dir: tempfile::TempDir,
}

impl OciMerge {
    fn part(&self, index: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("platform-{index}.tar"))
    }
}

/// An image pushed by every node by digest, to list in one index under `tags`.
struct IndexPush {
    /// The repositories each node pushed to (the first is where the index is made from).
    repositories: Vec<String>,
    /// Where the index goes (every tag, in every repository).
    tags: Vec<String>,
}

/// Splits a build's outputs between `nodes` (see the module docs).
fn split_outputs(outputs: Vec<Output>, nodes: &[Node]) -> Result<Split, String> {
    let host = host_node(nodes);
    let mut split = Split {
        outputs: nodes.iter().map(|_| Vec::new()).collect(),
        index: None,
        oci: None,
    };
    for output in outputs {
        match output {
            Output::Image {
                names,
                push: true,
                mut attrs,
            } => {
                if split.index.is_some() {
                    return Err("a build with a builder per architecture pushes one image \
                                (one --output type=image with every name)"
                        .into());
                }
                let tags: Vec<String> = names.iter().map(|name| tagged(name)).collect();
                let mut repositories: Vec<String> = Vec::new();
                for tag in &tags {
                    let repository = repository_of(tag).to_owned();
                    if !repositories.contains(&repository) {
                        repositories.push(repository);
                    }
                }
                attrs.insert("push-by-digest".into(), "true".into());
                // Nothing is named in the builder's image store: two platforms sharing one
                // builder would both name the repository there ("already exists").
                attrs.insert("store".into(), "false".into());
                for outputs in &mut split.outputs {
                    outputs.push(Output::Image {
                        names: repositories.clone(),
                        push: true,
                        attrs: attrs.clone(),
                    });
                }
                split.index = Some(IndexPush { repositories, tags });
            }
            Output::Image { names, attrs, .. } => {
                for outputs in &mut split.outputs {
                    outputs.push(Output::Image {
                        names: names.clone(),
                        push: false,
                        attrs: attrs.clone(),
                    });
                }
            }
            // Told the build is multi-platform, BuildKit writes each platform into
            // `<dir>/<os>_<arch>` itself: every node writes into the same directory.
            Output::Local { dir } => {
                for outputs in &mut split.outputs {
                    outputs.push(Output::Local { dir: dir.clone() });
                }
            }
            docker @ (Output::Docker { .. } | Output::Moby { .. }) => {
                split.outputs[host].push(docker);
            }
            Output::Oci { dest, attrs } => {
                if split.oci.is_some() {
                    return Err("a build with a builder per architecture writes one \
                                --output type=oci"
                        .into());
                }
                let dir = match &dest {
                    TarDestination::File(path) => {
                        let parent = path
                            .parent()
                            .filter(|parent| !parent.as_os_str().is_empty())
                            .unwrap_or(std::path::Path::new("."));
                        tempfile::Builder::new()
                            .prefix(".depot-platforms-")
                            .tempdir_in(parent)
                    }
                    TarDestination::Writer(_) => tempfile::tempdir(),
                }
                .map_err(|e| format!("making room for each platform's OCI tarball: {e}"))?;
                let merge = OciMerge { dest, dir };
                for (index, outputs) in split.outputs.iter_mut().enumerate() {
                    outputs.push(Output::Oci {
                        dest: TarDestination::File(merge.part(index)),
                        attrs: attrs.clone(),
                    });
                }
                split.oci = Some(merge);
            }
            Output::Tar { .. } => {
                return Err(format!(
                    "--output type=tar takes one builder: with platforms of several \
                     architectures ({}), pass --build-platform linux/amd64 (or linux/arm64) to \
                     build them all on one builder, or use type=local",
                    nodes.iter().map(Node::label).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    Ok(split)
}

/// The node of this machine's architecture (what `--load` and `type=docker` take), else the
/// first.
fn host_node(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .position(|node| node.platform == host_platform())
        .unwrap_or(0)
}

/// `name` with `:latest` when it has neither tag nor digest.
fn tagged(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

/// The repository of a tagged name (`reg:5000/p/app:1` → `reg:5000/p/app`).
fn repository_of(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// Lists every node's image in one index, pushed to every tag; the exporter response of the
/// whole build (the index's digest and descriptor).
async fn merge(
    index: &IndexPush,
    nodes: &[Node],
    results: &[BuildResult],
    credentials: &dyn CredentialsProvider,
) -> Result<ExporterResponse, Error> {
    let repository = &index.repositories[0];
    let mut sources = Vec::new();
    for (node, result) in nodes.iter().zip(results) {
        let digest = result
            .exporter_response
            .image_digest
            .as_deref()
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the {} builder pushed no image digest",
                    node.label()
                ))
            })?;
        sources.push(IndexSource {
            image: endpoint(&format!("{repository}@{digest}"), credentials)?,
            platform: match &node.platforms[..] {
                [platform] => Some(platform.clone()),
                _ => None,
            },
        });
    }
    let targets = index
        .tags
        .iter()
        .map(|tag| endpoint(tag, credentials))
        .collect::<Result<Vec<_>, _>>()?;
    let pushed = push_index(&sources, &targets).await.map_err(Error::Index)?;
    let descriptor = serde_json::json!({
        "mediaType": pushed.media_type,
        "digest": pushed.digest,
        "size": pushed.size,
    });
    Ok(ExporterResponse::from_raw([
        ("containerimage.digest".to_owned(), pushed.digest.clone()),
        (
            "containerimage.descriptor".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(descriptor.to_string()),
        ),
        ("image.name".to_owned(), index.tags.join(",")),
    ]))
}

/// Merges the nodes' OCI tarballs and delivers the result; the merged index's digest.
async fn write_oci(oci: OciMerge, nodes: &[Node]) -> Result<String, String> {
    let parts: Vec<oci_merge::Part> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| oci_merge::Part {
            path: oci.part(index),
            platform: match &node.platforms[..] {
                [platform] => Some(platform.clone()),
                _ => None,
            },
        })
        .collect();
    let merged = oci.dir.path().join("merged.tar");
    let digest = {
        let merged = merged.clone();
        tokio::task::spawn_blocking(move || oci_merge::merge(&parts, &merged))
            .await
            .map_err(|e| e.to_string())??
    };
    match oci.dest {
        TarDestination::File(path) => tokio::fs::rename(&merged, &path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?,
        TarDestination::Writer(mut writer) => {
            use tokio::io::AsyncWriteExt as _;
            let mut file = tokio::fs::File::open(&merged)
                .await
                .map_err(|e| e.to_string())?;
            tokio::io::copy(&mut file, &mut writer)
                .await
                .map_err(|e| e.to_string())?;
            writer.shutdown().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(digest)
}

/// `reference` with the credentials for its registry.
fn endpoint(reference: &str, credentials: &dyn CredentialsProvider) -> Result<Endpoint, Error> {
    let mut endpoint = Endpoint::parse(reference, RegistryAuth::Anonymous).map_err(Error::Index)?;
    let host = endpoint.reference.registry().to_owned();
    endpoint.auth = match credentials.credentials(&host).map_err(Error::Invalid)? {
        Some(Credentials::Basic { username, secret }) => RegistryAuth::Basic(username, secret),
        Some(Credentials::IdentityToken(token)) => RegistryAuth::Bearer(token),
        None => RegistryAuth::Anonymous,
    };
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::proto::depot::cli::v1::BuilderPlatform;

    fn nodes() -> Vec<Node> {
        vec![
            Node {
                platform: BuilderPlatform::Amd64,
                platforms: vec!["linux/amd64".into()],
            },
            Node {
                platform: BuilderPlatform::Arm64,
                platforms: vec!["linux/arm64".into()],
            },
        ]
    }

    #[test]
    fn pushed_images_go_by_digest_to_every_repository_and_are_merged_under_every_tag() {
        let image = Output::Image {
            names: vec![
                "reg:5000/p/app".into(),
                "reg:5000/p/app:b1".into(),
                "other/x:1".into(),
            ],
            push: true,
            attrs: Default::default(),
        };
        let split = split_outputs(vec![image], &nodes()).unwrap();
        let index = split.index.unwrap();
        assert_eq!(
            index.tags,
            ["reg:5000/p/app:latest", "reg:5000/p/app:b1", "other/x:1"]
        );
        assert_eq!(index.repositories, ["reg:5000/p/app", "other/x"]);
        for outputs in &split.outputs {
            match &outputs[..] {
                [
                    Output::Image {
                        names,
                        push: true,
                        attrs,
                    },
                ] => {
                    assert_eq!(names, &index.repositories);
                    assert_eq!(attrs["push-by-digest"], "true");
                    assert_eq!(attrs["store"], "false");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn every_node_writes_local_outputs_and_plain_tarballs_are_refused() {
        let split = split_outputs(vec![Output::Local { dir: "out".into() }], &nodes()).unwrap();
        let dirs: Vec<_> = split
            .outputs
            .iter()
            .map(|outputs| match &outputs[..] {
                [Output::Local { dir }] => dir.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(dirs, [std::path::PathBuf::from("out"), "out".into()]);
        let tar = Output::Tar {
            dest: TarDestination::File("x.tar".into()),
        };
        let refused = split_outputs(vec![tar], &nodes()).err().unwrap();
        assert!(refused.contains("--build-platform"), "{refused}");
    }

    #[test]
    fn names_and_repositories() {
        assert_eq!(tagged("reg:5000/app"), "reg:5000/app:latest");
        assert_eq!(tagged("reg:5000/app:1"), "reg:5000/app:1");
        assert_eq!(repository_of("reg:5000/p/app:1"), "reg:5000/p/app");
        assert_eq!(repository_of("reg:5000/p/app"), "reg:5000/p/app");
        assert_eq!(repository_of("app@sha256:1"), "app");
    }
}
