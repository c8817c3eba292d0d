//! API tokens: random secrets shown once, stored only as SHA-256 hashes.
//!
//! Secrets carry a prefix naming their kind (`dpu_` user, `dpo_` organization, `dpp_` project,
//! `dpl_` pull, `dpb_` build) so leaked tokens are easy to recognize and scan for.

use sha2::{Digest, Sha256};

use super::ids;

/// What a token may do (see DESIGN.md's security model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Everything its user's organizations own.
    User,
    /// Everything one organization owns.
    Organization,
    /// One project: builds, pull and push.
    Project,
    /// Read-only registry access to one project (or one build), short-lived.
    Pull,
    /// One build's RPCs and its save tags.
    Build,
    /// One isolated build's RPCs (a fork's pull request): no registry access.
    IsolatedBuild,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 6] = [
        TokenKind::User,
        TokenKind::Organization,
        TokenKind::Project,
        TokenKind::Pull,
        TokenKind::Build,
        TokenKind::IsolatedBuild,
    ];

    /// The stored name (`user`, `organization`, `project`, `pull`, `build`,
    /// `isolated_build`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::Organization => "organization",
            TokenKind::Project => "project",
            TokenKind::Pull => "pull",
            TokenKind::Build => "build",
            TokenKind::IsolatedBuild => "isolated_build",
        }
    }

    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn prefix(self) -> &'static str {
        match self {
            TokenKind::User => "dpu_",
            TokenKind::Organization => "dpo_",
            TokenKind::Project => "dpp_",
            TokenKind::Pull => "dpl_",
            TokenKind::Build | TokenKind::IsolatedBuild => "dpb_",
        }
    }
}

/// A token's secret. Only its [`hash`](Self::hash) is ever stored.
pub struct TokenSecret(String);

impl TokenSecret {
    /// A fresh random secret of `kind`.
    pub fn generate(kind: TokenKind) -> Self {
        Self(format!("{}{}", kind.prefix(), ids::new_secret_id()))
    }

    /// The secret, to show once to whoever asked for the token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form of this secret.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// SHA-256 of a presented secret, hex-encoded. Secrets carry ~238 random bits, so a fast hash
/// is enough: there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_and_hash_stably() {
        let s = TokenSecret::generate(TokenKind::Project);
        assert!(s.expose().starts_with("dpp_"));
        assert_eq!(s.hash(), hash_secret(s.expose()));
        assert_ne!(s.hash(), TokenSecret::generate(TokenKind::Project).hash());
        assert_eq!(format!("{s:?}"), "TokenSecret(<redacted>)");
        for kind in TokenKind::ALL {
            assert_eq!(TokenKind::from_name(kind.as_str()), Some(kind));
        }
    }
}
