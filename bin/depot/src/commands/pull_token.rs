//! `depot pull-token`.

use clap::Args;
use depot_core::proto::depot::cli::v1::GetPullTokenRequest;

use crate::context::{Api, ProjectArg, TokenArg};

/// `depot pull-token` arguments.
#[derive(Args, Debug)]
pub struct PullTokenArgs {
    /// Limit the token to one build's images.
    build_id: Option<String>,
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
}

/// Prints a pull token; use it as `docker login -u x-token -p <token> <registry>`.
pub async fn run(args: PullTokenArgs) -> anyhow::Result<()> {
    let api = Api::connect(&args.token, Some(&args.project)).await?;
    // A build ID alone is enough: the server knows its project.
    let project_id = match &args.build_id {
        Some(_) => api.config.project.as_ref().map(|(p, _)| p.clone()),
        None => Some(api.project()?.to_owned()),
    };
    let response = api
        .client
        .builds()
        .get_pull_token(GetPullTokenRequest {
            project_id,
            build_id: args.build_id,
        })
        .await?;
    println!("{}", response.token);
    Ok(())
}
