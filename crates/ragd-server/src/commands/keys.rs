//! `ragd keys …`: create, list, revoke API keys from the command line (the same as `/keys`).

use std::process::ExitCode;

use ragd_core::accounts::{AccessScope, ApiKeyStore};
use ragd_core::types::TenantId;

use crate::cli::KeysCommand;

/// Runs the command.
pub(crate) async fn run(store: &dyn ApiKeyStore, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Create {
            name,
            scopes,
            tenant,
            expires_in_seconds,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| AccessScope::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let expires_at = match expires_in_seconds {
                Some(secs) => {
                    Some(chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(secs)?))
                }
                None => None,
            };
            // An operator's key: no owning user.
            let issued = crate::api_keys::issue(crate::api_keys::KeySpec {
                tenant: TenantId::parse(&tenant)?,
                name,
                scopes,
                expires_at,
                owner: None,
            });
            let key = store.create_key(issued.key).await?;
            eprintln!(
                "created key {} (id {}); it is shown only now:",
                key.prefix, key.id
            );
            println!("{}", issued.secret);
        }
        KeysCommand::List { tenant, json } => {
            let keys = store.keys(&TenantId::parse(&tenant)?).await?;
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({"id": k.id, "prefix": k.prefix, "name": k.name,
                        "scopes": k.scopes, "created_at": k.created_at, "expires_at": k.expires_at,
                        "revoked_at": k.revoked_at})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for k in &keys {
                    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {:<14} {:<24} {:<30} {state}",
                        k.id,
                        k.prefix,
                        k.name,
                        scopes.join(",")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, tenant } => {
            store.revoke_key(&TenantId::parse(&tenant)?, &id).await?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
