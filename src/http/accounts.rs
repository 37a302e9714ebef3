//! Accounts (tenants) and their API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::extract::{ApiJson, ApiOk, ApiPage, ApiQuery, Created, PageQuery, parse_id, parse_json};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::model::ids::AccountId;
use crate::secrets::generate_api_key;
use crate::store::{Account, ApiKeyRecord, Role, rfc3339};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    /// 1–200 characters.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountOut {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Account> for AccountOut {
    fn from(a: Account) -> Self {
        AccountOut {
            id: a.id.into(),
            name: a.name,
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyIn {
    /// A label for people, e.g. "ci" or "pos-integration".
    #[serde(default)]
    pub name: Option<String>,
    /// `account` (default) or `admin` (only an admin key may create one).
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyOut {
    pub id: Uuid,
    #[schema(value_type = Option<Uuid>)]
    pub account_id: Option<AccountId>,
    pub role: Role,
    pub name: String,
    /// Non-secret start of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key itself: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<ApiKeyRecord> for KeyOut {
    fn from(k: ApiKeyRecord) -> Self {
        KeyOut {
            id: k.id,
            account_id: k.account_id,
            role: k.role,
            name: k.name,
            prefix: k.key_prefix,
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
            key: None,
        }
    }
}

/// A human-readable name: trimmed, 1–200 characters, no control characters.
pub fn validate_name(field: &str, value: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if v.chars().count() > 200 {
        return Err(ApiError::field(field, "must be at most 200 characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::field(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

#[utoipa::path(post, path = "/v1/api/accounts", tag = "accounts", request_body = AccountIn,
    responses((status = 201, description = "Created", body = inline(super::extract::Envelope<AccountOut>)), (status = 403, description = "Forbidden", body = super::extract::ErrorEnvelope)),
    security(("api_key" = [])))]
async fn create_account(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<AccountIn>,
) -> ApiResult<Created<AccountOut>> {
    auth.require_admin()?;
    let name = validate_name("name", &body.name)?;
    let account = state.store.create_account(&name).await?;
    Ok(Created(account.into()))
}

#[utoipa::path(get, path = "/v1/api/accounts", tag = "accounts", params(PageQuery),
    responses((status = 200, description = "OK", body = inline(super::extract::Envelope<Vec<AccountOut>>))), security(("api_key" = [])))]
async fn list_accounts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<AccountOut>> {
    let page = q.page()?;
    let only = if auth.is_admin() {
        None
    } else {
        Some(auth.account_id.unwrap_or(AccountId::from(Uuid::nil())))
    };
    let rows = state.store.list_accounts(only, page).await?;
    Ok(ApiPage::from_rows(rows, page, |a| a.id, AccountOut::from))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}", tag = "accounts",
    responses((status = 200, description = "OK", body = inline(super::extract::Envelope<AccountOut>)), (status = 404, description = "Not found", body = super::extract::ErrorEnvelope)),
    security(("api_key" = [])))]
async fn get_account(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
) -> ApiResult<ApiOk<AccountOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    Ok(ApiOk(account.into()))
}

/// The account named in a path, checked against the caller: 403 for another account the
/// caller is not allowed to reach, 404 when it does not exist.
pub async fn load_account(state: &AppState, auth: &Auth, raw_id: &str) -> ApiResult<Account> {
    let id = parse_id(raw_id, "account")?;
    auth.require_account(id)?;
    state
        .store
        .get_account(id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

#[utoipa::path(post, path = "/v1/api/accounts/{account_id}/keys", tag = "accounts", request_body = KeyIn,
    responses((status = 201, description = "The key is in `data.key`, shown only this once", body = inline(super::extract::Envelope<KeyOut>))),
    security(("api_key" = [])))]
async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Created<KeyOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    // The body is optional: no body means an unnamed account key.
    let body: KeyIn = if body.iter().all(u8::is_ascii_whitespace) {
        KeyIn::default()
    } else {
        parse_json(&body)?
    };
    let role = body.role.unwrap_or(Role::Account);
    if !auth.can_manage(role) {
        return Err(ApiError::forbidden("only an admin API key may issue an admin key"));
    }
    let name = match body.name.as_deref() {
        Some(n) => validate_name("name", n)?,
        None => String::new(),
    };
    let new_key = generate_api_key();
    let record = state
        .store
        .create_api_key(crate::store::NewKey {
            account_id: Some(account.id),
            role,
            name: &name,
            hash: &new_key.hash,
            prefix: &new_key.display_prefix,
        })
        .await?;
    let mut out = KeyOut::from(record);
    out.key = Some(new_key.plaintext.expose().clone());
    Ok(Created(out))
}

#[utoipa::path(get, path = "/v1/api/accounts/{account_id}/keys", tag = "accounts", params(PageQuery),
    responses((status = 200, description = "OK", body = inline(super::extract::Envelope<Vec<KeyOut>>))), security(("api_key" = [])))]
async fn list_keys(
    State(state): State<AppState>,
    auth: Auth,
    Path(account_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiPage<KeyOut>> {
    let account = load_account(&state, &auth, &account_id).await?;
    let page = q.page()?;
    // Only admins manage admin keys: an account key does not learn they exist.
    let role = (!auth.is_admin()).then_some(Role::Account);
    let rows = state.store.list_api_keys(account.id, role, page).await?;
    Ok(ApiPage::from_rows(rows, page, |k| k.id, KeyOut::from))
}

#[utoipa::path(delete, path = "/v1/api/accounts/{account_id}/keys/{key_id}", tag = "accounts",
    responses((status = 204, description = "Revoked"), (status = 404, description = "Not found", body = super::extract::ErrorEnvelope)), security(("api_key" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    Path((account_id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let account = load_account(&state, &auth, &account_id).await?;
    let key_id = parse_id(&key_id, "API key")?;
    let key = state.store.get_api_key(key_id).await?;
    match key {
        // An admin key issued on this account is invisible to its account keys (404, as in the
        // listing), so they can neither learn of it nor revoke it.
        Some(k) if k.account_id == Some(account.id) && k.revoked_at.is_none() && auth.can_manage(k.role) => {
            state.store.revoke_api_key(k.id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::not_found("API key")),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}
