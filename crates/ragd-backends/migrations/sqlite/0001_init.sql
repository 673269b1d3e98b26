-- ragd metadata schema. Every document belongs to a collection of a tenant from day one, so
-- isolation can be enforced without a change of meaning later.
CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE collections (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    source        TEXT NOT NULL,
    title         TEXT NOT NULL,
    mime          TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    pages         INTEGER,
    chunk_count   INTEGER NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (collection_id, source)
);

-- `key` is the vector index key. AUTOINCREMENT guarantees keys are never reused, so the index
-- can be reconciled with this table after a crash (keys above its high-water mark are new, keys
-- it holds that are gone here were deleted).
CREATE TABLE chunks (
    key           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id   TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    idx           INTEGER NOT NULL,
    text          TEXT NOT NULL,
    char_start    INTEGER NOT NULL,
    char_end      INTEGER NOT NULL,
    page          INTEGER,
    heading       TEXT,
    embedding     BLOB NOT NULL,
    UNIQUE (document_id, idx)
);

CREATE INDEX chunks_collection ON chunks (collection_id);
CREATE INDEX documents_updated ON documents (collection_id, updated_at);
