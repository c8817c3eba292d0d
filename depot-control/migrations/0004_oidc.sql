-- CI identity (OIDC). Project tokens minted from a CI token remember the trust policy that
-- allowed them, so removing the policy revokes them. Each exchanged CI token is remembered until
-- it expires, so it cannot be exchanged twice.

ALTER TABLE tokens ADD COLUMN trust_policy_id TEXT;
CREATE INDEX tokens_by_trust_policy ON tokens (trust_policy_id);
CREATE INDEX trust_policies_by_provider ON trust_policies (provider);

CREATE TABLE oidc_exchanges (
    issuer TEXT NOT NULL,
    token_key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, token_key)
);
CREATE INDEX oidc_exchanges_by_expiry ON oidc_exchanges (expires_at);
