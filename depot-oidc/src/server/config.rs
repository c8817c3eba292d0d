//! What a verifier trusts: issuers, audience, clock leeway, cache and size limits.

use std::time::Duration;

use crate::identity::Provider;

/// An issuer whose tokens are accepted, and the provider whose claims its tokens carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The provider.
    pub provider: Provider,
    /// The issuer URL (`iss`), without a trailing slash.
    pub issuer: String,
    /// Whether every issuer URL starting with `issuer` is trusted (CircleCI has one issuer per
    /// organization: `https://oidc.circleci.com/org/<uuid>`).
    pub prefix: bool,
}

/// A malformed `--oidc-issuer` value.
#[derive(Debug, thiserror::Error)]
#[error("invalid OIDC issuer {value:?}: {reason}")]
pub struct IssuerParseError {
    value: String,
    reason: &'static str,
}

impl TrustedIssuer {
    /// The public issuers of GitHub Actions, GitLab.com, CircleCI and Buildkite.
    pub fn public_defaults() -> Vec<TrustedIssuer> {
        [
            (
                Provider::GitHub,
                "https://token.actions.githubusercontent.com",
                false,
            ),
            (Provider::GitLab, "https://gitlab.com", false),
            (Provider::CircleCi, "https://oidc.circleci.com/org/", true),
            (Provider::Buildkite, "https://agent.buildkite.com", false),
        ]
        .into_iter()
        .map(|(provider, issuer, prefix)| TrustedIssuer {
            provider,
            issuer: issuer.to_owned(),
            prefix,
        })
        .collect()
    }

    /// Parses `PROVIDER=URL`, where a URL ending in `*` trusts every issuer starting with it.
    /// URLs must be `https://`, or `http://` on a loopback address (local test issuers).
    pub fn parse(value: &str) -> Result<Self, IssuerParseError> {
        let error = |reason| IssuerParseError {
            value: value.to_owned(),
            reason,
        };
        let (provider, url) = value.split_once('=').ok_or_else(|| {
            error("expected PROVIDER=URL, e.g. github=https://token.actions.githubusercontent.com")
        })?;
        let provider = Provider::from_name(provider.trim())
            .ok_or_else(|| error("the provider must be github, gitlab, circleci or buildkite"))?;
        let url = url.trim();
        let (url, prefix) = match url.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (url.trim_end_matches('/'), false),
        };
        if !is_acceptable_url(url) {
            return Err(error(
                "the URL must start with https:// (or http:// on 127.0.0.1, [::1] or localhost)",
            ));
        }
        Ok(TrustedIssuer {
            provider,
            issuer: url.to_owned(),
            prefix,
        })
    }

    /// Whether this entry covers the token issuer `iss`.
    pub fn covers(&self, iss: &str) -> bool {
        if self.prefix {
            iss.len() > self.issuer.len() && iss.starts_with(&self.issuer)
        } else {
            iss.trim_end_matches('/') == self.issuer
        }
    }
}

/// Whether `url` may be fetched for keys: `https://`, or `http://` to a loopback host.
pub(crate) fn is_acceptable_url(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Settings of an [`OidcVerifier`](super::OidcVerifier).
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The issuers whose tokens are accepted.
    pub issuers: Vec<TrustedIssuer>,
    /// The audience tokens must be issued for (`aud`).
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How long fetched keys are used when the JWKS response does not say (`Cache-Control:
    /// max-age`, clamped to one minute … one day).
    pub keys_ttl: Duration,
    /// A token with an unknown `kid` makes the verifier refetch the issuer's keys at most once
    /// per this interval (so forged `kid`s cannot make it hammer the issuer).
    pub refetch_cooldown: Duration,
    /// Timeout of each discovery or JWKS request.
    pub http_timeout: Duration,
    /// Tokens longer than this are refused unread.
    pub max_token_bytes: usize,
    /// Discovery documents and JWKS larger than this are refused.
    pub max_document_bytes: usize,
}

impl VerifierConfig {
    /// Trusts `issuers` for tokens issued to `audience`, with default limits.
    pub fn new(issuers: Vec<TrustedIssuer>, audience: impl Into<String>) -> Self {
        Self {
            issuers,
            audience: audience.into(),
            leeway: Duration::from_secs(60),
            keys_ttl: Duration::from_secs(60 * 60),
            refetch_cooldown: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            max_token_bytes: 16 * 1024,
            max_document_bytes: 256 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_parse_with_prefixes_and_safe_urls_only() {
        let github =
            TrustedIssuer::parse("github=https://token.actions.githubusercontent.com/").unwrap();
        assert_eq!(github.issuer, "https://token.actions.githubusercontent.com");
        assert!(github.covers("https://token.actions.githubusercontent.com"));
        assert!(!github.covers("https://token.actions.githubusercontent.com.evil"));
        let circle = TrustedIssuer::parse("circleci=https://oidc.circleci.com/org/*").unwrap();
        assert!(circle.covers("https://oidc.circleci.com/org/1234"));
        assert!(!circle.covers("https://oidc.circleci.com/org/"));
        assert!(TrustedIssuer::parse("gitlab=http://127.0.0.1:8080/issuer").is_ok());
        assert!(TrustedIssuer::parse("gitlab=http://[::1]:8080").is_ok());
        for bad in [
            "github=http://example.com",
            "jenkins=https://x",
            "https://x",
            "github=ftp://x",
        ] {
            assert!(TrustedIssuer::parse(bad).is_err(), "{bad}");
        }
    }
}
