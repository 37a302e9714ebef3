//! Sending one queued message body: scenario media resolved from the library (a cached
//! WhatsApp media id, else an upload to the number's media store first), and the refusals
//! handled where they are understood: a media id Meta no longer knows (they expire after 30
//! days) is uploaded again; media nobody has is left out so the text still reaches the user.

use crate::model::ids::BotId;

use serde_json::{Value, json};
use uuid::Uuid;

use super::WhatsApp;
use super::api::GraphRefusals;
use super::platform::{PLATFORM, missing_number};
use crate::media::MediaLibrary;
use crate::platforms::{Access, CallError, PlatformCall, SendReport};

/// The message types whose object names a media item by `id` or `link`.
const MEDIA_TYPES: &[&str] = &["image", "document", "audio", "video", "sticker"];

/// How the body's media item was resolved for one attempt.
enum MediaUse {
    /// No library media in the body (text, buttons, a link, a receipt).
    None,
    /// A stored file, by its cached WhatsApp id or just uploaded.
    Stored { media_id: Uuid, cached: bool },
    /// An alias that names no stored file: sent as written, in case it is a WhatsApp media id.
    Unresolved(String),
}

fn report(outcome: Result<Value, CallError>, missing_media: Vec<String>) -> SendReport {
    SendReport {
        outcome,
        moved: None,
        missing_media,
    }
}

/// The media object of a media message, if the body is one.
fn media_object(body: &mut Value) -> Option<&mut Value> {
    let kind = body.get("type")?.as_str()?.to_string();
    if !MEDIA_TYPES.contains(&kind.as_str()) {
        return None;
    }
    body.get_mut(&kind).filter(|m| m.get("id").is_some())
}

impl WhatsApp {
    pub(super) async fn send_call(
        &self,
        access: &Access,
        bot_id: BotId,
        call: PlatformCall,
        media: &MediaLibrary,
    ) -> SendReport {
        let Some(number) = access.setting("phone_number_id") else {
            return report(Err(missing_number()), Vec::new());
        };
        let version = self.version(access);
        let original = call.json().clone();
        let mut body = original.clone();
        let mut used = match self
            .resolve_media(access, number, &mut body, bot_id, media, false)
            .await
        {
            Ok(used) => used,
            Err(e) => return report(Err(e), Vec::new()),
        };
        let mut outcome = self.api.send_message(&access.token, version, number, &body).await;
        if let (Err(e), MediaUse::Stored { media_id, cached: true }) = (&outcome, &used)
            && e.is_rejected_media_id()
        {
            // Meta forgot the cached id: upload the bytes again.
            let _ = media.forget_platform_id(*media_id, PLATFORM).await;
            body = original.clone();
            used = match self.resolve_media(access, number, &mut body, bot_id, media, true).await {
                Ok(used) => used,
                Err(e) => return report(Err(e), Vec::new()),
            };
            outcome = self.api.send_message(&access.token, version, number, &body).await;
        }
        let mut missing = Vec::new();
        if let (Err(e), MediaUse::Unresolved(alias)) = (&outcome, &used)
            && e.is_rejected_media_id()
        {
            // Neither the library nor Meta has it: the caption still goes, as text.
            tracing::warn!(%bot_id, media = %alias, "scenario media is neither in the library nor known to WhatsApp; sent without it");
            missing.push(alias.clone());
            outcome = match caption_as_text(&body) {
                Some(text) => self.api.send_message(&access.token, version, number, &text).await,
                None => Ok(Default::default()),
            };
        }
        let label = match &outcome {
            Ok(_) => "sent",
            Err(e) => e.label(),
        };
        metrics::counter!("whatsapp_sends_total", "outcome" => label).increment(1);
        report(outcome.map(|sent| json!({ "message_id": sent.message_id })), missing)
    }

    /// Put a sendable media id in the body's media object: the library's file by its cached
    /// WhatsApp id, or uploaded now (`upload` skips the cache).
    async fn resolve_media(
        &self,
        access: &Access,
        number: &str,
        body: &mut Value,
        bot_id: BotId,
        media: &MediaLibrary,
        upload: bool,
    ) -> Result<MediaUse, CallError> {
        let Some(object) = media_object(body) else {
            return Ok(MediaUse::None);
        };
        let alias = object["id"].as_str().unwrap_or_default().to_string();
        let stored = media.resolve(bot_id, &alias).await.ok().flatten();
        let Some(file) = stored.filter(|f| f.status == crate::store::STATUS_STORED) else {
            return Ok(MediaUse::Unresolved(alias));
        };
        if !upload && let Ok(Some(id)) = media.cached_platform_id(file.id, PLATFORM).await {
            object["id"] = json!(id);
            return Ok(MediaUse::Stored {
                media_id: file.id,
                cached: true,
            });
        }
        let data = media
            .read(&file)
            .await
            .map_err(|e| CallError::Transient(format!("cannot read stored media: {e}")))?;
        let id = self
            .api
            .upload_media(
                &access.token,
                self.version(access),
                number,
                data,
                &file.content_type,
                &file.file_name,
            )
            .await?;
        let _ = media.cache_platform_id(file.id, PLATFORM, &id).await;
        object["id"] = json!(id);
        Ok(MediaUse::Stored {
            media_id: file.id,
            cached: false,
        })
    }
}

/// A media message's caption as a text message to the same user, if it has one.
fn caption_as_text(body: &Value) -> Option<Value> {
    let kind = body.get("type")?.as_str()?;
    let caption = body.get(kind)?.get("caption")?.as_str()?;
    Some(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": body.get("to")?,
        "type": "text",
        "text": {"body": caption},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_media_messages_by_id_have_a_media_object() {
        let mut by_id = json!({"type": "image", "image": {"id": "menu"}});
        assert!(media_object(&mut by_id).is_some());
        let mut by_link = json!({"type": "image", "image": {"link": "https://x.example/a.png"}});
        assert!(media_object(&mut by_link).is_none());
        let mut text = json!({"type": "text", "text": {"body": "hi"}});
        assert!(media_object(&mut text).is_none());
    }

    #[test]
    fn a_caption_goes_on_as_text() {
        let body = json!({"to": "155", "type": "image", "image": {"id": "x", "caption": "Menu"}});
        let text = caption_as_text(&body).unwrap();
        assert_eq!(
            (
                text["type"].as_str(),
                text["text"]["body"].as_str(),
                text["to"].as_str()
            ),
            (Some("text"), Some("Menu"), Some("155"))
        );
        assert!(caption_as_text(&json!({"to": "1", "type": "sticker", "sticker": {"id": "x"}})).is_none());
    }
}
