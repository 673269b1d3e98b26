//! The calls ragd makes to Chroma's v2 HTTP API (`/api/v2/...`, Chroma ≥ 1.0), through ragd's one
//! outbound client ([`crate::outbound`]: its timeouts, TLS roots and redirect policy). Each call
//! returns a [`Failure`] that says whether Chroma could not be reached or answered an error;
//! bodies are read with a size cap.

use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::chroma::config::ChromaConfig;
use crate::chroma::wire::{
    CollectionInfo, Failure, Page, PreFlight, Query, QueryAnswer, Records, Vectors,
};
use crate::outbound::OutboundConfig;

/// A success body larger than this is refused (a page of 1,000 ids with their metadata is about
/// 60 KB; a query answer is smaller still).
const MAX_BODY_BYTES: usize = 64 << 20;
/// An error body is read this far, for the message.
const MAX_ERROR_BYTES: usize = 16 << 10;
/// The body of a call that sends none.
const NO_BODY: Option<&Value> = None;

/// A client bound to one Chroma tenant and database.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    tenant: String,
    database: String,
}

impl Client {
    /// A client for `config`'s server, tenant and database.
    pub(crate) fn new(config: &ChromaConfig) -> anyhow::Result<Self> {
        let http = crate::outbound::client(&OutboundConfig {
            ca_file: config.ca_file.clone(),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            read_timeout: None,
        })?;
        Ok(Self {
            http,
            base: config.url.clone(),
            token: config.auth_token.clone(),
            tenant: config.tenant.clone(),
            database: config.database.clone(),
        })
    }

    /// The server's root, for messages.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `api/v2/tenants/T/databases/D` followed by `rest`.
    fn database_url(&self, rest: &[&str]) -> Url {
        let mut segments = vec![
            "api",
            "v2",
            "tenants",
            &self.tenant,
            "databases",
            &self.database,
        ];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    fn collections_url(&self, rest: &[&str]) -> Url {
        let mut segments = vec!["collections"];
        segments.extend_from_slice(rest);
        self.database_url(&segments)
    }

    #[tracing::instrument(skip_all, name = "chroma.request", fields(otel.kind = "client", http.request.method = %method))]
    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T, Failure> {
        let mut request = crate::outbound::with_trace_context(self.http.request(method, url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| Failure::unreachable(&e))?;
        let status = response.status();
        let limit = if status.is_success() {
            MAX_BODY_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::unreachable(&e))?
        {
            if bytes.len() + chunk.len() > limit {
                if status.is_success() {
                    return Err(Failure::Unreachable(format!(
                        "the answer is larger than {MAX_BODY_BYTES} bytes"
                    )));
                }
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let text = |field: &str| answer[field].as_str().unwrap_or_default().to_owned();
            let message = match text("message") {
                m if m.is_empty() => String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                m => m,
            };
            return Err(Failure::Refused {
                status,
                error: text("error"),
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Unreachable(format!("an answer that is not the expected JSON: {e}"))
        })
    }

    /// `GET /api/v2/heartbeat`.
    pub(crate) async fn heartbeat(&self) -> Result<(), Failure> {
        let _: Value = self
            .call(Method::GET, self.url(&["api", "v2", "heartbeat"]), NO_BODY)
            .await?;
        Ok(())
    }

    /// The most records one call may carry (`GET /api/v2/pre-flight-checks`).
    pub(crate) async fn max_batch_size(&self) -> Result<usize, Failure> {
        let checks: PreFlight = self
            .call(
                Method::GET,
                self.url(&["api", "v2", "pre-flight-checks"]),
                NO_BODY,
            )
            .await?;
        Ok(checks.max_batch_size)
    }

    /// Creates the tenant and its database when missing.
    pub(crate) async fn ensure_tenant_and_database(&self) -> Result<(), Failure> {
        let tenant = self.url(&["api", "v2", "tenants", &self.tenant]);
        match self.call::<Value, _>(Method::GET, tenant, NO_BODY).await {
            Err(failure) if failure.is_not_found() => {
                let url = self.url(&["api", "v2", "tenants"]);
                let body = json!({ "name": self.tenant });
                self.call::<Value, _>(Method::POST, url, Some(&body))
                    .await?;
            }
            other => {
                other?;
            }
        }
        let database = self.database_url(&[]);
        match self.call::<Value, _>(Method::GET, database, NO_BODY).await {
            Err(failure) if failure.is_not_found() => {
                let url = self.url(&["api", "v2", "tenants", &self.tenant, "databases"]);
                let body = json!({ "name": self.database });
                self.call::<Value, _>(Method::POST, url, Some(&body))
                    .await?;
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// The collection called `name`, if it exists.
    pub(crate) async fn collection(&self, name: &str) -> Result<Option<CollectionInfo>, Failure> {
        match self
            .call(Method::GET, self.collections_url(&[name]), NO_BODY)
            .await
        {
            Err(failure) if failure.is_not_found() => Ok(None),
            other => other.map(Some),
        }
    }

    /// Creates the collection `name` (or returns it, when it exists) with `metadata` and cosine
    /// distance.
    pub(crate) async fn create_collection(
        &self,
        name: &str,
        metadata: Value,
    ) -> Result<CollectionInfo, Failure> {
        let body = json!({
            "name": name,
            "get_or_create": true,
            "metadata": metadata,
            "configuration": { "hnsw": { "space": "cosine" } },
        });
        self.call(Method::POST, self.collections_url(&[]), Some(&body))
            .await
    }

    /// Deletes the collection `name` and its records (no error when it does not exist).
    pub(crate) async fn delete_collection(&self, name: &str) -> Result<(), Failure> {
        match self
            .call::<Value, _>(Method::DELETE, self.collections_url(&[name]), NO_BODY)
            .await
        {
            Err(failure) if failure.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Adds or replaces records: `{"ids", "embeddings", "metadatas"}`.
    pub(crate) async fn upsert(
        &self,
        collection: &str,
        records: &Records<'_>,
    ) -> Result<(), Failure> {
        let url = self.collections_url(&[collection, "upsert"]);
        self.call::<Value, _>(Method::POST, url, Some(records))
            .await
            .map(|_| ())
    }

    /// Deletes the records with these ids (unknown ids are no error).
    pub(crate) async fn delete(&self, collection: &str, ids: &[String]) -> Result<(), Failure> {
        let url = self.collections_url(&[collection, "delete"]);
        let body = json!({ "ids": ids });
        self.call::<Value, _>(Method::POST, url, Some(&body))
            .await
            .map(|_| ())
    }

    /// Up to `limit` records from `offset`, with their metadata.
    pub(crate) async fn page(
        &self,
        collection: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Page, Failure> {
        let url = self.collections_url(&[collection, "get"]);
        let body = json!({ "offset": offset, "limit": limit, "include": ["metadatas"] });
        self.call(Method::POST, url, Some(&body)).await
    }

    /// Number of records.
    pub(crate) async fn count(&self, collection: &str) -> Result<u64, Failure> {
        let url = self.collections_url(&[collection, "count"]);
        self.call(Method::GET, url, NO_BODY).await
    }

    /// The records matching `filter` with their vectors, when there are at most `limit` of
    /// them (`None` when there are more). Two calls: the ids first (cheap), then the vectors.
    pub(crate) async fn small_scope(
        &self,
        collection: &str,
        filter: &Value,
        limit: usize,
    ) -> Result<Option<Vec<(String, Vec<f32>)>>, Failure> {
        let url = self.collections_url(&[collection, "get"]);
        let ids = json!({ "where": filter, "limit": limit + 1, "include": [] });
        let page: Page = self.call(Method::POST, url.clone(), Some(&ids)).await?;
        if page.ids.len() > limit {
            return Ok(None);
        }
        if page.ids.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let body = json!({ "ids": page.ids, "include": ["embeddings"] });
        let found: Vectors = self.call(Method::POST, url, Some(&body)).await?;
        let vectors = found.embeddings.unwrap_or_default();
        Ok(Some(found.ids.into_iter().zip(vectors).collect()))
    }

    /// The `n` records nearest to `embedding` among those matching `filter`, with their
    /// distances, nearest first.
    pub(crate) async fn query(
        &self,
        collection: &str,
        embedding: &[f32],
        filter: Value,
        n: usize,
    ) -> Result<Vec<(String, f32)>, Failure> {
        let url = self.collections_url(&[collection, "query"]);
        let body = Query {
            query_embeddings: [embedding],
            n_results: n,
            filter,
            include: ["distances"],
        };
        let answer: QueryAnswer = self.call(Method::POST, url, Some(&body)).await?;
        let ids = answer.ids.into_iter().next().unwrap_or_default();
        let distances = answer
            .distances
            .and_then(|d| d.into_iter().next())
            .unwrap_or_default();
        Ok(ids
            .into_iter()
            .zip(distances)
            .filter_map(|(id, distance)| Some((id, distance?)))
            .collect())
    }
}
