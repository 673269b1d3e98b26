//! `ragd query "…"`: retrieve, answer (with the configured generator), print it (or the chapter's
//! `QueryResponse` JSON with `--json`).

use std::process::ExitCode;
use std::time::Instant;

use ragd_backends::Node;
use ragd_core::service::RetrieveRequest;
use ragd_core::types::{TenantId, Threshold, TopK};

use crate::cli::QueryArgs;
use crate::convert;

/// Runs the command.
pub(crate) async fn run(node: &Node, args: QueryArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let query = args.query.trim().to_owned();
    if query.is_empty() {
        anyhow::bail!("the question is empty");
    }
    let request = RetrieveRequest {
        tenant: TenantId::parse(&args.tenant)?,
        collection: args.collection.clone(),
        query: query.clone(),
        k: TopK::new(args.k)?,
        threshold: Threshold::new(args.threshold)?,
        mode: args.mode,
        rerank: args.rerank,
    };
    let guarded = node
        .service
        .guarded_query(&request, false, None, None)
        .await?;
    let response = convert::query_response(
        uuid_like(),
        query,
        &guarded.outcome,
        started,
        guarded.triggered,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}\n", response.answer);
    println!(
        "confidence {:.2}   ({:.0} ms)",
        response.confidence,
        response.processing_time * 1000.0
    );
    for (n, s) in response.sources.iter().enumerate() {
        let field = |k: &str| {
            s.metadata
                .get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let page = field("page").map(|p| format!(" p.{p}")).unwrap_or_default();
        println!(
            "[{}] {:.2}  {}{}  ({})",
            n + 1,
            s.similarity,
            field("title").unwrap_or_default(),
            page,
            field("source").unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn uuid_like() -> String {
    ragd_core::types::DocumentId::new().to_string()
}
