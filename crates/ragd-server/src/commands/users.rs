//! `ragd users …`: create, list, disable, enable, passwd. Passwords come from standard input or
//! `RAGD_USER_PASSWORD`, never from an argument (visible in `ps`).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ragd_core::accounts::{NewUser, Role, UserStore, Username};
use ragd_core::types::TenantId;
use secrecy::SecretString;

use crate::auth::{check_password_policy, hash_password};
use crate::cli::{PasswordArgs, UsersCommand};

fn read_password(args: &PasswordArgs) -> anyhow::Result<SecretString> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Ok(p) = std::env::var("RAGD_USER_PASSWORD") {
        p
    } else {
        bail!("give the password with --password-stdin or RAGD_USER_PASSWORD");
    };
    check_password_policy(&password)?;
    Ok(SecretString::from(password))
}

/// Runs the command.
pub(crate) async fn run(store: &dyn UserStore, cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::Create {
            username,
            admin,
            tenant,
            password,
        } => {
            let password = read_password(&password)?;
            let user = store
                .create_user(NewUser {
                    username: Username::parse(&username)?,
                    tenant: TenantId::parse(&tenant)?,
                    role: if admin { Role::Admin } else { Role::Member },
                    password_hash: hash_password(&password)?,
                })
                .await?;
            println!(
                "created {} ({} of tenant {})",
                user.username.as_str(),
                user.role.as_str(),
                user.tenant.as_str()
            );
        }
        UsersCommand::List { json } => {
            let users = store.users().await?;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({"username": u.username.as_str(), "tenant": u.tenant.as_str(), "role": u.role, "disabled": u.disabled, "created_at": u.created_at}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for u in &users {
                    let state = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<24} {:<16} {:<7} {state}",
                        u.username.as_str(),
                        u.tenant.as_str(),
                        u.role.as_str()
                    );
                }
            }
        }
        UsersCommand::Disable { username, tenant } => {
            store
                .set_disabled(&TenantId::parse(&tenant)?, &username, true)
                .await?;
            println!("disabled {username} (tenant {tenant})");
        }
        UsersCommand::Enable { username, tenant } => {
            store
                .set_disabled(&TenantId::parse(&tenant)?, &username, false)
                .await?;
            println!("enabled {username} (tenant {tenant})");
        }
        UsersCommand::Passwd {
            username,
            tenant,
            password,
        } => {
            let password = read_password(&password)?;
            store
                .set_password(
                    &TenantId::parse(&tenant)?,
                    &username,
                    &hash_password(&password)?,
                )
                .await?;
            println!("changed the password of {username} (tenant {tenant})");
        }
    }
    Ok(ExitCode::SUCCESS)
}
