//! Retrieval: the search mode of a request, both rankings, their fusion, and the reading of
//! the kept chunks — behind load shedding ([`super::admission`]).

use std::collections::HashMap;

use tracing::{Instrument, instrument};

use super::{RagService, RetrieveRequest, meters};
use crate::retrieval::{Candidates, Ranked, apply_rerank};
use crate::types::{ChunkKey, CollectionId, Hit, SearchMode, StoredChunk};
use crate::{Error, Result};

/// Keys ranked beyond `k` in one-list modes when the store ranks keys (see
/// [`crate::ports::DocumentStore::ranks_keys`]), to replace keys whose rows are gone.
const SPARE_KEYS: usize = 4;

impl RagService {
    /// The mode a request runs in: its own, else the configured default; hybrid and lexical
    /// need a lexical index ([`crate::Error::Invalid`] when asked for explicitly without one).
    pub fn search_mode(&self, asked: Option<SearchMode>) -> Result<SearchMode> {
        let lexical = self.parts.store.has_lexical();
        match asked {
            Some(SearchMode::Dense) => Ok(SearchMode::Dense),
            Some(mode) if lexical => Ok(mode),
            Some(mode) => Err(Error::invalid(format!(
                "mode {:?} needs a lexical index, which this server's store does not have",
                mode.as_str()
            ))),
            None if lexical => Ok(self.parts.retrieval.default_mode),
            None => Ok(SearchMode::Dense),
        }
    }

    /// The best chunks for a question within the tenant (and collection), above the threshold.
    #[instrument(skip_all, fields(tenant = req.tenant.as_str(), k = req.k.get()), err(level = "debug"))]
    pub async fn retrieve(&self, req: &RetrieveRequest) -> Result<Vec<Hit>> {
        let mode = self.search_mode(req.mode)?;
        let settings = &self.parts.retrieval;
        let reranker = match (req.rerank, &settings.reranker) {
            (Some(true), None) => {
                return Err(Error::invalid(
                    "rerank needs a reranker model, and this server has none configured",
                ));
            }
            (Some(false), _) | (None, None) => None,
            (Some(true), Some(r)) => Some(r),
            (None, Some(r)) => settings.rerank_by_default.then_some(r),
        };
        let ticket = self.admission.admit()?;
        let collections = self
            .parts
            .store
            .collection_ids(&req.tenant, req.collection.as_deref())
            .instrument(tracing::info_span!("db.collection_ids"))
            .await?;
        if collections.is_empty() {
            return Ok(Vec::new());
        }
        let k = req.k.get();
        // A store that ranks keys reads the rows of the chunks kept only, after fusion; a few
        // spare keys let one its index still has after a delete be replaced by the next.
        let keyed = self.parts.store.ranks_keys();
        let mut depth = match mode {
            SearchMode::Dense | SearchMode::Lexical if keyed => k + SPARE_KEYS,
            SearchMode::Dense | SearchMode::Lexical => k,
            SearchMode::Hybrid => k.max(settings.candidates),
        };
        if reranker.is_some() {
            depth = depth.max(settings.rerank_candidates);
        }
        let started = std::time::Instant::now();
        // Counts as i64: an OpenTelemetry exporter would turn a u64 into a string.
        let searching = tracing::info_span!(
            "search",
            mode = mode.as_str(),
            k = k as i64,
            collections = collections.len() as i64,
            found = tracing::field::Empty
        );
        let dense = async {
            if mode == SearchMode::Lexical {
                return Ok(None);
            }
            let query = self
                .parts
                .embedder
                .embed_query(req.tenant.as_str(), req.query.clone())
                .instrument(tracing::info_span!(
                    "embed_query",
                    model = self.parts.embedder.model_id()
                ))
                .await?;
            let store = &self.parts.store;
            let found = if keyed {
                store
                    .search_keys(&query, &collections, depth)
                    .instrument(searching.clone())
                    .await?
                    .into_iter()
                    .map(|(key, cosine)| ((key, None), cosine))
                    .collect()
            } else {
                store
                    .search(&query, &collections, depth)
                    .instrument(searching.clone())
                    .await?
                    .into_iter()
                    .map(|(chunk, cosine)| ((chunk.key, Some(chunk)), cosine))
                    .collect::<Vec<_>>()
            };
            Ok::<_, Error>(Some((query, found)))
        };
        let lexical = async {
            if mode == SearchMode::Dense {
                return Ok(None);
            }
            let store = &self.parts.store;
            let span = tracing::info_span!("search_lexical", k = depth as i64);
            let found: Vec<_> = if keyed {
                store
                    .search_lexical_keys(&req.query, &collections, depth)
                    .instrument(span)
                    .await?
                    .into_iter()
                    .map(|(key, score)| ((key, None), score))
                    .collect()
            } else {
                store
                    .search_lexical(&req.query, &collections, depth)
                    .instrument(span)
                    .await?
                    .into_iter()
                    .map(|(chunk, score)| ((chunk.key, Some(chunk)), score))
                    .collect()
            };
            Ok::<_, Error>(Some(found))
        };
        let (dense, lexical) = tokio::join!(dense, lexical);
        let (dense, lexical) = (dense?, lexical?);
        let mut candidates = Candidates::default();
        let mut query = None;
        if let Some((embedded, found)) = dense {
            candidates.add_dense_keys(found);
            query = Some(embedded);
        }
        if let Some(found) = lexical {
            candidates.add_lexical_keys(found);
        }
        if let Some(query) = &query {
            let missing = candidates.without_cosine();
            if !missing.is_empty() {
                candidates.set_cosines(&self.parts.store.cosines(query, &missing).await?);
            }
        }
        let ranked = candidates.rank(settings, &self.parts.calibration);
        searching.record("found", ranked.len() as i64);
        let threshold = req.threshold.get();
        let mut hits = if let Some(reranker) = reranker {
            let mut hits = self.hydrate(&collections, ranked, depth).await?;
            let head = hits.len().min(settings.rerank_candidates);
            let passages = hits[..head]
                .iter()
                .map(|h| h.chunk.chunk.text.clone())
                .collect();
            let scores = reranker
                .score(&req.query, passages)
                .instrument(tracing::info_span!("rerank", model = reranker.model_id()))
                .await?;
            apply_rerank(&mut hits, &scores);
            hits.retain(|h| h.similarity >= threshold);
            hits
        } else {
            let kept = ranked.into_iter().filter(|r| r.similarity >= threshold);
            self.hydrate(&collections, kept.collect(), k).await?
        };
        let searched = started.elapsed();
        hits.truncate(k);
        meters::retrieved(searched, hits.len());
        ticket.answered();
        Ok(hits)
    }

    /// The first `want` of `ranked` as hits, in order: the chunks not read yet are read in one
    /// round trip; one the store no longer has (an index lagging a delete) is skipped and the
    /// next ones are read in its place.
    async fn hydrate(
        &self,
        collections: &[CollectionId],
        ranked: Vec<Ranked>,
        want: usize,
    ) -> Result<Vec<Hit>> {
        let mut hits = Vec::with_capacity(want.min(ranked.len()));
        let mut rest = ranked.into_iter().peekable();
        while hits.len() < want && rest.peek().is_some() {
            let batch: Vec<Ranked> = rest.by_ref().take(want - hits.len()).collect();
            let unread: Vec<ChunkKey> = batch
                .iter()
                .filter(|r| r.chunk.is_none())
                .map(|r| r.key)
                .collect();
            let mut rows: HashMap<ChunkKey, StoredChunk> = if unread.is_empty() {
                HashMap::new()
            } else {
                self.parts
                    .store
                    .chunks_by_keys(collections, &unread)
                    .instrument(tracing::info_span!(
                        "db.chunks_by_keys",
                        keys = unread.len() as i64
                    ))
                    .await?
                    .into_iter()
                    .map(|c| (c.key, c))
                    .collect()
            };
            for mut r in batch {
                if let Some(chunk) = r.chunk.take().or_else(|| rows.remove(&r.key)) {
                    hits.push(r.into_hit(chunk));
                }
            }
        }
        Ok(hits)
    }
}
