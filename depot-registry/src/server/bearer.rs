//! Registry bearer tokens: what the token endpoint (`GET /auth/token`) mints.
//!
//! A bearer is a JWT (HS256) carrying exactly the access granted for the scopes a client asked
//! for (`repository:<name>:<actions>`, `registry:catalog:*`), never more than the depot-rs token
//! it was minted from allows, and expiring after a few minutes (or sooner, with the CI token it
//! was minted from). The key that signs it is kept in the database, so every replica verifies
//! what another one minted. A bearer is not revoked with the token it came from: it lives out
//! its short lifetime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use depot_control::auth::Principal;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::auth::Action;
use crate::reference::Name;

/// The name the signing key is kept under, and the `kid` of the bearers it signs.
const KEY_NAME: &str = "depot-rs-registry-bearer";
/// At most this many scopes are looked at per token request.
pub const MAX_SCOPES: usize = 32;

/// Mints and verifies bearers.
pub struct Bearers {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    service: String,
    ttl: Duration,
}

impl std::fmt::Debug for Bearers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearers")
            .field("service", &self.service)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// One grant: a resource and the actions allowed on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete` (repositories) or `*` (the catalog).
    pub actions: Vec<String>,
}

/// What a bearer says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    iss: String,
    aud: String,
    /// Who it was minted for (`user:<id>`, `project:<id>`, …).
    pub sub: String,
    iat: u64,
    nbf: u64,
    /// When it expires (seconds since the Unix epoch).
    pub exp: u64,
    jti: String,
    /// What it grants.
    pub access: Vec<Grant>,
    /// With the catalog granted: the projects whose repositories it lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Vec<String>>,
}

impl Claims {
    /// Whether it grants `action` on `repository`.
    pub fn allows(&self, repository: &Name, action: Action) -> bool {
        self.access.iter().any(|grant| {
            grant.kind == "repository"
                && grant.name == repository.as_str()
                && grant.actions.iter().any(|a| a == action.as_str())
        })
    }
}

/// A requested scope (`<type>:<name>:<actions>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `repository`, `registry`, …
    pub kind: String,
    /// The resource.
    pub name: String,
    /// The actions asked for.
    pub actions: Vec<String>,
}

impl Scope {
    /// Parses one scope; `None` for text that is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Scope {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// The scopes of a token request's `scope` parameters (each may hold several, separated
    /// by spaces); `Err` with more than [`MAX_SCOPES`].
    pub fn all<'a>(params: impl Iterator<Item = &'a str>) -> Result<Vec<Scope>, usize> {
        let scopes: Vec<Scope> = params
            .flat_map(str::split_whitespace)
            .filter_map(Scope::parse)
            .collect();
        if scopes.len() > MAX_SCOPES {
            return Err(scopes.len());
        }
        Ok(scopes)
    }

    /// The repository actions asked for (`*` meaning all of them), in a fixed order.
    pub fn repository_actions(&self) -> Vec<Action> {
        let all = self.actions.iter().any(|a| a == "*");
        [Action::Pull, Action::Push, Action::Delete]
            .into_iter()
            .filter(|action| all || self.actions.iter().any(|a| a == action.as_str()))
            .collect()
    }
}

/// Why a presented bearer is not accepted.
#[derive(Debug, thiserror::Error)]
#[error("the bearer token is not valid here ({0}): request a new one from the token endpoint")]
pub struct Invalid(String);

impl Bearers {
    /// Loads (creating on first use) the signing key kept in the database.
    pub async fn open(
        metadata: &super::metadata::Metadata,
        service: String,
        ttl: Duration,
    ) -> super::error::Result<Self> {
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let secret = metadata.signing_secret(KEY_NAME, &candidate).await?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&service]);
        validation.set_issuer(&[&service]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        // Tokens are minted and checked by the servers, whose clocks agree.
        validation.leeway = 0;
        Ok(Bearers {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            service,
            ttl,
        })
    }

    /// Mints a bearer for `principal` carrying `access` (and the catalog of `catalog`'s
    /// projects). Returns it with its lifetime in seconds.
    pub fn mint(
        &self,
        principal: &Principal,
        access: Vec<Grant>,
        catalog: Option<Vec<String>>,
    ) -> (String, u64) {
        let now = unix_now();
        let mut exp = now + self.ttl.as_secs().max(1);
        if let Principal::Ci { identity } = principal {
            exp = exp.min(identity.expires_at);
        }
        let claims = Claims {
            iss: self.service.clone(),
            aud: self.service.clone(),
            sub: subject(principal),
            iat: now,
            nbf: now,
            exp,
            jti: hex::encode(rand::random::<[u8; 16]>()),
            access,
            catalog,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KEY_NAME.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing does not fail");
        (token, exp.saturating_sub(now))
    }

    /// Verifies a presented bearer: signature, issuer, audience, lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims, Invalid> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| {
                Invalid(match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "it has expired".into(),
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "its signature does not match".into()
                    }
                    _ => err.to_string(),
                })
            })
    }
}

/// Whether `token` is (or claims to be) a bearer the token endpoint minted, rather than a
/// depot-rs token or a CI job's OIDC token (also a JWT, from another issuer).
pub fn looks_like_bearer(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|header| header.kid.as_deref() == Some(KEY_NAME))
}

/// Who a bearer is minted for, as its `sub`.
fn subject(principal: &Principal) -> String {
    match principal {
        Principal::User { user_id } => format!("user:{user_id}"),
        Principal::Organization { org_id } => format!("org:{org_id}"),
        Principal::Project { project_id } => format!("project:{project_id}"),
        Principal::Build { build_id, .. } => format!("build:{build_id}"),
        Principal::Pull { project_id, .. } => format!("pull:{project_id}"),
        Principal::Ci { identity } => format!("ci:{identity}"),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_parsed_as_clients_send_them() {
        let scopes = Scope::all(
            [
                "repository:p1/app:pull,push",
                "repository:p1/other:pull registry:catalog:*",
                "garbage",
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(scopes.len(), 3);
        assert_eq!(scopes[0].name, "p1/app");
        assert_eq!(
            scopes[0].repository_actions(),
            vec![Action::Pull, Action::Push]
        );
        assert_eq!(scopes[2].kind, "registry");
        assert_eq!(scopes[2].name, "catalog");
        let all = Scope::parse("repository:p1/app:*").unwrap();
        assert_eq!(
            all.repository_actions(),
            vec![Action::Pull, Action::Push, Action::Delete]
        );
        assert!(Scope::parse(":x:pull").is_none());
        let many = vec!["repository:a:pull"; MAX_SCOPES + 1];
        assert!(Scope::all(many.into_iter()).is_err());
    }

    #[test]
    fn bearers_are_told_from_depot_and_ci_tokens() {
        let header = |kid: &str| {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(
                &header,
                &serde_json::json!({}),
                &EncodingKey::from_secret(b"k"),
            )
            .unwrap()
        };
        assert!(looks_like_bearer(&header(KEY_NAME)));
        assert!(!looks_like_bearer(&header("github-actions-key")));
        assert!(!looks_like_bearer("dpp_0123456789"));
        assert!(!looks_like_bearer("eyJhbGciOi"));
    }
}
