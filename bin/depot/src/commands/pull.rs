//! `depot pull`: pull a saved build (by build ID) or a project tag into the local Docker Engine
//! or an OCI image layout directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use depot_core::connect::Code;
use depot_core::proto::depot::cli::v1::{Command, GetPullInfoRequest, GetPullTokenRequest};
use depot_registry::client::{
    DockerPull, Endpoint, LayoutPull, ProgressSink, RegistryAuth, pull_into_docker,
    pull_into_layout,
};

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

/// An image to pull and the registry credentials for it.
struct Source {
    /// `host/repository:tag`.
    reference: String,
    username: String,
    password: String,
    registry_host: String,
    /// The tags a build was run with (none for a project tag).
    build_tags: Vec<String>,
}

/// Resolves the reference through the API, then pulls each image.
pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let display = ProgressDisplay::new(args.progress.progress, Direction::Pull)?;
    let api = Api::connect(&args.token, Some(&args.project)).await?;
    let sources = resolve(&api, &args).await?;
    let sink: Arc<dyn ProgressSink> = display.clone();
    for source in &sources {
        match &args.oci_layout {
            Some(directory) => {
                display.note(&format!(
                    "Pulling {} into {}",
                    source.reference,
                    directory.display()
                ));
                let endpoint = Endpoint::parse(
                    &source.reference,
                    RegistryAuth::Basic(source.username.clone(), source.password.clone()),
                )?;
                let pull = LayoutPull {
                    ref_names: args.tags.clone(),
                    platform: args.platform.clone(),
                    ..LayoutPull::new(endpoint, directory.clone())
                };
                let digest = pull_into_layout(&pull, &sink).await?;
                println!("{}@{digest}", source.reference);
            }
            None => {
                display.note(&format!("Pulling {}", source.reference));
                let tags = if args.tags.is_empty() {
                    source.build_tags.clone()
                } else {
                    args.tags.clone()
                };
                let pull = DockerPull {
                    reference: source.reference.clone(),
                    username: source.username.clone(),
                    password: source.password.clone(),
                    server_address: source.registry_host.clone(),
                    tags,
                    platform: args.platform.clone(),
                };
                pull_into_docker(&pull, &sink).await?;
                println!("{}", source.reference);
            }
        }
    }
    Ok(())
}

/// The images `args.reference` names: a saved build's image (or its bake targets' images)
/// through GetPullInfo, else a tag of the project's repository through GetPullToken.
async fn resolve(api: &Api, args: &PullArgs) -> anyhow::Result<Vec<Source>> {
    let info = match api
        .client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: args.reference.clone(),
        })
        .await
    {
        Ok(info) => info,
        Err(err) if matches!(err.code(), Code::NotFound | Code::InvalidArgument) => {
            let project = api.project().context(
                "not a build ID of a saved build; to pull a tag, give the project with --project",
            )?;
            let token = api
                .client
                .builds()
                .get_pull_token(GetPullTokenRequest {
                    project_id: Some(project.to_owned()),
                    build_id: None,
                })
                .await?;
            return Ok(vec![Source {
                reference: format!("{}/{project}:{}", token.registry_host, args.reference),
                username: "x-token".into(),
                password: token.token,
                registry_host: token.registry_host,
                build_tags: Vec::new(),
            }]);
        }
        Err(err) => return Err(err.into()),
    };
    if !info.options.is_empty() && !info.save_for_load && !info.options.iter().any(|o| o.save) {
        bail!(
            "build {} was not saved: build with --save to pull it",
            args.reference
        );
    }
    let targets: Vec<_> = info
        .options
        .iter()
        .filter(|o| o.command == Command::Bake as i32)
        .filter_map(|o| o.target_name.clone())
        .filter(|t| args.target.as_ref().is_none_or(|want| want == t))
        .collect();
    let references = if targets.is_empty() {
        vec![info.reference.clone()]
    } else {
        targets
            .iter()
            .map(|t| format!("{}-{t}", info.reference))
            .collect()
    };
    let build_tags = info
        .options
        .first()
        .map(|o| o.tags.clone())
        .unwrap_or_default();
    Ok(references
        .into_iter()
        .map(|reference| Source {
            reference,
            username: info.username.clone(),
            password: info.password.clone(),
            registry_host: info.registry_host.clone(),
            build_tags: build_tags.clone(),
        })
        .collect())
}
