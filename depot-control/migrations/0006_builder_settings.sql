-- A project's builder settings (depot-rs's own): how many builds one of its builders runs at
-- once before another builder is started for it, and how many builders (per architecture) it
-- may have. NULL: the server's defaults.

ALTER TABLE projects ADD COLUMN builds_per_builder BIGINT;
ALTER TABLE projects ADD COLUMN max_builders BIGINT;
