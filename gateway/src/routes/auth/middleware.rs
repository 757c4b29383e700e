//! Auth and audit middleware: the control-plane group (admin credentials, then the audit
//! record of every change and refusal) and the serving group (the serving API key).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use smg_sdk::error_codes;
use smg_sdk::{AuditOutcome, Principal};

use crate::app::AppState;
use crate::auth::audit::{self, EventInput};
use crate::auth::jwt::JwtError;
use crate::auth::{AuthFailure, AuthService};
use crate::error::ApiError;
use crate::request_id::RequestId;

const CONTROL_PLANE_REALM: &str = "Bearer realm=\"control-plane\"";
const SERVING_REALM: &str = "Bearer realm=\"serving\"";
/// The one control-plane route any authenticated role may call.
const WHOAMI: &str = "/admin/whoami";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audited_changes() {
        assert!(is_audited_change(&Method::POST, "/workers"));
        assert!(is_audited_change(&Method::DELETE, "/admin/api-keys/x"));
        assert!(!is_audited_change(&Method::GET, "/workers"));
        assert!(!is_audited_change(&Method::POST, "/parse/reasoning"));
    }
}
