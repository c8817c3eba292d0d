//! Admin commands: bootstrap and manage organizations, users, projects, tokens and logins
//! directly in the database.

use anyhow::{Context, anyhow, bail};
use depot_control::store::{NewProject, NewToken, Token};
use depot_control::tokens::TokenKind;
use depot_control::{Store, approve_login};
use serde_json::{Value, json};

use crate::cli::{
    BuildCommand, BuildersCommand, Command, LoginCommand, OrgCommand, Output, ProjectCommand,
    StoreArgs, TokenCommand, UserCommand,
};

/// Runs one admin command.
pub async fn run(store_args: &StoreArgs, command: Command) -> anyhow::Result<()> {
    let store = Store::open(&store_args.database_url()).await?;
    let result = dispatch(&store, store_args, command).await;
    store.close().await;
    result
}

/// `builders list`: the instances on disk, whether their engine runs, their cache and their
/// project's running builds.
async fn list_builders(store: &Store, dir: &std::path::Path, output: Output) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for instance in depot_build::server::engines::inventory(dir) {
        let usage = instance.usage.unwrap_or_default();
        rows.push(json!({
            "project_id": instance.project,
            "arch": instance.arch.as_str(),
            "index": instance.index,
            "state": if instance.running { "running" } else { "stopped" },
            "cache_bytes": usage.bytes,
            "cache_entries": usage.entries,
            "running_builds": store.running_builds(&instance.project).await?,
            "last_used_at": usage.last_used().map(|at| humantime::format_rfc3339_seconds(at).to_string()),
            "dir": instance.dir,
        }));
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => {
            if rows.is_empty() {
                println!("no builders yet (a project's first build starts its builder)");
            }
            for row in &rows {
                println!(
                    "{}  {}  {:8}  {:>12} bytes  {:>5} entries  {} running  last used {}",
                    row["project_id"].as_str().unwrap_or_default(),
                    row["arch"].as_str().unwrap_or_default(),
                    row["state"].as_str().unwrap_or_default(),
                    row["cache_bytes"],
                    row["cache_entries"],
                    row["running_builds"],
                    row["last_used_at"].as_str().unwrap_or("never"),
                );
            }
        }
    }
    Ok(())
}

async fn dispatch(store: &Store, store_args: &StoreArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Builders(BuildersCommand::List { output }) => {
            list_builders(store, &store_args.data_dir().join("builders"), output).await?;
        }
        Command::Build(BuildCommand::Show { id, output }) => {
            let build = store
                .get_build(&id)
                .await?
                .ok_or_else(|| anyhow!("build {id} not found"))?;
            let steps = store.build_steps(&id).await?;
            let status = build.status_name();
            let value = json!({
                "id": build.id,
                "project_id": build.project_id,
                "status": status,
                "error": build.error,
                "created_at": build.created_at,
                "finished_at": build.finished_at,
                "steps": steps.iter().map(|s| json!({
                    "name": s.name,
                    "digest": s.digest,
                    "cached": s.cached == 1,
                    "started_at": s.started_at,
                    "completed_at": s.completed_at,
                    "error": s.error,
                })).collect::<Vec<_>>(),
            });
            let mut text = format!("{} {status}", build.id);
            for step in &steps {
                let took = match (step.started_at, step.completed_at) {
                    _ if step.cached == 1 => "CACHED".to_owned(),
                    (Some(a), Some(b)) => format!("{:.1}s", (b - a) as f64 / 1000.0),
                    _ => "-".to_owned(),
                };
                text.push_str(&format!("\n  {took:>8}  {}", step.name));
            }
            emit(output, value, &text);
        }
        Command::Build(BuildCommand::Cancel { id }) => {
            if !store.request_build_cancel(&id).await? {
                bail!("build {id} is not running (or does not exist)");
            }
            eprintln!("Build {id} will be canceled at its client's next health report.");
        }
        Command::Org(OrgCommand::Create { name, output }) => {
            let org = store
                .create_org(non_empty(&name, "organization name")?)
                .await?;
            emit(output, json!({"id": org.id, "name": org.name}), &org.id);
        }
        Command::Org(OrgCommand::List { output }) => {
            let orgs = store.list_orgs().await?;
            let rows = orgs
                .iter()
                .map(|o| json!({"id": o.id, "name": o.name}))
                .collect();
            emit_list(output, rows, &["id", "name"]);
        }
        Command::User(UserCommand::Create { name, orgs, output }) => {
            let name = non_empty(&name, "user name")?;
            for org in &orgs {
                require_org(store, org).await?;
            }
            if store.find_user(name).await?.is_some() {
                bail!("a user named {name:?} already exists");
            }
            let user = store.create_user(name).await?;
            for org in &orgs {
                store.add_member(org, &user.id).await?;
            }
            emit(
                output,
                json!({"id": user.id, "name": user.name, "orgs": orgs}),
                &user.id,
            );
        }
        Command::User(UserCommand::Join { user, org }) => {
            let user = require_user(store, &user).await?;
            require_org(store, &org).await?;
            store.add_member(&org, &user.id).await?;
            eprintln!("User {} is now a member of {org}.", user.name);
        }
        Command::User(UserCommand::List { output }) => {
            let users = store.list_users().await?;
            let rows = users
                .iter()
                .map(|u| json!({"id": u.id, "name": u.name}))
                .collect();
            emit_list(output, rows, &["id", "name"]);
        }
        Command::Project(ProjectCommand::Create {
            name,
            org,
            region,
            output,
        }) => {
            require_org(store, &org).await?;
            let project = store
                .create_project(&NewProject {
                    region_id: region,
                    ..NewProject::with_defaults(org, non_empty(&name, "project name")?)
                })
                .await?;
            emit(
                output,
                json!({"id": project.id, "name": project.name, "org_id": project.org_id}),
                &project.id,
            );
        }
        Command::Project(ProjectCommand::List { output }) => {
            let projects = store.list_projects().await?;
            let rows = projects
                .iter()
                .map(|p| json!({"id": p.id, "name": p.name, "org_id": p.org_id, "org_name": p.org_name}))
                .collect();
            emit_list(output, rows, &["id", "name", "org_id", "org_name"]);
        }
        Command::Token(TokenCommand::Create {
            user,
            org,
            project,
            description,
            expires_in,
            output,
        }) => {
            let new = match (user, org, project) {
                (Some(user), None, None) => NewToken {
                    user_id: Some(require_user(store, &user).await?.id),
                    ..new_token(TokenKind::User, description, expires_in)
                },
                (None, Some(org), None) => {
                    require_org(store, &org).await?;
                    NewToken {
                        org_id: Some(org),
                        ..new_token(TokenKind::Organization, description, expires_in)
                    }
                }
                (None, None, Some(project)) => {
                    let project = store.get_project(&project).await?.ok_or_else(|| {
                        anyhow!("project {project} not found (see `depot-server project list`)")
                    })?;
                    NewToken {
                        org_id: Some(project.org_id),
                        project_id: Some(project.id),
                        ..new_token(TokenKind::Project, description, expires_in)
                    }
                }
                _ => bail!("give exactly one of --user, --org or --project"),
            };
            let (token, secret) = store.create_token(&new).await?;
            eprintln!(
                "Token {} created. Store the secret now: it cannot be shown again.",
                token.id
            );
            emit(
                output,
                json!({"id": token.id, "kind": token.kind, "token": secret.expose()}),
                secret.expose(),
            );
        }
        Command::Token(TokenCommand::List { output }) => {
            let tokens = store.list_tokens().await?;
            let rows = tokens.iter().map(token_row).collect();
            emit_list(
                output,
                rows,
                &["id", "kind", "scope", "description", "state"],
            );
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            if !store.revoke_token(&id).await? {
                bail!("no live token with id {id} (see `depot-server token list`)");
            }
            eprintln!("Token {id} revoked.");
        }
        Command::Login(LoginCommand::Approve { id, user }) => {
            let user = require_user(store, &user).await?;
            approve_login(store, &id, &user.id)
                .await
                .map_err(|e| anyhow!("{}", e.message()))?;
            eprintln!(
                "Login {id} approved for {}; the waiting CLI now receives its token.",
                user.name
            );
        }
        Command::Bootstrap {
            org,
            user,
            project,
            output,
        } => {
            if store.find_user(&user).await?.is_some() {
                bail!("a user named {user:?} already exists; pass --user with a new name");
            }
            let org = store
                .create_org(non_empty(&org, "organization name")?)
                .await?;
            let user = store.create_user(non_empty(&user, "user name")?).await?;
            store.add_member(&org.id, &user.id).await?;
            let project = store
                .create_project(&NewProject::with_defaults(
                    &org.id,
                    non_empty(&project, "project name")?,
                ))
                .await?;
            let (token, secret) = store
                .create_token(&NewToken {
                    user_id: Some(user.id.clone()),
                    ..new_token(TokenKind::User, "bootstrap".into(), None)
                })
                .await?;
            let value = json!({
                "org_id": org.id, "org_name": org.name,
                "user_id": user.id, "user_name": user.name,
                "project_id": project.id, "project_name": project.name,
                "token_id": token.id, "token": secret.expose(),
            });
            match output {
                Output::Json => println!("{value}"),
                Output::Text => {
                    println!("organization  {} ({})", org.id, org.name);
                    println!("user          {} ({})", user.id, user.name);
                    println!("project       {} ({})", project.id, project.name);
                    println!("token         {}", secret.expose());
                    eprintln!("Store the token now: it cannot be shown again.");
                }
            }
        }
        Command::Status { output } => {
            let value = json!({
                "database": "ok",
                "organizations": store.list_orgs().await?.len(),
                "users": store.list_users().await?.len(),
                "projects": store.list_projects().await?.len(),
                "live_tokens": store.list_tokens().await?.iter().filter(|t| t.revoked_at.is_none()).count(),
            });
            match output {
                Output::Json => println!("{value}"),
                Output::Text => {
                    for (key, v) in value.as_object().expect("an object") {
                        println!("{key:<14}{v}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn new_token(kind: TokenKind, description: String, ttl: Option<std::time::Duration>) -> NewToken {
    NewToken {
        kind,
        description,
        user_id: None,
        org_id: None,
        project_id: None,
        build_id: None,
        ttl,
    }
}

fn token_row(t: &Token) -> Value {
    let scope = [&t.user_id, &t.org_id, &t.project_id, &t.build_id]
        .into_iter()
        .flatten()
        .last()
        .cloned()
        .unwrap_or_default();
    let now = depot_control::store::now_ms();
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "live"
    };
    json!({"id": t.id, "kind": t.kind, "scope": scope, "description": t.description, "state": state})
}

fn non_empty<'a>(value: &'a str, what: &str) -> anyhow::Result<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        bail!("the {what} cannot be empty");
    }
    Ok(value)
}

async fn require_org(store: &Store, id: &str) -> anyhow::Result<()> {
    store
        .get_org(id)
        .await?
        .map(|_| ())
        .with_context(|| format!("organization {id} not found (see `depot-server org list`)"))
}

async fn require_user(
    store: &Store,
    id_or_name: &str,
) -> anyhow::Result<depot_control::store::User> {
    store
        .find_user(id_or_name)
        .await?
        .with_context(|| format!("user {id_or_name} not found (see `depot-server user list`)"))
}

/// Prints a created object: its JSON, or in text mode just `text` (an id or a secret), so
/// scripts can capture it.
fn emit(output: Output, value: Value, text: &str) {
    match output {
        Output::Json => println!("{value}"),
        Output::Text => println!("{text}"),
    }
}

fn emit_list(output: Output, rows: Vec<Value>, columns: &[&str]) {
    match output {
        Output::Json => println!("{}", Value::Array(rows)),
        Output::Text => {
            for row in rows {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| match &row[*c] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                println!("{}", cells.join("\t"));
            }
        }
    }
}
