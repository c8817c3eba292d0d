//! Flags → the build: the flags' text goes to [`BuildFlags`], which `depot-build` parses into
//! what the builder is asked for and what BuildKit builds (the same parser every package uses).

use depot_build::flags::{BuildFlags, StandardOutput};
use depot_build::run::BuildSpec;

use super::BuildArgs;

impl BuildArgs {
    /// The whole build (its project is set once resolved); `show_build_url` reports the
    /// build's page as a step. `dest=-` outputs write to standard output.
    pub(super) fn spec(&self, show_build_url: bool) -> anyhow::Result<BuildSpec> {
        let mut spec = self.flags().into_spec(StandardOutput::Process)?;
        spec.show_build_url = show_build_url;
        Ok(spec)
    }

    /// `--save`, or implied by `--save-tag`.
    pub(super) fn saves(&self) -> bool {
        self.save || !self.save_tags.is_empty()
    }

    /// The flags' text, as `depot-build` takes it.
    fn flags(&self) -> BuildFlags {
        BuildFlags {
            context: self.context.clone(),
            file: self.file.clone(),
            tags: self.tags.clone(),
            target: self.target.clone(),
            build_args: self.build_args.clone(),
            labels: self.labels.clone(),
            platforms: self.platforms.clone(),
            no_cache: self.no_cache,
            no_cache_filter: self.no_cache_filter.clone(),
            build_contexts: self.build_contexts.clone(),
            add_hosts: self.add_hosts.clone(),
            network: self.network.clone(),
            cache_from: self.cache_from.clone(),
            cache_to: self.cache_to.clone(),
            secrets: self.secrets.clone(),
            ssh: self.ssh.clone(),
            allow: self.allow.clone(),
            outputs: self.outputs.clone(),
            push: self.push,
            load: self.load,
            provenance: self.provenance.clone(),
            sbom: self.sbom.clone(),
            save: self.save,
            save_tags: self.save_tags.clone(),
            build_platform: Some(self.build_platform.clone()),
            lint: self.lint,
            project: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::Parser;
    use depot_build::buildkit::Output;
    use depot_core::proto::depot::cli::v1::BuilderPlatform;

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
        let spec = args.spec(false).unwrap();
        let options = &spec.options;
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
        assert_eq!(spec.request.tags, ["a:1", "b:2"]);
        assert_eq!(spec.request.platform, BuilderPlatform::Amd64);
        assert!(!spec.request.save && !spec.request.push && !spec.request.load);
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
            "-o",
            "-",
            "--build-platform",
            "linux/arm64",
            "--project",
            "p",
            ".",
        ]);
        assert!(args.saves());
        let spec = args.spec(true).unwrap();
        let request = &spec.request;
        assert!(request.save && request.push && request.load && request.lint);
        assert_eq!(request.save_tags, ["v1"]);
        assert_eq!(request.outputs[0].kind, "oci");
        assert_eq!(request.platform, BuilderPlatform::Arm64);
        // `-` is a tarball on standard output, which the CLI has.
        assert!(matches!(
            spec.outputs[..],
            [Output::Oci { .. }, Output::Tar { .. }]
        ));
        assert!(spec.show_build_url);
    }

    #[test]
    fn bad_flags_are_named() {
        let refusal = |args: &[&str]| match parse(args).spec(false) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{args:?} accepted"),
        };
        assert!(
            refusal(&["--build-platform", "windows", "."]).starts_with("unknown --build-platform")
        );
        assert_eq!(
            refusal(&["--label", "novalue", "."]),
            "invalid --label \"novalue\": expected KEY=VALUE"
        );
    }
}
