//! Issuer signing keys: discovery, JWKS fetch and the per-issuer cache.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::config::{VerifierConfig, is_acceptable_url};
use super::error::VerifyError;

/// A published key, ready to verify with.
#[derive(Clone)]
pub(crate) struct SigningKey {
    /// The only algorithm it verifies.
    pub algorithm: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

/// The keys of one issuer as last fetched.
struct KeySet {
    by_kid: HashMap<String, SigningKey>,
    /// Keys published without a `kid` (used only when a token has no `kid` either).
    anonymous: Vec<SigningKey>,
    fetched_at: Instant,
    expires_at: Instant,
}

impl KeySet {
    fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<Lookup> {
        match kid {
            Some(kid) => self.by_kid.get(kid).map(|key| {
                if key.algorithm == algorithm {
                    Lookup::Found(key.clone())
                } else {
                    Lookup::Mismatch
                }
            }),
            None => {
                let mut matching = self.anonymous.iter().filter(|k| k.algorithm == algorithm);
                match (matching.next(), matching.next()) {
                    (Some(key), None) => Some(Lookup::Found(key.clone())),
                    _ => None,
                }
            }
        }
    }
}

enum Lookup {
    Found(SigningKey),
    Mismatch,
}

/// One issuer's cache entry: the keys, and a lock so only one fetch runs at a time.
#[derive(Default)]
struct IssuerEntry {
    keys: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<()>,
}

/// Keys of every issuer seen, fetched on first use, refreshed when expired, and refetched on an
/// unknown `kid` at most once per cooldown.
pub(crate) struct KeyCache {
    config: Arc<VerifierConfig>,
    http: reqwest::Client,
    issuers: RwLock<HashMap<String, Arc<IssuerEntry>>>,
}

impl KeyCache {
    pub fn new(config: Arc<VerifierConfig>) -> Self {
        let http = crate::http_client(config.http_timeout);
        Self {
            config,
            http,
            issuers: RwLock::default(),
        }
    }

    /// The key `issuer` signs tokens with `kid` and `algorithm` with.
    pub async fn key(
        &self,
        issuer: &str,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<SigningKey, VerifyError> {
        let entry = self.entry(issuer);
        let cached = entry.keys.read().expect("key cache lock").clone();
        let now = Instant::now();
        if let Some(keys) = &cached
            && now < keys.expires_at
            && let Some(found) = keys.find(kid, algorithm)
        {
            return resolve(found, kid, algorithm);
        }
        // Expired, never fetched, or an unknown key: fetch unless another task just did, or an
        // unknown key asked for a refetch too recently.
        let _guard = entry.fetch.lock().await;
        let current = entry.keys.read().expect("key cache lock").clone();
        let fresh_enough = current.as_ref().is_some_and(|keys| {
            now < keys.expires_at
                && (keys.fetched_at.elapsed() < self.config.refetch_cooldown
                    || current_changed(&cached, keys))
        });
        let keys = if fresh_enough {
            current.expect("checked above")
        } else {
            match self.fetch(issuer).await {
                Ok(keys) => {
                    let keys = Arc::new(keys);
                    *entry.keys.write().expect("key cache lock") = Some(keys.clone());
                    keys
                }
                Err(err) => match current {
                    // Keep verifying with the keys we have while the issuer is down.
                    Some(stale) => {
                        tracing::warn!(%issuer, %err, "refreshing OIDC keys failed; using the cached ones");
                        stale
                    }
                    None => return Err(err),
                },
            }
        };
        match keys.find(kid, algorithm) {
            Some(found) => resolve(found, kid, algorithm),
            None => Err(VerifyError::UnknownKey {
                issuer: issuer.to_owned(),
                kid: kid.unwrap_or("(none)").to_owned(),
            }),
        }
    }

    fn entry(&self, issuer: &str) -> Arc<IssuerEntry> {
        if let Some(entry) = self.issuers.read().expect("key cache lock").get(issuer) {
            return entry.clone();
        }
        self.issuers
            .write()
            .expect("key cache lock")
            .entry(issuer.to_owned())
            .or_default()
            .clone()
    }

    async fn fetch(&self, issuer: &str) -> Result<KeySet, VerifyError> {
        let unreachable = |reason: String| VerifyError::IssuerUnreachable {
            issuer: issuer.to_owned(),
            reason,
        };
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let base = issuer.trim_end_matches('/');
        let discovery_url = format!("{base}/.well-known/openid-configuration");
        let (body, _) = self.get(&discovery_url).await.map_err(&unreachable)?;
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|e| unreachable(format!("invalid discovery document: {e}")))?;
        if discovery.issuer.trim_end_matches('/') != base {
            return Err(unreachable(format!(
                "the discovery document names another issuer, {:?}",
                discovery.issuer
            )));
        }
        if !is_acceptable_url(&discovery.jwks_uri) {
            return Err(unreachable("jwks_uri must be an https:// URL".to_owned()));
        }
        let (body, max_age) = self.get(&discovery.jwks_uri).await.map_err(&unreachable)?;
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet =
            serde_json::from_slice(&body).map_err(|e| unreachable(format!("invalid JWKS: {e}")))?;
        let now = Instant::now();
        let ttl = max_age
            .map(|age| age.clamp(Duration::from_secs(60), Duration::from_secs(24 * 60 * 60)))
            .unwrap_or(self.config.keys_ttl);
        let mut set = KeySet {
            by_kid: HashMap::new(),
            anonymous: Vec::new(),
            fetched_at: now,
            expires_at: now + ttl,
        };
        // Keys of other types (or unusable ones) are skipped, not fatal: issuers may publish
        // encryption keys or algorithms we do not accept.
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let Some(key) = signing_key(&jwk) else {
                continue;
            };
            match jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid, key);
                }
                None => set.anonymous.push(key),
            }
        }
        tracing::debug!(%issuer, keys = set.by_kid.len() + set.anonymous.len(), "fetched OIDC keys");
        Ok(set)
    }

    /// GETs `url`, reading at most `max_document_bytes`; returns the body and `max-age`.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let limit = self.config.max_document_bytes;
        if response
            .content_length()
            .is_some_and(|len| len as usize > limit)
        {
            return Err(format!("GET {url}: the response exceeds {limit} bytes"));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > limit {
                return Err(format!("GET {url}: the response exceeds {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// Whether another task replaced the keys since `before` was read.
fn current_changed(before: &Option<Arc<KeySet>>, now: &Arc<KeySet>) -> bool {
    before
        .as_ref()
        .is_none_or(|before| !Arc::ptr_eq(before, now))
}

fn resolve(
    found: Lookup,
    kid: Option<&str>,
    algorithm: Algorithm,
) -> Result<SigningKey, VerifyError> {
    match found {
        Lookup::Found(key) => Ok(key),
        Lookup::Mismatch => Err(VerifyError::KeyMismatch {
            alg: format!("{algorithm:?}"),
            kid: kid.unwrap_or("(none)").to_owned(),
        }),
    }
}

/// The RS256 or ES256 key a JWK describes; `None` for any other kind, or a JWK whose `alg`
/// names another algorithm.
fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    let (algorithm, declared_ok) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if jwk
        .common
        .key_algorithm
        .is_some_and(|declared| declared != declared_ok)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(SigningKey { algorithm, key })
}

/// `max-age` of a `Cache-Control` header.
fn max_age(header: &str) -> Option<Duration> {
    header.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| value.trim().parse().ok().map(Duration::from_secs))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
