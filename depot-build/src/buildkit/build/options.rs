//! What to build: the Dockerfile frontend's inputs and attributes, like `docker buildx build`
//! takes them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use tokio::sync::mpsc;

use super::output::Output;
use crate::buildkit::session::{CredentialsProvider, SecretSpec, SshSpec};

/// A Dockerfile build.
#[derive(Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// The stage to build (`--target`).
    pub target: Option<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--label KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// Target platforms (`linux/amd64`); empty builds for the daemon's.
    pub platforms: Vec<String>,
    /// This solve is part of a build for more platforms than its own (one builder per
    /// architecture): the frontend names steps after their platform and the image is an
    /// index, as with several platforms in one solve.
    pub multi_platform: bool,
    /// `--no-cache`: build every step again.
    pub no_cache: bool,
    /// `--no-cache-filter STAGE`: build these stages again.
    pub no_cache_filter: Vec<String>,
    /// `--build-context NAME=VALUE`: a directory, or a `docker-image://`, `oci-layout://`,
    /// git or https source passed to the frontend as is.
    pub build_contexts: BTreeMap<String, String>,
    /// `--add-host HOST:IP`.
    pub add_hosts: Vec<String>,
    /// `--network`: `default`, `host` or `none`.
    pub network: Option<String>,
    /// `--cache-from`.
    pub cache_from: Vec<CacheSpec>,
    /// `--cache-to`.
    pub cache_to: Vec<CacheSpec>,
    /// `--provenance` (`true`, `false`, `mode=max`…); unset leaves the daemon's default.
    pub provenance: Option<String>,
    /// `--sbom` (`true`, `false`, `generator=…`).
    pub sbom: Option<String>,
    /// `--secret`.
    pub secrets: Vec<SecretSpec>,
    /// `--ssh`.
    pub ssh: Vec<SshSpec>,
    /// `--allow`: entitlements (`network.host`, `security.insecure`).
    pub allow: Vec<String>,
    /// Where the result goes; several need BuildKit 0.13.
    pub outputs: Vec<Output>,
    /// Registry credentials for the daemon (default: the Docker config and its helpers).
    pub credentials: Option<Arc<dyn CredentialsProvider>>,
    /// Who builds, for the session's shared key (default: this machine's build node id).
    pub client_id: Option<String>,
    /// Receives a copy of every status message the daemon sends, as it sent it (to forward
    /// them elsewhere, e.g. to Depot's `ReportStatusStream`). Messages that do not fit in the
    /// channel are dropped rather than slowing the build down.
    pub status_tap: Option<mpsc::Sender<StatusResponse>>,
}

impl BuildOptions {
    /// The same build for `platforms` only, with `outputs`: one builder's share of a build
    /// for several architectures ([`BuildOptions::multi_platform`]).
    pub fn for_platforms(&self, platforms: Vec<String>, outputs: Vec<Output>) -> BuildOptions {
        BuildOptions {
            context: self.context.clone(),
            dockerfile: self.dockerfile.clone(),
            target: self.target.clone(),
            build_args: self.build_args.clone(),
            labels: self.labels.clone(),
            platforms,
            multi_platform: true,
            no_cache: self.no_cache,
            no_cache_filter: self.no_cache_filter.clone(),
            build_contexts: self.build_contexts.clone(),
            add_hosts: self.add_hosts.clone(),
            network: self.network.clone(),
            cache_from: self.cache_from.clone(),
            cache_to: self.cache_to.clone(),
            provenance: self.provenance.clone(),
            sbom: self.sbom.clone(),
            secrets: self.secrets.clone(),
            ssh: self.ssh.clone(),
            allow: self.allow.clone(),
            outputs,
            credentials: self.credentials.clone(),
            client_id: self.client_id.clone(),
            status_tap: self.status_tap.clone(),
        }
    }
}

/// A `--cache-from`/`--cache-to` entry: `type=registry,ref=…,mode=max`, or a bare reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSpec {
    /// The cache backend (`registry`, `inline`, `local`, `gha`…).
    pub kind: String,
    /// Its attributes (`ref`, `mode`…).
    pub attrs: BTreeMap<String, String>,
}

impl FromStr for CacheSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if !text.contains('=') {
            return Ok(CacheSpec {
                kind: "registry".into(),
                attrs: [("ref".to_owned(), text.to_owned())].into(),
            });
        }
        let mut kind = None;
        let mut attrs = BTreeMap::new();
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(|| {
                format!("invalid cache option {text:?}: {field:?} is not key=value")
            })?;
            if key == "type" {
                kind = Some(value.to_owned());
            } else {
                attrs.insert(key.to_owned(), value.to_owned());
            }
        }
        let kind =
            kind.ok_or_else(|| format!("invalid cache option {text:?}: type=… is required"))?;
        Ok(CacheSpec { kind, attrs })
    }
}

/// The Dockerfile's directory and file name, and the directories the session serves.
#[derive(Debug)]
pub(super) struct Locals {
    pub(super) context: PathBuf,
    pub(super) dockerfile_dir: PathBuf,
    pub(super) dockerfile_name: String,
    /// Named contexts that are directories: local name → directory.
    pub(super) named: BTreeMap<String, PathBuf>,
}

impl BuildOptions {
    /// Resolves and checks the directories the build reads.
    pub(super) fn locals(&self) -> Result<Locals, String> {
        let context = absolute_dir(&self.context, "build context")?;
        let dockerfile = match &self.dockerfile {
            Some(path) => {
                std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => context.join("Dockerfile"),
        };
        if !dockerfile.is_file() {
            return Err(format!(
                "no Dockerfile at {}; pass --file to name it",
                dockerfile.display()
            ));
        }
        let dockerfile_dir = dockerfile.parent().unwrap_or(&context).to_owned();
        let dockerfile_name = dockerfile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let mut named = BTreeMap::new();
        for (name, value) in &self.build_contexts {
            if !is_source_url(value) {
                let dir = absolute_dir(Path::new(value), &format!("build context {name:?}"))?;
                named.insert(name.clone(), dir);
            }
        }
        Ok(Locals {
            context,
            dockerfile_dir,
            dockerfile_name,
            named,
        })
    }

    /// The Dockerfile frontend's attributes.
    pub(super) fn frontend_attrs(
        &self,
        locals: &Locals,
    ) -> Result<HashMap<String, String>, String> {
        let mut attrs = HashMap::new();
        attrs.insert("filename".to_owned(), locals.dockerfile_name.clone());
        if let Some(target) = &self.target {
            attrs.insert("target".into(), target.clone());
        }
        for (name, value) in &self.build_args {
            attrs.insert(format!("build-arg:{name}"), value.clone());
        }
        for (key, value) in &self.labels {
            attrs.insert(format!("label:{key}"), value.clone());
        }
        if !self.platforms.is_empty() {
            attrs.insert("platform".into(), self.platforms.join(","));
        }
        if self.multi_platform {
            attrs.insert("multi-platform".into(), "true".into());
        }
        if self.no_cache {
            attrs.insert("no-cache".into(), String::new());
        } else if !self.no_cache_filter.is_empty() {
            attrs.insert("no-cache".into(), self.no_cache_filter.join(","));
        }
        for (name, value) in &self.build_contexts {
            let source = if locals.named.contains_key(name) {
                format!("local:{name}")
            } else {
                value.clone()
            };
            attrs.insert(format!("context:{name}"), source);
        }
        if !self.add_hosts.is_empty() {
            let hosts = self
                .add_hosts
                .iter()
                .map(|entry| extra_host(entry))
                .collect::<Result<Vec<_>, _>>()?;
            attrs.insert("add-hosts".into(), hosts.join(","));
        }
        match self.network.as_deref() {
            None | Some("default") | Some("") => {}
            Some(mode @ ("host" | "none")) => {
                attrs.insert("force-network-mode".into(), mode.into());
            }
            Some(other) => {
                return Err(format!(
                    "network mode {other:?} is not supported; use default, host or none"
                ));
            }
        }
        if !self.cache_from.is_empty() {
            attrs.insert("cache-imports".into(), cache_imports_json(&self.cache_from));
        }
        if let Some(provenance) = &self.provenance {
            attrs.insert("attest:provenance".into(), attestation(provenance));
        }
        if let Some(sbom) = &self.sbom {
            attrs.insert("attest:sbom".into(), attestation(sbom));
        }
        Ok(attrs)
    }

    /// Entitlements the build needs: those allowed, plus `network.host` for `--network host`.
    pub(super) fn entitlements(&self) -> Vec<String> {
        let mut entitlements = self.allow.clone();
        if self.network.as_deref() == Some("host")
            && !entitlements.iter().any(|e| e == "network.host")
        {
            entitlements.push("network.host".into());
        }
        entitlements
    }
}

/// `true`/`false` become BuildKit's `mode=…`/`disabled=true` forms; anything else is passed.
fn attestation(value: &str) -> String {
    match value {
        "true" | "1" => "mode=min".into(),
        "false" | "0" => "disabled=true".into(),
        other => other.into(),
    }
}

/// The dockerfile frontend resolves imported caches itself, from this JSON.
fn cache_imports_json(specs: &[CacheSpec]) -> String {
    let entries: Vec<serde_json::Value> = specs
        .iter()
        .map(|spec| serde_json::json!({ "Type": spec.kind, "Attrs": spec.attrs }))
        .collect();
    serde_json::Value::Array(entries).to_string()
}

/// `HOST:IP` or `HOST=IP` as BuildKit takes it (`HOST=IP`).
fn extra_host(entry: &str) -> Result<String, String> {
    let (host, ip) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .filter(|(host, ip)| !host.is_empty() && !ip.is_empty())
        .ok_or_else(|| format!("invalid --add-host {entry:?}: expected HOST:IP"))?;
    ip.parse::<std::net::IpAddr>()
        .map_err(|_| format!("invalid --add-host {entry:?}: {ip:?} is not an IP address"))?;
    Ok(format!("{host}={ip}"))
}

/// Named-context values with a scheme are sources for the frontend, not directories.
fn is_source_url(value: &str) -> bool {
    value.contains("://") || value.starts_with("git@") || value.starts_with("target:")
}

fn absolute_dir(path: &Path, what: &str) -> Result<PathBuf, String> {
    let absolute = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !absolute.is_dir() {
        return Err(format!("{what} {} is not a directory", path.display()));
    }
    Ok(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_specs_parse_like_buildx() {
        assert_eq!(
            "reg/app:cache".parse::<CacheSpec>().unwrap(),
            CacheSpec {
                kind: "registry".into(),
                attrs: [("ref".to_owned(), "reg/app:cache".to_owned())].into()
            }
        );
        let spec: CacheSpec = "type=registry,ref=r/a:c,mode=max".parse().unwrap();
        assert_eq!(spec.kind, "registry");
        assert_eq!(spec.attrs["mode"], "max");
        assert!("ref=r/a".parse::<CacheSpec>().is_err());
        assert_eq!(
            cache_imports_json(&[spec]),
            r#"[{"Attrs":{"mode":"max","ref":"r/a:c"},"Type":"registry"}]"#
        );
    }

    #[test]
    fn extra_hosts_take_both_separators() {
        assert_eq!(extra_host("db:10.0.0.2").unwrap(), "db=10.0.0.2");
        assert_eq!(extra_host("v6=::1").unwrap(), "v6=::1");
        assert_eq!(extra_host("v6:::1").unwrap(), "v6=::1");
        assert!(extra_host("db").is_err());
        assert!(extra_host("db:notanip").is_err());
    }

    #[test]
    fn frontend_attrs_carry_the_options() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Build.df"), "FROM scratch\n").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        let options = BuildOptions {
            context: dir.path().into(),
            dockerfile: Some(dir.path().join("Build.df")),
            target: Some("final".into()),
            build_args: [("A".to_owned(), "1".to_owned())].into(),
            labels: [("l".to_owned(), "v".to_owned())].into(),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            no_cache_filter: vec!["base".into()],
            build_contexts: [
                (
                    "assets".to_owned(),
                    dir.path().join("assets").display().to_string(),
                ),
                ("alpine".to_owned(), "docker-image://alpine:3".to_owned()),
            ]
            .into(),
            network: Some("host".into()),
            provenance: Some("true".into()),
            ..BuildOptions::default()
        };
        let locals = options.locals().unwrap();
        assert_eq!(locals.dockerfile_name, "Build.df");
        assert_eq!(locals.named.len(), 1);
        let attrs = options.frontend_attrs(&locals).unwrap();
        assert_eq!(attrs["filename"], "Build.df");
        assert_eq!(attrs["target"], "final");
        assert_eq!(attrs["build-arg:A"], "1");
        assert_eq!(attrs["label:l"], "v");
        assert_eq!(attrs["platform"], "linux/amd64,linux/arm64");
        assert_eq!(attrs["no-cache"], "base");
        assert_eq!(attrs["context:assets"], "local:assets");
        assert_eq!(attrs["context:alpine"], "docker-image://alpine:3");
        assert_eq!(attrs["force-network-mode"], "host");
        assert_eq!(attrs["attest:provenance"], "mode=min");
        assert_eq!(options.entitlements(), ["network.host"]);

        let missing = BuildOptions {
            context: dir.path().join("nope"),
            ..BuildOptions::default()
        };
        assert!(missing.locals().unwrap_err().contains("is not a directory"));
        let no_dockerfile = BuildOptions {
            context: dir.path().into(),
            ..BuildOptions::default()
        };
        assert!(
            no_dockerfile
                .locals()
                .unwrap_err()
                .contains("no Dockerfile")
        );
    }
}
