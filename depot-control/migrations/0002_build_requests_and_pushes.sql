-- What each build was asked to do (its CreateBuildRequest, protobuf, base64), so GetPullInfo can
-- return the build's options; and the record of `depot push` runs (PushService).

ALTER TABLE builds ADD COLUMN request TEXT;

CREATE TABLE pushes (
    id TEXT PRIMARY KEY,
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX pushes_by_build ON pushes (build_id);
