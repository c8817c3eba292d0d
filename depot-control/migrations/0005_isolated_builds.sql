-- Builds started by pull requests from forks run isolated: on a builder with a throwaway cache,
-- with a build token that cannot use the project's registry. The build record says so.

ALTER TABLE builds ADD COLUMN isolated BIGINT NOT NULL DEFAULT 0;
