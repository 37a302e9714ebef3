//! Sending replies: the chat's outbox, oldest first, one chat at a time per process and leased
//! row by row in the store, so order holds across nodes. A failed send never blocks other chats;
//! within a chat, a retryable failure stops the queue (later replies must not overtake it).

use std::collections::HashSet;

use serde_json::json;
use uuid::Uuid;

use super::Runtime;
use crate::platforms::telegram::api::{CallError, Uploads};
use crate::platforms::telegram::degrade::without_media;
use crate::platforms::telegram::render::{ApiCall, MediaRef};
use crate::platforms::token_purpose;
use crate::secrets::Secret;
use crate::store::{StoreError, now_ms};

/// A rate-limit slot at most this far off is booked and slept for; later ones are rescheduled.
const MAX_INLINE_WAIT_MS: i64 = 1_500;

/// Delay before retry `attempt` (1-based) of a transient failure: 1 s doubling to 5 min.
pub fn backoff_ms(attempt: i32) -> i64 {
    let exp = attempt.clamp(1, 20) as u32 - 1;
    (1_000i64.saturating_mul(1i64 << exp.min(9))).min(300_000)
}

impl Runtime {
    pub(crate) async fn bot_token(&self, bot_id: Uuid, platform: &str) -> Result<Option<Secret<String>>, StoreError> {
        // The cached read the webhook handler just made (the store invalidates it on change).
        let Some(credential) = self.store.bot_for_webhook(bot_id, platform).await? else {
            return Ok(None);
        };
        match self
            .cipher
            .open_string(token_purpose(platform), &credential.token_sealed)
        {
            Ok(token) => Ok(Some(token)),
            Err(e) => {
                tracing::error!(%bot_id, error = %e, "cannot decrypt the bot token");
                Ok(None)
            }
        }
    }

    /// Send the chat's due replies in order. Returns the ids sent by this call.
    pub async fn send_chat(&self, bot_id: Uuid, platform: &str, chat_id: &str) -> HashSet<Uuid> {
        let mut sent = HashSet::new();
        let _guard = self.send_locks.lock(bot_id, chat_id).await;
        let Some(token) = self.token_or_warn(bot_id, platform).await else {
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
            let Ok(call) = serde_json::from_str::<ApiCall>(&row.call) else {
                let _ = self.store.outbox_failed(row.id, "unreadable call").await;
                continue;
            };
            match self
                .send_row(
                    &token,
                    bot_id,
                    platform,
                    chat_id,
                    row.id,
                    row.attempts,
                    call,
                    Mark::Durable,
                )
                .await
            {
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
        bot_id: Uuid,
        platform: &str,
        chat_id: &str,
        rows: Vec<(Uuid, ApiCall)>,
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
        let token = if in_order {
            self.token_or_warn(bot_id, platform).await
        } else {
            None
        };
        let mut marks = Vec::new();
        let mut fallback = true;
        match token {
            None => {
                let _ = self.store.release_outbox(&ids).await;
            }
            Some(token) => {
                fallback = false;
                for (i, (id, call)) in rows.into_iter().enumerate() {
                    let next = self
                        .send_row(&token, bot_id, platform, chat_id, id, 0, call, Mark::Queue(&mut marks))
                        .await;
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
        self.config.telegram_request_timeout.as_millis() as i64 + 5_000
    }

    async fn token_or_warn(&self, bot_id: Uuid, platform: &str) -> Option<Secret<String>> {
        match self.bot_token(bot_id, platform).await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(%bot_id, error = %e, "cannot load the bot token");
                None
            }
        }
    }

    /// Send one leased reply and record the outcome; `mark` says whether to wait for the sent
    /// mark's commit (the ordinary path reads the outbox next) or to collect it.
    #[allow(clippy::too_many_arguments)]
    async fn send_row(
        &self,
        token: &Secret<String>,
        bot_id: Uuid,
        platform: &str,
        chat_id: &str,
        id: Uuid,
        attempts: i32,
        mut call: ApiCall,
        mark: Mark<'_>,
    ) -> Next {
        match self.reserve(bot_id, &call) {
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
        let original = call.clone();
        let (mut uploads, mut refs, mut unresolved) = self.resolve_media(bot_id, &mut call, false).await;
        let mut outcome = self.api.call(token, &call, &uploads).await;
        if matches!(&outcome, Err(e) if e.is_rejected_file_id()) && refs.iter().any(|r| r.cached) {
            // Telegram no longer knows a cached file id: forget it and upload the bytes.
            for r in refs.iter().filter(|r| r.cached) {
                let _ = self.media.forget_platform_id(r.media_id, platform).await;
            }
            call = original;
            (uploads, refs, unresolved) = self.resolve_media(bot_id, &mut call, true).await;
            outcome = self.api.call(token, &call, &uploads).await;
        }
        if matches!(&outcome, Err(e) if e.is_unparsable_entities()) {
            // Escaping keeps users' values from breaking the markup; what is left is the
            // author's own. The words still reach the user, once, as plain text.
            tracing::warn!(%bot_id, method = call.method(), "Telegram cannot parse the reply's HTML; sending it as plain text");
            metrics::counter!("telegram_plain_text_fallbacks_total").increment(1);
            outcome = self.api.call_plain(token, &call, &uploads).await;
        }
        if matches!(&outcome, Err(e) if e.is_rejected_file_id()) && !unresolved.is_empty() {
            // Media the library does not have, and Telegram does not know either: send the
            // rest (text, buttons, other files) and record the warning on the dialog.
            self.record_media_missing(bot_id, platform, chat_id, &unresolved).await;
            let missing: HashSet<String> = unresolved.into_iter().collect();
            refs.clear(); // positions no longer match the call; nothing new to cache
            outcome = match without_media(&call, &missing) {
                Some(rest) => {
                    call = rest;
                    self.api.call(token, &call, &uploads).await
                }
                None => Ok(Default::default()),
            };
        }
        if let Ok(sent) = &outcome {
            for r in refs.iter().filter(|r| !r.cached) {
                if let Some(file_id) = sent.file_ids.get(r.position) {
                    let _ = self.media.cache_platform_id(r.media_id, platform, file_id).await;
                }
            }
        }
        let response = match &outcome {
            Ok(ok) => Some(json!({ "message_ids": ok.message_ids })),
            Err(e) if e.is_not_modified() => Some(json!({ "not_modified": true })),
            Err(_) => None,
        };
        if let Some(response) = response {
            metrics::counter!("telegram_sends_total", "method" => call.method(), "outcome" => "sent").increment(1);
            if let Mark::Queue(marks) = mark {
                marks.extend(self.committer.mark_sent_queued(id, response.to_string()).await);
                return Next::Sent;
            }
            return match self.committer.mark_sent(id, response.to_string()).await {
                Ok(()) => Next::Sent,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a send");
                    Next::Stop
                }
            };
        }
        let Err(e) = outcome else { return Next::Stop };
        metrics::counter!("telegram_sends_total", "method" => call.method(), "outcome" => outcome_label(&e))
            .increment(1);
        match self.after_failure(id, attempts + 1, &mut call, e).await {
            Ok(true) => Next::Go,
            Ok(false) => Next::Stop,
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
        call: &mut ApiCall,
        error: CallError,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        match error {
            CallError::RetryAfter(secs) => {
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
            CallError::Migrated(new_chat) => {
                call.retarget(new_chat);
                let text = serde_json::to_string(call).map_err(|e| StoreError::Encode(e.to_string()))?;
                self.store
                    .outbox_retry(id, now, &error.to_string(), Some(&text))
                    .await?;
                Ok(true)
            }
            other => {
                tracing::warn!(outbox_id = %id, error = %other, "reply dropped");
                self.store.outbox_failed(id, &other.to_string()).await?;
                Ok(true)
            }
        }
    }

    /// Book a slot under Telegram's outbound limits per bot (when enabled): Ok(time) = send
    /// then (booked, counted from now on); Err(time) = too far off, nothing booked, ask again then.
    fn reserve(&self, bot_id: Uuid, call: &ApiCall) -> Result<i64, i64> {
        let now = now_ms();
        if !self.config.telegram_outbound_rate_limit || !call.is_message() {
            return Ok(now);
        }
        let Some(chat) = call.chat_id() else { return Ok(now) };
        let mut planners = self.planners.lock().unwrap_or_else(|p| p.into_inner());
        let planner = planners
            .entry(bot_id)
            .or_insert_with(|| crate::platforms::telegram::ratelimit::RatePlanner::new(Default::default()));
        // Telegram's group and supergroup ids are negative.
        planner.reserve(chat, chat < 0, now, MAX_INLINE_WAIT_MS)
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

/// A stored file a call refers to, by its position among the call's media.
struct MediaUse {
    position: usize,
    media_id: Uuid,
    /// Sent by a cached Telegram file id (else uploaded).
    cached: bool,
}

impl Runtime {
    /// Resolve scenario media aliases, scoped to the bot: a stored file goes by its cached
    /// Telegram file id, or is uploaded (`upload_all` skips the cache); an alias that names no
    /// stored file is passed to Telegram as a file id, as written.
    async fn resolve_media(
        &self,
        bot_id: Uuid,
        call: &mut ApiCall,
        upload_all: bool,
    ) -> (Uploads, Vec<MediaUse>, Vec<String>) {
        let mut uploads = Uploads::new();
        let mut uses = Vec::new();
        let mut unresolved = Vec::new();
        let refs: Vec<&mut MediaRef> = match call {
            ApiCall::SendMedia { media, .. } => vec![media],
            ApiCall::SendMediaGroup { items, .. } => items.iter_mut().map(|i| &mut i.media).collect(),
            _ => Vec::new(),
        };
        for (position, media) in refs.into_iter().enumerate() {
            let MediaRef::Alias(alias) = media else { continue };
            let stored = self.media.resolve(bot_id, alias).await.ok().flatten();
            let Some(file) = stored.filter(|f| f.status == crate::store::STATUS_STORED) else {
                unresolved.push(alias.clone());
                *media = MediaRef::FileId(std::mem::take(alias));
                continue;
            };
            if !upload_all && let Ok(Some(file_id)) = self.media.cached_platform_id(file.id, "telegram").await {
                *media = MediaRef::FileId(file_id);
                uses.push(MediaUse {
                    position,
                    media_id: file.id,
                    cached: true,
                });
                continue;
            }
            match self.media.read(&file).await {
                Ok(data) => {
                    let key = file.id.to_string();
                    uploads.insert(
                        key.clone(),
                        crate::platforms::telegram::api::FileData {
                            file_name: file.file_name.clone(),
                            mime_type: Some(file.content_type.clone()),
                            data,
                        },
                    );
                    *media = MediaRef::Upload { media_id: key };
                    uses.push(MediaUse {
                        position,
                        media_id: file.id,
                        cached: false,
                    });
                }
                Err(e) => {
                    tracing::warn!(media_id = %file.id, error = %e, "cannot read stored media; sending the alias as a file id");
                    *media = MediaRef::FileId(std::mem::take(alias));
                }
            }
        }
        (uploads, uses, unresolved)
    }

    /// Record on the chat's dialog (history) and as a `media.missing` event that media could
    /// not be sent. Best effort: the send goes on either way.
    async fn record_media_missing(&self, bot_id: Uuid, platform: &str, chat_id: &str, refs: &[String]) {
        tracing::warn!(%bot_id, media = ?refs, "scenario media is neither in the library nor known to Telegram; sent without it");
        metrics::counter!("telegram_media_missing_total").increment(refs.len() as u64);
        if let Err(e) = self.store.record_media_missing(bot_id, platform, chat_id, refs).await {
            tracing::warn!(%bot_id, error = %e, "cannot record a media.missing warning");
        }
    }
}

fn outcome_label(e: &CallError) -> &'static str {
    match e {
        CallError::RetryAfter(_) => "rate_limited",
        CallError::Transient(_) => "transient",
        CallError::Permanent { .. } => "rejected",
        CallError::Migrated(_) => "migrated",
        CallError::Blocked(_) => "blocked",
        CallError::TooLarge { .. } => "too_large",
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
