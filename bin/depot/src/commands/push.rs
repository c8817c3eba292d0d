//! `depot push`: copy a saved build from the depot-rs registry to other registries.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use depot_core::proto::depot::cli::v1::{FinishPushRequest, GetPullInfoRequest, StartPushRequest};
use depot_registry::client::{
    CopyOptions, Endpoint, ProgressSink, RegistryAuth, copy_image, push_credentials,
};

use crate::context::{Api, ProjectArg, TokenArg};
use crate::progress::{Direction, ProgressArg, ProgressDisplay};

/// `depot push` arguments.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The build to push.
    build_id: String,
    /// Destination image(s), e.g. registry.example.com/team/app:v1 (repeatable).
    #[arg(short = 't', long = "tag", required = true)]
    tags: Vec<String>,
    /// Only this bake target.
    #[arg(long)]
    target: Option<String>,
    /// Blobs uploaded at once per destination.
    #[arg(long, default_value_t = depot_registry::client::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    #[command(flatten)]
    progress: ProgressArg,
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
}

/// Records the pushes, copies the image to every destination, and records the outcome.
pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let display = ProgressDisplay::new(args.progress.progress, Direction::Push)?;
    let api = Api::connect(&args.token, Some(&args.project)).await?;
    let info = api
        .client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: args.build_id.clone(),
        })
        .await?;
    let reference = match &args.target {
        Some(target) => format!("{}-{target}", info.reference),
        None => info.reference.clone(),
    };
    let source = Endpoint::parse(
        &reference,
        RegistryAuth::Basic(info.username.clone(), info.password.clone()),
    )?;
    let mut destinations = Vec::new();
    for tag in &args.tags {
        let parsed = Endpoint::parse(tag, RegistryAuth::Anonymous)?;
        let auth = push_credentials(parsed.reference.resolve_registry())?;
        destinations.push(Endpoint { auth, ..parsed });
    }
    let mut push_ids = Vec::new();
    for tag in &args.tags {
        let started = api
            .client
            .pushes()
            .start_push(StartPushRequest {
                tag: tag.clone(),
                build_id: args.build_id.clone(),
            })
            .await?;
        push_ids.push(started.push_id);
    }

    display.note(&format!("Pushing {reference}"));
    let sink: Arc<dyn ProgressSink> = display.clone();
    let options = CopyOptions {
        concurrency: args.concurrency,
    };
    let result = copy_image(&source, &destinations, &options, &sink).await;
    let error = result.as_ref().err().map(|e| e.to_string());
    for push_id in push_ids {
        // Like the official CLI, a failure to record the outcome does not fail the push.
        if let Err(err) = api
            .client
            .pushes()
            .finish_push(FinishPushRequest {
                push_id,
                build_id: args.build_id.clone(),
                error: error.clone(),
            })
            .await
        {
            eprintln!("warning: could not record the push: {err}");
        }
    }
    let digest = result.context("push failed")?;
    for tag in &args.tags {
        println!("{tag}@{digest}");
    }
    Ok(())
}
