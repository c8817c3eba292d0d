//! `depot image list|rm`: a project's images in the depot-rs registry.

use clap::Subcommand;
use depot_core::proto::depot::build::v1::DeleteImageRequest;
use depot_registry::client::list_images;
use serde_json::json;

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// `depot image` subcommands.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List the project's images (tags), newest first.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
        /// Output format (default: table on a terminal, csv otherwise).
        #[arg(long, short, value_enum)]
        output: Option<Format>,
    },
    /// Delete images by tag (other tags of the same image stay).
    #[command(alias = "remove", alias = "delete")]
    Rm {
        /// Tags to delete: `<tag>` or `<path>:<tag>`.
        #[arg(required = true)]
        tags: Vec<String>,
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        project: ProjectArg,
    },
}

/// Runs an image command.
pub async fn run(command: ImageCommand) -> anyhow::Result<()> {
    match command {
        ImageCommand::List {
            token,
            project,
            output,
        } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            let rows: Vec<_> = list_images(&api.client, &project_id)
                .await?
                .into_iter()
                .map(|i| {
                    json!({
                        "tag": i.tag,
                        "digest": i.digest,
                        "size_bytes": i.size_bytes,
                        "pushed_at": i.pushed_at.map(|t| {
                            humantime::format_rfc3339_seconds(
                                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.seconds.max(0) as u64),
                            )
                            .to_string()
                        }),
                    })
                })
                .collect();
            print_rows(
                Format::or_default(output),
                &[
                    Column {
                        header: "Tag",
                        key: "tag",
                    },
                    Column {
                        header: "Digest",
                        key: "digest",
                    },
                    Column {
                        header: "Size (bytes)",
                        key: "size_bytes",
                    },
                    Column {
                        header: "Pushed At",
                        key: "pushed_at",
                    },
                ],
                &rows,
            )
        }
        ImageCommand::Rm {
            tags,
            token,
            project,
        } => {
            let api = Api::connect(&token, Some(&project)).await?;
            let project_id = api.project()?.to_owned();
            api.client
                .registry()
                .delete_image(DeleteImageRequest {
                    project_id,
                    image_tags: tags.clone(),
                })
                .await?;
            for tag in tags {
                println!("Deleted {tag}");
            }
            Ok(())
        }
    }
}
