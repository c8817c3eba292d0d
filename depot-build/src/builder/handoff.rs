//! A builder handed to another BuildKit client (`acquireBuilder` in the packages): the request
//! for a builder of a platform, its connection details as text, and the outcome its user
//! reports when releasing it. The packages expose exactly these, so they agree.

use depot_core::proto::depot::cli::v1::BuilderPlatform;

use super::{Builder, BuilderRequest, Error, Outcome, builder_platform};
use crate::buildkit::Endpoint;

/// How to reach an acquired builder's BuildKit, as text for any BuildKit client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The build registered for the builder.
    pub build_id: String,
    /// Its project.
    pub project_id: String,
    /// BuildKit's address: `tcp://host:port` (or `unix://`, `docker://` for local builders).
    pub endpoint: String,
    /// The name the builder's certificate carries.
    pub server_name: Option<String>,
    /// The CA certificate (PEM) the builder's certificate chains to.
    pub ca_pem: Option<String>,
    /// The client certificate (PEM) minted for this build.
    pub cert_pem: Option<String>,
    /// The client certificate's key (PEM).
    pub key_pem: Option<String>,
}

impl Builder {
    /// How to reach this builder's BuildKit (once connected).
    pub fn connection(&self) -> Result<Connection, Error> {
        let info = self.info();
        let mut connection = Connection {
            build_id: info.build_id.clone(),
            project_id: info.project_id.clone(),
            endpoint: String::new(),
            server_name: None,
            ca_pem: None,
            cert_pem: None,
            key_pem: None,
        };
        match self.buildkit()?.endpoint() {
            Endpoint::Tcp { address, tls } => {
                connection.endpoint = format!("tcp://{address}");
                if let Some(tls) = tls {
                    let text = |pem: &[u8]| String::from_utf8_lossy(pem).into_owned();
                    connection.server_name = tls.server_name.clone();
                    connection.ca_pem = Some(text(&tls.ca_pem));
                    connection.cert_pem = Some(text(&tls.cert_pem));
                    connection.key_pem = Some(text(&tls.key_pem));
                }
            }
            Endpoint::Unix(path) => connection.endpoint = format!("unix://{}", path.display()),
            Endpoint::Docker(path) => connection.endpoint = format!("docker://{}", path.display()),
        }
        Ok(connection)
    }
}

impl BuilderRequest {
    /// A request for a builder alone, of `platform`: `linux/amd64`, `linux/arm64` (or `amd64`,
    /// `arm64`), or `dynamic`/`None` for this machine's architecture.
    pub fn for_platform(
        project_id: Option<String>,
        platform: Option<&str>,
    ) -> Result<Self, String> {
        let platform = match platform {
            None => "dynamic".to_owned(),
            Some(arch @ ("amd64" | "arm64")) => format!("linux/{arch}"),
            Some(other) => other.to_owned(),
        };
        let platform: BuilderPlatform = builder_platform(&platform, &[])?;
        Ok(BuilderRequest {
            project_id,
            platform,
            ..BuilderRequest::default()
        })
    }
}

impl Outcome {
    /// The outcome a builder's user names on release: `success`, `error` (with `error`, its
    /// message) or `canceled`; without a name, `error` if a message is given, else `success`.
    pub fn named(outcome: Option<&str>, error: Option<String>) -> Result<Outcome, String> {
        match (outcome, error) {
            (None, None) | (Some("success"), _) => Ok(Outcome::Success),
            (None, Some(error)) => Ok(Outcome::Error(error)),
            (Some("error"), error) => Ok(Outcome::Error(
                error.unwrap_or_else(|| "build failed".into()),
            )),
            (Some("canceled"), _) => Ok(Outcome::Canceled),
            (Some(other), _) => Err(format!(
                "unknown outcome {other:?}: use success, error or canceled"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_and_outcomes_are_named_alike_everywhere() {
        let arm = BuilderRequest::for_platform(Some("p".into()), Some("arm64")).unwrap();
        assert_eq!(arm.platform, BuilderPlatform::Arm64);
        assert_eq!(arm.project_id.as_deref(), Some("p"));
        let amd = BuilderRequest::for_platform(None, Some("linux/amd64")).unwrap();
        assert_eq!(amd.platform, BuilderPlatform::Amd64);
        assert!(BuilderRequest::for_platform(None, Some("windows")).is_err());
        assert_eq!(Outcome::named(None, None), Ok(Outcome::Success));
        assert_eq!(
            Outcome::named(None, Some("boom".into())),
            Ok(Outcome::Error("boom".into()))
        );
        assert_eq!(
            Outcome::named(Some("canceled"), None),
            Ok(Outcome::Canceled)
        );
        assert!(Outcome::named(Some("done"), None).is_err());
    }
}
