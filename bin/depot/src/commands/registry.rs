//! `depot registry retention`: how long a repository of the depot-rs registry keeps images
//! (a depot-rs extension; Depot's hosted API does not have it).

use clap::{Args, Subcommand};
use depot_core::proto::depotrs::v1::{
    GetRetentionPolicyRequest, RetentionPolicy, SetRetentionPolicyRequest, retention_policy::Rule,
};
use serde_json::json;

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// `depot registry` subcommands.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Retention policies: keep images by age (default: 7 days) or by tag count.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

/// `depot registry retention` subcommands.
#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Show a repository's retention policy.
    #[command(alias = "get")]
    Show {
        #[command(flatten)]
        target: Target,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Set a repository's retention policy. Images (tags) outside it are removed by the next
    /// garbage collection, with the layers nothing else uses.
    Set {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        rule: RuleArgs,
    },
}

/// Which repository.
#[derive(Args, Debug)]
pub struct Target {
    /// Repository relative to the project: `web` for `<project-id>/web`; omit for the
    /// project's own repository (where `depot build --save` puts builds).
    repository: Option<String>,
    #[command(flatten)]
    token: TokenArg,
    #[command(flatten)]
    project: ProjectArg,
}

/// The new rule: exactly one of these.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct RuleArgs {
    /// Keep images pushed within this many days.
    #[arg(long, value_parser = ["1", "7", "14", "30"])]
    days: Option<String>,
    /// Keep this many most recently pushed images.
    #[arg(long, value_parser = ["5", "10", "25", "50", "100"])]
    tags: Option<String>,
    /// Go back to the default (7 days).
    #[arg(long)]
    default: bool,
}

impl RuleArgs {
    fn rule(&self) -> Option<Rule> {
        let number = |text: &String| text.parse().expect("clap allowed only numbers");
        match (&self.days, &self.tags) {
            (Some(days), _) => Some(Rule::MaxAgeDays(number(days))),
            (None, Some(tags)) => Some(Rule::KeepTags(number(tags))),
            (None, None) => None,
        }
    }
}

/// Runs a registry command.
pub async fn run(command: RegistryCommand) -> anyhow::Result<()> {
    let RegistryCommand::Retention(command) = command;
    match command {
        RetentionCommand::Show { target, output } => {
            let api = Api::connect(&target.token, Some(&target.project)).await?;
            let response = api
                .client
                .retention()
                .get_retention_policy(GetRetentionPolicyRequest {
                    project_id: api.project()?.to_owned(),
                    repository: target.repository.clone().unwrap_or_default(),
                })
                .await?;
            print_policy(
                output,
                target.repository.as_deref(),
                response.policy,
                response.is_default,
            )
        }
        RetentionCommand::Set { target, rule } => {
            let api = Api::connect(&target.token, Some(&target.project)).await?;
            let response = api
                .client
                .retention()
                .set_retention_policy(SetRetentionPolicyRequest {
                    project_id: api.project()?.to_owned(),
                    repository: target.repository.clone().unwrap_or_default(),
                    policy: Some(RetentionPolicy { rule: rule.rule() }),
                })
                .await?;
            print_policy(
                None,
                target.repository.as_deref(),
                response.policy,
                response.is_default,
            )
        }
    }
}

fn print_policy(
    output: Option<Format>,
    repository: Option<&str>,
    policy: Option<RetentionPolicy>,
    is_default: bool,
) -> anyhow::Result<()> {
    let (rule, value) = match policy.and_then(|p| p.rule) {
        Some(Rule::MaxAgeDays(days)) => ("max_age_days", days),
        Some(Rule::KeepTags(count)) => ("keep_tags", count),
        None => anyhow::bail!("the server sent no retention rule"),
    };
    let row = json!({
        "repository": repository.filter(|r| !r.is_empty()).unwrap_or("(project)"),
        "rule": rule,
        "value": value,
        "default": is_default,
    });
    print_rows(
        Format::or_default(output),
        &[
            Column {
                header: "Repository",
                key: "repository",
            },
            Column {
                header: "Rule",
                key: "rule",
            },
            Column {
                header: "Value",
                key: "value",
            },
            Column {
                header: "Default",
                key: "default",
            },
        ],
        &[row],
    )
}
