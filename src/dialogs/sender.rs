//! Sending replies: the chat's outbox, oldest first, one chat at a time per process and leased
//! row by row in the store, so order holds across nodes. A failed send never blocks other chats;
//! within a chat, a retryable failure stops the queue (later replies must not overtake it).

use crate::model::ids::BotId;
use std::collections::HashSet;

use uuid::Uuid;

use super::Runtime;
use crate::platforms::{Access, CallError, Platform, PlatformCall, token_purpose};
use crate::store::{StoreError, now_ms};

/// Sends of one reply the platform may answer "too many requests" before it is given up.
const MAX_RATE_LIMITED_ATTEMPTS: i32 = 50;

/// A rate-limit slot at most this far off is booked and slept for; later ones are rescheduled.
const MAX_INLINE_WAIT_MS: i64 = 1_500;

/// Delay before retry `attempt` (1-based) of a transient failure: 1 s doubling to 5 min.
pub fn backoff_ms(attempt: i32) -> i64 {
    let exp = attempt.clamp(1, 20) as u32 - 1;
    (1_000i64.saturating_mul(1i64 << exp.min(9))).min(300_000)
}

impl Runtime {
    /// What calling the platform for the bot takes (its token and settings), from the cached
    /// read the webhook handler just made (the store invalidates it on change).
    pub(crate) async fn bot_access(&self, bot_id: BotId, platform: &str) -> Result<Option<Access>, StoreError> {
        let Some(credential) = self.store.bot_for_webhook(bot_id, platform).await? else {
            return Ok(None);
        };
        match self
            .cipher
            .open_string(token_purpose(platform), &credential.token_sealed)
        {
            Ok(token) => Ok(Some(Access {
                token,
                settings: serde_json::from_str(&credential.extra).unwrap_or_default(),
            })),
            Err(e) => {
                tracing::error!(%bot_id, error = %e, "cannot decrypt the bot token");
                Ok(None)
            }
        }
    }

    /// Send the chat's due replies in order. Returns the ids sent by this call.
    pub async fn send_chat(&self, bot_id: BotId, platform: &str, chat_id: &str) -> HashSet<Uuid> {
        let mut sent = HashSet::new();
        let _guard = self.send_locks.lock(bot_id, chat_id).await;
        let Some(access) = self.access_or_warn(bot_id, platform).await else {
            return sent;
        };
        let Ok(adapter) = self.platform(platform) else {
            tracing::warn!(%bot_id, platform, "no adapter for the chat's platform; its replies wait");
            return sent;
        };
        loop {
            let row = match self
                .store
                .lease_chat_head(bot_id, platform, chat_id, self.reply_lease_ms())
                .await
            {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    break;
                }
            };
            let Ok(call) = serde_json::from_str::<PlatformCall>(&row.call) else {
                let _ = self.store.outbox_failed(row.id, "unreadable call").await;
                continue;
            };
            let chat = Chat::new(adapter.as_ref(), &access, bot_id, platform, chat_id);
            match self.send_row(&chat, row.id, row.attempts, call, Mark::Durable).await {
                Next::Sent => {
                    sent.insert(row.id);
                }
                Next::Go => {}
                Next::Stop => break,
            }
        }
        sent
    }

    /// Send replies just planned for the chat, straight from memory: they were inserted already
    /// leased to this node, so no lease round trip is needed, and the sent marks ride along with
    /// the next group commit. If the chat has older unsent replies, those must go first: the
    /// leases are given back and the ordinary path sends everything in order. `report` gets the
    /// ids sent as soon as the sends are done; the call itself returns once the sent marks are
    /// durable (holding the chat's send lock until then, so the chat's next sender reads an
    /// outbox that already says what went out).
    pub async fn send_planned(
        &self,
        bot_id: BotId,
        platform: &str,
        chat_id: &str,
        rows: Vec<(Uuid, PlatformCall)>,
        known_in_order: bool,
        report: Option<tokio::sync::oneshot::Sender<HashSet<Uuid>>>,
    ) -> HashSet<Uuid> {
        let mut sent = HashSet::new();
        let Some(first) = rows.first().map(|r| r.0) else {
            if let Some(report) = report {
                let _ = report.send(sent.clone());
            }
            return sent;
        };
        let guard = self.send_locks.lock(bot_id, chat_id).await;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        // The commit may already have told: nothing older was unsent then, and nothing older
        // can become unsent later. Otherwise (or when it could not tell) the store says now;
        // sends that finished since the commit may have cleared the way.
        let in_order = known_in_order
            || matches!(self.store.outbox_head(bot_id, platform, chat_id).await, Ok(Some(head)) if head == first);
        let access = match (in_order, self.platform(platform)) {
            (true, Ok(adapter)) => self.access_or_warn(bot_id, platform).await.map(|t| (t, adapter)),
            _ => None,
        };
        let mut marks = Vec::new();
        let mut fallback = true;
        match access {
            None => {
                let _ = self.store.release_outbox(&ids).await;
            }
            Some((access, adapter)) => {
                fallback = false;
                // These replies answer a message the user just sent: the chat's window is open.
                let chat = Chat {
                    window_open: true,
                    ..Chat::new(adapter.as_ref(), &access, bot_id, platform, chat_id)
                };
                for (i, (id, call)) in rows.into_iter().enumerate() {
                    let next = self.send_row(&chat, id, 0, call, Mark::Queue(&mut marks)).await;
                    if let Next::Sent = next {
                        sent.insert(id);
                        continue;
                    }
                    // Off the straight path (a retry, a re-addressed or dropped reply): the rest
                    // goes through the ordinary path, which keeps the chat's order from the outbox.
                    let _ = self.store.release_outbox(&ids[i + 1..]).await;
                    fallback = matches!(next, Next::Go);
                    break;
                }
            }
        }
        let report = match report {
            Some(report) if !fallback => {
                let _ = report.send(sent.clone());
                None
            }
            other => other,
        };
        for mark in marks {
            if !matches!(mark.await, Ok(Ok(()))) {
                tracing::warn!(%bot_id, "a sent mark was not committed; the reply goes again after its lease");
            }
        }
        if fallback {
            drop(guard);
            sent.extend(self.send_chat(bot_id, platform, chat_id).await);
        }
        if let Some(report) = report {
            let _ = report.send(sent.clone());
        }
        sent
    }

    /// A reply is leased for longer than one call may take, so only a dead node's lease expires.
    pub(crate) fn reply_lease_ms(&self) -> i64 {
        self.platforms.longest_request_timeout().as_millis() as i64 + 5_000
    }

    async fn access_or_warn(&self, bot_id: BotId, platform: &str) -> Option<Access> {
        match self.bot_access(bot_id, platform).await {
            Ok(access) => access,
            Err(e) => {
                tracing::warn!(%bot_id, error = %e, "cannot load the bot token");
                None
            }
        }
    }

    /// Send one leased reply and record the outcome; `mark` says whether to wait for the sent
    /// mark's commit (the ordinary path reads the outbox next) or to collect it.
    async fn send_row(&self, chat: &Chat<'_>, id: Uuid, attempts: i32, call: PlatformCall, mark: Mark<'_>) -> Next {
        let Chat {
            adapter,
            access,
            bot_id,
            platform,
            chat_id,
            ..
        } = *chat;
        let Some(call) = self.window_checked(chat, id, call).await else {
            return Next::Go;
        };
        let now = now_ms();
        match adapter.reserve(bot_id, &call, now, MAX_INLINE_WAIT_MS) {
            // The slot is booked already: waiting for it takes nobody else's.
            Ok(slot) => {
                let wait = slot - now_ms();
                if wait > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
                }
            }
            Err(slot) => {
                let _ = self.store.outbox_retry(id, slot, "outbound rate limit", None).await;
                return Next::Stop;
            }
        }
        let mut report = adapter.send(access, bot_id, call.clone(), &self.media).await;
        if let Err(CallError::OutsideWindow(_)) = &report.outcome
            && let Some(instead) = self.instead_of_closed(chat, &call).await
        {
            // The platform says the window is closed where hookline thought it open (a message
            // hookline never saw, clocks apart): the bot's template goes once instead.
            report = adapter.send(access, bot_id, instead, &self.media).await;
        }
        if !report.missing_media.is_empty() {
            self.record_media_missing(bot_id, platform, chat_id, &report.missing_media)
                .await;
        }
        let response = match report.outcome {
            Ok(response) => response,
            Err(e) => {
                return match self.after_failure(id, attempts + 1, report.moved.as_ref(), e).await {
                    Ok(true) => Next::Go,
                    Ok(false) => Next::Stop,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot record a send");
                        Next::Stop
                    }
                };
            }
        };
        if let Mark::Queue(marks) = mark {
            marks.extend(self.committer.mark_sent_queued(id, response.to_string()).await);
            return Next::Sent;
        }
        match self.committer.mark_sent(id, response.to_string()).await {
            Ok(()) => Next::Sent,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a send");
                Next::Stop
            }
        }
    }

    /// Record a failed send. Ok(true) means "go on with the next reply", Ok(false) "stop".
    async fn after_failure(
        &self,
        id: Uuid,
        attempt: i32,
        moved: Option<&PlatformCall>,
        error: CallError,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        match error {
            // The platform's own wait, as often as it asks, up to a bound: a chat the platform
            // keeps refusing must not hold its replies forever.
            CallError::RetryAfter(secs) if attempt < MAX_RATE_LIMITED_ATTEMPTS => {
                self.store
                    .outbox_retry(id, now + secs as i64 * 1000, &error.to_string(), None)
                    .await?;
                Ok(false)
            }
            CallError::Transient(_) if attempt < 12 => {
                self.store
                    .outbox_retry(id, now + backoff_ms(attempt), &error.to_string(), None)
                    .await?;
                Ok(false)
            }
            CallError::Migrated(_) if moved.is_some() => {
                // The adapter addressed the call to the new chat already.
                let text = serde_json::to_string(&moved).map_err(|e| StoreError::Encode(e.to_string()))?;
                self.store
                    .outbox_retry(id, now, &error.to_string(), Some(&text))
                    .await?;
                Ok(true)
            }
            other => {
                tracing::warn!(outbox_id = %id, error = %other, "reply dropped");
                self.store
                    .outbox_failed_with_event(id, other.label(), &other.to_string())
                    .await?;
                Ok(true)
            }
        }
    }
}

/// The chat whose replies are being sent, and what sending them takes.
#[derive(Clone, Copy)]
pub(super) struct Chat<'a> {
    pub adapter: &'a dyn Platform,
    pub access: &'a Access,
    pub bot_id: BotId,
    pub platform: &'a str,
    pub chat_id: &'a str,
    /// Known to be within the platform's reply window (the user just wrote).
    pub window_open: bool,
}

impl<'a> Chat<'a> {
    fn new(
        adapter: &'a dyn Platform,
        access: &'a Access,
        bot_id: BotId,
        platform: &'a str,
        chat_id: &'a str,
    ) -> Chat<'a> {
        Chat {
            adapter,
            access,
            bot_id,
            platform,
            chat_id,
            window_open: false,
        }
    }
}

/// How a sent reply's mark is recorded.
enum Mark<'a> {
    /// Wait for its commit.
    Durable,
    /// Queue it with the next commit and collect the notice of its commit here.
    Queue(&'a mut Vec<tokio::sync::oneshot::Receiver<crate::store::StoreResult<()>>>),
}

/// What to do after one reply.
enum Next {
    /// Sent; go on.
    Sent,
    /// Not sent (dropped, or re-addressed); go on with the next.
    Go,
    /// Stop this chat's queue for now.
    Stop,
}

impl Runtime {
    /// Record on the chat's dialog (history) and as a `media.missing` event that media could
    /// not be sent. Best effort: the send goes on either way.
    async fn record_media_missing(&self, bot_id: BotId, platform: &str, chat_id: &str, refs: &[String]) {
        if let Err(e) = self.store.record_media_missing(bot_id, platform, chat_id, refs).await {
            tracing::warn!(%bot_id, error = %e, "cannot record a media.missing warning");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(12), 300_000);
        assert_eq!(backoff_ms(0), 1_000);
    }
}
