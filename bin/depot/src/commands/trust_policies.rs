//! `depot projects trust-policies list|add|remove`: which CI jobs may act on a project with
//! their OIDC token instead of a stored Depot token.
//!
//! GitHub, CircleCI and Buildkite policies go through Depot's `depot.core.v1.ProjectService`, so
//! these commands work against Depot's hosted API too. GitLab policies are a depot-rs extension
//! (`depotrs.v1.TrustPolicyService`); listing tries that service first, to show them, and falls
//! back to Depot's when the server does not have it.

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use depot_core::connect::{Code, ConnectError};
use depot_core::proto::depot::core::v1 as core;
use depot_core::proto::depot::core::v1::trust_policy::{Buildkite, CircleCi, GitHub};
use depot_core::proto::depotrs::v1 as ours;
use depot_core::proto::depotrs::v1::trust_policy::{GitLab, Provider};
use serde_json::{Map, Value, json};

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// `depot projects trust-policies` subcommands.
#[derive(Subcommand, Debug)]
pub enum TrustPoliciesCommand {
    /// List the project's trust policies.
    ///
    /// Table and CSV show each policy's two fields as Owner and Repository: the GitHub
    /// repository owner and repository, the GitLab namespace and project path, the CircleCI
    /// organization and project UUIDs, or the Buildkite organization and pipeline slugs. JSON
    /// names them as the API does (`repository_owner`, `namespace_path`, `organization_uuid`,
    /// `organization_slug`, …).
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Add a trust policy: CI jobs it matches may build, pull and push in the project with
    /// their OIDC token, without a stored Depot token. Prints the new policy's ID.
    #[command(subcommand)]
    Add(AddCommand),
    /// Remove a trust policy. Jobs it matched lose access; on depot-rs servers, the tokens
    /// they obtained through it are revoked.
    #[command(visible_alias = "rm")]
    Remove {
        /// The policy's ID, as `depot projects trust-policies list` shows it.
        policy_id: String,
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
    },
}

/// `depot projects trust-policies add` providers.
#[derive(Subcommand, Debug)]
pub enum AddCommand {
    /// Trust GitHub Actions workflows of one repository (the job needs
    /// `permissions: id-token: write`).
    Github {
        /// The user or organization that owns the repository (`acme` for acme/app).
        #[arg(long, value_name = "OWNER", alias = "repository-owner")]
        owner: String,
        /// The repository's name (`app`) or full name (`acme/app`).
        #[arg(long, value_name = "REPO", alias = "repo")]
        repository: String,
        #[command(flatten)]
        common: AddArgs,
    },
    /// Trust GitLab CI/CD jobs of one project (depot-rs servers only; the job needs an
    /// `id_tokens:` entry named DEPOT_OIDC_TOKEN).
    Gitlab {
        /// The project's group path (`group/subgroup`), the token's `namespace_path` claim.
        #[arg(long, value_name = "PATH", alias = "namespace-path")]
        namespace: String,
        /// The project's path inside the group (`app`) or its full path (`group/subgroup/app`).
        #[arg(long, value_name = "PATH")]
        project_path: String,
        #[command(flatten)]
        common: AddArgs,
    },
    /// Trust CircleCI jobs of one project (Organization Settings > Overview shows the
    /// organization ID; Project Settings > Overview the project ID).
    #[command(name = "circleci")]
    CircleCi {
        /// The CircleCI organization ID, a UUID.
        #[arg(long, value_name = "UUID")]
        organization_uuid: String,
        /// The CircleCI project ID, a UUID.
        #[arg(long, value_name = "UUID")]
        project_uuid: String,
        #[command(flatten)]
        common: AddArgs,
    },
    /// Trust Buildkite jobs of one pipeline.
    Buildkite {
        /// The organization's slug (`acme` in buildkite.com/acme/deploy).
        #[arg(long, value_name = "SLUG")]
        organization_slug: String,
        /// The pipeline's slug (`deploy` in buildkite.com/acme/deploy).
        #[arg(long, value_name = "SLUG")]
        pipeline_slug: String,
        #[command(flatten)]
        common: AddArgs,
    },
}

/// Flags every `add` takes.
#[derive(Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
    /// Print the new policy instead of only its ID: json (an object), table or csv.
    #[arg(long, short, value_enum)]
    output: Option<Format>,
}

/// Runs a trust-policies command.
pub async fn run(command: TrustPoliciesCommand) -> anyhow::Result<()> {
    match command {
        TrustPoliciesCommand::List {
            token,
            project,
            output,
        } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            let policies = list(&api, &project_id).await?;
            print_policies(Format::or_default(output), &policies)
        }
        TrustPoliciesCommand::Add(command) => {
            let (provider, common) = command.into_parts()?;
            let api = Api::connect(&common.token, Some(&common.project)).await?;
            let project_id = api.project()?.to_owned();
            let policy = add(&api, &project_id, provider).await?;
            match common.output {
                None => {
                    println!("{}", policy.trust_policy_id);
                    Ok(())
                }
                Some(Format::Json) => {
                    println!("{}", serde_json::to_string_pretty(&json_row(&policy))?);
                    Ok(())
                }
                Some(format) => print_policies(format, &[policy]),
            }
        }
        TrustPoliciesCommand::Remove {
            policy_id,
            token,
            project,
        } => {
            let policy_id = policy_id.trim().to_owned();
            if policy_id.is_empty() {
                bail!("the policy ID is empty: `depot projects trust-policies list` shows the IDs");
            }
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            api.client
                .project_admin()
                .remove_trust_policy(core::RemoveTrustPolicyRequest {
                    project_id: project_id.clone(),
                    trust_policy_id: policy_id.clone(),
                })
                .await
                .map_err(|err| explain(err, &project_id, Action::Change))?;
            println!("Trust policy {policy_id} removed from project {project_id}.");
            Ok(())
        }
    }
}

impl AddCommand {
    /// The policy to add (checked) and the common flags.
    fn into_parts(self) -> anyhow::Result<(Provider, AddArgs)> {
        Ok(match self {
            AddCommand::Github {
                owner,
                repository,
                common,
            } => {
                let repository_owner = required(
                    "--owner",
                    "the GitHub user or organization owning the repository",
                    owner,
                )?;
                let repository =
                    required("--repository", "the GitHub repository's name", repository)?;
                if let Some((prefix, _)) = repository.split_once('/')
                    && !prefix.eq_ignore_ascii_case(&repository_owner)
                {
                    bail!(
                        "--repository {repository} belongs to {prefix}, not to --owner \
                         {repository_owner}: give the repository's name (`app`) or its full \
                         name under the same owner (`{repository_owner}/app`)"
                    );
                }
                let github = GitHub {
                    repository_owner,
                    repository,
                };
                (Provider::Github(github), common)
            }
            AddCommand::Gitlab {
                namespace,
                project_path,
                common,
            } => {
                let gitlab = GitLab {
                    namespace_path: required("--namespace", "the GitLab group path", namespace)?,
                    project_path: required(
                        "--project-path",
                        "the GitLab project's path",
                        project_path,
                    )?,
                };
                (Provider::Gitlab(gitlab), common)
            }
            AddCommand::CircleCi {
                organization_uuid,
                project_uuid,
                common,
            } => {
                let circleci = CircleCi {
                    organization_uuid: uuid("--organization-uuid", organization_uuid)?,
                    project_uuid: uuid("--project-uuid", project_uuid)?,
                };
                (Provider::Circleci(circleci), common)
            }
            AddCommand::Buildkite {
                organization_slug,
                pipeline_slug,
                common,
            } => {
                let buildkite = Buildkite {
                    organization_slug: required(
                        "--organization-slug",
                        "the Buildkite organization's slug",
                        organization_slug,
                    )?,
                    pipeline_slug: required(
                        "--pipeline-slug",
                        "the Buildkite pipeline's slug",
                        pipeline_slug,
                    )?,
                };
                (Provider::Buildkite(buildkite), common)
            }
        })
    }
}

/// `value` trimmed, or an error naming `flag` (which takes `what`) if nothing is left.
fn required(flag: &str, what: &str, value: String) -> anyhow::Result<String> {
    let value = value.trim();
    if value.is_empty() {
        bail!("{flag} must not be empty: give {what}");
    }
    if value.chars().any(char::is_control) {
        bail!("{flag} must not contain control characters");
    }
    Ok(value.to_owned())
}

/// `value` if it is a UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), the form CircleCI's IDs
/// take; names and slugs are refused here, as no CircleCI token would ever match them.
fn uuid(flag: &str, value: String) -> anyhow::Result<String> {
    let value = required(flag, "a CircleCI ID", value)?;
    let groups: Vec<&str> = value.split('-').collect();
    let well_formed = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        bail!(
            "{flag} must be a UUID such as 1c5b6a0e-0b8e-4f5e-9a47-3d3f0c2b9e11, not {value:?}: \
             CircleCI shows the organization ID under Organization Settings > Overview and the \
             project ID under Project Settings > Overview"
        );
    }
    Ok(value)
}

/// The project's policies: every provider's from depot-rs's service, else (Depot's hosted API)
/// GitHub, CircleCI and Buildkite ones from Depot's.
async fn list(api: &Api, project_id: &str) -> anyhow::Result<Vec<ours::TrustPolicy>> {
    let all = api
        .client
        .trust_policies()
        .list_trust_policies(ours::ListTrustPoliciesRequest {
            project_id: project_id.to_owned(),
        })
        .await;
    match all {
        Ok(response) => Ok(response.trust_policies),
        Err(err) if err.code() == Code::Unimplemented => Ok(api
            .client
            .project_admin()
            .list_trust_policies(core::ListTrustPoliciesRequest {
                project_id: project_id.to_owned(),
            })
            .await
            .map_err(|err| explain(err, project_id, Action::Read))?
            .trust_policies
            .into_iter()
            .map(from_core)
            .collect()),
        Err(err) => Err(explain(err, project_id, Action::Read)),
    }
}

/// Adds `provider`'s policy: GitLab through depot-rs's service, the others through Depot's.
async fn add(api: &Api, project_id: &str, provider: Provider) -> anyhow::Result<ours::TrustPolicy> {
    use core::add_trust_policy_request::Provider as Requested;
    let requested = match provider {
        Provider::Github(p) => Requested::Github(p),
        Provider::Circleci(p) => Requested::Circleci(p),
        Provider::Buildkite(p) => Requested::Buildkite(p),
        Provider::Gitlab(gitlab) => {
            let added = api
                .client
                .trust_policies()
                .add_trust_policy(ours::AddTrustPolicyRequest {
                    project_id: project_id.to_owned(),
                    trust_policy: Some(ours::TrustPolicy {
                        trust_policy_id: String::new(),
                        provider: Some(Provider::Gitlab(gitlab)),
                    }),
                })
                .await;
            return match added {
                Ok(response) => response
                    .trust_policy
                    .ok_or_else(|| anyhow!("the server returned no trust policy")),
                Err(err) if err.code() == Code::Unimplemented => Err(anyhow!(
                    "the server does not support GitLab trust policies (Depot's hosted API \
                     knows GitHub, CircleCI and Buildkite ones; GitLab policies need a depot-rs \
                     server): {err}"
                )),
                Err(err) => Err(explain(err, project_id, Action::Change)),
            };
        }
    };
    let added = api
        .client
        .project_admin()
        .add_trust_policy(core::AddTrustPolicyRequest {
            project_id: project_id.to_owned(),
            provider: Some(requested),
        })
        .await
        .map_err(|err| explain(err, project_id, Action::Change))?;
    added
        .trust_policy
        .map(from_core)
        .ok_or_else(|| anyhow!("the server returned no trust policy"))
}

/// What a failed call tried to do, for its hint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Read,
    Change,
}

/// `err` with what to do next, when the code says it.
fn explain(err: ConnectError, project_id: &str, action: Action) -> anyhow::Error {
    let hint = match err.code() {
        Code::PermissionDenied if action == Action::Change => {
            "adding and removing trust policies needs a user or organization token of the \
             project's organization (project and CI tokens cannot administer projects): run \
             `depot login`, or pass one with --token or DEPOT_TOKEN"
                .to_owned()
        }
        Code::PermissionDenied => format!(
            "use a token that reaches project {project_id} (`depot projects list` shows the \
             projects yours can see), or give another project with --project"
        ),
        Code::NotFound if err.message().contains("trust policy") => format!(
            "`depot projects trust-policies list --project {project_id}` shows the project's \
             policies and their IDs"
        ),
        Code::NotFound => "check --project, DEPOT_PROJECT_ID or depot.json: `depot projects \
                           list` shows the projects your token can see"
            .to_owned(),
        Code::Unauthenticated => {
            "the token was refused: run `depot login`, or pass a valid one with --token or \
             DEPOT_TOKEN"
                .to_owned()
        }
        _ => return err.into(),
    };
    anyhow!("{err}\nhint: {hint}")
}

/// Depot's message as depot-rs's (which has every provider).
fn from_core(policy: core::TrustPolicy) -> ours::TrustPolicy {
    use core::trust_policy::Provider as Theirs;
    ours::TrustPolicy {
        trust_policy_id: policy.trust_policy_id,
        provider: policy.provider.map(|p| match p {
            Theirs::Github(p) => Provider::Github(p),
            Theirs::Circleci(p) => Provider::Circleci(p),
            Theirs::Buildkite(p) => Provider::Buildkite(p),
        }),
    }
}

/// The provider's name and its two fields, named as in the API.
fn fields(policy: &ours::TrustPolicy) -> (&'static str, [(&'static str, &str); 2]) {
    match &policy.provider {
        Some(Provider::Github(p)) => (
            "github",
            [
                ("repository_owner", &p.repository_owner),
                ("repository", &p.repository),
            ],
        ),
        Some(Provider::Gitlab(p)) => (
            "gitlab",
            [
                ("namespace_path", &p.namespace_path),
                ("project_path", &p.project_path),
            ],
        ),
        Some(Provider::Circleci(p)) => (
            "circleci",
            [
                ("organization_uuid", &p.organization_uuid),
                ("project_uuid", &p.project_uuid),
            ],
        ),
        Some(Provider::Buildkite(p)) => (
            "buildkite",
            [
                ("organization_slug", &p.organization_slug),
                ("pipeline_slug", &p.pipeline_slug),
            ],
        ),
        // A provider this CLI does not know yet (a newer server).
        None => ("unknown", [("", ""), ("", "")]),
    }
}

/// `{"id", "provider", <the provider's two fields>}`.
fn json_row(policy: &ours::TrustPolicy) -> Value {
    let (provider, fields) = fields(policy);
    let mut row = Map::new();
    row.insert("id".into(), json!(policy.trust_policy_id));
    row.insert("provider".into(), json!(provider));
    for (key, value) in fields.into_iter().filter(|(key, _)| !key.is_empty()) {
        row.insert(key.into(), json!(value));
    }
    Value::Object(row)
}

/// Prints policies: JSON with the API's field names, table and CSV with one column per field
/// position (Owner, Repository) so every provider fits.
fn print_policies(format: Format, policies: &[ours::TrustPolicy]) -> anyhow::Result<()> {
    let rows: Vec<Value> = if format == Format::Json {
        policies.iter().map(json_row).collect()
    } else {
        policies
            .iter()
            .map(|policy| {
                let (provider, [(_, owner), (_, repository)]) = fields(policy);
                json!({
                    "id": policy.trust_policy_id,
                    "provider": provider,
                    "owner": owner,
                    "repository": repository,
                })
            })
            .collect()
    };
    print_rows(
        format,
        &[
            Column {
                header: "Trust Policy ID",
                key: "id",
            },
            Column {
                header: "Provider",
                key: "provider",
            },
            Column {
                header: "Owner",
                key: "owner",
            },
            Column {
                header: "Repository",
                key: "repository",
            },
        ],
        &rows,
    )
}
