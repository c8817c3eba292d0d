//! Lists the projects your token can see and each project's latest builds.
//!
//! Configuration is resolved like the `depot` CLI does: `DEPOT_API_URL`, `DEPOT_TOKEN`, the
//! token stored by `depot login`, or the CI job's OIDC token.
//!
//! ```sh
//! DEPOT_API_URL=http://127.0.0.1:8080 DEPOT_TOKEN=dpu_… cargo run -p depot-examples --example list-projects
//! ```

use depot_core::DepotClient;
use depot_core::config::{Environment, ResolvedConfig};
use depot_core::proto::depot::cli::v1::{BuildStatus, ListBuildsRequest};
use depot_core::proto::depot::cli::v1beta1::ListProjectsRequest;

#[tokio::main]
async fn main() -> Result<(), depot_core::Error> {
    let config = ResolvedConfig::resolve(&Environment::from_process(), None, None).await?;
    config.require_token()?;
    let client = DepotClient::new(config.client_options())?;

    let projects = client
        .projects()
        .list_projects(ListProjectsRequest {})
        .await?;
    for project in projects.projects {
        println!(
            "{} {} (organization {})",
            project.id, project.name, project.org_name
        );
        let builds = client
            .builds()
            .list_builds(ListBuildsRequest {
                project_id: project.id,
                page_size: 5,
                page_token: String::new(),
            })
            .await?;
        for build in builds.builds {
            let status = BuildStatus::try_from(build.status).unwrap_or(BuildStatus::Unspecified);
            println!("  build {} {}", build.id, status.as_str_name());
        }
    }
    Ok(())
}
