//! Flags → what the builder is asked for (`CreateBuild`) and what BuildKit builds.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use depot_build::builder::BuilderRequest;
use depot_build::buildkit::{BuildOptions, Output, TarDestination};
use depot_build::run::BuildSpec;
use depot_core::proto::depot::cli::v1::BuilderPlatform;

use super::BuildArgs;

impl BuildArgs {
    /// The whole build, for `project`; `show_build_url` reports the build's page as a step.
    pub(super) fn spec(
        &self,
        project: Option<String>,
        show_build_url: bool,
    ) -> anyhow::Result<BuildSpec> {
        Ok(BuildSpec {
            request: self.builder_request(project)?,
            options: self.build_options()?,
            outputs: self.typed_outputs()?,
            show_build_url,
        })
    }

    /// `--save`, or implied by `--save-tag`.
    pub(super) fn saves(&self) -> bool {
        self.save || !self.save_tags.is_empty()
    }

    /// The `CreateBuild` request for `project`.
    pub(super) fn builder_request(
        &self,
        project: Option<String>,
    ) -> anyhow::Result<BuilderRequest> {
        Ok(BuilderRequest {
            project_id: project,
            tags: self.tags.clone(),
            outputs: self.outputs.clone(),
            push: self.push,
            load: self.load,
            save: self.saves(),
            save_tags: self.save_tags.clone(),
            lint: self.lint,
            platform: builder_platform(&self.build_platform, &self.platforms)?,
            ..BuilderRequest::default()
        })
    }

    /// The `--output`s, typed (`dest=-` writes to stdout).
    pub(super) fn typed_outputs(&self) -> anyhow::Result<Vec<Output>> {
        let mut outputs = Vec::new();
        for spec in &self.outputs {
            let output = spec
                .clone()
                .into_output(&self.tags, || {
                    TarDestination::Writer(Box::new(tokio::io::stdout()))
                })
                .map_err(anyhow::Error::msg)?;
            outputs.extend(output);
        }
        Ok(outputs)
    }

    /// What BuildKit builds (outputs and credentials are added once the builder is known).
    pub(super) fn build_options(&self) -> anyhow::Result<BuildOptions> {
        Ok(BuildOptions {
            context: self.context.clone(),
            dockerfile: self.file.clone(),
            target: self.target.clone(),
            build_args: build_args(&self.build_args, &|name| std::env::var(name).ok())?,
            labels: key_values(&self.labels, "--label")?,
            platforms: self.platforms.clone(),
            no_cache: self.no_cache,
            no_cache_filter: self.no_cache_filter.clone(),
            build_contexts: key_values(&self.build_contexts, "--build-context")?,
            add_hosts: self.add_hosts.clone(),
            network: self.network.clone(),
            cache_from: self.cache_from.clone(),
            cache_to: self.cache_to.clone(),
            provenance: self.provenance.clone(),
            sbom: self.sbom.clone(),
            secrets: self.secrets.clone(),
            ssh: self.ssh.clone(),
            allow: self.allow.clone(),
            ..BuildOptions::default()
        })
    }
}

/// The builder's architecture: `--build-platform`, or with `dynamic` the first `--platform`'s,
/// else this machine's.
fn builder_platform(flag: &str, platforms: &[String]) -> anyhow::Result<BuilderPlatform> {
    depot_build::builder::builder_platform(flag, platforms).map_err(|_| {
        anyhow!("unknown --build-platform {flag:?}: use dynamic, linux/amd64 or linux/arm64")
    })
}

/// `--build-arg NAME=VALUE`; a bare `NAME` takes its value from the environment and is left
/// out when unset, like docker.
fn build_args(
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for value in values {
        match value.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                args.insert(name.to_owned(), value.to_owned());
            }
            Some(_) => bail!("invalid --build-arg {value:?}: expected NAME=VALUE"),
            None => {
                if let Some(found) = env(value) {
                    args.insert(value.clone(), found);
                }
            }
        }
    }
    Ok(args)
}

/// `KEY=VALUE` flags as a map.
fn key_values(values: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    values
        .iter()
        .map(|value| {
            value
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("invalid {flag} {value:?}: expected KEY=VALUE"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> BuildArgs {
        let cli = Cli::try_parse_from(["depot", "build"].iter().chain(args)).unwrap();
        match cli.command {
            crate::Command::Build(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_flags_map_to_build_options() {
        let args = parse(&[
            "-f",
            "ctx/Build.df",
            "-t",
            "a:1",
            "--tag",
            "b:2",
            "--target",
            "final",
            "--build-arg",
            "A=1",
            "--build-arg",
            "B=x=y",
            "--label",
            "l=v",
            "--platform",
            "linux/amd64,linux/arm64",
            "--no-cache-filter",
            "base",
            "--build-context",
            "rootfs=/tmp/r",
            "--add-host",
            "db:10.0.0.2",
            "--network",
            "host",
            "--cache-from",
            "reg/app:cache",
            "--cache-to",
            "type=inline",
            "--secret",
            "id=s,env=S",
            "--allow",
            "network.host",
            "--provenance",
            "--sbom=false",
            "--progress",
            "plain",
            "--pull",
            "--rm",
            "--squash",
            "--memory",
            "1g",
            "ctx",
        ]);
        let options = args.build_options().unwrap();
        assert_eq!(options.context, std::path::Path::new("ctx"));
        assert_eq!(
            options.dockerfile.as_deref(),
            Some(std::path::Path::new("ctx/Build.df"))
        );
        assert_eq!(options.target.as_deref(), Some("final"));
        assert_eq!(options.build_args["B"], "x=y");
        assert_eq!(options.labels["l"], "v");
        assert_eq!(options.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(options.no_cache_filter, ["base"]);
        assert_eq!(options.build_contexts["rootfs"], "/tmp/r");
        assert_eq!(options.add_hosts, ["db:10.0.0.2"]);
        assert_eq!(options.network.as_deref(), Some("host"));
        assert_eq!(options.cache_from[0].attrs["ref"], "reg/app:cache");
        assert_eq!(options.cache_to[0].kind, "inline");
        assert_eq!(options.secrets.len(), 1);
        assert_eq!(options.allow, ["network.host"]);
        assert_eq!(options.provenance.as_deref(), Some("true"));
        assert_eq!(options.sbom.as_deref(), Some("false"));
        assert_eq!(args.progress, depot_build::progress::ProgressMode::Plain);
        assert_eq!(
            args.legacy.ignored(),
            ["--pull", "--rm", "--squash", "--memory"]
        );
        let request = args.builder_request(Some("p1".into())).unwrap();
        assert_eq!(request.tags, ["a:1", "b:2"]);
        assert_eq!(request.platform, BuilderPlatform::Amd64);
        assert!(!request.save && !request.push && !request.load);
    }

    #[test]
    fn depot_flags_map_to_the_builder_request() {
        let args = parse(&[
            "--save-tag",
            "v1",
            "--push",
            "--load",
            "--lint",
            "-t",
            "r/a:1",
            "-o",
            "type=oci,dest=x.tar",
            "--build-platform",
            "linux/arm64",
            "--project",
            "p",
            ".",
        ]);
        let request = args.builder_request(Some("p".into())).unwrap();
        assert!(request.save && request.push && request.load && request.lint);
        assert_eq!(request.save_tags, ["v1"]);
        assert_eq!(request.outputs[0].kind, "oci");
        assert_eq!(request.platform, BuilderPlatform::Arm64);
        let outputs = args.typed_outputs().unwrap();
        assert!(matches!(outputs[..], [Output::Oci { .. }]));
    }

    #[test]
    fn build_platforms() {
        let arm = ["linux/arm64/v8".to_owned()];
        assert_eq!(
            builder_platform("dynamic", &arm).unwrap(),
            BuilderPlatform::Arm64
        );
        let error = builder_platform("windows", &[]).unwrap_err();
        assert!(error.to_string().starts_with("unknown --build-platform"));
    }

    #[test]
    fn build_args_and_key_values() {
        let env = |name: &str| (name == "FROM_ENV").then(|| "e".to_owned());
        let args = build_args(&["A=1".into(), "FROM_ENV".into(), "UNSET".into()], &env).unwrap();
        assert_eq!(args.len(), 2);
        assert_eq!(args["FROM_ENV"], "e");
        assert!(build_args(&["=x".into()], &env).is_err());
        let error = key_values(&["novalue".into()], "--label").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --label \"novalue\": expected KEY=VALUE"
        );
    }
}
