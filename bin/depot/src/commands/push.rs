//! `depot push`: copy a saved build from the depot-rs registry to other registries.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use depot_registry::client::{CopyOptions, ProgressSink, push_build};

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
    display.note(&format!("Pushing build {}", args.build_id));
    let sink: Arc<dyn ProgressSink> = display.clone();
    let options = CopyOptions {
        concurrency: args.concurrency,
    };
    let pushed = push_build(
        &api.client,
        &args.build_id,
        args.target.as_deref(),
        &args.tags,
        None,
        &options,
        &sink,
    )
    .await
    .context("push failed")?;
    for err in &pushed.unrecorded {
        eprintln!("warning: could not record the push: {err}");
    }
    for tag in &args.tags {
        println!("{tag}@{}", pushed.digest);
    }
    Ok(())
}
