-- Builds in flight: when the client last reported health (or asked for its builder), and when
-- an operator asked for the build to be canceled. The steps a build ran, from the status the
-- client streams (ReportStatusStream): name, timing, cache hit and error per BuildKit vertex.

ALTER TABLE builds ADD COLUMN last_seen_at BIGINT;
ALTER TABLE builds ADD COLUMN cancel_requested_at BIGINT;
CREATE INDEX builds_running ON builds (status, last_seen_at);

CREATE TABLE build_steps (
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    name TEXT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    cached BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (build_id, digest)
);
