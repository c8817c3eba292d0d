//! A bake: several targets registered as one build (`CreateBuild` with an option per target),
//! built on one builder at once, each as its own solve with its events labeled by target.
//! A target used by another through a `target:<name>` context is built first and passed as
//! the image it pushed (`docker-image://<name>@<digest>`), so it must be saved or pushed.
//! Saved targets go to the build's registry tags with `-<target>` appended, as the official
//! CLI does. A target's failure cancels the others and names it.

use std::collections::BTreeMap;

use depot_core::ErrorChain;
use futures_util::StreamExt;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::drive::{announce, canceled, connect, release};
use super::labeled::labeled;
use super::{BuildOutput, BuildSpec, Error, Finished, metadata};
use crate::builder::{BuildInfo, Builder, Outcome};
use crate::buildkit::{self, BuildResult};
use crate::events::BuildEvent;

/// A target of a bake, and its build.
pub struct BakeTarget {
    /// The target's name.
    pub name: String,
    /// Its build (the bake's `request` fields — project, save, push, load — are taken from
    /// the first target's).
    pub spec: BuildSpec,
}

/// The targets a target waits for: those its `target:` contexts name.
fn dependencies(target: &BakeTarget) -> Vec<String> {
    target
        .spec
        .options
        .build_contexts
        .values()
        .filter_map(|value| value.strip_prefix("target:"))
        .map(str::to_owned)
        .collect()
}

/// Checks the targets: names unique, every `target:` context names one of them, no cycle.
pub(super) fn validate(targets: &[BakeTarget]) -> Result<(), Error> {
    if targets.is_empty() {
        return Err(Error::Invalid("a bake needs at least one target".into()));
    }
    for (index, target) in targets.iter().enumerate() {
        if targets[..index].iter().any(|t| t.name == target.name) {
            return Err(Error::Invalid(format!(
                "target {} is given twice",
                target.name
            )));
        }
        target.spec.validate()?;
        for dependency in dependencies(target) {
            if !targets.iter().any(|t| t.name == dependency) {
                return Err(Error::Invalid(format!(
                    "target {} uses target:{dependency}, which is not in the bake",
                    target.name
                )));
            }
        }
    }
    let mut done: Vec<&str> = Vec::new();
    while done.len() < targets.len() {
        let ready: Vec<&str> = targets
            .iter()
            .filter(|t| !done.contains(&t.name.as_str()))
            .filter(|t| dependencies(t).iter().all(|d| done.contains(&d.as_str())))
            .map(|t| t.name.as_str())
            .collect();
        if ready.is_empty() {
            return Err(Error::Invalid(
                "the bake's targets use each other in a cycle (target: contexts)".into(),
            ));
        }
        done.extend(ready);
    }
    Ok(())
}

/// Connects the builder, builds every target and releases the builder.
pub(super) async fn drive(
    builder: Builder,
    targets: Vec<BakeTarget>,
    show_build_url: bool,
    events: UnboundedSender<BuildEvent>,
    cancel: CancellationToken,
) -> Finished {
    let send = |event: BuildEvent| {
        let _ = events.send(event);
    };
    let info = builder.info().clone();
    announce(&info, show_build_url, &events);
    let mut builder = match connect(builder, &events, &cancel).await {
        Ok(builder) => builder,
        Err(finished) => return *finished,
    };

    let (sender, mut merged) = mpsc::unbounded_channel();
    let mut waiting: Vec<Option<BakeTarget>> = targets.into_iter().map(Some).collect();
    let names: Vec<String> = waiting
        .iter()
        .map(|t| t.as_ref().expect("all waiting").name.clone())
        .collect();
    let mut results: BTreeMap<String, BuildResult> = BTreeMap::new();
    let mut saved: Vec<String> = Vec::new();
    let mut builds = JoinSet::new();
    let failure = 'bake: loop {
        // Start every target whose dependencies are built.
        for slot in &mut waiting {
            let ready = slot
                .as_ref()
                .is_some_and(|t| dependencies(t).iter().all(|d| results.contains_key(d)));
            if !ready {
                continue;
            }
            let target = slot.take().expect("checked");
            let target_info = target_info(&info, &target.name);
            saved.extend(planned_saves(&target, &target_info));
            match start_target(&mut builder, target, &target_info, &results) {
                Ok((name, mut build)) => {
                    let sender = sender.clone();
                    builds.spawn(async move {
                        while let Some(event) = build.next().await {
                            let _ = sender.send(labeled(event, &name));
                        }
                        (name, build.result().await)
                    });
                }
                Err(err) => break 'bake Some(err),
            }
        }
        if builds.is_empty() {
            break None;
        }
        tokio::select! {
            Some(event) = merged.recv() => send(event),
            joined = builds.join_next() => match joined {
                Some(Ok((name, Ok(result)))) => {
                    results.insert(name, result);
                }
                Some(Ok((name, Err(err)))) => break Some(Failure::Target(name, err)),
                Some(Err(err)) => break Some(Failure::Other(Error::Task(err.to_string()))),
                None => {}
            },
            () = cancel.cancelled() => break Some(Failure::Stopped),
            () = builder.canceled() => break Some(Failure::Stopped),
        }
    };
    builds.abort_all();
    while builds.join_next().await.is_some() {}
    drop(sender);
    while let Ok(event) = merged.try_recv() {
        send(event);
    }
    match failure {
        None => {}
        Some(Failure::Stopped) => return canceled(builder).await,
        Some(Failure::Other(err)) => {
            let outcome = Outcome::Error(ErrorChain(&err).to_string());
            return release(builder, outcome, Err(err)).await;
        }
        Some(Failure::Target(name, err)) => {
            let outcome = match Outcome::of_failure(&err) {
                Outcome::Error(message) => Outcome::Error(format!("{name}: {message}")),
                other => other,
            };
            let error = Error::Target {
                target: name,
                source: err,
            };
            return release(builder, outcome, Err(error)).await;
        }
    }

    let mut metadata = serde_json::Map::new();
    for name in &names {
        let mut target = metadata::metadata(
            &results[name].exporter_response.raw,
            &info.build_id,
            &info.project_id,
        );
        if let Some(target) = target.as_object_mut() {
            target.remove("depot.build");
        }
        metadata.insert(name.clone(), target);
    }
    metadata.insert(
        "depot.build".into(),
        serde_json::json!({ "buildID": info.build_id, "projectID": info.project_id }),
    );
    let first = results[&names[0]].clone();
    let output = BuildOutput {
        metadata: serde_json::Value::Object(metadata),
        saved_tags: saved,
        result: first,
        targets: names
            .iter()
            .map(|name| (name.clone(), results[name].clone()))
            .collect(),
        info,
    };
    release(builder, Outcome::Success, Ok(output)).await
}

/// Why the targets stopped building.
enum Failure {
    /// This target's build failed.
    Target(String, buildkit::Error),
    /// Something else failed.
    Other(Error),
    /// The bake was canceled.
    Stopped,
}

/// The build's information as one target sees it: the registry tags with `-<target>`.
fn target_info(info: &BuildInfo, target: &str) -> BuildInfo {
    let mut info = info.clone();
    for tag in &mut info.additional_tags {
        tag.push('-');
        tag.push_str(target);
    }
    info
}

/// The registry tags `target` is saved to.
fn planned_saves(target: &BakeTarget, info: &BuildInfo) -> Vec<String> {
    if target.spec.request.save || target.spec.request.load {
        info.additional_tags.clone()
    } else {
        Vec::new()
    }
}

/// Plans `target`'s outputs and starts its build, its `target:` contexts replaced by the
/// images their targets pushed.
fn start_target(
    builder: &mut Builder,
    target: BakeTarget,
    info: &BuildInfo,
    results: &BTreeMap<String, BuildResult>,
) -> Result<(String, buildkit::Build), Failure> {
    let BakeTarget { name, spec } = target;
    let mut options = spec.options;
    for (context, value) in options.build_contexts.iter_mut() {
        let Some(used) = value.strip_prefix("target:") else {
            continue;
        };
        let response = &results[used].exporter_response;
        let (Some(image), Some(digest)) = (
            response
                .image_name
                .as_deref()
                .and_then(|names| names.split(',').next()),
            response.image_digest.as_deref(),
        ) else {
            return Err(Failure::Other(Error::Invalid(format!(
                "target {name} uses target:{used} as its {context} context, which needs \
                 {used} to be an image in a registry: bake with --save (or --push)"
            ))));
        };
        *value = format!("docker-image://{image}@{digest}");
    }
    let outputs = crate::builder::plan_outputs(spec.outputs, &spec.request, info)
        .map_err(|err| Failure::Other(Error::Plan(err)))?;
    options.outputs = outputs;
    let build = builder
        .build(options)
        .map_err(|err| Failure::Other(Error::Plan(err)))?;
    Ok((name, build))
}
