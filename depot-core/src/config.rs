//! Configuration and credential resolution, identical to the official `depot` CLI:
//!
//! - API base URL: `DEPOT_API_URL`, else `https://api.depot.dev`;
//! - token: `--token`, `DEPOT_TOKEN`, the user config's `api_token` (overridden by
//!   `DEPOT_API_TOKEN`), the CI job's OIDC token (GitHub Actions, GitLab, CircleCI, Buildkite, in
//!   that order: see [`depot_oidc::client`]; `DEPOT_OIDC_AUDIENCE` sets the audience requested,
//!   `DEPOT_DEBUG_OIDC` explains the search on stderr), `DEPOT_JIT_TOKEN`, `DEPOT_CACHE_TOKEN`;
//! - organization: the user config's `org_id` (overridden by `DEPOT_ORG_ID`);
//! - project: `--project`, `DEPOT_PROJECT_ID`, then `depot.json`, `depot.yml`, `depot.yaml`
//!   searched upward from the working directory;
//! - user config file: `$XDG_CONFIG_HOME/depot/depot.yaml`, default `~/.config/depot/depot.yaml`.
//!
//! depot-rs adds one variable: `DEPOT_API_CA_FILE`, a PEM bundle trusted for `https://` API URLs
//! besides the system roots (for self-hosted servers with a private CA).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use depot_oidc::client::{CiEnv, detect};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::connect::ClientOptions;

/// Depot's hosted API.
pub const DEFAULT_API_URL: &str = "https://api.depot.dev";
/// Project config file names, in the order they are looked for in each directory.
pub const PROJECT_FILES: [&str; 3] = ["depot.json", "depot.yml", "depot.yaml"];

/// The CI provider an OIDC token came from (see [`Source::Oidc`]).
pub use depot_oidc::Provider as CiProvider;

/// A snapshot of the environment variables resolution reads. Tests build one from a map
/// instead of touching the process environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The current process environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// An environment holding exactly `vars`.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; empty values count as unset, as in the official CLI.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The API base URL.
    pub fn api_url(&self) -> String {
        self.var("DEPOT_API_URL")
            .unwrap_or(DEFAULT_API_URL)
            .to_owned()
    }

    /// Path of the user config file (`depot.yaml`).
    pub fn user_config_path(&self) -> Option<PathBuf> {
        let dir = match self.var("XDG_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(self.var("HOME")?).join(".config"),
        };
        Some(dir.join("depot").join("depot.yaml"))
    }
}

/// The user config file written by `depot login` (`api_token`, `org_id`). Keys depot-rs does
/// not know are kept when the file is rewritten.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UserConfig {
    /// The stored API token; empty when logged out.
    #[serde(default)]
    pub api_token: String,
    /// The selected organization; empty when unset.
    #[serde(default)]
    pub org_id: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml_ng::Value>,
}

impl UserConfig {
    /// Loads the file at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::default()),
            Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| Error::ConfigFile {
                path: path.to_owned(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io {
                action: "reading",
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the file atomically (temporary file, then rename), readable only by its owner.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_yaml_ng::to_string(self).map_err(|e| Error::ConfigFile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        write_atomically(path, text.as_bytes(), 0o600)
    }
}

/// Where a resolved value came from, for messages such as `depot login token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env(&'static str),
    /// A file.
    File(PathBuf),
    /// The CI job's OIDC token, from this provider.
    Oidc(CiProvider),
}

/// Everything an API call needs, resolved from flags, environment and files.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    /// API base URL.
    pub api_url: String,
    /// The token and where it came from, if any was found.
    pub token: Option<(String, Source)>,
    /// The organization from the user config or `DEPOT_ORG_ID`.
    pub org_id: Option<String>,
    /// The project and where it came from, if any was found.
    pub project: Option<(String, Source)>,
    /// Extra trusted CA certificates (PEM) for `https://` API URLs.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl ResolvedConfig {
    /// Resolves with the project searched upward from the current directory. Asynchronous
    /// because finding a CI job's OIDC token may ask the CI provider for it.
    pub async fn resolve(
        env: &Environment,
        token_flag: Option<&str>,
        project_flag: Option<&str>,
    ) -> Result<Self, Error> {
        let cwd = std::env::current_dir().map_err(|source| Error::Io {
            action: "reading",
            path: PathBuf::from("."),
            source,
        })?;
        Self::resolve_in(env, token_flag, project_flag, &cwd).await
    }

    /// Resolves with the project searched upward from `dir`.
    pub async fn resolve_in(
        env: &Environment,
        token_flag: Option<&str>,
        project_flag: Option<&str>,
        dir: &Path,
    ) -> Result<Self, Error> {
        let user_path = env.user_config_path();
        let user = match &user_path {
            Some(path) => UserConfig::load(path)?,
            None => UserConfig::default(),
        };
        let token = resolve_token(env, token_flag, &user, user_path.as_deref()).await;
        let org_id = env
            .var("DEPOT_ORG_ID")
            .map(str::to_owned)
            .or_else(|| (!user.org_id.is_empty()).then(|| user.org_id.clone()));
        let project = match (
            project_flag.filter(|p| !p.is_empty()),
            env.var("DEPOT_PROJECT_ID"),
        ) {
            (Some(flag), _) => Some((flag.to_owned(), Source::Flag)),
            (None, Some(id)) => Some((id.to_owned(), Source::Env("DEPOT_PROJECT_ID"))),
            (None, None) => find_project_config(dir)?.map(|(id, path)| (id, Source::File(path))),
        };
        let extra_ca_pem = match env.var("DEPOT_API_CA_FILE") {
            Some(path) => Some(std::fs::read(path).map_err(|source| Error::Io {
                action: "reading DEPOT_API_CA_FILE",
                path: PathBuf::from(path),
                source,
            })?),
            None => None,
        };
        Ok(Self {
            api_url: env.api_url(),
            token,
            org_id,
            project,
            extra_ca_pem,
        })
    }

    /// The token, or [`Error::MissingToken`].
    pub fn require_token(&self) -> Result<&str, Error> {
        self.token
            .as_ref()
            .map(|(t, _)| t.as_str())
            .ok_or(Error::MissingToken)
    }

    /// The project, or [`Error::MissingProject`].
    pub fn require_project(&self) -> Result<&str, Error> {
        self.project
            .as_ref()
            .map(|(p, _)| p.as_str())
            .ok_or(Error::MissingProject)
    }

    /// Client options for the resolved URL, token and CA.
    pub fn client_options(&self) -> ClientOptions {
        let mut options = ClientOptions::new(&self.api_url);
        options.token = self.token.as_ref().map(|(t, _)| t.clone());
        options.extra_ca_pem = self.extra_ca_pem.clone();
        options
    }
}

async fn resolve_token(
    env: &Environment,
    flag: Option<&str>,
    user: &UserConfig,
    user_path: Option<&Path>,
) -> Option<(String, Source)> {
    if let Some(token) = flag.filter(|t| !t.is_empty()) {
        return Some((token.to_owned(), Source::Flag));
    }
    if let Some(token) = env.var("DEPOT_TOKEN") {
        return Some((token.to_owned(), Source::Env("DEPOT_TOKEN")));
    }
    if let Some(token) = env.var("DEPOT_API_TOKEN") {
        return Some((token.to_owned(), Source::Env("DEPOT_API_TOKEN")));
    }
    if let (false, Some(path)) = (user.api_token.is_empty(), user_path) {
        return Some((user.api_token.clone(), Source::File(path.to_owned())));
    }
    let ci_env = CiEnv::from_vars(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(ci) = detect(&ci_env).await {
        return Some((ci.token, Source::Oidc(ci.provider)));
    }
    ["DEPOT_JIT_TOKEN", "DEPOT_CACHE_TOKEN"]
        .into_iter()
        .find_map(|name| env.var(name).map(|t| (t.to_owned(), Source::Env(name))))
}

/// Finds the nearest project config upward from `start`: its project id and path.
pub fn find_project_config(start: &Path) -> Result<Option<(String, PathBuf)>, Error> {
    for dir in start.ancestors() {
        for name in PROJECT_FILES {
            let path = dir.join(name);
            if path.is_file() {
                return read_project_config(&path).map(|id| Some((id, path)));
            }
        }
    }
    Ok(None)
}

fn read_project_config(path: &Path) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct ProjectFile {
        id: String,
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    let file: ProjectFile = serde_yaml_ng::from_str(&text).map_err(|e| Error::ConfigFile {
        path: path.to_owned(),
        message: format!("expected {{\"id\": \"<project-id>\"}}: {e}"),
    })?;
    if file.id.is_empty() {
        return Err(Error::ConfigFile {
            path: path.to_owned(),
            message: "the project id is empty".into(),
        });
    }
    Ok(file.id)
}

/// Writes the project config for `project_id` in `dir`: rewrites an existing `depot.json`,
/// `depot.yml` or `depot.yaml` there, else creates `depot.json`. Returns the path written.
pub fn write_project_config(dir: &Path, project_id: &str) -> Result<PathBuf, Error> {
    let existing = PROJECT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file());
    let path = existing.unwrap_or_else(|| dir.join(PROJECT_FILES[0]));
    let text = if path.extension().is_some_and(|e| e == "json") {
        format!("{}\n", serde_json::json!({ "id": project_id }))
    } else {
        format!("id: {project_id}\n")
    };
    write_atomically(&path, text.as_bytes(), 0o644)?;
    Ok(path)
}

fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let io = |source| Error::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path, extra: &[(&str, &str)]) -> Environment {
        let mut vars = vec![("HOME".to_owned(), dir.display().to_string())];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Environment::from_vars(vars)
    }

    #[tokio::test]
    async fn token_precedence_matches_the_official_cli() {
        let home = tempfile::tempdir().unwrap();
        let e = env(home.path(), &[]);
        let path = e.user_config_path().unwrap();
        assert_eq!(path, home.path().join(".config/depot/depot.yaml"));
        UserConfig {
            api_token: "from-file".into(),
            org_id: "org1".into(),
            ..Default::default()
        }
        .save(&path)
        .unwrap();

        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(
            r.token,
            Some(("from-file".into(), Source::File(path.clone())))
        );
        assert_eq!(r.org_id.as_deref(), Some("org1"));

        let e = env(
            home.path(),
            &[("DEPOT_API_TOKEN", "api-env"), ("DEPOT_JIT_TOKEN", "jit")],
        );
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token.unwrap().0, "api-env");

        let e = env(
            home.path(),
            &[("DEPOT_TOKEN", "env"), ("DEPOT_API_TOKEN", "api-env")],
        );
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token, Some(("env".into(), Source::Env("DEPOT_TOKEN"))));
        let r = ResolvedConfig::resolve_in(&e, Some("flag"), None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token, Some(("flag".into(), Source::Flag)));

        let empty = tempfile::tempdir().unwrap();
        let e = env(empty.path(), &[("DEPOT_CACHE_TOKEN", "cache")]);
        let r = ResolvedConfig::resolve_in(&e, None, None, empty.path())
            .await
            .unwrap();
        assert_eq!(r.token.unwrap().0, "cache");
        let e = env(empty.path(), &[]);
        let r = ResolvedConfig::resolve_in(&e, None, None, empty.path())
            .await
            .unwrap();
        assert!(matches!(r.require_token(), Err(Error::MissingToken)));
    }

    #[tokio::test]
    async fn oidc_tokens_come_after_the_user_config_and_before_jit_tokens() {
        let ci = [
            ("GITLAB_CI", "true"),
            ("DEPOT_OIDC_TOKEN", "gitlab-jwt"),
            ("DEPOT_JIT_TOKEN", "jit"),
            ("DEPOT_CACHE_TOKEN", "cache"),
        ];
        let oidc = Some(("gitlab-jwt".into(), Source::Oidc(CiProvider::GitLab)));

        // No user config: the CI token beats DEPOT_JIT_TOKEN and DEPOT_CACHE_TOKEN.
        let home = tempfile::tempdir().unwrap();
        let e = env(home.path(), &ci);
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token, oidc);
        assert_eq!(r.client_options().token.as_deref(), Some("gitlab-jwt"));

        // DEPOT_TOKEN, DEPOT_API_TOKEN and the flag beat it.
        let mut vars = ci.to_vec();
        vars.push(("DEPOT_API_TOKEN", "api-env"));
        let e = env(home.path(), &vars);
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(
            r.token,
            Some(("api-env".into(), Source::Env("DEPOT_API_TOKEN")))
        );
        vars.push(("DEPOT_TOKEN", "env"));
        let e = env(home.path(), &vars);
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token, Some(("env".into(), Source::Env("DEPOT_TOKEN"))));

        // A token stored by `depot login` beats it too.
        let e = env(home.path(), &ci);
        let path = e.user_config_path().unwrap();
        UserConfig {
            api_token: "from-file".into(),
            ..Default::default()
        }
        .save(&path)
        .unwrap();
        let r = ResolvedConfig::resolve_in(&e, None, None, home.path())
            .await
            .unwrap();
        assert_eq!(r.token, Some(("from-file".into(), Source::File(path))));

        // Resolution can run in spawned tasks.
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&ResolvedConfig::resolve_in(&e, None, None, home.path()));

        // Without a CI token, DEPOT_JIT_TOKEN comes next.
        let empty = tempfile::tempdir().unwrap();
        let e = env(empty.path(), &ci[2..]);
        let r = ResolvedConfig::resolve_in(&e, None, None, empty.path())
            .await
            .unwrap();
        assert_eq!(
            r.token,
            Some(("jit".into(), Source::Env("DEPOT_JIT_TOKEN")))
        );
    }

    #[test]
    fn xdg_config_home_wins_over_home() {
        let e = Environment::from_vars([("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/xdg")]);
        assert_eq!(
            e.user_config_path().unwrap(),
            PathBuf::from("/xdg/depot/depot.yaml")
        );
        assert_eq!(e.api_url(), DEFAULT_API_URL);
    }

    #[tokio::test]
    async fn project_is_found_upward_and_flags_win() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(root.path().join("a/depot.yml"), "id: from-yml\n").unwrap();
        std::fs::write(root.path().join("depot.json"), r#"{"id":"from-json"}"#).unwrap();
        let e = env(root.path(), &[]);

        let r = ResolvedConfig::resolve_in(&e, None, None, &nested)
            .await
            .unwrap();
        let (id, source) = r.project.unwrap();
        assert_eq!(id, "from-yml");
        assert_eq!(source, Source::File(root.path().join("a/depot.yml")));

        let r = ResolvedConfig::resolve_in(&e, None, None, root.path())
            .await
            .unwrap();
        assert_eq!(r.project.unwrap().0, "from-json");

        let e = env(root.path(), &[("DEPOT_PROJECT_ID", "from-env")]);
        let r = ResolvedConfig::resolve_in(&e, None, None, &nested)
            .await
            .unwrap();
        assert_eq!(r.project.unwrap().0, "from-env");
        let r = ResolvedConfig::resolve_in(&e, None, Some("from-flag"), &nested)
            .await
            .unwrap();
        assert_eq!(r.project.unwrap().0, "from-flag");
    }

    #[test]
    fn project_config_is_written_where_it_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_project_config(dir.path(), "p1").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"id\":\"p1\"}\n");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.path().join("depot.yaml"), "id: old\n").unwrap();
        let path = write_project_config(dir.path(), "p2").unwrap();
        assert_eq!(path, dir.path().join("depot.yaml"));
        assert_eq!(find_project_config(dir.path()).unwrap().unwrap().0, "p2");
    }

    #[test]
    fn broken_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("depot.json"), "{not json").unwrap();
        let err = find_project_config(dir.path()).unwrap_err();
        assert!(err.to_string().contains("depot.json"), "{err}");
    }

    #[test]
    fn saving_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.yaml");
        std::fs::write(&path, "api_token: t\nother_key: 5\n").unwrap();
        let mut config = UserConfig::load(&path).unwrap();
        config.api_token.clear();
        config.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("other_key: 5"), "{text}");
        assert!(text.contains("api_token: ''"), "{text}");
    }
}
