//! A build as `depot build`'s flags write it, turned into a [`BuildSpec`]: the one place that
//! parses buildx-style option text (`--output`, `--secret`, `--ssh`, `--cache-from`/`--cache-to`,
//! `--build-arg`, `--label`, `--build-context`, `--build-platform`). The CLI and every language
//! package fill a [`BuildFlags`] and call [`BuildFlags::into_spec`], so an option means the same
//! and fails with the same message everywhere.
//!
//! ```
//! use depot_build::flags::{BuildFlags, StandardOutput};
//! let flags = BuildFlags {
//!     context: "./app".into(),
//!     tags: vec!["registry.example/app:1".into()],
//!     build_args: vec!["VERSION=1.2".into()],
//!     outputs: vec!["type=oci,dest=app.tar".into()],
//!     save: true,
//!     ..BuildFlags::default()
//! };
//! let spec = flags.into_spec(StandardOutput::Refused).unwrap();
//! assert_eq!(spec.options.build_args["VERSION"], "1.2");
//! assert!(spec.request.save);
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::builder::{BuilderRequest, builder_platform};
use crate::buildkit::session::{SecretSpec, SshSpec};
use crate::buildkit::{BuildOptions, CacheSpec, OutputSpec, TarDestination};
use crate::run::{BuildSpec, Error};

/// A build in the text of `depot build`'s flags (each field names its flag). Maps such as
/// build arguments are `KEY=VALUE` strings, as on the command line;
/// [`BuildFlags::pairs`] writes a map that way.
#[derive(Clone, Debug, Default)]
pub struct BuildFlags {
    /// The build context directory (`PATH`).
    pub context: PathBuf,
    /// `--file`: the Dockerfile (default `<context>/Dockerfile`).
    pub file: Option<PathBuf>,
    /// `--tag`: image names.
    pub tags: Vec<String>,
    /// `--target`: the stage to build.
    pub target: Option<String>,
    /// `--build-arg NAME=VALUE`; a bare `NAME` takes its value from the environment and is left
    /// out when unset, like docker.
    pub build_args: Vec<String>,
    /// `--label KEY=VALUE`.
    pub labels: Vec<String>,
    /// `--platform`: target platforms (`linux/amd64`).
    pub platforms: Vec<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter STAGE`.
    pub no_cache_filter: Vec<String>,
    /// `--build-context NAME=VALUE`: a directory, or a `docker-image://`… source.
    pub build_contexts: Vec<String>,
    /// `--add-host HOST:IP`.
    pub add_hosts: Vec<String>,
    /// `--network`: `default`, `host` or `none`.
    pub network: Option<String>,
    /// `--cache-from` (`type=registry,ref=…`, or a bare reference).
    pub cache_from: Vec<String>,
    /// `--cache-to`.
    pub cache_to: Vec<String>,
    /// `--secret` (`id=npm,src=.npmrc`, `id=TOKEN,env=TOKEN`).
    pub secrets: Vec<String>,
    /// `--ssh` (`default`, `id=socket`).
    pub ssh: Vec<String>,
    /// `--allow`: entitlements (`network.host`, `security.insecure`).
    pub allow: Vec<String>,
    /// `--output` (`type=local,dest=out`, `type=oci,dest=app.tar`, a directory, `-`).
    pub outputs: Vec<String>,
    /// `--push`.
    pub push: bool,
    /// `--load`.
    pub load: bool,
    /// `--provenance` (`true`, `false`, `mode=max`).
    pub provenance: Option<String>,
    /// `--sbom` (`true`, `false`, `generator=…`).
    pub sbom: Option<String>,
    /// `--save`; also implied by `save_tags`.
    pub save: bool,
    /// `--save-tag`.
    pub save_tags: Vec<String>,
    /// `--build-platform`: `dynamic` (the default: from the first platform, else this
    /// machine's), `linux/amd64` or `linux/arm64`.
    pub build_platform: Option<String>,
    /// `--lint`.
    pub lint: bool,
    /// `--project`.
    pub project: Option<String>,
}

/// Where an output with `dest=-` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandardOutput {
    /// The process's standard output (the CLI).
    Process,
    /// Nowhere: `dest=-` is refused (a library call has no standard output to write to).
    Refused,
}

impl BuildFlags {
    /// A map as `KEY=VALUE` strings, the form [`BuildFlags`] keeps maps in.
    pub fn pairs<K: std::fmt::Display, V: std::fmt::Display>(
        map: impl IntoIterator<Item = (K, V)>,
    ) -> Vec<String> {
        map.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Whether the image is saved in the project's registry (`--save`, or a `--save-tag`).
    pub fn saves(&self) -> bool {
        self.save || !self.save_tags.is_empty()
    }

    /// The build to run; [`Error::Invalid`] names the option that cannot be used.
    pub fn into_spec(self, standard_output: StandardOutput) -> Result<BuildSpec, Error> {
        let invalid = Error::Invalid;
        let output_specs = parse_all::<OutputSpec>(&self.outputs)?;
        let mut outputs = Vec::new();
        for spec in &output_specs {
            if spec.attrs.get("dest").is_some_and(|dest| dest == "-")
                && matches!(standard_output, StandardOutput::Refused)
            {
                return Err(invalid(
                    "output dest=- writes to standard output, which only the CLI has; \
                     name a file (dest=image.tar)"
                        .into(),
                ));
            }
            let stdout = || TarDestination::Writer(Box::new(tokio::io::stdout()));
            outputs.extend(
                spec.clone()
                    .into_output(&self.tags, stdout)
                    .map_err(invalid)?,
            );
        }
        let build_platform = self.build_platform.as_deref().unwrap_or("dynamic");
        let platform = builder_platform(build_platform, &self.platforms).map_err(|_| {
            invalid(format!(
                "unknown --build-platform {build_platform:?}: use dynamic, linux/amd64 or \
                 linux/arm64"
            ))
        })?;
        let save = self.saves();
        let options = BuildOptions {
            build_args: build_args(&self.build_args, &|name| std::env::var(name).ok())?,
            labels: key_values(&self.labels, "--label")?,
            build_contexts: key_values(&self.build_contexts, "--build-context")?,
            cache_from: parse_all::<CacheSpec>(&self.cache_from)?,
            cache_to: parse_all::<CacheSpec>(&self.cache_to)?,
            secrets: parse_all::<SecretSpec>(&self.secrets)?,
            ssh: parse_all::<SshSpec>(&self.ssh)?,
            context: self.context,
            dockerfile: self.file,
            target: self.target,
            platforms: self.platforms,
            no_cache: self.no_cache,
            no_cache_filter: self.no_cache_filter,
            add_hosts: self.add_hosts,
            network: self.network,
            provenance: self.provenance,
            sbom: self.sbom,
            allow: self.allow,
            ..BuildOptions::default()
        };
        let request = BuilderRequest {
            project_id: self.project,
            tags: self.tags,
            outputs: output_specs,
            push: self.push,
            load: self.load,
            save,
            save_tags: self.save_tags,
            lint: self.lint,
            platform,
            ..BuilderRequest::default()
        };
        Ok(BuildSpec {
            request,
            options,
            outputs,
            show_build_url: false,
            per_arch_builders: matches!(build_platform, "dynamic" | ""),
        })
    }
}

/// Every text parsed as `T`; the first failure's message (which quotes the text) is the error.
fn parse_all<T: std::str::FromStr<Err = String>>(texts: &[String]) -> Result<Vec<T>, Error> {
    texts
        .iter()
        .map(|text| text.parse().map_err(Error::Invalid))
        .collect()
}

/// `--build-arg` values as a map; a bare `NAME` is looked up with `env`.
fn build_args(
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut args = BTreeMap::new();
    for value in values {
        match value.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                args.insert(name.to_owned(), value.to_owned());
            }
            Some(_) => {
                return Err(Error::Invalid(format!(
                    "invalid --build-arg {value:?}: expected NAME=VALUE"
                )));
            }
            None => {
                if let Some(found) = env(value) {
                    args.insert(value.clone(), found);
                }
            }
        }
    }
    Ok(args)
}

/// `KEY=VALUE` values of `flag` as a map.
fn key_values(values: &[String], flag: &str) -> Result<BTreeMap<String, String>, Error> {
    values
        .iter()
        .map(|value| {
            value
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    Error::Invalid(format!("invalid {flag} {value:?}: expected KEY=VALUE"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::Output;
    use depot_core::proto::depot::cli::v1::BuilderPlatform;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    /// Why `flags` cannot be built.
    fn refusal(flags: BuildFlags) -> String {
        match flags.into_spec(StandardOutput::Refused) {
            Err(Error::Invalid(message)) => message,
            Err(other) => panic!("not an invalid option: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn every_option_reaches_the_spec() {
        let flags = BuildFlags {
            context: "ctx".into(),
            file: Some("ctx/Build.df".into()),
            tags: strings(&["a:1", "b:2"]),
            target: Some("final".into()),
            build_args: strings(&["A=1", "B=x=y"]),
            labels: strings(&["l=v"]),
            platforms: strings(&["linux/arm64", "linux/amd64"]),
            no_cache_filter: strings(&["base"]),
            build_contexts: strings(&["rootfs=/tmp/r"]),
            add_hosts: strings(&["db:10.0.0.2"]),
            network: Some("host".into()),
            cache_from: strings(&["reg/app:cache"]),
            cache_to: strings(&["type=inline"]),
            secrets: strings(&["id=s,env=S"]),
            allow: strings(&["network.host"]),
            outputs: strings(&["type=oci,dest=x.tar"]),
            provenance: Some("true".into()),
            sbom: Some("false".into()),
            save_tags: strings(&["v1"]),
            lint: true,
            project: Some("p1".into()),
            ..BuildFlags::default()
        };
        let spec = flags.into_spec(StandardOutput::Refused).unwrap();
        let options = &spec.options;
        assert_eq!(options.context, std::path::Path::new("ctx"));
        assert_eq!(options.target.as_deref(), Some("final"));
        assert_eq!(options.build_args["B"], "x=y");
        assert_eq!(options.labels["l"], "v");
        assert_eq!(options.build_contexts["rootfs"], "/tmp/r");
        assert_eq!(options.cache_from[0].attrs["ref"], "reg/app:cache");
        assert_eq!(options.cache_to[0].kind, "inline");
        assert_eq!(options.secrets.len(), 1);
        assert_eq!(options.provenance.as_deref(), Some("true"));
        let request = &spec.request;
        assert_eq!(request.project_id.as_deref(), Some("p1"));
        assert_eq!(request.tags, ["a:1", "b:2"]);
        assert!(request.save && request.lint && !request.push);
        assert_eq!(request.save_tags, ["v1"]);
        // The builder follows the first platform.
        assert_eq!(request.platform, BuilderPlatform::Arm64);
        assert_eq!(request.outputs[0].kind, "oci");
        assert!(matches!(spec.outputs[..], [Output::Oci { .. }]));
    }

    #[test]
    fn standard_output_only_where_there_is_one() {
        let flags = BuildFlags {
            context: "ctx".into(),
            outputs: strings(&["type=tar,dest=-"]),
            ..BuildFlags::default()
        };
        let error = refusal(flags.clone());
        assert!(error.contains("dest=-"), "{error}");
        let spec = flags.into_spec(StandardOutput::Process).unwrap();
        assert!(matches!(
            spec.outputs[..],
            [Output::Tar {
                dest: TarDestination::Writer(_)
            }]
        ));
    }

    #[test]
    fn bad_options_name_the_option() {
        let fails = refusal;
        let base = || BuildFlags {
            context: "ctx".into(),
            ..BuildFlags::default()
        };
        assert_eq!(
            fails(BuildFlags {
                labels: strings(&["novalue"]),
                ..base()
            }),
            "invalid --label \"novalue\": expected KEY=VALUE"
        );
        assert!(
            fails(BuildFlags {
                build_platform: Some("windows".into()),
                ..base()
            })
            .starts_with("unknown --build-platform")
        );
        assert!(
            fails(BuildFlags {
                build_args: strings(&["=x"]),
                ..base()
            })
            .starts_with("invalid --build-arg")
        );
        assert!(
            fails(BuildFlags {
                outputs: strings(&["dest=x"]),
                ..base()
            })
            .contains("type=")
        );
        assert!(
            fails(BuildFlags {
                secrets: strings(&["src=x"]),
                ..base()
            })
            .contains("id=")
        );
    }

    #[test]
    fn bare_build_args_come_from_the_environment() {
        let env = |name: &str| (name == "FROM_ENV").then(|| "e".to_owned());
        let args = build_args(&strings(&["A=1", "FROM_ENV", "UNSET"]), &env).unwrap();
        assert_eq!(args.len(), 2);
        assert_eq!(args["FROM_ENV"], "e");
        assert_eq!(BuildFlags::pairs([("K", "v=w")]), ["K=v=w"]);
    }
}
