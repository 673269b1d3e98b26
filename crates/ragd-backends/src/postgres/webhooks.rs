//! [`WebhookStore`] on PostgreSQL: many instances claim deliveries at once, each taking due rows
//! with `FOR UPDATE SKIP LOCKED`, so no delivery is sent by two of them at the same time.

use std::time::Duration;

use async_trait::async_trait;
use ragd_core::types::TenantId;
use ragd_core::webhooks::{
    Attempt, ClaimedDelivery, Delivery, DeliveryStatus, EventType, NewWebhook, Notice, Webhook,
    WebhookPatch, WebhookStore,
};
use ragd_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use crate::postgres::PgStore;
use crate::postgres::retry::db_err;
use crate::webhook_rows::{
    DELIVERY_COLUMNS, DeliveryRow, WEBHOOK_COLUMNS, WebhookRow, delivery_id, from_millis, millis,
    now_millis,
};

fn webhook(row: &PgRow) -> Result<Webhook> {
    WebhookRow::from_row(row).map_err(db_err)?.into_webhook()
}

fn delivery(row: &PgRow) -> Result<Delivery> {
    DeliveryRow::from_row(row).map_err(db_err)?.into_delivery()
}

/// Queues `notices` in `tx`: one delivery per subscribed active webhook of each one's tenant.
pub(crate) async fn enqueue_in(tx: &mut sqlx::PgConnection, notices: &[Notice]) -> Result<u64> {
    let now = now_millis();
    let mut queued = 0;
    for notice in notices {
        queued += sqlx::query(
            "INSERT INTO webhook_deliveries \
             (id, webhook_id, tenant, event_type, body, traceparent, next_attempt_at, created_at) \
             SELECT 'msg_' || substr(md5(random()::text || clock_timestamp()::text), 1, 24), id, tenant, $1, $2, $3, $4, $4 \
             FROM webhooks WHERE tenant = $5 AND active AND strpos(events, $6) > 0",
        )
        .bind(notice.event_type.as_str())
        .bind(&notice.body)
        .bind(&notice.traceparent)
        .bind(now)
        .bind(notice.tenant.as_str())
        .bind(notice.event_type.needle())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    Ok(queued)
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook(&self, new: NewWebhook, max_per_tenant: u32) -> Result<Webhook> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // One registration per tenant at a time: under READ COMMITTED two concurrent counts
        // would both pass the limit. The lock ends with the transaction.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('ragd.webhooks:' || $1, 0))")
            .bind(new.tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE tenant = $1")
            .bind(new.tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if count >= i64::from(max_per_tenant) {
            return Err(Error::Conflict(format!(
                "tenant {} already has {count} webhooks (RAGD_WEBHOOK_MAX_PER_TENANT)",
                new.tenant.as_str()
            )));
        }
        let now = now_millis();
        sqlx::query(
            "INSERT INTO webhooks (id, tenant, owner, url, events, secret, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8)",
        )
        .bind(&new.id)
        .bind(new.tenant.as_str())
        .bind(&new.owner)
        .bind(&new.url)
        .bind(EventType::encode_list(&new.events))
        .bind(&new.secret)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.webhook(&new.tenant, &new.id).await
    }

    async fn webhooks(&self, tenant: &TenantId) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(webhook).collect()
    }

    async fn webhook(&self, tenant: &TenantId, id: &str) -> Result<Webhook> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE tenant = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref()
            .map(webhook)
            .unwrap_or_else(|| Err(Error::NotFound(format!("webhook {id}"))))
    }

    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        patch: WebhookPatch,
    ) -> Result<Webhook> {
        let (set_secret, secret) = match patch.secret {
            Some(secret) => (true, secret),
            None => (false, None),
        };
        let updated = sqlx::query(
            "UPDATE webhooks SET url = coalesce($1, url), events = coalesce($2, events), \
             secret = CASE WHEN $3::boolean THEN $4 ELSE secret END, active = coalesce($5, active), \
             updated_at = $6 WHERE tenant = $7 AND id = $8",
        )
        .bind(&patch.url)
        .bind(patch.events.as_deref().map(EventType::encode_list))
        .bind(set_secret)
        .bind(secret)
        .bind(patch.active)
        .bind(now_millis())
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound(format!("webhook {id}")));
        }
        self.webhook(tenant, id).await
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let deleted = sqlx::query("DELETE FROM webhooks WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::NotFound(format!("webhook {id}")));
        }
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn subscriptions(&self) -> Result<Vec<(TenantId, Vec<EventType>)>> {
        let rows = sqlx::query("SELECT tenant, events FROM webhooks WHERE active")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let tenant: String = row.try_get("tenant").map_err(db_err)?;
                let events: String = row.try_get("events").map_err(db_err)?;
                Ok((TenantId::parse(&tenant)?, EventType::decode_list(&events)))
            })
            .collect()
    }

    async fn enqueue(&self, notices: &[Notice]) -> Result<u64> {
        if notices.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let queued = enqueue_in(&mut tx, notices).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(queued)
    }

    async fn enqueue_test(&self, tenant: &TenantId, id: &str, body: &str) -> Result<String> {
        let delivery = delivery_id();
        let now = now_millis();
        let queued = sqlx::query(
            "INSERT INTO webhook_deliveries \
             (id, webhook_id, tenant, event_type, body, next_attempt_at, created_at) \
             SELECT $1, id, tenant, $2, $3, $4, $4 FROM webhooks WHERE tenant = $5 AND id = $6",
        )
        .bind(&delivery)
        .bind(EventType::WebhookTest.as_str())
        .bind(body)
        .bind(now)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if queued.rows_affected() == 0 {
            return Err(Error::NotFound(format!("webhook {id}")));
        }
        Ok(delivery)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
        _per_webhook: u32,
    ) -> Result<Vec<ClaimedDelivery>> {
        // SKIP LOCKED cannot be combined with a per-webhook window; the worker gives back what
        // exceeds its bound.
        let now = now_millis();
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
               AND (d.lease_until IS NULL OR d.lease_until < $3) AND w.active \
               ORDER BY d.next_attempt_at LIMIT $4 FOR UPDATE OF d SKIP LOCKED) \
             RETURNING id, webhook_id, body, event_type, attempts, created_at, traceparent",
        )
        .bind(owner)
        .bind(now + millis(lease))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut targets = crate::webhook_rows::Targets::default();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let webhook_id: String = row.try_get("webhook_id").map_err(db_err)?;
            if !targets.has(&webhook_id) {
                let target = sqlx::query("SELECT url, secret FROM webhooks WHERE id = $1")
                    .bind(&webhook_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(|t| {
                        Ok::<_, Error>((
                            t.try_get("url").map_err(db_err)?,
                            t.try_get("secret").map_err(db_err)?,
                        ))
                    })
                    .transpose()?;
                targets.insert(&webhook_id, target);
            }
            let Some((url, secret)) = targets.get(&webhook_id) else {
                continue; // deleted meanwhile: its deliveries went with it
            };
            claimed.push(ClaimedDelivery {
                id: row.try_get("id").map_err(db_err)?,
                webhook_id,
                url,
                secret,
                body: row.try_get("body").map_err(db_err)?,
                event_type: row.try_get("event_type").map_err(db_err)?,
                attempts: u32::try_from(row.try_get::<i32, _>("attempts").map_err(db_err)?)
                    .unwrap_or(u32::MAX),
                created_at: from_millis(row.try_get("created_at").map_err(db_err)?),
                traceparent: row.try_get("traceparent").map_err(db_err)?,
            });
        }
        Ok(claimed)
    }

    async fn finish_deliveries(&self, owner: &str, attempts: &[(String, Attempt)]) -> Result<u32> {
        let now = now_millis();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut recorded = 0;
        for (id, attempt) in attempts {
            let (status, next, code, error, disable) = match attempt.clone() {
                Attempt::Delivered { status } => ("delivered", now, Some(status), None, false),
                Attempt::Retry {
                    status,
                    error,
                    next_at,
                } => (
                    "pending",
                    next_at.timestamp_millis(),
                    status,
                    Some(error),
                    false,
                ),
                Attempt::Dead {
                    status,
                    error,
                    disable,
                } => ("dead", now, status, Some(error), disable),
            };
            let finished = (status != "pending").then_some(now);
            let updated = sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             next_attempt_at = $2, last_status = $3, last_error = $4, finished_at = $5, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = $6 AND lease_owner = $7 AND status = 'pending' RETURNING webhook_id",
            )
            .bind(status)
            .bind(next)
            .bind(code.map(i32::from))
            .bind(error)
            .bind(finished)
            .bind(id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            let Some(row) = updated else {
                continue; // no longer ours: another instance holds it now
            };
            if disable {
                let webhook: String = row.try_get("webhook_id").map_err(db_err)?;
                sqlx::query("UPDATE webhooks SET active = FALSE, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(webhook)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            recorded += 1;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(recorded)
    }

    async fn release_deliveries(&self, ids: &[String], owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE id = ANY($1) AND lease_owner = $2",
        )
        .bind(ids)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.webhook(tenant, webhook_id).await?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant = $1 AND webhook_id = $2 \
             AND ($3::text IS NULL OR status = $3) ORDER BY created_at DESC, id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(webhook_id)
            .bind(status.map(DeliveryStatus::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(delivery).collect()
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn prune_deliveries(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64> {
        let deleted = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE finished_at IS NOT NULL AND finished_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before.timestamp_millis())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(deleted.rows_affected())
    }
}
