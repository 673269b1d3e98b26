//! `ragd documents list|show|delete`.

use std::process::ExitCode;

use ragd_backends::Node;
use ragd_core::ports::DocumentFilter;
use ragd_core::types::{DocumentId, TenantId};

use crate::cli::DocumentsCommand;
use crate::convert;

/// Runs the command.
pub(crate) async fn run(node: &Node, cmd: DocumentsCommand) -> anyhow::Result<ExitCode> {
    let service = &node.service;
    match cmd {
        DocumentsCommand::List {
            tenant,
            collection,
            limit,
            offset,
            json,
        } => {
            let tenant = TenantId::parse(&tenant)?;
            let filter = DocumentFilter {
                collection,
                limit: limit.clamp(1, 1000),
                offset,
            };
            let (docs, total) = service.documents(&tenant, &filter).await?;
            if json {
                let docs: Vec<_> = docs.iter().map(convert::document).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"total": total, "documents": docs})
                    )?
                );
            } else {
                for d in &docs {
                    println!(
                        "{}  {:>5} chunks  {:<12} {}",
                        d.id,
                        d.chunk_count,
                        d.scope.collection.as_str(),
                        d.source.source
                    );
                }
                println!("{} of {total} document(s)", docs.len());
            }
        }
        DocumentsCommand::Show {
            id,
            tenant,
            chunks,
            json,
        } => {
            let (tenant, id) = (TenantId::parse(&tenant)?, DocumentId::parse(&id)?);
            let doc = service.document(&tenant, id).await?;
            let chunk_list = if chunks {
                service.chunks(&tenant, id).await?
            } else {
                Vec::new()
            };
            if json {
                let chunk_json: Vec<_> = chunk_list
                    .iter()
                    .map(|c| serde_json::to_value(&c.chunk))
                    .collect::<Result<_, _>>()?;
                let value =
                    serde_json::json!({"document": convert::document(&doc), "chunks": chunk_json});
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&convert::document(&doc))?
                );
                for c in &chunk_list {
                    println!(
                        "--- chunk {} [{}..{}] {}",
                        c.chunk.index,
                        c.chunk.char_start,
                        c.chunk.char_end,
                        c.chunk.heading.as_deref().unwrap_or("")
                    );
                    println!("{}", c.chunk.text);
                }
            }
        }
        DocumentsCommand::Delete { id, tenant } => {
            let doc = service
                .delete_document(&TenantId::parse(&tenant)?, DocumentId::parse(&id)?)
                .await?;
            println!(
                "deleted {} ({}, {} chunks)",
                doc.id, doc.source.source, doc.chunk_count
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
