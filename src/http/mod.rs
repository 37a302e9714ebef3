//! The HTTP shell: one file per resource, each with its own `router()`, assembled here under
//! the middleware every request goes through.

pub mod accounts;
pub mod auth;
mod auth_failures;
pub mod bots;
pub mod credentials;
pub mod dialogs;
pub mod error;
pub mod extract;
pub mod jq;
pub mod media;
mod media_content;
mod middleware;
mod openapi_errors;
mod ops;
pub mod outbound_webhooks;
pub mod scenarios;
pub mod server;
mod source_fields;
mod source_ingest;
mod source_log;
mod source_patch;
mod source_replay;
mod source_secret;
pub mod sources;
mod state;
pub mod telegram;
pub mod whatsapp;
mod whatsapp_setup;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

pub use state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "hookline", description = "Webhook platform: Telegram/WhatsApp bots driven by JSON scenarios, and signed, durable outbound webhooks. Every JSON answer is `{\"success\": true, \"data\": …}` or `{\"success\": false, \"error\": {\"code\", \"message\", \"details\"?}}`."),
    tags(
        (name = "accounts", description = "Tenants and their API keys"),
        (name = "bots", description = "Bots: the owners of scenarios, credentials, dialogs and media"),
        (name = "scenarios", description = "Scenario versions: upload, list, activate (roll back)"),
        (name = "dialogs", description = "Conversations of a bot, with their history"),
        (name = "platform-webhooks", description = "Inbound: the updates a messaging platform (Telegram) posts to hookline, and registering hookline's URL with the platform"),
        (name = "media", description = "Bots' media library: upload, aliases, content with Range"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "sources", description = "Inbound: any provider's webhooks (payments, POS, code hosting) received at a source's ingest URL, verified by its preset, logged and routed as events"),
        (name = "outbound-webhooks", description = "Outbound: the signed events hookline delivers to your endpoints — endpoints, event types, events, attempts, replay"),
        (name = "jq", description = "Trying the jq expressions that filter and shape deliveries before saving them"),
    ),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every route with its OpenAPI description. Adding a resource = one `.merge` here.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(accounts::router())
        .merge(bots::router())
        .merge(scenarios::router())
        .merge(credentials::router())
        .merge(dialogs::router())
        .merge(telegram::router())
        .merge(whatsapp::router())
        .merge(media::router())
        .merge(outbound_webhooks::router())
        .merge(jq::router())
        .merge(sources::router())
}

/// The OpenAPI document, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_errors::document_errors(api().into_openapi())
}

pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api().split_for_parts();
    let openapi = openapi_errors::document_errors(openapi);
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;

    routes
        // Swagger UI otherwise sends the document to an outside validator whenever the page is
        // opened from a host other than localhost.
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", openapi)
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "method not allowed on this route",
            )
        })
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                    HeaderName::from_static("x-telegram-bot-api-secret-token"),
                ]))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(middleware::trace_layer())
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(axum::middleware::from_fn(middleware::record_metrics))
                .layer(axum::middleware::from_fn(move |req, next| {
                    middleware::timeout(timeout, req, next)
                }))
                .layer(CompressionLayer::new())
                .layer(axum::middleware::from_fn(extract::refuse_nul_in_uri))
                .layer(axum::middleware::from_fn(move |req, next| {
                    middleware::reject_large_bodies(body_limit, req, next)
                }))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}
