-- Retention policies per repository. A repository without a row keeps tags for 7 days.
-- Exactly one of max_age_days and keep_tags is set.

CREATE TABLE registry_retention (
    repository TEXT PRIMARY KEY,
    max_age_days INTEGER,
    keep_tags INTEGER,
    updated_at BIGINT NOT NULL
);
