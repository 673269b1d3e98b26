-- ragd on PostgreSQL: the final SQLite schema (migrations/sqlite 0001-0007) in one step, with
-- PostgreSQL's own types: identities for keys, uuid document ids, timestamptz, jsonb, and the
-- embeddings in the chunks table as pgvector vectors searched through an HNSW index.
--
-- `vector` needs a superuser to create; where ragd's role is not one, a DBA runs
-- `CREATE EXTENSION vector` once beforehand and this statement does nothing.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

-- Collection ids are ragd's `CollectionId` (u32): the identity never reaches 2^32 in practice,
-- and the store checks the conversion.
CREATE TABLE collections (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE documents (
    id            UUID PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections (id),
    source        TEXT NOT NULL,
    title         TEXT NOT NULL,
    mime          TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    content_hash  TEXT NOT NULL,
    pages         INTEGER,
    chunk_count   INTEGER NOT NULL,
    metadata      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (collection_id, source)
);

CREATE INDEX documents_updated ON documents (collection_id, updated_at);

-- `key` is ragd's `ChunkKey`; an identity is never reused. `collection_id` is copied from the
-- document so the vector search filters on the chunks table alone. The dimension is that of
-- all-MiniLM-L6-v2 (384); another model needs a migration that changes the column and rebuilds
-- the index. `embedding` is nullable only so that `ragd check` can report a chunk that lacks one.
CREATE TABLE chunks (
    key           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id   UUID NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    collection_id BIGINT NOT NULL REFERENCES collections (id),
    idx           INTEGER NOT NULL,
    text          TEXT NOT NULL,
    char_start    BIGINT NOT NULL,
    char_end      BIGINT NOT NULL,
    page          INTEGER,
    heading       TEXT,
    embedding     vector(384),
    UNIQUE (document_id, idx)
);

-- A small collection among large ones is searched exactly through this index (the planner picks
-- it when few rows match); the others go through HNSW with an iterative scan.
CREATE INDEX chunks_collection ON chunks (collection_id);

-- pgvector's default build parameters, written out: m = 16 links per node, ef_construction = 64.
CREATE INDEX chunks_embedding ON chunks USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

-- Users who may log in (argon2id PHC hashes only); a username is unique within its tenant.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    tenant_id     BIGINT NOT NULL REFERENCES tenants (id),
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    token_epoch   BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, username)
);

CREATE INDEX users_username ON users (username);

-- API keys: looked up by their public prefix; the secret is stored as a SHA-256 hash only.
-- `owner` is the user who created the key (NULL: an operator or an identity-provider token).
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    scopes      TEXT[] NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    owner       TEXT
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- Background ingestion jobs. `attempt_file`/`attempts`: how many times the worker has started the
-- job's next file, so a file that keeps stopping the process is failed instead of retried forever.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES collections (id),
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    total_files   INTEGER NOT NULL,
    files         JSONB NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    attempt_file  INTEGER NOT NULL DEFAULT -1,
    attempts      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX jobs_unfinished ON jobs (status, created_at);

-- The event outbox: every write records the domain events it causes in its own transaction.
-- Writers take a lock before inserting events (see postgres/write.rs), so `seq` order is commit
-- order and a reader that resumes after a `seq` never skips an event committed later.
CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_created ON events (created_at);
