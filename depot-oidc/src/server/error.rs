//! Why a CI token was refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A refused CI token. Messages say what is wrong and what to do; they never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Longer than the configured limit.
    #[error("the CI token is {len} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a JWT, or parts of it are not valid base64url JSON.
    #[error("the CI token is not a valid JWT: {0}")]
    Malformed(String),
    /// `alg: none`.
    #[error("the CI token is unsigned (alg \"none\"); only RS256 and ES256 tokens are accepted")]
    Unsigned,
    /// An HMAC algorithm (`HS256`, …): a key anyone holding the public key could forge.
    #[error(
        "the CI token is signed with the shared-secret algorithm {0}; only RS256 and ES256 tokens are accepted"
    )]
    SymmetricAlgorithm(String),
    /// Any other algorithm.
    #[error("the CI token uses the algorithm {0}; only RS256 and ES256 tokens are accepted")]
    UnsupportedAlgorithm(String),
    /// `iss` is not one of the trusted issuers.
    #[error(
        "the CI token's issuer {0:?} is not trusted by this server (an operator adds issuers with depot-server --oidc-issuer)"
    )]
    UnknownIssuer(String),
    /// The issuer's discovery document or JWKS could not be fetched.
    #[error("could not fetch the signing keys of issuer {issuer}: {reason}; try again later")]
    IssuerUnreachable {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The `kid` is not in the issuer's JWKS (even after refetching it).
    #[error("the CI token's key {kid:?} is not among issuer {issuer}'s published keys")]
    UnknownKey {
        /// The issuer.
        issuer: String,
        /// The key id (or `(none)`).
        kid: String,
    },
    /// The published key cannot verify this algorithm (an RSA key for an ES256 token, …).
    #[error("the CI token's algorithm {alg} does not match its key {kid:?}")]
    KeyMismatch {
        /// The token's algorithm.
        alg: String,
        /// The key id.
        kid: String,
    },
    /// The signature does not verify.
    #[error("the CI token's signature is not valid")]
    BadSignature,
    /// `exp` is in the past.
    #[error("the CI token expired {ago} ago; request a fresh token from the CI provider", ago = ago(*.0))]
    Expired(u64),
    /// `nbf` or `iat` is in the future.
    #[error(
        "the CI token is not valid yet ({0}); check the clocks of the CI runner and the server"
    )]
    NotYetValid(&'static str),
    /// `aud` does not contain the server's audience.
    #[error(
        "the CI token's audience is not {expected:?}; request the token with that audience (DEPOT_OIDC_AUDIENCE)"
    )]
    WrongAudience {
        /// The audience this server accepts.
        expected: String,
    },
    /// A claim the provider always sets is missing or has the wrong type.
    #[error("the CI token has no valid {0:?} claim")]
    MissingClaim(&'static str),
}

impl VerifyError {
    /// A stable, machine-readable name for the error (`expired`, `wrong_audience`, …).
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::TooLarge { .. } => "token_too_large",
            VerifyError::Malformed(_) => "malformed",
            VerifyError::Unsigned => "unsigned",
            VerifyError::SymmetricAlgorithm(_) => "symmetric_algorithm",
            VerifyError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            VerifyError::UnknownIssuer(_) => "unknown_issuer",
            VerifyError::IssuerUnreachable { .. } => "issuer_unreachable",
            VerifyError::UnknownKey { .. } => "unknown_key",
            VerifyError::KeyMismatch { .. } => "key_mismatch",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Expired(_) => "expired",
            VerifyError::NotYetValid(_) => "not_yet_valid",
            VerifyError::WrongAudience { .. } => "wrong_audience",
            VerifyError::MissingClaim(_) => "missing_claim",
        }
    }

    /// Whether the server, not the token, is at fault (the caller may retry).
    pub fn is_server_side(&self) -> bool {
        matches!(self, VerifyError::IssuerUnreachable { .. })
    }
}

fn ago(exp: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let secs = now.saturating_sub(exp);
    format!("{:?}", Duration::from_secs(secs))
}
