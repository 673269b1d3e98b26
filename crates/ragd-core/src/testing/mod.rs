//! Deterministic stand-ins for unit and property tests of the domain, and the contract suites
//! every implementation of a port must pass (feature `test-util`). End-to-end tests use the
//! real model and stores instead.

pub mod contract_accounts;
pub mod contract_conversations;
pub mod contract_documents;
pub mod contract_index;
pub mod contract_limits;

use crate::ports::TokenCounter;

/// Counts whitespace-separated words as tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

use chrono::Utc;

use crate::types::{ChunkDraft, Document, DocumentId, Hit, Scope, SourceInfo, StoredChunk};

/// A retrieval hit over a one-chunk document with the given text and calibrated similarity.
pub fn hit(text: &str, similarity: f32) -> Hit {
    let document = Document {
        id: DocumentId::new(),
        scope: Scope::default(),
        source: SourceInfo {
            source: "test.txt".into(),
            size_bytes: text.len() as u64,
            content_hash: String::new(),
        },
        title: "test".into(),
        mime: "text/plain".into(),
        pages: None,
        chunk_count: 1,
        metadata: serde_json::Map::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let chunk = ChunkDraft {
        index: 0,
        text: text.to_owned(),
        char_start: 0,
        char_end: text.chars().count(),
        page: None,
        heading: None,
    };
    Hit {
        chunk: StoredChunk {
            key: 1,
            chunk,
            document,
        },
        cosine: Some(similarity),
        lexical: None,
        rerank: None,
        similarity,
    }
}
