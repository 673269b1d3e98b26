//! Conversation memory in the metadata database, beside the accounts it belongs to (see
//! [`ragd_core::conversations`]). Every statement names the tenant and the owner, so another's
//! conversation is never read, trimmed or deleted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::conversations::{
    Conversation, ConversationStore, NewTurn, Turn, conversation_id, title_of,
};
use ragd_core::types::TenantId;
use ragd_core::{Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::sqlite::{SqliteStore, db_err};

/// A conversation's columns; `row_id` is the key its turns refer to.
const CONVERSATION_SELECT: &str = "SELECT c.id AS row_id, c.client_id, t.name AS tenant, c.owner, c.title, \
    c.turns, c.created_at, c.updated_at FROM conversations c JOIN tenants t ON t.id = c.tenant_id";

/// The caller's conversations: binds the tenant's name and the owner.
const MINE: &str = "t.name = ? AND c.owner = ?";

const TURN_COLUMNS: &str = "question, standalone_question, answer, model, created_at";

fn conversation_from_row(row: &SqliteRow) -> Result<Conversation> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let turns: i64 = row.try_get("turns").map_err(db_err)?;
    Ok(Conversation {
        id: row.try_get("client_id").map_err(db_err)?,
        tenant: TenantId::parse(&tenant)?,
        owner: row.try_get("owner").map_err(db_err)?,
        title: row.try_get("title").map_err(db_err)?,
        turns: u32::try_from(turns).map_err(Error::internal)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
        updated_at: row
            .try_get::<DateTime<Utc>, _>("updated_at")
            .map_err(db_err)?,
    })
}

fn turn_from_row(row: &SqliteRow) -> Result<Turn> {
    Ok(Turn {
        question: row.try_get("question").map_err(db_err)?,
        standalone_question: row.try_get("standalone_question").map_err(db_err)?,
        answer: row.try_get("answer").map_err(db_err)?,
        model: row.try_get("model").map_err(db_err)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(db_err)?,
    })
}

/// A count as a SQL `LIMIT` (beyond `i64::MAX` is no limit anyway).
fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends `turn` to the conversation `(tenant, owner, id)` inside `tx`, keeps its newest
/// `max_turns` turns and returns it.
async fn append_in(
    tx: &mut Transaction<'_, Sqlite>,
    tenant_row: i64,
    owner: &str,
    id: &str,
    turn: &NewTurn,
    max_turns: usize,
) -> Result<Conversation> {
    let now = Utc::now();
    // The upsert comes first so that the transaction takes SQLite's write lock at once (waiting
    // for it under the busy timeout): one that read first and then wrote would fail with
    // SQLITE_BUSY when another writer committed in between.
    let row: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (tenant_id, owner, client_id, title, turns, created_at, \
         updated_at) VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (tenant_id, owner, client_id) \
         DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
    )
    .bind(tenant_row)
    .bind(owner)
    .bind(id)
    .bind(title_of(&turn.question))
    .bind(now)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO conversation_turns (conversation_id, question, standalone_question, answer, \
         model, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(row)
    .bind(&turn.question)
    .bind(&turn.standalone_question)
    .bind(&turn.answer)
    .bind(&turn.model)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "DELETE FROM conversation_turns WHERE conversation_id = ?1 AND seq NOT IN \
         (SELECT seq FROM conversation_turns WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2)",
    )
    .bind(row)
    .bind(sql_count(max_turns))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "UPDATE conversations SET turns = \
         (SELECT COUNT(*) FROM conversation_turns WHERE conversation_id = ?1) WHERE id = ?1",
    )
    .bind(row)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    let sql = format!("{CONVERSATION_SELECT} WHERE c.id = ?");
    let stored = sqlx::query(&sql)
        .bind(row)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    conversation_from_row(&stored)
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn append_turn(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
        turn: NewTurn,
        max_turns: usize,
    ) -> Result<Conversation> {
        let id = conversation_id(id)?;
        if max_turns == 0 {
            return Err(Error::invalid("a conversation must keep at least one turn"));
        }
        let tenant_row = self.tenant_row_id(tenant).await?;
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
        let conversation = append_in(&mut tx, tenant_row, owner, &id, &turn, max_turns).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(conversation)
    }

    async fn recent_turns(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
        limit: usize,
    ) -> Result<Vec<Turn>> {
        let sql = format!(
            "SELECT {TURN_COLUMNS} FROM (SELECT tu.* FROM conversation_turns tu \
             JOIN conversations c ON c.id = tu.conversation_id \
             JOIN tenants t ON t.id = c.tenant_id \
             WHERE {MINE} AND c.client_id = ? ORDER BY tu.seq DESC LIMIT ?) AS recent ORDER BY seq"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(owner)
            .bind(id)
            .bind(sql_count(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(turn_from_row).collect()
    }

    async fn get(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
    ) -> Result<(Conversation, Vec<Turn>)> {
        // One read transaction: the count and the turns come from the same snapshot.
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
        let sql = format!("{CONVERSATION_SELECT} WHERE {MINE} AND c.client_id = ?");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(owner)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::NotFound(format!("conversation {id:?}")))?;
        let conversation = conversation_from_row(&row)?;
        let row_id: i64 = row.try_get("row_id").map_err(db_err)?;
        let sql = format!(
            "SELECT {TURN_COLUMNS} FROM conversation_turns WHERE conversation_id = ? ORDER BY seq"
        );
        let turns = sqlx::query(&sql)
            .bind(row_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok((
            conversation,
            turns.iter().map(turn_from_row).collect::<Result<_>>()?,
        ))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        owner: &str,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Conversation>, u64)> {
        let mut tx = crate::sqlite::begin_write(&self.pool).await?;
        let sql = format!(
            "SELECT COUNT(*) FROM conversations c JOIN tenants t ON t.id = c.tenant_id WHERE {MINE}"
        );
        let total: i64 = sqlx::query_scalar(&sql)
            .bind(tenant.as_str())
            .bind(owner)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let sql = format!(
            "{CONVERSATION_SELECT} WHERE {MINE} ORDER BY c.updated_at DESC, c.id DESC \
             LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(owner)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok((
            rows.iter()
                .map(conversation_from_row)
                .collect::<Result<_>>()?,
            u64::try_from(total).map_err(Error::internal)?,
        ))
    }

    async fn delete(&self, tenant: &TenantId, owner: &str, id: &str) -> Result<()> {
        // Its turns go with it (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM conversations WHERE client_id = ? AND owner = ? \
             AND tenant_id = (SELECT id FROM tenants WHERE name = ?)",
        )
        .bind(id)
        .bind(owner)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("conversation {id:?}")));
        }
        Ok(())
    }
}
