-- Web dashboard sessions: the hash of the session cookie's secret, the hash of the API token the
-- user signed in with (the session dies with that token), the form token that state-changing
-- forms must carry (CSRF), and when the session expires.

CREATE TABLE dashboard_sessions (
    secret_hash TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
