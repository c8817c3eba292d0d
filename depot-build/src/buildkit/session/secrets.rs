//! `moby.buildkit.secrets.v1.Secrets`: values for `RUN --mount=type=secret`, read when the
//! daemon asks, never sent otherwise.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use bollard_buildkit_proto::moby::buildkit::secrets::v1::{
    GetSecretRequest, GetSecretResponse, secrets_server,
};
use tonic::{Request, Response, Status};

/// Where a secret's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file, read when the daemon asks for it.
    File(PathBuf),
    /// An environment variable of this process.
    Env(String),
    /// A value held in memory.
    Value(Vec<u8>),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "File({})", path.display()),
            SecretSource::Env(name) => write!(f, "Env({name})"),
            SecretSource::Value(_) => f.write_str("Value(<secret>)"),
        }
    }
}

/// A build secret: `--secret id=…,src=FILE` or `--secret id=…,env=VAR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSpec {
    /// The id `RUN --mount=type=secret,id=…` names.
    pub id: String,
    /// Where its value comes from.
    pub source: SecretSource,
}

impl FromStr for SecretSpec {
    type Err = String;

    /// Parses buildx's syntax: comma-separated `id=`, `src=`/`source=`, `env=` and
    /// `type=file|env`. Without `src` or `env`, the value is the environment variable named
    /// like the id, as in buildx.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        let mut kind = None;
        for field in text.split(',') {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("invalid secret {text:?}: {field:?} is not key=value"))?;
            match key.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(value.to_owned()),
                "src" | "source" => src = Some(value.to_owned()),
                "env" => env = Some(value.to_owned()),
                "type" if value == "file" || value == "env" => kind = Some(value.to_owned()),
                "type" => {
                    return Err(format!(
                        "invalid secret {text:?}: type must be file or env, not {value:?}"
                    ));
                }
                other => {
                    return Err(format!(
                        "invalid secret {text:?}: unknown key {other:?} (use id, src, env, type)"
                    ));
                }
            }
        }
        let id = match id {
            Some(id) if !id.is_empty() => id,
            _ => return Err(format!("invalid secret {text:?}: id=… is required")),
        };
        let source = match (src, env, kind.as_deref()) {
            (Some(_), Some(_), _) => {
                return Err(format!(
                    "invalid secret {text:?}: give either src or env, not both"
                ));
            }
            (Some(path), None, Some("env")) => SecretSource::Env(path),
            (Some(path), None, _) => SecretSource::File(PathBuf::from(path)),
            (None, Some(var), _) => SecretSource::Env(var),
            (None, None, Some("file")) => SecretSource::File(PathBuf::from(&id)),
            (None, None, _) => SecretSource::Env(id.clone()),
        };
        Ok(SecretSpec { id, source })
    }
}

/// The session's Secrets service.
pub(super) struct Secrets {
    pub(super) specs: HashMap<String, SecretSource>,
}

#[tonic::async_trait]
impl secrets_server::Secrets for Secrets {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        let source = self
            .specs
            .get(&id)
            .ok_or_else(|| Status::not_found(format!("secret {id} not found")))?;
        let data = match source {
            SecretSource::Value(value) => value.clone(),
            SecretSource::Env(name) => std::env::var_os(name)
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "secret {id}: environment variable {name} is not set"
                    ))
                })?
                .into_encoded_bytes(),
            SecretSource::File(path) => tokio::fs::read(path).await.map_err(|err| {
                Status::not_found(format!(
                    "secret {id}: cannot read {}: {err}",
                    path.display()
                ))
            })?,
        };
        Ok(Response::new(GetSecretResponse { data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildx_secret_syntax() {
        let spec = |s: &str| s.parse::<SecretSpec>();
        assert_eq!(
            spec("id=npm,src=/run/npmrc").unwrap(),
            SecretSpec {
                id: "npm".into(),
                source: SecretSource::File("/run/npmrc".into())
            }
        );
        assert_eq!(
            spec("id=tok,env=GITHUB_TOKEN").unwrap().source,
            SecretSource::Env("GITHUB_TOKEN".into())
        );
        assert_eq!(
            spec("id=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
        assert_eq!(
            spec("type=env,id=a,src=VAR").unwrap().source,
            SecretSource::Env("VAR".into())
        );
        assert_eq!(
            spec("id=a,source=f").unwrap().source,
            SecretSource::File("f".into())
        );
        for bad in [
            "src=/x",
            "id=",
            "id=a,src=f,env=E",
            "id=a,type=ssh",
            "id=a,x=1",
            "id",
        ] {
            assert!(spec(bad).is_err(), "{bad} should be refused");
        }
    }
}
