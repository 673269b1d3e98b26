//! Users in the same database as the documents, so one backup holds all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::accounts::{NewUser, Role, User, UserStore, Username};
use ragd_core::types::{CollectionName, Scope, TenantId};
use ragd_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::postgres::retry::retrying;
use crate::postgres::{PgStore, db_err};

/// The columns of a user row (alias `u`) with its tenant's name (alias `t`).
const USER_COLUMNS: &str = "SELECT u.id, u.username, t.name AS tenant, u.role, \
    u.password_hash, u.disabled, u.token_epoch, u.created_at";
/// The tables [`USER_COLUMNS`] reads from.
const USER_FROM: &str = "FROM users u JOIN tenants t ON t.id = u.tenant_id";

fn user_from_row(row: &PgRow) -> Result<User> {
    let username: String = row.try_get("username").map_err(db_err)?;
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let role: String = row.try_get("role").map_err(db_err)?;
    Ok(User {
        id: row.try_get("id").map_err(db_err)?,
        username: Username::parse(&username)?,
        tenant: TenantId::parse(&tenant)?,
        role: Role::parse(&role)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
        disabled: row.try_get("disabled").map_err(db_err)?,
        token_epoch: row.try_get("token_epoch").map_err(db_err)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
    })
}

/// What [`PgStore::update_user`] changes (and bumps the token epoch for).
#[derive(Clone, Copy)]
enum UserChange<'a> {
    Disabled(bool),
    Password(&'a str),
}

impl PgStore {
    /// The row id of a tenant, creating it (with its default collection, as the SQLite store
    /// does) if needed.
    pub(crate) async fn tenant_row_id(&self, tenant: &TenantId) -> Result<i64> {
        let scope = Scope {
            tenant: tenant.clone(),
            collection: CollectionName::default(),
        };
        self.collection_id(&scope).await?;
        retrying("tenant_row_id", || async {
            Ok(sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
                .bind(tenant.as_str())
                .fetch_one(&self.pool)
                .await?)
        })
        .await
    }

    async fn users_where(&self, clause: &str, bind: Option<&str>) -> Result<Vec<User>> {
        let sql = format!("{USER_COLUMNS} {USER_FROM} {clause}");
        let rows = retrying("users", || async {
            let mut query = sqlx::query(&sql);
            if let Some(value) = bind {
                query = query.bind(value);
            }
            Ok(query.fetch_all(&self.pool).await?)
        })
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Applies `change` and bumps the token epoch. Retried like a read: running it twice sets
    /// the same value, and a second bump invalidates no token the first did not.
    async fn update_user(
        &self,
        tenant: &TenantId,
        username: &str,
        change: UserChange<'_>,
    ) -> Result<User> {
        let set = match change {
            UserChange::Disabled(_) => "disabled = $3",
            UserChange::Password(_) => "password_hash = $3",
        };
        let sql = format!(
            "WITH u AS (UPDATE users SET {set}, token_epoch = token_epoch + 1, updated_at = now() \
             WHERE username = $1 AND tenant_id = (SELECT id FROM tenants WHERE name = $2) \
             RETURNING *) {USER_COLUMNS} FROM u JOIN tenants t ON t.id = u.tenant_id"
        );
        let row = retrying("update_user", || async {
            let query = sqlx::query(&sql).bind(username).bind(tenant.as_str());
            let query = match change {
                UserChange::Disabled(disabled) => query.bind(disabled),
                UserChange::Password(hash) => query.bind(hash),
            };
            Ok(query.fetch_optional(&self.pool).await?)
        })
        .await?;
        let row = row.ok_or_else(|| {
            Error::NotFound(format!("user {username:?} of tenant {:?}", tenant.as_str()))
        })?;
        user_from_row(&row)
    }
}

impl PgStore {
    /// Copies a user as it is (id, password hash, role, state, token epoch, creation time) for
    /// `ragd migrate`; `false` when a user with that id or that name in that tenant exists.
    pub async fn import_user(&self, user: &User) -> Result<bool> {
        let tenant = self.tenant_row_id(&user.tenant).await?;
        let done = sqlx::query(
            "INSERT INTO users (id, username, tenant_id, role, password_hash, disabled, \
             token_epoch, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(user.username.as_str())
        .bind(tenant)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(user.disabled)
        .bind(user.token_epoch)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let tenant = self.tenant_row_id(&user.tenant).await?;
        // Not retried: after a lost connection the first attempt may have created the user,
        // and a second would answer "already exists".
        let sql = format!(
            "WITH u AS (INSERT INTO users (id, username, tenant_id, role, password_hash, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, now(), now()) \
             ON CONFLICT (tenant_id, username) DO NOTHING RETURNING *) \
             {USER_COLUMNS} FROM u JOIN tenants t ON t.id = u.tenant_id"
        );
        let row = sqlx::query(&sql)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(user.username.as_str())
            .bind(tenant)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => user_from_row(&row),
            None => Err(Error::Conflict(format!(
                "user {:?} already exists",
                user.username.as_str()
            ))),
        }
    }

    async fn user(&self, tenant: &TenantId, username: &str) -> Result<Option<User>> {
        let sql = format!("{USER_COLUMNS} {USER_FROM} WHERE u.username = $1 AND t.name = $2");
        let row = retrying("user", || async {
            Ok(sqlx::query(&sql)
                .bind(username)
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?)
        })
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users_named(&self, username: &str) -> Result<Vec<User>> {
        self.users_where("WHERE u.username = $1 ORDER BY t.name", Some(username))
            .await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.users_where("ORDER BY u.username", None).await
    }

    async fn set_disabled(
        &self,
        tenant: &TenantId,
        username: &str,
        disabled: bool,
    ) -> Result<User> {
        self.update_user(tenant, username, UserChange::Disabled(disabled))
            .await
    }

    async fn set_password(
        &self,
        tenant: &TenantId,
        username: &str,
        password_hash: &str,
    ) -> Result<User> {
        self.update_user(tenant, username, UserChange::Password(password_hash))
            .await
    }
}
