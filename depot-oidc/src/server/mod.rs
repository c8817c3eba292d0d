//! Verifying CI tokens: which issuer signed it, whether it is meant for this server and still
//! valid, and which CI identity it describes.
//!
//! Only RS256 and ES256 are accepted (`none` and HMAC algorithms are refused before anything
//! else), `iss` must be a [`TrustedIssuer`], and the signing key comes from the issuer's
//! discovery document and JWKS, cached.

mod claims;
mod config;
mod error;
mod keys;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use config::{IssuerParseError, TrustedIssuer, VerifierConfig};
pub use error::VerifyError;

use crate::identity::CiIdentity;
use keys::KeyCache;

/// Verifies CI tokens. Cheap to share (`Arc`); keys are cached across calls.
pub struct OidcVerifier {
    config: Arc<VerifierConfig>,
    keys: KeyCache,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuers", &self.config.issuers)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

/// Whether `secret` has the shape of a JWT (three base64url parts, the first a JSON object),
/// as opposed to an opaque API token.
pub fn looks_like_jwt(secret: &str) -> bool {
    secret.starts_with("eyJ") && secret.split('.').count() == 3
}

impl OidcVerifier {
    /// A verifier with `config`.
    pub fn new(config: VerifierConfig) -> Self {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let config = Arc::new(config);
        Self {
            keys: KeyCache::new(config.clone()),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` and returns the identity it proves.
    pub async fn verify(&self, token: &str) -> Result<CiIdentity, VerifyError> {
        let limit = self.config.max_token_bytes;
        if token.len() > limit {
            return Err(VerifyError::TooLarge {
                len: token.len(),
                limit,
            });
        }
        let header = Header::parse(token)?;
        let algorithm = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            none if none.eq_ignore_ascii_case("none") => return Err(VerifyError::Unsigned),
            hmac if hmac.starts_with("HS") => {
                return Err(VerifyError::SymmetricAlgorithm(hmac.to_owned()));
            }
            other => return Err(VerifyError::UnsupportedAlgorithm(truncate(other))),
        };
        let issuer = unverified_issuer(token)?;
        let trusted = self
            .config
            .issuers
            .iter()
            .find(|t| t.covers(&issuer))
            .ok_or_else(|| VerifyError::UnknownIssuer(truncate(&issuer)))?;
        let key = self
            .keys
            .key(&issuer, header.kid.as_deref(), algorithm)
            .await?;

        let mut validation = Validation::new(algorithm);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false; // checked below, with CircleCI's organization audience
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[issuer.as_str()]);
        let data = jsonwebtoken::decode::<claims::RawClaims>(token, &key.key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::InvalidSignature => VerifyError::BadSignature,
                ErrorKind::ExpiredSignature => {
                    VerifyError::Expired(unverified_exp(token).unwrap_or_default())
                }
                ErrorKind::ImmatureSignature => VerifyError::NotYetValid("nbf is in the future"),
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => {
                    VerifyError::MissingClaim("exp")
                }
                ErrorKind::InvalidClaimFormat(claim) if claim == "nbf" => {
                    VerifyError::MissingClaim("nbf")
                }
                _ => VerifyError::Malformed(err.to_string()),
            })?;
        let raw = data.claims;
        let now = now_secs();
        if raw.iat.is_some_and(|iat| iat > now + validation.leeway) {
            return Err(VerifyError::NotYetValid("iat is in the future"));
        }
        if !raw.is_for(trusted.provider, &self.config.audience) {
            return Err(VerifyError::WrongAudience {
                expected: self.config.audience.clone(),
            });
        }
        raw.into_identity(trusted.provider, &issuer)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    fn parse(token: &str) -> Result<Self, VerifyError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed(
                "expected three dot-separated parts".to_owned(),
            ));
        };
        decode_part(header, "header")
    }
}

fn payload<T: for<'de> Deserialize<'de>>(token: &str) -> Result<T, VerifyError> {
    let part = token.split('.').nth(1).unwrap_or_default();
    decode_part(part, "payload")
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: &str, what: &str) -> Result<T, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(format!("the {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed(format!("the {what} is not the expected JSON object")))
}

/// `iss` before verification: it picks the keys to verify with.
fn unverified_issuer(token: &str) -> Result<String, VerifyError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    payload::<Iss>(token)?
        .iss
        .ok_or(VerifyError::MissingClaim("iss"))
}

fn unverified_exp(token: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Exp {
        exp: Option<u64>,
    }
    payload::<Exp>(token).ok()?.exp
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Parses `json` as a token's claims and reads them as each provider would (fuzzing entry
/// point: claims are otherwise read only from tokens whose signature verified).
#[cfg(feature = "fuzzing")]
pub fn fuzz_claims(json: &[u8]) {
    use crate::identity::Provider;
    for provider in [
        Provider::GitHub,
        Provider::GitLab,
        Provider::CircleCi,
        Provider::Buildkite,
    ] {
        if let Ok(raw) = serde_json::from_slice::<claims::RawClaims>(json) {
            let _ = raw.is_for(provider, "depot");
            let _ = raw.into_identity(provider, "https://issuer.example");
        }
    }
}

/// Caps attacker-controlled text quoted in errors.
fn truncate(value: &str) -> String {
    value.chars().take(120).collect()
}
