//! Conversation memory in the shared database (see [`ragd_core::conversations`]): whichever
//! instance answered a turn, every instance sees the history. Every statement names the tenant
//! and the owner, so another's conversation is never read, trimmed or deleted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ragd_core::conversations::{
    Conversation, ConversationStore, NewTurn, Turn, conversation_id, title_of,
};
use ragd_core::types::TenantId;
use ragd_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::postgres::retry::{Failure, retrying};
use crate::postgres::{PgStore, db_err};

/// A conversation's columns; `row_id` is the key its turns refer to.
const CONVERSATION_SELECT: &str = "SELECT c.id AS row_id, c.client_id, t.name AS tenant, \
    c.owner, c.title, c.turns, c.created_at, c.updated_at \
    FROM conversations c JOIN tenants t ON t.id = c.tenant_id";

/// The caller's conversations: binds the tenant's name (`$1`) and the owner (`$2`).
const MINE: &str = "t.name = $1 AND c.owner = $2";

const TURN_COLUMNS: &str = "question, standalone_question, answer, model, created_at";

/// Makes a read transaction see one snapshot: a conversation's count and its turns, or a
/// page and its total, then agree even while turns are appended.
const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

fn conversation_from_row(row: &PgRow) -> Result<Conversation> {
    let tenant: String = row.try_get("tenant").map_err(db_err)?;
    let turns: i32 = row.try_get("turns").map_err(db_err)?;
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

fn turn_from_row(row: &PgRow) -> Result<Turn> {
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

/// One attempt of an append: the upsert, the new turn, the trim and the count in one
/// transaction. Retried as a whole: until the commit nothing is kept, and a failed commit is
/// final.
async fn append_once(
    store: &PgStore,
    tenant_row: i64,
    owner: &str,
    id: &str,
    turn: &NewTurn,
    max_turns: usize,
) -> Result<Conversation, Failure> {
    let mut tx = store.pool.begin().await?;
    // Two first turns of one conversation at once: the second waits on the first's row and
    // then updates it instead of failing on the unique key. The row stays locked until the
    // commit, so appends to one conversation take turns and the trim counts every turn.
    let row: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (tenant_id, owner, client_id, title, turns, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 0, now(), now()) \
         ON CONFLICT (tenant_id, owner, client_id) DO UPDATE SET updated_at = now() \
         RETURNING id",
    )
    .bind(tenant_row)
    .bind(owner)
    .bind(id)
    .bind(title_of(&turn.question))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO conversation_turns (conversation_id, question, standalone_question, answer, \
         model, created_at) VALUES ($1, $2, $3, $4, $5, now())",
    )
    .bind(row)
    .bind(&turn.question)
    .bind(&turn.standalone_question)
    .bind(&turn.answer)
    .bind(&turn.model)
    .execute(&mut *tx)
    .await?;
    let conversation = trim(&mut tx, row, max_turns).await?;
    tx.commit().await.map_err(|e| Failure::Final(db_err(e)))?;
    Ok(conversation)
}

/// Keeps the newest `max_turns` turns of conversation `row`, records how many it has and
/// returns it.
async fn trim(
    conn: &mut PgConnection,
    row: i64,
    max_turns: usize,
) -> Result<Conversation, Failure> {
    sqlx::query(
        "DELETE FROM conversation_turns WHERE conversation_id = $1 AND seq NOT IN \
         (SELECT seq FROM conversation_turns WHERE conversation_id = $1 \
         ORDER BY seq DESC LIMIT $2)",
    )
    .bind(row)
    .bind(sql_count(max_turns))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE conversations SET turns = \
         (SELECT COUNT(*) FROM conversation_turns WHERE conversation_id = $1) WHERE id = $1",
    )
    .bind(row)
    .execute(&mut *conn)
    .await?;
    let sql = format!("{CONVERSATION_SELECT} WHERE c.id = $1");
    let stored = sqlx::query(&sql).bind(row).fetch_one(&mut *conn).await?;
    Ok(conversation_from_row(&stored)?)
}

#[async_trait]
impl ConversationStore for PgStore {
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
        retrying("append_turn", || {
            append_once(self, tenant_row, owner, &id, &turn, max_turns)
        })
        .await
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
             WHERE {MINE} AND c.client_id = $3 ORDER BY tu.seq DESC LIMIT $4) AS recent \
             ORDER BY seq"
        );
        let rows = retrying("recent_turns", || async {
            Ok(sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(owner)
                .bind(id)
                .bind(sql_count(limit))
                .fetch_all(&self.pool)
                .await?)
        })
        .await?;
        rows.iter().map(turn_from_row).collect()
    }

    async fn get(
        &self,
        tenant: &TenantId,
        owner: &str,
        id: &str,
    ) -> Result<(Conversation, Vec<Turn>)> {
        let conversation_sql = format!("{CONVERSATION_SELECT} WHERE {MINE} AND c.client_id = $3");
        let turns_sql = format!(
            "SELECT {TURN_COLUMNS} FROM conversation_turns WHERE conversation_id = $1 ORDER BY seq"
        );
        retrying("get_conversation", || async {
            // A read-only transaction: its commit may fail and be retried like any statement.
            let mut tx = self.pool.begin().await?;
            sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
            let row = sqlx::query(&conversation_sql)
                .bind(tenant.as_str())
                .bind(owner)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("conversation {id:?}")))?;
            let row_id: i64 = row.try_get("row_id")?;
            let turns = sqlx::query(&turns_sql)
                .bind(row_id)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((
                conversation_from_row(&row)?,
                turns.iter().map(turn_from_row).collect::<Result<_>>()?,
            ))
        })
        .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        owner: &str,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Conversation>, u64)> {
        let count_sql = format!(
            "SELECT COUNT(*) FROM conversations c JOIN tenants t ON t.id = c.tenant_id WHERE {MINE}"
        );
        let page_sql = format!(
            "{CONVERSATION_SELECT} WHERE {MINE} ORDER BY c.updated_at DESC, c.id DESC \
             LIMIT $3 OFFSET $4"
        );
        let (total, rows) = retrying("list_conversations", || async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(SNAPSHOT).execute(&mut *tx).await?;
            let total: i64 = sqlx::query_scalar(&count_sql)
                .bind(tenant.as_str())
                .bind(owner)
                .fetch_one(&mut *tx)
                .await?;
            let rows = sqlx::query(&page_sql)
                .bind(tenant.as_str())
                .bind(owner)
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((total, rows))
        })
        .await?;
        Ok((
            rows.iter()
                .map(conversation_from_row)
                .collect::<Result<_>>()?,
            u64::try_from(total).map_err(Error::internal)?,
        ))
    }

    async fn delete(&self, tenant: &TenantId, owner: &str, id: &str) -> Result<()> {
        // Not retried: after a lost connection the delete may have happened, and a second
        // attempt would answer "not found". Its turns go with it (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM conversations WHERE client_id = $1 AND owner = $2 \
             AND tenant_id = (SELECT id FROM tenants WHERE name = $3)",
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
