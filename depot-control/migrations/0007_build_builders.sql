-- Which builder ran each platform of a build (a multi-platform build has one per
-- architecture): the architecture and the builder's endpoint, recorded when it was handed out.

CREATE TABLE build_builders (
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    arch TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    PRIMARY KEY (build_id, arch)
);
