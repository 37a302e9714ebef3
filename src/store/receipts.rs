//! What became of a reply after the platform accepted it: its delivery receipts (WhatsApp's
//! `sent`, `delivered`, `read`, `failed`), and replies given up on. Each is recorded on the
//! outbox row and published as an event (`message.delivered`, `message.read`,
//! `message.failed`) in the same transaction.

use crate::model::ids::{AccountId, BotId};
use serde_json::{Value, json};
use uuid::Uuid;

use super::platform_events::{PlatformEvent, publish_platform_events};
use super::{Store, StoreError, StoreResult, new_id, now_ms, on_db};

/// A receipt as the platform reported it.
#[derive(Clone, Debug)]
pub struct Receipt<'a> {
    /// The platform's id of the bot's message.
    pub message_id: &'a str,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: &'a str,
    /// The platform's error (`failed`), as JSON.
    pub error: Option<Value>,
    /// When the platform says it happened (ms), if it says.
    pub at_ms: Option<i64>,
}

/// What recording a receipt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// No reply of the bot has this message id (not sent by hookline, or deleted since).
    Unknown,
    /// The reply is already at this status or a later one (receipts arrive out of order and
    /// are redelivered): nothing changed, nothing published.
    Stale,
    /// Recorded; the event published, if the status has one.
    Recorded {
        outbox_id: Uuid,
        event: Option<&'static str>,
    },
}

/// Receipts only move forward: a late `delivered` after `read` changes nothing, and `failed`
/// is final.
fn rank(status: Option<&str>) -> u8 {
    match status {
        None => 0,
        Some("sent") => 1,
        Some("delivered") => 2,
        Some("read") => 3,
        Some("failed") => 4,
        Some(_) => 0,
    }
}

fn event_of(status: &str) -> Option<&'static str> {
    match status {
        "delivered" => Some("message.delivered"),
        "read" => Some("message.read"),
        "failed" => Some("message.failed"),
        _ => None,
    }
}

/// The platform's id of a sent reply, from the adapter's record of the send
/// (`{"message_id": "…"}`); `None` for platforms that send no receipts.
pub(crate) fn reply_message_id(response: &str) -> Option<String> {
    if !response.contains("\"message_id\"") {
        return None;
    }
    serde_json::from_str::<Value>(response)
        .ok()?
        .get("message_id")?
        .as_str()
        .map(str::to_string)
}

/// One reply of a chat, as the outbox holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReplyRow {
    pub id: Uuid,
    pub call: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub response: Option<String>,
    pub platform_message_id: Option<String>,
    pub receipt: Option<String>,
    pub receipt_at: Option<i64>,
    pub receipt_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    chat_id: String,
    receipt: Option<String>,
    account_id: AccountId,
}

#[derive(sqlx::FromRow)]
struct FailedRow {
    chat_id: String,
    platform: String,
    bot_id: BotId,
    account_id: AccountId,
}

impl Store {
    /// Record a delivery receipt of one of the bot's replies; see [`ReceiptOutcome`].
    pub async fn record_receipt(
        &self,
        bot_id: BotId,
        platform: &str,
        receipt: &Receipt<'_>,
    ) -> StoreResult<ReceiptOutcome> {
        let now = now_ms();
        let style = self.db.style();
        let (outcome, deliveries) = on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                let row: Option<Row> = sqlx::query_as(
                    "SELECT o.id, o.chat_id, o.receipt, b.account_id FROM outbox o JOIN bots b ON b.id = o.bot_id
                     WHERE o.bot_id = $1 AND o.platform = $2 AND o.platform_message_id = $3",
                )
                .bind(bot_id).bind(platform).bind(receipt.message_id).fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Ok::<_, StoreError>((ReceiptOutcome::Unknown, 0));
                };
                if rank(Some(receipt.status)) <= rank(row.receipt.as_deref()) {
                    return Ok((ReceiptOutcome::Stale, 0));
                }
                let error = receipt.error.as_ref().map(Value::to_string);
                sqlx::query("UPDATE outbox SET receipt = $2, receipt_at = $3, receipt_error = COALESCE($4, receipt_error) WHERE id = $1")
                    .bind(row.id).bind(receipt.status).bind(receipt.at_ms.unwrap_or(now)).bind(&error)
                    .execute(&mut *tx).await?;
                let event = event_of(receipt.status);
                let events: Vec<PlatformEvent> = event.into_iter().map(|event_type| PlatformEvent {
                    id: new_id(),
                    account_id: row.account_id,
                    event_type,
                    payload: json!({
                        "bot_id": bot_id, "platform": platform, "chat_id": row.chat_id,
                        "message_id": receipt.message_id, "outbox_id": row.id, "status": receipt.status,
                        "at": receipt.at_ms.map(super::rfc3339), "error": receipt.error,
                    }).to_string(),
                }).collect();
                let deliveries = publish_platform_events!(tx, style, &events, now);
                tx.commit().await?;
                Ok((ReceiptOutcome::Recorded { outbox_id: row.id, event }, deliveries))
            }.await
        })?;
        self.deliveries_written(deliveries);
        Ok(outcome)
    }

    /// Give up on a reply and publish `message.failed` with why (`reason`: `outside_window`,
    /// `rejected`, `blocked`, …) and the platform's error, kept on the row as `last_error`.
    pub async fn outbox_failed_with_event(&self, id: Uuid, reason: &str, error: &str) -> StoreResult<()> {
        let now = now_ms();
        let style = self.db.style();
        let deliveries = on_db!(&self.db, write pool => {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2, lease_until = 0,
                            receipt = 'failed', receipt_at = $3
                     WHERE id = $1",
                )
                .bind(id).bind(error).bind(now).execute(&mut *tx).await?;
                let row: Option<FailedRow> = sqlx::query_as(
                    "SELECT o.chat_id, o.platform, o.bot_id, b.account_id FROM outbox o JOIN bots b ON b.id = o.bot_id
                     WHERE o.id = $1",
                )
                .bind(id).fetch_optional(&mut *tx).await?;
                let events: Vec<PlatformEvent> = row.into_iter().map(|row| PlatformEvent {
                    id: new_id(),
                    account_id: row.account_id,
                    event_type: "message.failed",
                    payload: json!({
                        "bot_id": row.bot_id, "platform": row.platform, "chat_id": row.chat_id,
                        "outbox_id": id, "status": "failed", "reason": reason, "error": error,
                    }).to_string(),
                }).collect();
                let deliveries = publish_platform_events!(tx, style, &events, now);
                tx.commit().await?;
                Ok::<usize, StoreError>(deliveries)
            }.await
        })?;
        self.deliveries_written(deliveries);
        Ok(())
    }

    /// A chat's replies, oldest first: what was sent, what failed and why, and the receipts.
    pub async fn chat_replies(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        page: super::Page,
    ) -> StoreResult<Vec<ReplyRow>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, ReplyRow>(
                "SELECT id, call, status, attempts, last_error, response, platform_message_id, receipt, receipt_at,
                        receipt_error, created_at, sent_at
                 FROM outbox WHERE bot_id = $1 AND platform = $2 AND chat_id = $3 AND id > $4 ORDER BY id LIMIT $5",
            )
            .bind(bot_id).bind(platform).bind(chat_id).bind(page.after_or_nil()).bind(page.fetch_limit())
            .fetch_all(pool).await
        })?)
    }

    /// When the chat's user last wrote (ms), the dialog's state and its context (JSON), for
    /// platforms that allow free-form replies only within a window after it.
    pub async fn chat_window(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
    ) -> StoreResult<Option<(i64, String, String)>> {
        Ok(on_db!(&self.db, read pool => {
            sqlx::query_as::<_, (i64, String, String)>(
                "SELECT last_interaction_at, state, context FROM dialogs WHERE bot_id = $1 AND platform = $2 AND chat_id = $3",
            )
            .bind(bot_id).bind(platform).bind(chat_id).fetch_optional(pool).await
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_only_move_forward() {
        assert!(rank(Some("delivered")) > rank(Some("sent")));
        assert!(rank(Some("read")) > rank(Some("delivered")));
        assert!(rank(Some("failed")) > rank(Some("read")));
        assert_eq!(rank(Some("deleted")), 0, "an unknown status never advances a reply");
        assert_eq!(event_of("sent"), None);
        assert_eq!(event_of("read"), Some("message.read"));
    }

    #[test]
    fn only_a_message_id_string_is_a_reply_message_id() {
        assert_eq!(
            reply_message_id(r#"{"message_id":"wamid.X"}"#).as_deref(),
            Some("wamid.X")
        );
        assert_eq!(reply_message_id(r#"{"message_ids":[5]}"#), None);
        assert_eq!(reply_message_id(r#"{"message_id":5}"#), None);
        assert_eq!(reply_message_id("not json \"message_id\""), None);
    }
}
