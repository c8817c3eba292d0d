//! `depot pull`: pull a saved build (by build ID) or a project tag into the local Docker Engine.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use depot_core::connect::Code;
use depot_core::proto::depot::cli::v1::{Command, GetPullInfoRequest, GetPullTokenRequest};
use depot_registry::client::{DockerPull, ProgressSink, pull_into_docker};

use crate::context::{Api, ProjectArg, TokenArg};
use crate::progress::{Direction, ProgressArg, ProgressDisplay};

/// `depot pull` arguments.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// A build ID, or a tag of the project's repository.
    reference: String,
    /// Name(s) to give the pulled image (default: the tags the build was run with).
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Platform to pull from a multi-platform image, e.g. linux/arm64.
    #[arg(long)]
    platform: Option<String>,
    /// Only this bake target.
    #[arg(long)]
    target: Option<String>,
    #[command(flatten)]
    progress: ProgressArg,
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
}

/// Resolves the reference through the API, then pulls through the Docker Engine.
pub async fn run(args: PullArgs) -> anyhow::Result<()> {
    let display = ProgressDisplay::new(args.progress.progress, Direction::Pull)?;
    let api = Api::connect(&args.token, Some(&args.project))?;
    let pulls = match api
        .client
        .builds()
        .get_pull_info(GetPullInfoRequest {
            build_id: args.reference.clone(),
        })
        .await
    {
        Ok(info) => {
            if !info.options.is_empty()
                && !info.save_for_load
                && !info.options.iter().any(|o| o.save)
            {
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
            let default_tags = info
                .options
                .first()
                .map(|o| o.tags.clone())
                .unwrap_or_default();
            let tags = if args.tags.is_empty() {
                default_tags
            } else {
                args.tags.clone()
            };
            let pull = |reference: String| DockerPull {
                reference,
                username: info.username.clone(),
                password: info.password.clone(),
                server_address: info.registry_host.clone(),
                tags: tags.clone(),
                platform: args.platform.clone(),
            };
            if targets.is_empty() {
                vec![pull(info.reference.clone())]
            } else {
                targets
                    .iter()
                    .map(|t| pull(format!("{}-{t}", info.reference)))
                    .collect()
            }
        }
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
            vec![DockerPull {
                reference: format!("{}/{project}:{}", token.registry_host, args.reference),
                username: "x-token".into(),
                password: token.token,
                server_address: token.registry_host,
                tags: args.tags.clone(),
                platform: args.platform.clone(),
            }]
        }
        Err(err) => return Err(err.into()),
    };
    let sink: Arc<dyn ProgressSink> = display.clone();
    for pull in &pulls {
        display.note(&format!("Pulling {}", pull.reference));
        pull_into_docker(pull, &sink).await?;
        println!("{}", pull.reference);
    }
    Ok(())
}
