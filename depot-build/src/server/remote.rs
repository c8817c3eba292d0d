//! Standalone buildkitd endpoints as builders.
//!
//! buildkitd must serve TCP with mTLS and trust the builder CA for clients, with a server
//! certificate the CA signed for the builder's server name:
//!
//! ```text
//! buildkitd --addr tcp://0.0.0.0:1234 --tlscacert <data-dir>/builder-ca/ca.pem \
//!           --tlscert server.pem --tlskey server-key.pem
//! ```
//!
//! (`depot-server builder-ca server-cert` mints that certificate.) buildkitd accepts any
//! certificate of the CA that has not expired; the pool still hands each build its own, valid
//! no longer than the build's token.

use std::time::Duration;

use depot_control::builders::{BuilderArch, Tenant};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::{Builder, Fingerprint, SetupError};

/// How long the readiness check waits for a TCP connection.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// A remote builder as configured:
/// `tcp://host:port[?arch=amd64|arm64][&server_name=name][&concurrency=n][&project=id|&org=id]`.
///
/// The architecture defaults to this machine's, the server name to the host and the
/// concurrency to the pool's default. `project=` or `org=` assigns it to one project or to the
/// projects of one organization: no other tenant's build ever runs on it. Without either, it is
/// shared by every project, which depot-server only accepts when told to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteBuilderSpec {
    /// `host:port`.
    pub address: String,
    /// The architecture it builds for.
    pub arch: Option<BuilderArch>,
    /// The name its server certificate carries.
    pub server_name: Option<String>,
    /// How many builds it runs at once.
    pub concurrency: Option<usize>,
    /// Who it belongs to; `None`: shared by every project.
    pub tenant: Option<Tenant>,
}

impl std::str::FromStr for RemoteBuilderSpec {
    type Err = SetupError;

    fn from_str(text: &str) -> Result<Self, SetupError> {
        let invalid = |reason: String| SetupError::Spec {
            spec: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix("tcp://")
            .ok_or_else(|| invalid("expected tcp://<host>:<port>".into()))?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let address = address.trim_end_matches('/');
        match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(invalid("expected tcp://<host>:<port>".into())),
        }
        let mut spec = RemoteBuilderSpec {
            address: address.to_owned(),
            arch: None,
            server_name: None,
            concurrency: None,
            tenant: None,
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("{pair:?} is not key=value")))?;
            match key {
                "arch" => {
                    spec.arch = Some(match value {
                        "amd64" => BuilderArch::Amd64,
                        "arm64" => BuilderArch::Arm64,
                        _ => return Err(invalid(format!("unknown arch {value:?}"))),
                    })
                }
                "server_name" if !value.is_empty() => spec.server_name = Some(value.to_owned()),
                "concurrency" => {
                    spec.concurrency =
                        Some(value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            invalid(format!("concurrency {value:?} is not a positive number"))
                        })?)
                }
                "project" | "org" if spec.tenant.is_some() => {
                    return Err(invalid(
                        "a builder belongs to one project or one organization, not both".into(),
                    ));
                }
                "project" if !value.is_empty() => {
                    spec.tenant = Some(Tenant::Project(value.to_owned()))
                }
                "org" if !value.is_empty() => {
                    spec.tenant = Some(Tenant::Organization(value.to_owned()))
                }
                _ => return Err(invalid(format!("unknown setting {pair:?}"))),
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for RemoteBuilderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tcp://{}", self.address)?;
        let mut separator = '?';
        let mut setting =
            |f: &mut std::fmt::Formatter<'_>, key: &str, value: &dyn std::fmt::Display| {
                let written = write!(f, "{separator}{key}={value}");
                separator = '&';
                written
            };
        if let Some(arch) = self.arch {
            setting(f, "arch", &arch.as_str())?;
        }
        if let Some(name) = &self.server_name {
            setting(f, "server_name", name)?;
        }
        if let Some(concurrency) = self.concurrency {
            setting(f, "concurrency", &concurrency)?;
        }
        match &self.tenant {
            Some(Tenant::Project(id)) => setting(f, "project", id)?,
            Some(Tenant::Organization(id)) => setting(f, "org", id)?,
            None => {}
        }
        Ok(())
    }
}

/// A standalone buildkitd reached over TCP with mTLS.
#[derive(Debug)]
pub struct RemoteBuilder {
    address: String,
    endpoint: String,
    server_name: String,
    arches: Vec<BuilderArch>,
    concurrency: usize,
    tenant: Option<Tenant>,
}

impl RemoteBuilder {
    /// The builder `spec` describes, running `default_concurrency` builds at once unless the
    /// spec says otherwise.
    pub fn new(spec: &RemoteBuilderSpec, default_concurrency: usize) -> Self {
        let host = spec
            .address
            .rsplit_once(':')
            .map_or(spec.address.as_str(), |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        Self {
            address: spec.address.clone(),
            endpoint: format!("tcp://{}", spec.address),
            server_name: spec.server_name.clone().unwrap_or_else(|| host.to_owned()),
            arches: spec.arch.or_else(BuilderArch::host).into_iter().collect(),
            concurrency: spec.concurrency.unwrap_or(default_concurrency),
            tenant: spec.tenant.clone(),
        }
    }
}

impl Builder for RemoteBuilder {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    fn server_name(&self) -> &str {
        &self.server_name
    }

    fn arches(&self) -> &[BuilderArch] {
        &self.arches
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        async move {
            let reached =
                tokio::time::timeout(READY_TIMEOUT, tokio::net::TcpStream::connect(&self.address))
                    .await;
            match reached {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(err)) => Err(format!(
                    "the builder at {} cannot be reached: {err}",
                    self.endpoint
                )),
                Err(_) => Err(format!("the builder at {} does not answer", self.endpoint)),
            }
        }
        .boxed()
    }

    /// buildkitd trusts every certificate of the CA; nothing to record.
    fn admit(&self, _build_id: &str, _certificate: Fingerprint) {}

    /// buildkitd cannot be told to refuse a certificate; it expires with the build's token.
    fn evict(&self, _build_id: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let spec: RemoteBuilderSpec =
            "tcp://buildkit.example:1234?arch=arm64&server_name=bk.internal&concurrency=8"
                .parse()
                .unwrap();
        assert_eq!(spec.address, "buildkit.example:1234");
        assert_eq!(spec.arch, Some(BuilderArch::Arm64));
        assert_eq!(spec.server_name.as_deref(), Some("bk.internal"));
        assert_eq!(spec.concurrency, Some(8));
        assert_eq!(
            spec.to_string(),
            "tcp://buildkit.example:1234?arch=arm64&server_name=bk.internal&concurrency=8"
        );

        let owned: RemoteBuilderSpec = "tcp://h:1?org=acme".parse().unwrap();
        assert_eq!(owned.tenant, Some(Tenant::Organization("acme".into())));
        assert_eq!(owned.to_string(), "tcp://h:1?org=acme");
        let owned: RemoteBuilderSpec = "tcp://h:1?project=web".parse().unwrap();
        assert_eq!(
            RemoteBuilder::new(&owned, 1).tenant(),
            Some(&Tenant::Project("web".into()))
        );

        let plain: RemoteBuilderSpec = "tcp://10.0.0.5:1234".parse().unwrap();
        assert_eq!(plain.tenant, None);
        assert_eq!(plain.to_string(), "tcp://10.0.0.5:1234");
        let builder = RemoteBuilder::new(&plain, 3);
        assert_eq!(builder.endpoint(), "tcp://10.0.0.5:1234");
        assert_eq!(builder.server_name(), "10.0.0.5");
        assert_eq!(builder.concurrency(), 3);
        assert_eq!(builder.arches(), BuilderArch::host().as_slice());

        for bad in [
            "buildkit.example:1234",
            "tcp://nohost",
            "tcp://h:1?arch=s390x",
            "tcp://h:1?concurrency=0",
            "tcp://h:1?color=blue",
            "tcp://h:1?arch",
            "tcp://h:1?project=p&org=o",
            "tcp://h:1?project=",
        ] {
            assert!(bad.parse::<RemoteBuilderSpec>().is_err(), "{bad}");
        }
    }
}
