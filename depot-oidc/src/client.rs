//! Finding the CI job's OIDC token, the way the official `depot` CLI does.
//!
//! The providers are tried in this order; the first that yields a token wins:
//!
//! 1. **GitHub Actions**, when `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`
//!    are set (the workflow has `permissions: id-token: write`): `GET <url>&audience=<audience>`
//!    with `Authorization: bearer <request token>`, answered with `{"value": "<jwt>"}`.
//! 2. **GitLab**, when `GITLAB_CI` is set: `DEPOT_OIDC_TOKEN` as is (declared under `id_tokens:`
//!    in `.gitlab-ci.yml`, which also chooses its audience).
//! 3. **CircleCI**: `CIRCLE_OIDC_TOKEN_V2` as is.
//! 4. **Buildkite**, when `BUILDKITE_AGENT_ACCESS_TOKEN` and `BUILDKITE_JOB_ID` are set:
//!    `POST <BUILDKITE_AGENT_ENDPOINT>/jobs/<job id>/oidc/tokens` with `{"audience": "<audience>"}`
//!    and `Authorization: Token <agent access token>`, answered with `{"token": "<jwt>"}`. The
//!    endpoint defaults to `https://agent.buildkite.com/v3`.
//!
//! The audience requested is `DEPOT_OIDC_AUDIENCE`, default [`DEFAULT_AUDIENCE`]. Empty variables
//! count as unset. A provider that is not configured is skipped; one that fails (an HTTP error
//! status, a timeout, a malformed or oversized response) is reported and the next one is tried.
//! Requests time out after 30 s and responses are limited to 64 KiB.
//!
//! With `DEPOT_DEBUG_OIDC` set, [`detect`] writes one line per provider to stderr saying why it
//! was skipped, why it failed, or that it produced a token (its size, issuer and audience; never
//! the token itself, nor the credentials used to request it).
//!
//! ```no_run
//! # async fn demo() {
//! use depot_oidc::client::{CiEnv, detect};
//! if let Some(ci) = detect(&CiEnv::from_process()).await {
//!     println!("running in {}", ci.provider);
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::{DEFAULT_AUDIENCE, Provider};

/// How long one token request may take, from connecting to reading the whole response.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest token endpoint response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Buildkite's agent API, unless `BUILDKITE_AGENT_ENDPOINT` says otherwise.
const DEFAULT_BUILDKITE_AGENT_ENDPOINT: &str = "https://agent.buildkite.com/v3";
/// Prefix of every debug line.
const PREFIX: &str = "[depot] oidc:";

const AUDIENCE: &str = "DEPOT_OIDC_AUDIENCE";
const DEBUG: &str = "DEPOT_DEBUG_OIDC";
const GITHUB_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
const GITHUB_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
const GITLAB_CI: &str = "GITLAB_CI";
const GITLAB_TOKEN: &str = "DEPOT_OIDC_TOKEN";
const CIRCLECI_TOKEN: &str = "CIRCLE_OIDC_TOKEN_V2";
const BUILDKITE_AGENT_TOKEN: &str = "BUILDKITE_AGENT_ACCESS_TOKEN";
const BUILDKITE_JOB_ID: &str = "BUILDKITE_JOB_ID";
const BUILDKITE_ENDPOINT: &str = "BUILDKITE_AGENT_ENDPOINT";

/// Every variable the providers read; [`CiEnv`] keeps only these.
const VARS: [&str; 10] = [
    AUDIENCE,
    DEBUG,
    GITHUB_URL,
    GITHUB_REQUEST_TOKEN,
    GITLAB_CI,
    GITLAB_TOKEN,
    CIRCLECI_TOKEN,
    BUILDKITE_AGENT_TOKEN,
    BUILDKITE_JOB_ID,
    BUILDKITE_ENDPOINT,
];

/// A snapshot of the environment variables the providers read. Tests build one from a map
/// instead of touching the process environment.
///
/// Its `Debug` output names the variables that are set, never their values (some are secrets).
#[derive(Clone, Default)]
pub struct CiEnv {
    vars: BTreeMap<&'static str, String>,
}

impl CiEnv {
    /// The current process environment (variables that are not valid Unicode count as unset).
    pub fn from_process() -> Self {
        Self::from_vars(
            VARS.iter()
                .filter_map(|&name| Some((name, std::env::var(name).ok()?))),
        )
    }

    /// An environment holding `vars`. Variables no provider reads are dropped, and empty values
    /// count as unset, as in the official CLI.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut kept = BTreeMap::new();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.into());
            if let Some(&known) = VARS.iter().find(|&&known| known == name)
                && !value.is_empty()
            {
                kept.insert(known, value);
            }
        }
        Self { vars: kept }
    }

    /// The audience requested from providers that take one: `DEPOT_OIDC_AUDIENCE`, else
    /// [`DEFAULT_AUDIENCE`].
    pub fn audience(&self) -> &str {
        self.var(AUDIENCE).unwrap_or(DEFAULT_AUDIENCE)
    }

    /// Whether `DEPOT_DEBUG_OIDC` asks for debug lines on stderr.
    pub fn debug(&self) -> bool {
        self.var(DEBUG).is_some()
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl fmt::Debug for CiEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiEnv")
            .field("set", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A CI job's OIDC token and the provider that issued it.
///
/// Its `Debug` output shows the token's length, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct CiToken {
    /// The provider the token came from.
    pub provider: Provider,
    /// The token, normally a JWT.
    pub token: String,
}

impl fmt::Debug for CiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiToken")
            .field("provider", &self.provider)
            .field(
                "token",
                &format_args!("<redacted, {} bytes>", self.token.len()),
            )
            .finish()
    }
}

/// Finds the CI job's OIDC token: the first provider that yields one wins; `None` if none does.
/// With `DEPOT_DEBUG_OIDC` set in `env`, writes [`detect_with`]'s lines to stderr.
pub async fn detect(env: &CiEnv) -> Option<CiToken> {
    if env.debug() {
        detect_with(env, &mut |line| eprintln!("{line}")).await
    } else {
        detect_with(env, &mut |_| {}).await
    }
}

/// Like [`detect`], handing every debug line to `report` whatever `DEPOT_DEBUG_OIDC` says: one
/// line per provider tried (skipped and why, failed and why, or produced a token), then one if
/// none did. Lines start with `[depot] oidc:` and never contain a token or request credential.
pub async fn detect_with(env: &CiEnv, report: &mut (dyn FnMut(&str) + Send)) -> Option<CiToken> {
    let mut http = None;
    for provider in Provider::ALL {
        let attempt = match provider {
            Provider::GitHub => github(env, &mut http).await,
            Provider::GitLab => gitlab(env),
            Provider::CircleCi => circleci(env),
            Provider::Buildkite => buildkite(env, &mut http).await,
        };
        match attempt {
            Attempt::Skipped(why) => report(&format!("{PREFIX} {provider}: skipped, {why}")),
            Attempt::Failed(why) => report(&format!("{PREFIX} {provider}: failed, {why}")),
            Attempt::Token(token) => {
                report(&format!(
                    "{PREFIX} {provider}: got a token ({})",
                    describe_token(&token)
                ));
                return Some(CiToken { provider, token });
            }
        }
    }
    report(&format!("{PREFIX} no CI provider yielded a token"));
    None
}

/// What one provider did.
enum Attempt {
    /// Not configured in this environment.
    Skipped(String),
    /// Configured, but the token request failed.
    Failed(String),
    /// A (non-empty) token.
    Token(String),
}

/// The shared HTTP client, built when a provider first needs it.
fn client(slot: &mut Option<reqwest::Client>) -> &reqwest::Client {
    slot.get_or_insert_with(|| crate::http_client(TIMEOUT))
}

async fn github(env: &CiEnv, http: &mut Option<reqwest::Client>) -> Attempt {
    let Some(url) = env.var(GITHUB_URL) else {
        return Attempt::Skipped(format!(
            "{GITHUB_URL} is not set (not GitHub Actions, or the job lacks `permissions: id-token: write`)"
        ));
    };
    let Some(request_token) = env.var(GITHUB_REQUEST_TOKEN) else {
        return Attempt::Skipped(format!("{GITHUB_REQUEST_TOKEN} is not set"));
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{url}{separator}audience={}",
        percent_encode(env.audience())
    );
    let request = client(http)
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::AUTHORIZATION,
            format!("bearer {request_token}"),
        );
    fetch_token(request, "value", request_token).await
}

fn gitlab(env: &CiEnv) -> Attempt {
    if env.var(GITLAB_CI).is_none() {
        return Attempt::Skipped(format!("{GITLAB_CI} is not set"));
    }
    match env.var(GITLAB_TOKEN) {
        Some(token) => Attempt::Token(token.to_owned()),
        None => Attempt::Skipped(format!(
            "{GITLAB_TOKEN} is not set (declare it under `id_tokens:` in .gitlab-ci.yml)"
        )),
    }
}

fn circleci(env: &CiEnv) -> Attempt {
    match env.var(CIRCLECI_TOKEN) {
        Some(token) => Attempt::Token(token.to_owned()),
        None => Attempt::Skipped(format!("{CIRCLECI_TOKEN} is not set")),
    }
}

async fn buildkite(env: &CiEnv, http: &mut Option<reqwest::Client>) -> Attempt {
    let Some(agent_token) = env.var(BUILDKITE_AGENT_TOKEN) else {
        return Attempt::Skipped(format!("{BUILDKITE_AGENT_TOKEN} is not set"));
    };
    let Some(job_id) = env.var(BUILDKITE_JOB_ID) else {
        return Attempt::Skipped(format!("{BUILDKITE_JOB_ID} is not set"));
    };
    let endpoint = env
        .var(BUILDKITE_ENDPOINT)
        .unwrap_or(DEFAULT_BUILDKITE_AGENT_ENDPOINT)
        .trim_end_matches('/');
    let url = format!("{endpoint}/jobs/{}/oidc/tokens", percent_encode(job_id));
    let body = serde_json::json!({ "audience": env.audience() }).to_string();
    let request = client(http)
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Token {agent_token}"),
        )
        .body(body);
    fetch_token(request, "token", agent_token).await
}

/// Sends `request` and takes the token from the string field `field` of its JSON response.
/// `credential` (the secret the request carries) is blanked out of error bodies that are quoted.
async fn fetch_token(request: reqwest::RequestBuilder, field: &str, credential: &str) -> Attempt {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Attempt::Failed(describe_http_error(e)),
    };
    let status = response.status();
    let body = match read_limited(&mut response).await {
        Ok(body) => body,
        Err(why) => return Attempt::Failed(format!("HTTP {status}, {why}")),
    };
    if !status.is_success() {
        return Attempt::Failed(format!("HTTP {status}{}", quote_body(&body, credential)));
    }
    // Parsed as a generic value so that no error message can quote the token.
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Attempt::Failed(format!(
            "HTTP {status}, but the response is not JSON ({} bytes)",
            body.len()
        ));
    };
    match json.get(field).and_then(serde_json::Value::as_str) {
        Some(token) if !token.is_empty() => Attempt::Token(token.to_owned()),
        _ => Attempt::Failed(format!(
            "HTTP {status}, but the response has no \"{field}\" string"
        )),
    }
}

/// Reads the response body, giving up once it exceeds [`MAX_RESPONSE_BYTES`].
async fn read_limited(response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the response exceeds {} KiB", MAX_RESPONSE_BYTES / 1024);
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the response: {}", describe_http_error(e))),
        }
    }
}

/// A request error with its causes, without the URL (the caller names the provider).
fn describe_http_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no response within {} s", TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of an error response, on one line, for the debug output; empty for an empty body.
fn quote_body(body: &[u8], credential: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut text = String::from_utf8_lossy(body).into_owned();
    if !credential.is_empty() {
        text = text.replace(credential, "<redacted>");
    }
    let mut quoted: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CHARS + 1)
        .collect();
    if quoted.is_empty() {
        return String::new();
    }
    if quoted.chars().count() > MAX_CHARS {
        quoted = quoted.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    format!(": {quoted}")
}

/// What the debug output says about a token: its size and, for a JWT, its issuer and audience
/// (both public; they are what a trust policy and the server check).
fn describe_token(token: &str) -> String {
    let size = format!("{} bytes", token.len());
    let claims = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .and_then(base64url_decode)
        .and_then(|payload| serde_json::from_slice::<serde_json::Value>(&payload).ok());
    let Some(claims) = claims else {
        return format!("{size}, not a JWT");
    };
    let issuer = claims["iss"].as_str().unwrap_or("none");
    let audience = match &claims["aud"] {
        serde_json::Value::String(aud) => aud.clone(),
        serde_json::Value::Array(auds) => auds
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_owned(),
    };
    format!("{size}, issuer {issuer}, audience {audience}")
}

/// Decodes unpadded (or padded) base64url, as JWT segments are encoded.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query value or a path
/// segment.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_characters_only() {
        assert_eq!(
            percent_encode("https://depot.dev/a b?c=d&é"),
            "https%3A%2F%2Fdepot.dev%2Fa%20b%3Fc%3Dd%26%C3%A9"
        );
        assert_eq!(percent_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn base64url_decodes_with_and_without_padding() {
        assert_eq!(base64url_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64url_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url_decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
        assert!(base64url_decode("a+b").is_none());
    }

    #[test]
    fn tokens_are_described_without_being_shown() {
        // {"iss":"https://issuer.example","aud":["a","b"]}
        let jwt = "e30.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjpbImEiLCJiIl19.sig";
        assert_eq!(
            describe_token(jwt),
            format!(
                "{} bytes, issuer https://issuer.example, audience a, b",
                jwt.len()
            )
        );
        assert_eq!(describe_token("opaque"), "6 bytes, not a JWT");
        assert_eq!(describe_token("a.b.c.d"), "7 bytes, not a JWT");
    }

    #[test]
    fn error_bodies_are_quoted_briefly_and_without_the_credential() {
        assert_eq!(quote_body(b"", "s3cret"), "");
        assert_eq!(
            quote_body(b"{\"message\":\n \"bad s3cret\"}", "s3cret"),
            ": {\"message\": \"bad <redacted>\"}"
        );
        let long = quote_body(&[b'x'; 500], "s3cret");
        assert_eq!(long.chars().count(), 2 + 200 + 1);
    }
}
