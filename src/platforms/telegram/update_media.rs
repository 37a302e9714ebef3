//! The file a user's message carries, as Telegram describes it.

use frankenstein::types::Message;

use super::update::IncomingMedia;
use crate::scenario::MediaKind;

/// The media a message carries; a photo is its largest size. Animations also carry a
/// `document`, so they are checked first.
pub(super) fn media_of(msg: &Message) -> Option<IncomingMedia> {
    let caption = msg.caption.clone();
    let item = |kind, file_id: &str, unique: &str, name: Option<&String>, mime: Option<&String>, size| {
        Some(IncomingMedia {
            kind,
            file_id: file_id.to_string(),
            file_unique_id: unique.to_string(),
            file_name: name.cloned(),
            mime_type: mime.cloned(),
            file_size: size,
            caption: caption.clone(),
        })
    };
    if let Some(a) = &msg.animation {
        return item(
            MediaKind::Animation,
            &a.file_id,
            &a.file_unique_id,
            a.file_name.as_ref(),
            a.mime_type.as_ref(),
            a.file_size,
        );
    }
    if let Some(sizes) = &msg.photo {
        let best = sizes
            .iter()
            .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file_size.unwrap_or(0)))?;
        return item(
            MediaKind::Photo,
            &best.file_id,
            &best.file_unique_id,
            None,
            None,
            best.file_size,
        );
    }
    if let Some(v) = &msg.video {
        return item(
            MediaKind::Video,
            &v.file_id,
            &v.file_unique_id,
            v.file_name.as_ref(),
            v.mime_type.as_ref(),
            v.file_size,
        );
    }
    if let Some(a) = &msg.audio {
        return item(
            MediaKind::Audio,
            &a.file_id,
            &a.file_unique_id,
            a.file_name.as_ref(),
            a.mime_type.as_ref(),
            a.file_size,
        );
    }
    if let Some(d) = &msg.document {
        return item(
            MediaKind::Document,
            &d.file_id,
            &d.file_unique_id,
            d.file_name.as_ref(),
            d.mime_type.as_ref(),
            d.file_size,
        );
    }
    if let Some(v) = &msg.voice {
        return item(
            MediaKind::Voice,
            &v.file_id,
            &v.file_unique_id,
            None,
            v.mime_type.as_ref(),
            v.file_size,
        );
    }
    if let Some(v) = &msg.video_note {
        return item(
            MediaKind::VideoNote,
            &v.file_id,
            &v.file_unique_id,
            None,
            None,
            v.file_size,
        );
    }
    if let Some(s) = &msg.sticker {
        return item(
            MediaKind::Sticker,
            &s.file_id,
            &s.file_unique_id,
            None,
            None,
            s.file_size,
        );
    }
    None
}
