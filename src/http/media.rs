//! Media: upload (multipart, streamed), list and filter under a bot, read, delete,
//! and set an alias by media id. The bytes are served by `media_content`.
//!
//! Uploading bytes the bot already has (same sha256) answers **200** with the existing media
//! instead of **201**, so a client can tell a new item from a repeated upload.

use crate::model::ids::BotId;
use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{Auth, RateCategory};
use super::bots::load_bot;
use super::extract::{ApiJson, ApiOk, ApiPage, ApiQuery, Created, Envelope, ErrorEnvelope, PageQuery, parse_id};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::media::{BlobError, MediaError, sniff};
use crate::store::{MediaAlias, MediaFile, rfc3339};

/// Room for multipart framing and small form fields on top of the file itself.
const MULTIPART_SLACK: u64 = 64 * 1024;

#[derive(Serialize, ToSchema)]
pub struct MediaOut {
    pub id: Uuid,
    /// The same as `id` (GET INN's upload answer names it so).
    pub media_id: Uuid,
    #[schema(value_type = Uuid)]
    pub bot_id: BotId,
    /// image | video | audio | document | voice | video_note | animation | sticker
    pub file_type: String,
    pub file_name: String,
    /// Sniffed from the bytes.
    pub content_type: String,
    pub file_size: i64,
    pub sha256: Option<String>,
    /// The bot-scoped names scenarios use for this media.
    pub aliases: Vec<String>,
    /// GET INN's alias map: platform → alias.
    pub platform_file_ids: BTreeMap<String, String>,
    /// upload | user
    pub source: String,
    /// pending (a user's file being downloaded) | stored | too_large | failed
    pub status: String,
    pub status_reason: Option<String>,
    pub chat_id: Option<String>,
    pub user_id: Option<String>,
    pub caption: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl MediaOut {
    fn new(m: MediaFile, aliases: &[MediaAlias]) -> MediaOut {
        let mine: Vec<&MediaAlias> = aliases.iter().filter(|a| a.media_id == m.id).collect();
        MediaOut {
            id: m.id,
            media_id: m.id,
            bot_id: m.bot_id,
            file_type: m.kind,
            file_name: m.file_name,
            content_type: m.content_type,
            file_size: m.size,
            sha256: m.sha256,
            aliases: mine.iter().map(|a| a.alias.clone()).collect(),
            platform_file_ids: mine.iter().map(|a| (a.platform.clone(), a.alias.clone())).collect(),
            source: m.source,
            status: m.status,
            status_reason: m.status_reason,
            chat_id: m.chat_id,
            user_id: m.user_id,
            caption: m.caption,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

/// Set an alias (GET INN: `platform_file_ids[platform] = file_id`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaAliasIn {
    /// e.g. `telegram`: 1–32 of `a-z 0-9 _ -`.
    pub platform: String,
    /// The alias scenarios name (`"file_id": "welcome_image"`): 1–100 of `A-Z a-z 0-9 _ . -`,
    /// unique within the bot.
    pub file_id: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaListQuery {
    /// Only this kind: image, video, audio, document, voice, video_note, animation, sticker.
    pub file_type: Option<String>,
    /// 1..=100, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Blob(BlobError::TooLarge { limit }) => {
                ApiError::payload_too_large(usize::try_from(limit).unwrap_or(usize::MAX))
            }
            MediaError::Blob(BlobError::Body(reason)) => {
                ApiError::field("file", format!("could not read the upload: {reason}"))
            }
            MediaError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A media item the caller may see (404 otherwise, also for another account's).
pub async fn load_media(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<MediaFile> {
    let id = parse_id(raw_id, "media")?;
    let media = state
        .store
        .get_media(id)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    match state.store.get_bot(media.bot_id).await? {
        Some(bot) if auth.can_access(bot.account_id) => Ok(media),
        _ => Err(ApiError::not_found("media")),
    }
}

async fn media_out(state: &AppState, media: MediaFile) -> ApiResult<MediaOut> {
    let aliases = state.store.bot_media_aliases(media.bot_id).await?;
    Ok(MediaOut::new(media, &aliases))
}

#[utoipa::path(post, path = "/v1/api/bots/{bot_id}/media", tag = "media",
    request_body(content_type = "multipart/form-data", description = "One part named `file`"),
    responses((status = 201, description = "Stored", body = inline(Envelope<MediaOut>)),
              (status = 200, description = "The bot already had these bytes; the existing media", body = inline(Envelope<MediaOut>)),
              (status = 400, description = "Malformed multipart or no `file` part", body = ErrorEnvelope),
              (status = 404, description = "No such bot", body = ErrorEnvelope),
              (status = 413, description = "Over media_max_upload_bytes", body = ErrorEnvelope),
              (status = 415, description = "Not multipart/form-data", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn upload_media(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let limit = state.media.max_upload_bytes();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(MULTIPART_SLACK)) {
        drain(request.into_body().into_data_stream()).await;
        return Err(ApiError::payload_too_large(
            usize::try_from(limit).unwrap_or(usize::MAX),
        ));
    }
    let mut multipart = Multipart::from_request(request, &state).await.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "expected Content-Type: multipart/form-data with a boundary",
        )
    })?;
    let mut other_bytes: u64 = 0;
    loop {
        let field = multipart.next_field().await.map_err(malformed)?;
        let Some(mut field) = field else {
            return Err(ApiError::field(
                "file",
                "missing: send the file as the multipart part named `file`",
            ));
        };
        if field.name() != Some("file") {
            // Other form fields are ignored, but bounded.
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                other_bytes += chunk.len() as u64;
                if other_bytes > MULTIPART_SLACK {
                    return Err(ApiError::validation("form fields other than `file` are too large"));
                }
            }
            continue;
        }
        let file_name = field.file_name().map(str::to_string);
        let declared_type = field.content_type().map(str::to_string);
        let result = state
            .media
            .upload(bot.id, file_name.as_deref(), declared_type.as_deref(), &mut field)
            .await;
        return match result {
            Ok((media, created)) => {
                let out = media_out(&state, media).await?;
                Ok(if created {
                    Created(out).into_response()
                } else {
                    ApiOk(out).into_response()
                })
            }
            Err(e) => {
                if matches!(e, MediaError::Blob(BlobError::TooLarge { .. })) {
                    drop(field);
                    drain_multipart(&mut multipart).await;
                }
                Err(e.into())
            }
        };
    }
}

fn malformed(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::validation(format!("malformed multipart body: {}", e.body_text()))
}

/// Read and discard what is left of a rejected body (bounded in size and time), so a client
/// still writing it sees the answer rather than a reset connection.
async fn drain_multipart(multipart: &mut Multipart) {
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen: u64 = 0;
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(chunk)) = field.chunk().await {
                seen += chunk.len() as u64;
                if seen > 64 * 1024 * 1024 {
                    return;
                }
            }
        }
    })
    .await;
}

async fn drain(body: axum::body::BodyDataStream) {
    use futures::StreamExt;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut body = body;
        let mut seen: u64 = 0;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len() as u64;
            if seen > 64 * 1024 * 1024 {
                return;
            }
        }
    })
    .await;
}

#[utoipa::path(get, path = "/v1/api/bots/{bot_id}/media", tag = "media", params(MediaListQuery),
    responses((status = 200, description = "The bot's media, oldest first", body = inline(Envelope<Vec<MediaOut>>)),
              (status = 400, description = "Bad filter or paging", body = ErrorEnvelope),
              (status = 404, description = "No such bot", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn list_media(
    State(state): State<AppState>,
    auth: Auth,
    Path(bot_id): Path<String>,
    ApiQuery(q): ApiQuery<MediaListQuery>,
) -> ApiResult<ApiPage<MediaOut>> {
    let bot = load_bot(&state, &auth, &bot_id).await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let kind = q.file_type.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = kind
        && !sniff::KINDS.contains(&k)
    {
        return Err(ApiError::field(
            "file_type",
            format!("must be one of {}", sniff::KINDS.join(", ")),
        ));
    }
    let rows = state.store.list_media(bot.id, kind, page).await?;
    let aliases = state.store.bot_media_aliases(bot.id).await?;
    Ok(ApiPage::from_rows(rows, page, |m| m.id, |m| MediaOut::new(m, &aliases)))
}

#[utoipa::path(get, path = "/v1/api/media/{media_id}", tag = "media",
    responses((status = 200, description = "OK", body = inline(Envelope<MediaOut>)),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_media(
    State(state): State<AppState>,
    auth: Auth,
    Path(media_id): Path<String>,
) -> ApiResult<ApiOk<MediaOut>> {
    let media = load_media(&state, &auth, &media_id).await?;
    Ok(ApiOk(media_out(&state, media).await?))
}

#[utoipa::path(delete, path = "/v1/api/media/{media_id}", tag = "media",
    responses((status = 204, description = "Deleted, with its aliases, cached platform ids and (when no other media of the bot has the same bytes) its blob"),
              (status = 404, description = "Not found", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn delete_media(
    State(state): State<AppState>,
    auth: Auth,
    Path(media_id): Path<String>,
) -> ApiResult<StatusCode> {
    let media = load_media(&state, &auth, &media_id).await?;
    if !state.media.delete(&media).await? {
        return Err(ApiError::not_found("media"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/api/media/{media_id}/platform-id", tag = "media", request_body = MediaAliasIn,
    responses((status = 200, description = "The media with its new alias", body = inline(Envelope<MediaOut>)),
              (status = 400, description = "Invalid platform or alias", body = ErrorEnvelope),
              (status = 404, description = "Not found", body = ErrorEnvelope),
              (status = 409, description = "Another media of the bot has this alias", body = ErrorEnvelope)),
    security(("api_key" = [])))]
async fn set_media_alias(
    State(state): State<AppState>,
    auth: Auth,
    Path(media_id): Path<String>,
    ApiJson(body): ApiJson<MediaAliasIn>,
) -> ApiResult<ApiOk<MediaOut>> {
    let media = load_media(&state, &auth, &media_id).await?;
    if !sniff::valid_platform(&body.platform) {
        return Err(ApiError::field(
            "platform",
            "must be 1–32 characters of a-z, 0-9, _ and -",
        ));
    }
    if !sniff::valid_alias(&body.file_id) {
        return Err(ApiError::field(
            "file_id",
            "must be 1–100 characters of A-Z, a-z, 0-9, _, . and -",
        ));
    }
    state
        .store
        .set_media_alias(media.bot_id, media.id, &body.platform, &body.file_id)
        .await?;
    let media = state
        .store
        .get_media(media.id)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    Ok(ApiOk(media_out(&state, media).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    // Uploads are streamed and limited by media_max_upload_bytes, not the JSON body limit.
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_media, list_media))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(get_media, delete_media))
        .routes(routes!(set_media_alias))
        .routes(routes!(super::media_content::get_media_content))
        .layer(axum::Extension(RateCategory::Media))
}
