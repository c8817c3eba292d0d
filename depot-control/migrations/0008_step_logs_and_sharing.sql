-- What each build step printed, from the status the build's client streams: one row per line,
-- numbered per build in the order it arrived. `log_bytes` and `log_lines` count what a build
-- kept (its cap), and are zeroed when its logs expire. `status_observed` is 1 once the server
-- watches the build's solves on its own builders (its logs then come from there, not from the
-- client's reports). `share_token` is the secret part of a build's share link while it is
-- shared.

CREATE TABLE build_step_logs (
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    digest TEXT NOT NULL,
    logged_at BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);
CREATE INDEX build_step_logs_by_step ON build_step_logs (build_id, digest, seq);

ALTER TABLE builds ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN log_lines BIGINT NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN status_observed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN share_token TEXT;
CREATE UNIQUE INDEX builds_share_token ON builds (share_token);
CREATE INDEX builds_finished ON builds (finished_at);

-- Time saved by a cached step is what the same step (same name) took when it last ran in the
-- project.
CREATE INDEX build_steps_by_name ON build_steps (name);
