//! `depot projects builders`: how many builds one of a project's builders runs at once, and how
//! many builders (per architecture) the project may have (depot-server only).

use depot_core::proto::depotrs::v1::{GetBuilderSettingsRequest, UpdateBuilderSettingsRequest};
use serde_json::json;

use crate::context::{Api, ProjectArg, TokenArg};
use crate::output::{Column, Format, print_rows};

/// Shows the project's builder settings, after changing the ones given (0 restores the
/// server's default).
pub async fn run(
    token: &TokenArg,
    project: &ProjectArg,
    builds_per_builder: Option<i32>,
    max_builders: Option<i32>,
    output: Option<Format>,
) -> anyhow::Result<()> {
    let api = Api::connect(token, Some(project)).await?;
    let project_id = api.project()?.to_owned();
    let settings = api.client.builder_settings();
    let shown = if builds_per_builder.is_some() || max_builders.is_some() {
        settings
            .update_builder_settings(UpdateBuilderSettingsRequest {
                project_id,
                builds_per_builder,
                max_builders,
            })
            .await?
    } else {
        settings
            .get_builder_settings(GetBuilderSettingsRequest { project_id })
            .await?
    };
    let origin = |is_default: bool| {
        if is_default {
            "server default"
        } else {
            "project"
        }
    };
    print_rows(
        Format::or_default(output),
        &[
            Column {
                header: "SETTING",
                key: "setting",
            },
            Column {
                header: "VALUE",
                key: "value",
            },
            Column {
                header: "FROM",
                key: "from",
            },
        ],
        &[
            json!({
                "setting": "builds_per_builder",
                "value": shown.builds_per_builder,
                "from": origin(shown.builds_per_builder_is_default),
            }),
            json!({
                "setting": "max_builders",
                "value": shown.max_builders,
                "from": origin(shown.max_builders_is_default),
            }),
        ],
    )
}
