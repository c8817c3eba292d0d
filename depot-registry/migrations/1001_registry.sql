-- Registry metadata: which blobs each repository holds, its manifests (with what the referrers
-- API needs) and its tags. Content itself lives in the blob store. Portable between SQLite and
-- PostgreSQL. Version numbers start at 1001 so they never collide with depot-core's.

CREATE TABLE registry_blob_links (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_blob_links_by_digest ON registry_blob_links (digest);

CREATE TABLE registry_manifests (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_manifests_by_subject ON registry_manifests (repository, subject);

CREATE TABLE registry_tags (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository, tag)
);
