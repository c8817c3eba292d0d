//! One bearer for copying within a registry: the destination's `pull,push` scope and the
//! source's `pull` scope in a single token, as Docker asks for when it mounts blobs across
//! repositories. A registry whose bearers are limited to the scopes asked for (depot-server's
//! are) would otherwise refuse the mount, and every blob would be uploaded again.

use http_auth::ChallengeRef;
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;

use super::is_insecure;

/// A bearer for pushing to `destination` and mounting from `source` (same registry), from the
/// registry's token endpoint with `auth`; `None` when the registry does not use the token flow
/// or refuses, and the caller authenticates as usual.
pub(super) async fn mount_bearer(
    source: &Reference,
    destination: &Reference,
    auth: &RegistryAuth,
) -> Option<String> {
    let RegistryAuth::Basic(username, password) = auth else {
        return None;
    };
    let registry = destination.resolve_registry();
    let scheme = if is_insecure(registry) {
        "http"
    } else {
        "https"
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .ok()?;
    let ping = http
        .get(format!("{scheme}://{registry}/v2/"))
        .send()
        .await
        .ok()?;
    let header = ping
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?;
    let challenges = http_auth::parse_challenges(header).ok()?;
    let bearer = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))?;
    let realm = param(bearer, "realm")?;
    let mut query = vec![
        (
            "scope",
            format!("repository:{}:pull,push", destination.repository()),
        ),
        ("scope", format!("repository:{}:pull", source.repository())),
    ];
    if let Some(service) = param(bearer, "service") {
        query.push(("service", service));
    }
    let answer = http
        .get(realm)
        .query(&query)
        .basic_auth(username, Some(password))
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.ok()?).ok()?;
    ["token", "access_token"]
        .iter()
        .find_map(|key| body.get(key)?.as_str().filter(|t| !t.is_empty()))
        .map(str::to_owned)
}

/// The unescaped value of a challenge's parameter `name`.
fn param(challenge: &ChallengeRef<'_>, name: &str) -> Option<String> {
    challenge
        .params
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.to_unescaped())
}
