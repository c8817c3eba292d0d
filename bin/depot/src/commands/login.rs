//! `depot login`, `depot login token`, `depot logout`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use depot_core::DepotClient;
use depot_core::config::{Environment, ResolvedConfig, UserConfig};
use depot_core::proto::depot::cli::v1beta1::{FinishLoginRequest, StartLoginRequest};
use depot_core::proto::depot::core::v1::ListOrganizationsRequest;
use depot_core::proto::depot::core::v1::list_organization_response::Organization;

/// `depot login` arguments.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoginArgs {
    #[command(subcommand)]
    command: Option<LoginCommand>,
    /// Organization to use; skips the organization picker.
    #[arg(long)]
    org_id: Option<String>,
    /// Log in again even if a token is already stored.
    #[arg(long)]
    clear: bool,
}

#[derive(Subcommand, Debug)]
enum LoginCommand {
    /// Print the stored API token.
    Token,
}

/// Runs the device login, or prints the stored token.
pub async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let env = Environment::from_process();
    let path = env
        .user_config_path()
        .context("cannot find the user config: set HOME or XDG_CONFIG_HOME")?;
    let mut config = UserConfig::load(&path)?;
    if let Some(LoginCommand::Token) = args.command {
        if config.api_token.is_empty() {
            bail!("not logged in: run `depot login`");
        }
        println!("{}", config.api_token);
        return Ok(());
    }
    if !config.api_token.is_empty() && !args.clear {
        println!("You are already logged in. Run `depot login --clear` to log in again.");
        return Ok(());
    }

    let mut options = ResolvedConfig::resolve(&env, None, None)
        .await?
        .client_options();
    options.token = None;
    let client = DepotClient::new(options)?;
    let started = client.login().start_login(StartLoginRequest {}).await?;
    eprintln!(
        "Please visit the following URL to authenticate the CLI:\n\n    {}\n\nWaiting for approval…",
        started.approve_url
    );
    let mut stream = client
        .login()
        .finish_login(FinishLoginRequest { id: started.id })
        .await?;
    let token = stream
        .message()
        .await?
        .ok_or_else(|| {
            anyhow!("the server ended the login without a token; run `depot login` again")
        })?
        .token;

    let org_id = match args.org_id {
        Some(org) => org,
        None => {
            let orgs = client
                .with_token(&token)
                .organizations()
                .list_organizations(ListOrganizationsRequest {})
                .await?
                .organizations;
            pick_org(orgs)?
        }
    };
    config.api_token = token;
    config.org_id = org_id;
    config.save(&path)?;
    println!("Successfully authenticated!");
    Ok(())
}

fn pick_org(orgs: Vec<Organization>) -> anyhow::Result<String> {
    match orgs.len() {
        0 => bail!("No active organizations found: ask an admin to add you to one"),
        1 => return Ok(orgs.into_iter().next().expect("one").org_id),
        _ => {}
    }
    if !std::io::stdin().is_terminal() {
        let listed: Vec<String> = orgs
            .iter()
            .map(|o| format!("  {} ({})", o.org_id, o.name))
            .collect();
        bail!(
            "you belong to several organizations; choose one with --org-id:\n{}",
            listed.join("\n")
        );
    }
    eprintln!("Choose an organization:");
    for (i, org) in orgs.iter().enumerate() {
        eprintln!("  {}) {} ({})", i + 1, org.name, org.org_id);
    }
    let choice = prompt_number(orgs.len())?;
    Ok(orgs[choice].org_id.clone())
}

/// Reads a 1-based choice from stdin; returns it 0-based.
pub fn prompt_number(count: usize) -> anyhow::Result<usize> {
    loop {
        eprint!("Enter 1-{count}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            bail!("no choice made");
        }
        match line.trim().parse::<usize>() {
            Ok(n) if (1..=count).contains(&n) => return Ok(n - 1),
            _ => eprintln!("Not a number between 1 and {count}."),
        }
    }
}

/// Clears the stored token and organization (no API call).
pub fn logout() -> anyhow::Result<()> {
    let env = Environment::from_process();
    let path = env
        .user_config_path()
        .context("cannot find the user config: set HOME or XDG_CONFIG_HOME")?;
    let mut config = UserConfig::load(&path)?;
    config.api_token.clear();
    config.org_id.clear();
    config.save(&path)?;
    println!("Logged out.");
    Ok(())
}
