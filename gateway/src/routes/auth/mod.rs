//! The `/admin/*` routes: runtime API keys, the audit log, and `whoami`. The auth and audit
//! middleware of the route groups is in [`middleware`].

mod middleware;

pub use middleware::{control_plane_auth, serving_auth};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use smg_sdk::error_codes;
use smg_sdk::{
    ApiKeyActionResponse, ApiKeyCreateRequest, ApiKeyCreated, ApiKeyInfo, ApiKeyList,
    ApiKeyRotated, ApiKeyUpdateRequest, AuditLogResponse, AuditQuery, ErrorBody, Principal,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::audit;
use crate::auth::keys::{KeyError, SHOWN_ONCE};
use crate::error::ApiError;

/// The `/admin/*` routes (inside the control-plane group, so behind its auth and audit).
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(get_key, update_key, delete_key))
        .routes(routes!(rotate_key))
        .routes(routes!(enable_key))
        .routes(routes!(disable_key))
        .routes(routes!(query_audit))
        .routes(routes!(whoami))
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        let message = e.to_string();
        match e {
            KeyError::Invalid(_) => ApiError::bad_request(error_codes::BAD_REQUEST, message),
            KeyError::AlreadyExists(_) => {
                ApiError::conflict(error_codes::API_KEY_ALREADY_EXISTS, message)
            }
            KeyError::SecretInUse => {
                ApiError::conflict(error_codes::API_KEY_SECRET_IN_USE, message)
            }
            KeyError::NotFound(_) => ApiError::not_found(error_codes::API_KEY_NOT_FOUND, message),
            KeyError::LimitReached(_) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                error_codes::API_KEY_LIMIT_REACHED,
                message,
            ),
            KeyError::LastAdminCredential { .. } => {
                ApiError::conflict(error_codes::LAST_ADMIN_CREDENTIAL, message)
            }
            KeyError::Store(_) => ApiError::internal(message),
        }
    }
}

fn caller(req_principal: Option<axum::Extension<Principal>>) -> Option<String> {
    req_principal.map(|p| p.0.id)
}

/// `POST /admin/api-keys`: the secret is in this answer only.
#[utoipa::path(
    post,
    path = "/admin/api-keys",
    tag = "admin",
    request_body = ApiKeyCreateRequest,
    responses(
        (status = 201, description = "Created; store `key` now, it is never shown again", body = ApiKeyCreated,
            headers(("Location" = String, description = "`/admin/api-keys/{id}`"))),
        (status = 400, description = "Invalid id, name, role, expiry or secret (`BAD_REQUEST`)", body = ErrorBody),
        (status = 409, description = "The id or the secret is taken (`API_KEY_ALREADY_EXISTS`, `API_KEY_SECRET_IN_USE`)", body = ErrorBody),
        (status = 507, description = "The key limit is reached (`API_KEY_LIMIT_REACHED`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn create_key(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    ApiJson(request): ApiJson<ApiKeyCreateRequest>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let created = auth
        .keys
        .create(request, caller(principal), auth.other_credentials(), |d| {
            auth.digest_taken(d)
        })
        .await?;
    let r = created.record;
    tracing::info!(id = %r.id, role = %r.role, key = %r.masked(), "API key created");
    let location = format!("/admin/api-keys/{}", r.id);
    let body = ApiKeyCreated {
        key: created.secret.into(),
        masked_key: r.masked(),
        id: r.id,
        name: r.name,
        description: r.description,
        role: r.role,
        enabled: r.enabled,
        created_at: r.created_at,
        expires_at: r.expires_at,
        warning: SHOWN_ONCE.into(),
    };
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        Json(body),
    )
        .into_response())
}

/// `GET /admin/api-keys`: every key, masked.
#[utoipa::path(
    get,
    path = "/admin/api-keys",
    tag = "admin",
    responses((status = 200, description = "The keys, oldest first, and counts", body = ApiKeyList)),
)]
async fn list_keys(State(state): State<AppState>) -> Response {
    Json(state.auth.keys.list()).into_response()
}

/// `GET /admin/api-keys/{id}`.
#[utoipa::path(
    get,
    path = "/admin/api-keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key, masked", body = ApiKeyInfo),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
    ),
)]
async fn get_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let key = state.auth.keys.get(&id)?;
    Ok(Json(key.info(Utc::now())).into_response())
}

fn action(action: &str, record: &crate::auth::keys::StoredKey) -> Json<ApiKeyActionResponse> {
    Json(ApiKeyActionResponse {
        success: true,
        action: action.into(),
        id: record.id.clone(),
        key: Some(record.info(Utc::now())),
    })
}

/// `PUT /admin/api-keys/{id}`: change the fields given (not the secret: rotate it).
#[utoipa::path(
    put,
    path = "/admin/api-keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    request_body = ApiKeyUpdateRequest,
    responses(
        (status = 200, description = "Updated (`action: update`)", body = ApiKeyActionResponse),
        (status = 400, description = "Nothing to update, or an invalid value (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It would leave no working admin credential (`LAST_ADMIN_CREDENTIAL`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn update_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<ApiKeyUpdateRequest>,
) -> Result<Response, ApiError> {
    if update.is_empty() {
        return Err(ApiError::bad_request(
            error_codes::BAD_REQUEST,
            "nothing to update: give at least one of name, description, role, enabled, expires_at",
        ));
    }
    let auth = &state.auth;
    let record = auth
        .keys
        .update(&id, update, auth.other_credentials())
        .await?;
    tracing::info!(id = %record.id, "API key updated");
    Ok(action("update", &record).into_response())
}

async fn set_enabled(state: &AppState, id: &str, enabled: bool) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let record = auth
        .keys
        .set_enabled(id, enabled, auth.other_credentials())
        .await?;
    let verb = if enabled { "enable" } else { "disable" };
    tracing::info!(id = %record.id, "API key {verb}d");
    Ok(action(verb, &record).into_response())
}

/// `POST /admin/api-keys/{id}/enable`.
#[utoipa::path(
    post,
    path = "/admin/api-keys/{id}/enable",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Enabled (`action: enable`)", body = ApiKeyActionResponse),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn enable_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    set_enabled(&state, &id, true).await
}

/// `POST /admin/api-keys/{id}/disable`.
#[utoipa::path(
    post,
    path = "/admin/api-keys/{id}/disable",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Disabled (`action: disable`)", body = ApiKeyActionResponse),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It would leave no working admin credential (`LAST_ADMIN_CREDENTIAL`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn disable_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    set_enabled(&state, &id, false).await
}

/// `POST /admin/api-keys/{id}/rotate`: a new secret, shown once; the old one stops working.
#[utoipa::path(
    post,
    path = "/admin/api-keys/{id}/rotate",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Rotated; store `new_key` now", body = ApiKeyRotated),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It would leave no working admin credential (`LAST_ADMIN_CREDENTIAL`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn rotate_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let rotated = auth.keys.rotate(&id, auth.other_credentials()).await?;
    let r = rotated.record;
    tracing::info!(id = %r.id, key = %r.masked(), "API key rotated");
    let body = ApiKeyRotated {
        success: true,
        action: "rotate".into(),
        id: r.id.clone(),
        new_key: rotated.secret.into(),
        masked_key: r.masked(),
        warning: SHOWN_ONCE.into(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// `DELETE /admin/api-keys/{id}`.
#[utoipa::path(
    delete,
    path = "/admin/api-keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Deleted (`action: delete`)", body = ApiKeyActionResponse),
        (status = 404, description = "No such key (`API_KEY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "It would leave no working admin credential (`LAST_ADMIN_CREDENTIAL`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
async fn delete_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    auth.keys.delete(&id, auth.other_credentials()).await?;
    tracing::info!(id = %id, "API key deleted");
    Ok(Json(ApiKeyActionResponse {
        success: true,
        action: "delete".into(),
        id,
        key: None,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// /admin/audit and /admin/whoami

/// Filters of `GET /admin/audit`, all optional. Instants are RFC 3339, Unix milliseconds, or an
/// age such as `90s`, `15m`, `1h`, `7d`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// Only events at or after this instant.
    since: Option<String>,
    /// Only events before this instant.
    until: Option<String>,
    /// Only events of this principal (its id or auth method).
    principal: Option<String>,
    /// Only events whose path starts with this.
    path: Option<String>,
    /// Most events returned, 1-1000 (default 100).
    limit: Option<String>,
}

/// An audit filter's instant, or D1's 400 naming the parameter.
fn instant(raw: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    audit::parse_instant(raw)
        .map_err(|e| ApiError::bad_request(error_codes::BAD_REQUEST, format!("`{name}` {e}")))
}

/// `GET /admin/audit`: recorded control-plane changes and refusals, newest first.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, description = "The matching events", body = AuditLogResponse),
        (status = 400, description = "An invalid filter (`BAD_REQUEST`)", body = ErrorBody),
        (status = 500, description = "The audit log could not be read", body = ErrorBody),
    ),
)]
async fn query_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let limit = match params.limit.as_deref() {
        None | Some("") => audit::DEFAULT_QUERY_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=audit::MAX_QUERY_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    error_codes::BAD_REQUEST,
                    format!("`limit` must be 1-{} (got '{raw}')", audit::MAX_QUERY_LIMIT),
                ));
            }
        },
    };
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let filter = AuditQuery {
        since: non_empty(params.since)
            .map(|s| instant(&s, "since"))
            .transpose()?,
        until: non_empty(params.until)
            .map(|s| instant(&s, "until"))
            .transpose()?,
        principal: non_empty(params.principal),
        path: non_empty(params.path),
        limit: Some(limit),
    };
    let log = &state.auth.audit;
    let events = log
        .query(&filter)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    Ok(Json(AuditLogResponse {
        count: events.len(),
        events,
        enabled: log.enabled,
    })
    .into_response())
}

/// `GET /admin/whoami`: who the credential authenticates as; any role may call it.
#[utoipa::path(
    get,
    path = "/admin/whoami",
    tag = "admin",
    responses((status = 200, description = "The principal", body = Principal)),
)]
async fn whoami(principal: Option<axum::Extension<Principal>>) -> Result<Response, ApiError> {
    match principal {
        Some(axum::Extension(p)) => Ok(Json(p).into_response()),
        None => Err(ApiError::internal("no principal on an authenticated route")),
    }
}
