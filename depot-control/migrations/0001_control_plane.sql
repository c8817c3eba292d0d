-- The control plane: organizations, users, projects, tokens, builds, trust policies and
-- pending device logins. Portable between SQLite and PostgreSQL: text ids, BIGINT integers
-- (timestamps are milliseconds since the Unix epoch).

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    region_id TEXT NOT NULL,
    keep_bytes BIGINT NOT NULL,
    keep_days BIGINT NOT NULL,
    cache_reset_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX projects_by_org ON projects (org_id);

CREATE TABLE builds (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX builds_by_project ON builds (project_id, created_at, id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    build_id TEXT REFERENCES builds (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE trust_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    claim_a TEXT NOT NULL,
    claim_b TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX trust_policies_by_project ON trust_policies (project_id);

CREATE TABLE logins (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    approved_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    delivered_at BIGINT
);
