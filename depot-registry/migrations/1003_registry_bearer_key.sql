-- The key that signs the registry's bearer tokens (what GET /auth/token mints). Kept in the
-- database so that every replica verifies the tokens another one minted. Created on first use.

CREATE TABLE registry_signing_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
