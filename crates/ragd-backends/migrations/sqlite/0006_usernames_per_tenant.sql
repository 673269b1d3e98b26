-- Usernames are unique per tenant, not across tenants: a name taken in one tenant neither blocks
-- nor reveals the same name in another. SQLite cannot drop a UNIQUE constraint, so the table is
-- rebuilt (nothing references users by key).
CREATE TABLE users_by_tenant (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    token_epoch   INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (tenant_id, username)
);
INSERT INTO users_by_tenant (id, username, tenant_id, role, password_hash, disabled, token_epoch, created_at, updated_at)
    SELECT id, username, tenant_id, role, password_hash, disabled, token_epoch, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_by_tenant RENAME TO users;
CREATE INDEX users_username ON users (username);
