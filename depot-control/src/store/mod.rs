//! Durable control-plane state through sqlx: a SQLite file (the embedded default, created on
//! first start) or PostgreSQL (`postgres://…`), with the same SQL and embedded migrations.
//!
//! Every write is one statement or one transaction, so a failed request leaves no partial row.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use depot_core::connect::ConnectError;
use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use sqlx::{AnyPool, Executor};

/// A storage failure. Details are for logs; clients only learn that storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open database {url}")]
    Open {
        /// The database URL, without credentials.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
}

/// A storage failure answers a request with `internal` and a message that says what to do; its
/// details are logged, never sent to the client.
impl From<StoreError> for ConnectError {
    fn from(err: StoreError) -> Self {
        tracing::error!(err = %depot_core::ErrorChain(&err), "storage failure");
        ConnectError::internal("the server's database failed; try again, and see the server log")
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

mod builds;
mod insights;
mod logins;
mod orgs;
mod projects;
mod sessions;
mod step_logs;
mod tokens;
mod trust_policies;
mod users;

pub use builds::{Build, BuildStep};
pub use insights::{BuildPoint, SlowStep};
pub use logins::Login;
pub use orgs::Organization;
pub use projects::{NewProject, Project, ProjectChanges};
pub use sessions::Session;
pub use step_logs::{StepLogLine, TRUNCATED_NOTE};
pub use tokens::{NewToken, Token};
pub use trust_policies::TrustPolicy;
pub use users::User;

/// The control-plane database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`: a
    /// `postgres://`/`postgresql://` URL, a `sqlite:` URL, or a plain file path for SQLite.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, sqlite) = normalize_url(url);
        let shown = redact(&url);
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10));
        if sqlite {
            if let Some(dir) = sqlite_path(&url).and_then(|p| p.parent().map(Path::to_path_buf))
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&dir).map_err(|e| open_err(Box::new(e)))?;
            }
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        let mut migrator = sqlx::migrate!("./migrations");
        // Other crates (depot-registry) keep their own migrations in the same table.
        migrator.set_ignore_missing(true);
        migrator
            .run(&pool)
            .await
            .map_err(|e| open_err(Box::new(e)))?;
        Ok(Self { pool })
    }

    /// The connection pool, for crates that keep their own tables in the same database
    /// (depot-registry). Their migrations must use versions above 1000.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn affected(result: &AnyQueryResult) -> bool {
    result.rows_affected() > 0
}

/// Returns the URL sqlx understands and whether it is SQLite.
fn normalize_url(url: &str) -> (String, bool) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (url.to_owned(), false)
    } else if url.starts_with("sqlite:") {
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        (url, true)
    } else {
        (format!("sqlite://{url}?mode=rwc"), true)
    }
}

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_redacted() {
        assert_eq!(
            normalize_url("/data/depot.db"),
            ("sqlite:///data/depot.db?mode=rwc".to_owned(), true)
        );
        assert_eq!(
            sqlite_path("sqlite:///data/depot.db?mode=rwc"),
            Some(Path::new("/data/depot.db"))
        );
        assert!(!normalize_url("postgres://u:p@h/db").1);
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
