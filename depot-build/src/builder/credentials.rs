//! Registry credentials for a builder: those the server gave for the build's registry, then
//! `DEPOT_PUSH_REGISTRY_AUTH` (base64 `user:password`) or `DEPOT_PUSH_REGISTRY_USERNAME` and
//! `DEPOT_PUSH_REGISTRY_PASSWORD` for every other host, then the Docker config, like the
//! official CLI.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::buildkit::session::{Credentials, CredentialsProvider, DockerConfigCredentials};

/// A credential `CreateBuild` returned: `token` is base64 of `user:password` for `host`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdditionalCredential {
    /// The registry host (`registry.depot.dev`, `127.0.0.1:8080`).
    pub host: String,
    /// Base64 of `user:password`.
    pub token: String,
}

impl std::fmt::Debug for AdditionalCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdditionalCredential")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl AdditionalCredential {
    /// The user name and password, if `token` is base64 of `user:password`.
    pub fn decode(&self) -> Option<(String, String)> {
        decode_basic(&self.token)
    }
}

/// The credentials a builder's session serves (see the module's documentation).
#[derive(Clone, Debug)]
pub struct BuilderCredentials {
    additional: Vec<AdditionalCredential>,
}

impl BuilderCredentials {
    /// Credentials with the build's own for their hosts.
    pub fn new(additional: Vec<AdditionalCredential>) -> Self {
        Self { additional }
    }
}

impl CredentialsProvider for BuilderCredentials {
    fn credentials(&self, host: &str) -> Result<Option<Credentials>, String> {
        if let Some(found) = self.additional.iter().find(|c| c.host == host) {
            let (username, secret) = found.decode().ok_or_else(|| {
                format!("the server's credential for {host} is not base64 of user:password")
            })?;
            return Ok(Some(Credentials::Basic { username, secret }));
        }
        if let Some(found) = push_registry_env(&|name| std::env::var(name).ok())? {
            return Ok(Some(found));
        }
        DockerConfigCredentials.credentials(host)
    }
}

/// `DEPOT_PUSH_REGISTRY_AUTH`, else `DEPOT_PUSH_REGISTRY_USERNAME`/`_PASSWORD`.
fn push_registry_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Credentials>, String> {
    let var = |name| var(name).filter(|v| !v.is_empty());
    if let Some(encoded) = var("DEPOT_PUSH_REGISTRY_AUTH") {
        let (username, secret) = decode_basic(&encoded)
            .ok_or("DEPOT_PUSH_REGISTRY_AUTH is not base64 of user:password")?;
        return Ok(Some(Credentials::Basic { username, secret }));
    }
    Ok(
        match (
            var("DEPOT_PUSH_REGISTRY_USERNAME"),
            var("DEPOT_PUSH_REGISTRY_PASSWORD"),
        ) {
            (Some(username), Some(secret)) => Some(Credentials::Basic { username, secret }),
            _ => None,
        },
    )
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builds_own_credentials_come_first() {
        let credentials = BuilderCredentials::new(vec![AdditionalCredential {
            host: "reg.example:5000".into(),
            token: STANDARD.encode("x-token:secret"),
        }]);
        assert_eq!(
            credentials.credentials("reg.example:5000").unwrap(),
            Some(Credentials::Basic {
                username: "x-token".into(),
                secret: "secret".into()
            })
        );
        let broken = BuilderCredentials::new(vec![AdditionalCredential {
            host: "h".into(),
            token: "%%%".into(),
        }]);
        assert!(broken.credentials("h").is_err());
    }

    fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn push_registry_variables() {
        let basic = |u: &str, p: &str| {
            Some(Credentials::Basic {
                username: u.into(),
                secret: p.into(),
            })
        };
        let auth = env(vec![("DEPOT_PUSH_REGISTRY_AUTH", STANDARD.encode("u:p"))]);
        assert_eq!(push_registry_env(&auth).unwrap(), basic("u", "p"));
        let pair = env(vec![
            ("DEPOT_PUSH_REGISTRY_USERNAME", "a".into()),
            ("DEPOT_PUSH_REGISTRY_PASSWORD", "b".into()),
        ]);
        assert_eq!(push_registry_env(&pair).unwrap(), basic("a", "b"));
        let half = env(vec![("DEPOT_PUSH_REGISTRY_USERNAME", "a".into())]);
        assert_eq!(push_registry_env(&half).unwrap(), None);
        let no_colon = env(vec![(
            "DEPOT_PUSH_REGISTRY_AUTH",
            STANDARD.encode("nocolon"),
        )]);
        assert!(push_registry_env(&no_colon).is_err());
    }
}
