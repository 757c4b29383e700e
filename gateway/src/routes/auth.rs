//! Auth middleware for the control-plane and serving route groups, and the `/admin/*` routes:
//! runtime API keys, the audit log, and `whoami`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use smg_sdk::error_codes;
use smg_sdk::{
    ApiKeyActionResponse, ApiKeyCreateRequest, ApiKeyCreated, ApiKeyInfo, ApiKeyList,
    ApiKeyRotated, ApiKeyUpdateRequest, AuditLogResponse, AuditOutcome, AuditQuery, ErrorBody,
    Principal,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::audit::{self, EventInput};
use crate::auth::jwt::JwtError;
use crate::auth::keys::{KeyError, SHOWN_ONCE};
use crate::auth::{AuthFailure, AuthService};
use crate::error::ApiError;
use crate::request_id::RequestId;

const CONTROL_PLANE_REALM: &str = "Bearer realm=\"control-plane\"";
const SERVING_REALM: &str = "Bearer realm=\"serving\"";
/// The one control-plane route any authenticated role may call.
const WHOAMI: &str = "/admin/whoami";

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

// ---------------------------------------------------------------------------------------------
// Middleware

fn unauthorized(code: &'static str, message: impl Into<String>, realm: &'static str) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", code, message);
    e.www_authenticate = Some(realm);
    e
}

fn failure_response(failure: &AuthFailure, realm: &'static str) -> ApiError {
    match failure {
        AuthFailure::Missing => unauthorized(
            error_codes::UNAUTHORIZED,
            "Missing or invalid Authorization header (expected `Authorization: Bearer <token>`)",
            realm,
        ),
        AuthFailure::InvalidToken { .. } => {
            unauthorized(error_codes::INVALID_TOKEN, "Invalid authentication token", realm)
        }
        AuthFailure::Jwt(JwtError::Expired) => {
            unauthorized(error_codes::TOKEN_EXPIRED, "Invalid JWT: token expired", realm)
        }
        AuthFailure::Jwt(JwtError::JwksUnavailable(_)) => ApiError::unavailable(
            error_codes::JWKS_UNAVAILABLE,
            "JWT validation is unavailable: the identity provider's signing keys (JWKS) could not be loaded; JWTs are refused until they load (API keys still work)",
        )
        .with_retry_after(5),
        AuthFailure::Jwt(e) => unauthorized(error_codes::INVALID_TOKEN, format!("Invalid JWT: {e}"), realm),
        AuthFailure::Forbidden(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            error_codes::ADMIN_ROLE_REQUIRED,
            "Admin role required for control plane access",
        ),
    }
}

fn request_id(req: &Request) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// A change worth recording: anything but GET/HEAD/OPTIONS, except the stateless `/parse/*`
/// utilities.
fn is_audited_change(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) && !path.starts_with("/parse/")
}

/// Control-plane auth: authenticate, require the admin role (except on `GET /admin/whoami`),
/// put the [`Principal`] in the request extensions, and record changes and refusals in the
/// audit log.
pub async fn control_plane_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let auth = state.auth.clone();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let rid = request_id(&req);
    let outcome = auth.authenticate_control_plane(req.headers()).await;
    let principal = match outcome {
        Ok(p) if p.is_admin() || (method == Method::GET && path == WHOAMI) => p,
        Ok(p) => return refuse(&auth, AuthFailure::Forbidden(p), &method, &path, rid).await,
        Err(failure) => return refuse(&auth, failure, &method, &path, rid).await,
    };
    if !is_audited_change(&method, &path) {
        let mut req = req;
        req.extensions_mut().insert(principal);
        return next.run(req).await;
    }
    let (req, summary) =
        match summarize_body(req, &method, &path, state.config.max_payload_size).await {
            Ok(x) => x,
            Err(e) => {
                let response = e.clone().into_response();
                record(
                    &auth,
                    Some(&principal),
                    None,
                    &method,
                    &path,
                    e.status,
                    rid,
                    AuditOutcome::Failure,
                    Some(format!("{method} {path}: {}", e.message)),
                )
                .await;
                return response;
            }
        };
    let mut req = req;
    req.extensions_mut().insert(principal.clone());
    let response = next.run(req).await;
    let status = response.status();
    let outcome = if status.is_success() {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    record(
        &auth,
        Some(&principal),
        None,
        &method,
        &path,
        status,
        rid,
        outcome,
        Some(summary),
    )
    .await;
    response
}

#[allow(clippy::too_many_arguments)]
async fn record(
    auth: &AuthService,
    principal: Option<&Principal>,
    principal_hint: Option<String>,
    method: &Method,
    path: &str,
    status: StatusCode,
    request_id: Option<String>,
    outcome: AuditOutcome,
    summary: Option<String>,
) {
    auth.audit
        .record(EventInput {
            principal,
            principal_hint,
            method: method.as_str(),
            path,
            status: status.as_u16(),
            request_id,
            outcome,
            summary,
        })
        .await;
}

async fn refuse(
    auth: &AuthService,
    failure: AuthFailure,
    method: &Method,
    path: &str,
    rid: Option<String>,
) -> Response {
    let error = failure_response(&failure, CONTROL_PLANE_REALM);
    tracing::debug!(%method, path, status = error.status.as_u16(), reason = %failure.audit_reason(), "control-plane request refused");
    let principal = match &failure {
        AuthFailure::Forbidden(p) => Some(p),
        _ => None,
    };
    record(
        auth,
        principal,
        failure.principal_hint(),
        method,
        path,
        error.status,
        rid,
        AuditOutcome::Denied,
        Some(failure.audit_reason()),
    )
    .await;
    error.into_response()
}

/// Buffer a JSON body to summarise it (redacted) for the audit log, and put it back; other
/// bodies are described by type and length, not read.
async fn summarize_body(
    req: Request,
    method: &Method,
    path: &str,
    limit: usize,
) -> Result<(Request, String), ApiError> {
    let headers: &HeaderMap = req.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("application/json") || ct.contains("+json")
    });
    if !is_json {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let summary = match (&content_type, length) {
            (_, 0) => format!("{method} {path}"),
            (ct, n) => format!(
                "{method} {path} <{} body, {n} bytes>",
                ct.as_deref().unwrap_or("untyped")
            ),
        };
        return Ok((req, summary));
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) if declared.is_some_and(|n| n > limit) || is_length_limit(&e) => {
            return Err(ApiError::payload_too_large(format!(
                "Request body too large (limit {limit} bytes)"
            )));
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                error_codes::BAD_REQUEST,
                format!("Failed to read the request body: {e}"),
            ));
        }
    };
    let summary = audit::summarize(method.as_str(), path, content_type.as_deref(), &bytes);
    Ok((Request::from_parts(parts, Body::from(bytes)), summary))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Serving auth: `--api-key` or a runtime key, when any serving credential exists.
pub async fn serving_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match state.auth.authenticate_serving(req.headers()) {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(failure) => {
            tracing::debug!(path = req.uri().path(), reason = %failure.audit_reason(), "serving request refused");
            failure_response(&failure, SERVING_REALM).into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /admin/api-keys

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
    if request
        .key
        .as_ref()
        .is_some_and(|k| crate::auth::jwt::looks_like_jwt(k.expose()))
    {
        return Err(ApiError::bad_request(
            error_codes::BAD_REQUEST,
            "`key` must not look like a JWT (three dot-separated parts)",
        ));
    }
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

/// An RFC 3339 instant, Unix milliseconds, or a relative age such as `90s`, `15m`, `1h`, `7d`.
fn parse_instant(raw: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    let bad = || {
        ApiError::bad_request(
            error_codes::BAD_REQUEST,
            format!(
                "`{name}` must be an RFC 3339 time, Unix milliseconds, or an age like 15m, 1h, 7d (got '{raw}')"
            ),
        )
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(ms) = raw.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms).ok_or_else(bad);
    }
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let age = chrono::Duration::try_seconds(n.saturating_mul(secs)).ok_or_else(bad)?;
    Utc::now().checked_sub_signed(age).ok_or_else(bad)
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
            .map(|s| parse_instant(&s, "since"))
            .transpose()?,
        until: non_empty(params.until)
            .map(|s| parse_instant(&s, "until"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse() {
        assert!(parse_instant("2026-01-01T00:00:00Z", "since").is_ok());
        assert!(parse_instant("1767225600000", "since").is_ok());
        let hour = parse_instant("1h", "since").unwrap();
        let age = Utc::now() - hour;
        assert!(age.num_seconds() >= 3599 && age.num_seconds() <= 3601);
        for bad in ["yesterday", "1w", "h", ""] {
            assert!(parse_instant(bad, "since").is_err(), "{bad}");
        }
    }

    #[test]
    fn audited_changes() {
        assert!(is_audited_change(&Method::POST, "/workers"));
        assert!(is_audited_change(&Method::DELETE, "/admin/api-keys/x"));
        assert!(!is_audited_change(&Method::GET, "/workers"));
        assert!(!is_audited_change(&Method::POST, "/parse/reasoning"));
    }
}
