//! Sending one queued call: scenario media resolved from the library (a cached Telegram
//! `file_id`, else an upload), and Telegram's recoverable refusals handled here, where they are
//! understood: a forgotten `file_id` is uploaded again, a text Telegram cannot parse as HTML
//! goes as plain text, and media nobody has is left out so the rest still reaches the user.

use crate::model::ids::BotId;
use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Telegram;
use super::api::{CallError, FileData, Refusals, Sent, Uploads};
use super::degrade::without_media;
use super::render::{ApiCall, MediaRef};
use crate::media::MediaLibrary;
use crate::platforms::{PlatformCall, SendReport};
use crate::secrets::Secret;

const PLATFORM: &str = "telegram";

/// A stored file a call refers to, by its position among the call's media.
struct MediaUse {
    position: usize,
    media_id: Uuid,
    /// Sent by a cached Telegram file id (else uploaded).
    cached: bool,
}

/// A call with its media resolved for one attempt.
struct Resolved {
    uploads: Uploads,
    uses: Vec<MediaUse>,
    /// Aliases that name no stored file (passed to Telegram as file ids, as written).
    unresolved: Vec<String>,
}

impl Telegram {
    pub(super) async fn send_call(
        &self,
        token: &Secret<String>,
        bot_id: BotId,
        call: PlatformCall,
        media: &MediaLibrary,
    ) -> SendReport {
        let Ok(mut call) = ApiCall::deserialize(call.json()) else {
            return SendReport {
                outcome: Err(CallError::Permanent {
                    code: 0,
                    description: "unreadable call".into(),
                }),
                moved: None,
                missing_media: Vec::new(),
            };
        };
        let (outcome, missing_media) = self.send_resolved(token, bot_id, &mut call, media).await;
        let outcome = match outcome {
            Ok(sent) => Ok(json!({ "message_ids": sent.message_ids })),
            Err(e) if e.is_not_modified() => Ok(json!({ "not_modified": true })),
            Err(e) => Err(e),
        };
        let label = match &outcome {
            Ok(_) => "sent",
            Err(e) => e.label(),
        };
        metrics::counter!("telegram_sends_total", "method" => call.method(), "outcome" => label).increment(1);
        let moved = match &outcome {
            Err(CallError::Migrated(to)) => {
                call.retarget(*to);
                Some(PlatformCall::new(serde_json::to_value(&call).unwrap_or(Value::Null)))
            }
            _ => None,
        };
        SendReport {
            outcome,
            moved,
            missing_media,
        }
    }

    /// Send `call` (left as finally sent); the media it had to leave out is returned with the
    /// outcome.
    async fn send_resolved(
        &self,
        token: &Secret<String>,
        bot_id: BotId,
        call: &mut ApiCall,
        media: &MediaLibrary,
    ) -> (Result<Sent, CallError>, Vec<String>) {
        let original = call.clone();
        let mut resolved = resolve_media(media, bot_id, call, false).await;
        let mut outcome = self.api.call(token, call, &resolved.uploads).await;
        if matches!(&outcome, Err(e) if e.is_rejected_file_id()) && resolved.uses.iter().any(|r| r.cached) {
            // Telegram no longer knows a cached file id: forget it and upload the bytes.
            for r in resolved.uses.iter().filter(|r| r.cached) {
                let _ = media.forget_platform_id(r.media_id, PLATFORM).await;
            }
            *call = original;
            resolved = resolve_media(media, bot_id, call, true).await;
            outcome = self.api.call(token, call, &resolved.uploads).await;
        }
        if matches!(&outcome, Err(e) if e.is_unparsable_entities()) {
            // Escaping keeps users' values from breaking the markup; what is left is the
            // author's own. The words still reach the user, once, as plain text.
            tracing::warn!(%bot_id, method = call.method(), "Telegram cannot parse the reply's HTML; sending it as plain text");
            metrics::counter!("telegram_plain_text_fallbacks_total").increment(1);
            outcome = self.api.call_plain(token, call, &resolved.uploads).await;
        }
        let mut missing = Vec::new();
        if matches!(&outcome, Err(e) if e.is_rejected_file_id()) && !resolved.unresolved.is_empty() {
            // Media the library does not have, and Telegram does not know either: send the
            // rest (text, buttons, other files).
            missing = std::mem::take(&mut resolved.unresolved);
            tracing::warn!(%bot_id, media = ?missing, "scenario media is neither in the library nor known to Telegram; sent without it");
            metrics::counter!("telegram_media_missing_total").increment(missing.len() as u64);
            let gone: HashSet<String> = missing.iter().cloned().collect();
            resolved.uses.clear(); // positions no longer match the call; nothing new to cache
            outcome = match without_media(call, &gone) {
                Some(rest) => {
                    *call = rest;
                    self.api.call(token, call, &resolved.uploads).await
                }
                None => Ok(Sent::default()),
            };
        }
        if let Ok(sent) = &outcome {
            for r in resolved.uses.iter().filter(|r| !r.cached) {
                if let Some(file_id) = sent.file_ids.get(r.position) {
                    let _ = media.cache_platform_id(r.media_id, PLATFORM, file_id).await;
                }
            }
        }
        (outcome, missing)
    }
}

/// Resolve scenario media aliases, scoped to the bot: a stored file goes by its cached
/// Telegram file id, or is uploaded (`upload_all` skips the cache); an alias that names no
/// stored file is passed to Telegram as a file id, as written.
async fn resolve_media(media: &MediaLibrary, bot_id: BotId, call: &mut ApiCall, upload_all: bool) -> Resolved {
    let mut out = Resolved {
        uploads: Uploads::new(),
        uses: Vec::new(),
        unresolved: Vec::new(),
    };
    let refs: Vec<&mut MediaRef> = match call {
        ApiCall::SendMedia { media, .. } => vec![media],
        ApiCall::SendMediaGroup { items, .. } => items.iter_mut().map(|i| &mut i.media).collect(),
        _ => Vec::new(),
    };
    for (position, item) in refs.into_iter().enumerate() {
        let MediaRef::Alias(alias) = item else { continue };
        let stored = media.resolve(bot_id, alias).await.ok().flatten();
        let Some(file) = stored.filter(|f| f.status == crate::store::STATUS_STORED) else {
            out.unresolved.push(alias.clone());
            *item = MediaRef::FileId(std::mem::take(alias));
            continue;
        };
        if !upload_all && let Ok(Some(file_id)) = media.cached_platform_id(file.id, PLATFORM).await {
            *item = MediaRef::FileId(file_id);
            out.uses.push(MediaUse {
                position,
                media_id: file.id,
                cached: true,
            });
            continue;
        }
        match media.read(&file).await {
            Ok(data) => {
                let key = file.id.to_string();
                out.uploads.insert(
                    key.clone(),
                    FileData {
                        file_name: file.file_name.clone(),
                        mime_type: Some(file.content_type.clone()),
                        data,
                    },
                );
                *item = MediaRef::Upload { media_id: key };
                out.uses.push(MediaUse {
                    position,
                    media_id: file.id,
                    cached: false,
                });
            }
            Err(e) => {
                tracing::warn!(media_id = %file.id, error = %e, "cannot read stored media; sending the alias as a file id");
                *item = MediaRef::FileId(std::mem::take(alias));
            }
        }
    }
    out
}
