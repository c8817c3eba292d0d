//! `depot pull`: pull a saved build (by build ID) or a project tag into the local Docker Engine
//! or an OCI image layout directory.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use depot_registry::client::{ProgressSink, PullDestination, resolve};

use crate::context::{Api, ProjectArg, TokenArg};
use crate::progress::{Direction, ProgressArg, ProgressDisplay};

/// `depot pull` arguments.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// A build ID, or a tag of the project's repository.
    reference: String,
    /// Name(s) to give the pulled image (default: the tags the build was run with; with
    /// --oci-layout, the pulled tag).
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Platform to pull from a multi-platform image, e.g. linux/arm64.
    #[arg(long)]
    platform: Option<String>,
    /// Only this bake target.
    #[arg(long)]
    target: Option<String>,
    /// Write the image (every platform of an index, unless --platform) into this OCI image
    /// layout directory, created if missing, instead of the Docker Engine. Blobs the layout
    /// holds are not downloaded again; -t names the image in its index.json.
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    #[command(flatten)]
    progress: ProgressArg,
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
}

/// Resolves the reference through the API, then pulls each image (every bake target's, unless
/// --target names one).
pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let display = ProgressDisplay::new(args.progress.progress, Direction::Pull)?;
    let api = Api::connect(&args.token, Some(&args.project)).await?;
    let images = resolve(
        &api.client,
        &args.reference,
        api.project().ok(),
        args.target.as_deref(),
    )
    .await?;
    let sink: Arc<dyn ProgressSink> = display.clone();
    let destination = match &args.oci_layout {
        Some(directory) => PullDestination::Layout(directory.clone()),
        None => PullDestination::Docker,
    };
    for image in &images {
        match &args.oci_layout {
            Some(directory) => display.note(&format!(
                "Pulling {} into {}",
                image.reference,
                directory.display()
            )),
            None => display.note(&format!("Pulling {}", image.reference)),
        }
        let digest = image
            .pull(&destination, &args.tags, args.platform.as_deref(), &sink)
            .await?;
        match digest {
            Some(digest) => println!("{}@{digest}", image.reference),
            None => println!("{}", image.reference),
        }
    }
    Ok(())
}
