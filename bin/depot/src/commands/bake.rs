//! `depot bake`: buildx bake files. This version evaluates them (`--print`); building their
//! targets on the project's builder comes next.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use depot_bake::{BakeFile, Request};

/// `depot bake` arguments.
#[derive(Args, Debug)]
pub struct BakeArgs {
    /// Targets or groups to build (default: the `default` group).
    targets: Vec<String>,
    /// A bake file (HCL or JSON; `-` for standard input); repeatable, merged in order.
    /// Default: compose.yaml, …, docker-bake.json, docker-bake.override.json,
    /// docker-bake.hcl, docker-bake.override.hcl, those that exist.
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Override a target's value: `target.key=value` (`*` patterns match several targets).
    #[arg(long = "set")]
    overrides: Vec<String>,
    /// Print the definition as JSON (as `docker buildx bake --print`) and build nothing.
    #[arg(long)]
    print: bool,
}

/// Evaluates the bake files and prints the definition.
pub async fn run(args: BakeArgs) -> anyhow::Result<()> {
    let files = if args.files.is_empty() {
        depot_bake::default_files(&std::env::current_dir()?)?
    } else {
        let mut files = Vec::new();
        for path in &args.files {
            if path.as_os_str() == "-" {
                let mut data = String::new();
                std::io::stdin()
                    .read_to_string(&mut data)
                    .context("reading the bake file from standard input")?;
                files.push(BakeFile {
                    name: "-".into(),
                    data,
                });
            } else {
                files.push(depot_bake::read_file(path, &path.display().to_string())?);
            }
        }
        files
    };
    let request = Request {
        targets: args.targets,
        overrides: args.overrides,
        command_context: None,
    };
    let definition = depot_bake::read(&files, &request, &|name| std::env::var(name).ok())?;
    if !args.print {
        bail!(
            "depot bake builds nothing yet: --print shows the definition; build each target \
             with depot build"
        );
    }
    println!("{}", definition.to_json());
    Ok(())
}
