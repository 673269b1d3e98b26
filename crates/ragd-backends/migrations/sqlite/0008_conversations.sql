-- Conversation memory: a conversation is keyed by (tenant, owner, client id), so the same id
-- of another tenant or principal is another conversation. `client_id` is the id the client
-- chose; `id` is the row's, which turns refer to. `turns` counts the turns kept, for listing.
CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    owner      TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    title      TEXT NOT NULL,
    turns      INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, owner, client_id)
);

CREATE INDEX conversations_updated ON conversations (tenant_id, owner, updated_at);

-- `seq` orders the turns (timestamps may tie): a new rowid is above every row present, so a
-- conversation's turns keep their order without AUTOINCREMENT. The oldest beyond a
-- conversation's limit are deleted when a turn is appended.
CREATE TABLE conversation_turns (
    seq                 INTEGER PRIMARY KEY,
    conversation_id     INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question            TEXT NOT NULL,
    standalone_question TEXT,
    answer              TEXT NOT NULL,
    model               TEXT NOT NULL,
    created_at          TEXT NOT NULL
);

CREATE INDEX conversation_turns_of ON conversation_turns (conversation_id, seq);
