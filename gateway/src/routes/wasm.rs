//! `/wasm` routes: register modules (JSON descriptors naming files on this host, or a
//! multipart upload — decision D5), list them with metrics, remove one.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use smg_sdk::error_codes;
use smg_sdk::{
    ErrorBody, MiddlewareAttachPoint, WasmModuleAddRequest, WasmModuleAddResponse,
    WasmModuleAttachPoint, WasmModuleDescriptor, WasmModuleList, WasmModuleType,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::wasm::service::upload_path;
use crate::wasm::{RemoveError, WasmService};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add, list))
        .routes(routes!(remove))
        .layer(DefaultBodyLimit::max(state.config.max_wasm_upload_bytes))
}

/// The `multipart/form-data` form of `POST /wasm` (decision D5), read field by field by
/// [`upload`]; this type only documents it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct WasmUploadForm {
    /// The module's bytes: a WebAssembly component (the field may also be named `module`).
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// A label; defaults to the file name without `.wasm`.
    name: Option<String>,
    /// `on-request,on-response`, or a JSON array of names or of `{"Middleware":"OnRequest"}`.
    attach_points: String,
    /// Only `Middleware` exists.
    module_type: Option<WasmModuleType>,
}

/// A 400 of `POST /wasm`: the descriptors with their `add_result` when a module was refused,
/// or D1's body when the request itself was.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum WasmAddRefused {
    Modules(WasmModuleAddResponse),
    Request(ErrorBody),
}

const WASM_DISABLED: &str =
    "WASM is disabled: the gateway was started without `--enable-wasm` (`WASM_DISABLED`)";

fn enabled(state: &AppState) -> Result<Arc<WasmService>, ApiError> {
    state.wasm.clone().ok_or_else(|| {
        ApiError::unavailable(
            error_codes::WASM_DISABLED,
            "WASM modules are disabled on this gateway: start it with `smg launch --enable-wasm` to register and run modules",
        )
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::payload_too_large(format!(
        "WASM module upload exceeds the {limit}-byte limit (--max-wasm-upload-bytes)"
    ))
}

fn answer(modules: Vec<WasmModuleDescriptor>) -> Response {
    let response = WasmModuleAddResponse { modules };
    let status = if response.all_succeeded() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(response)).into_response()
}

/// `POST /wasm`: JSON `{modules: [...]}` (files on this host) or `multipart/form-data` with
/// fields `file`, `name` and `attach_points`. 200 when every module was registered, 400 when
/// any failed; each descriptor is echoed with its `add_result`.
#[utoipa::path(
    post,
    path = "/wasm",
    tag = "wasm",
    request_body(content(
        (WasmModuleAddRequest = "application/json"),
        (WasmUploadForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Every module was registered (`add_result: {\"Success\": uuid}`)", body = WasmModuleAddResponse),
        (status = 400, description = "A module was refused (its `add_result` is `{\"Error\": why}`), or the form is invalid (`INVALID_MULTIPART`, `MISSING_FILE`, `MISSING_ATTACH_POINTS`, …)", body = WasmAddRefused),
        (status = 413, description = "The upload is over `--max-wasm-upload-bytes`", body = ErrorBody),
        (status = 503, description = WASM_DISABLED, body = ErrorBody),
    ),
)]
pub async fn add(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let wasm = enabled(&state)?;
    let limit = state.config.max_wasm_upload_bytes;
    let (content_length, is_multipart) = {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        (
            header(header::CONTENT_LENGTH),
            header(header::CONTENT_TYPE).is_some_and(|ct| ct.starts_with("multipart/form-data")),
        )
    };
    if content_length
        .and_then(|len| len.trim().parse::<usize>().ok())
        .is_some_and(|len| len > limit)
    {
        return Err(too_large(limit));
    }
    if is_multipart {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request(error_codes::INVALID_MULTIPART, e.body_text()))?;
        return upload(&wasm, multipart, limit).await;
    }
    let ApiJson(body) = ApiJson::<WasmModuleAddRequest>::from_request(request, &state).await?;
    let mut results = Vec::with_capacity(body.modules.len());
    for descriptor in body.modules {
        results.push(wasm.add_from_path(descriptor, limit).await);
    }
    Ok(answer(results))
}

fn multipart_error(e: MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::bad_request(error_codes::INVALID_MULTIPART, e.body_text())
    }
}

async fn upload(
    wasm: &WasmService,
    mut multipart: Multipart,
    limit: usize,
) -> Result<Response, ApiError> {
    let mut file: Option<(Option<String>, Vec<u8>)> = None;
    let mut name: Option<String> = None;
    let mut points: Option<Vec<WasmModuleAttachPoint>> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        let field_name = field.name().unwrap_or_default().to_string();
        match field_name.as_str() {
            "file" | "module" => {
                let file_name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(|e| multipart_error(e, limit))?;
                if bytes.len() > limit {
                    return Err(too_large(limit));
                }
                file = Some((file_name, bytes.to_vec()));
            }
            "name" => name = Some(field.text().await.map_err(|e| multipart_error(e, limit))?),
            "attach_points" => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                let parsed = parse_attach_points(&text)
                    .map_err(|e| ApiError::bad_request(error_codes::INVALID_ATTACH_POINTS, e))?;
                points.get_or_insert_with(Vec::new).extend(parsed);
            }
            "module_type" => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                let quoted = serde_json::Value::String(text.trim().to_string());
                serde_json::from_value::<WasmModuleType>(quoted).map_err(|_| {
                    ApiError::bad_request(
                        error_codes::INVALID_MODULE_TYPE,
                        format!(
                            "unknown module_type '{}' (only Middleware exists)",
                            text.trim()
                        ),
                    )
                })?;
            }
            _ => {}
        }
    }
    let Some((file_name, bytes)) = file else {
        return Err(ApiError::bad_request(
            error_codes::MISSING_FILE,
            "the multipart form has no `file` field with the module bytes",
        ));
    };
    let Some(points) = points else {
        return Err(ApiError::bad_request(
            error_codes::MISSING_ATTACH_POINTS,
            "the multipart form has no `attach_points` field (e.g. `on-request,on-response` or `[{\"Middleware\":\"OnRequest\"}]`)",
        ));
    };
    let file_name = file_name.unwrap_or_else(|| "module.wasm".into());
    let name = name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let base = upload_path(&file_name);
            let base = base.trim_start_matches(crate::wasm::service::UPLOAD_PREFIX);
            base.strip_suffix(".wasm").unwrap_or(base).to_string()
        });
    let descriptor = WasmModuleDescriptor {
        name,
        file_path: upload_path(&file_name),
        module_type: WasmModuleType::Middleware,
        attach_points: points,
        add_result: None,
    };
    Ok(answer(vec![wasm.add_bytes(descriptor, bytes).await]))
}

/// `attach_points` of the multipart form: a JSON array of `{"Middleware":"OnRequest"}`
/// objects or of names, or a comma-separated list of names (`on-request,OnResponse`).
pub fn parse_attach_points(raw: &str) -> Result<Vec<WasmModuleAttachPoint>, String> {
    let raw = raw.trim();
    if raw.starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(raw)
            .map_err(|e| format!("attach_points is not a JSON array: {e}"))?;
        return values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s
                    .parse::<MiddlewareAttachPoint>()
                    .map(WasmModuleAttachPoint::from),
                other => serde_json::from_value::<WasmModuleAttachPoint>(other.clone())
                    .map_err(|_| format!("invalid attach point {other}")),
            })
            .collect();
    }
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<MiddlewareAttachPoint>()
                .map(WasmModuleAttachPoint::from)
        })
        .collect()
}

/// `GET /wasm`: the registered modules, with execution metrics.
#[utoipa::path(
    get,
    path = "/wasm",
    tag = "wasm",
    responses(
        (status = 200, description = "The modules, oldest first, and gateway-wide metrics", body = WasmModuleList),
        (status = 503, description = WASM_DISABLED, body = ErrorBody),
    ),
)]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let wasm = enabled(&state)?;
    Ok(Json(wasm.list()).into_response())
}

/// `DELETE /wasm/{module_uuid}`: 200 text `Module removed successfully`; 400 text for an
/// invalid or unknown UUID (as upstream and the seeds).
#[utoipa::path(
    delete,
    path = "/wasm/{module_uuid}",
    tag = "wasm",
    params(("module_uuid" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The module's UUID")),
    responses(
        (status = 200, description = "Removed", content_type = "text/plain", body = String, example = "Module removed successfully"),
        (status = 400, description = "Not a UUID, or no such module", content_type = "text/plain", body = String),
        (status = 500, description = "The store could not be written", content_type = "text/plain", body = String),
        (status = 503, description = WASM_DISABLED, body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let wasm = enabled(&state)?;
    let uuid = match uuid::Uuid::parse_str(raw.trim()) {
        Ok(uuid) => uuid,
        Err(e) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                format!("Invalid module UUID '{raw}': {e}"),
            )
                .into_response());
        }
    };
    Ok(match wasm.remove(&uuid).await {
        Ok(()) => (StatusCode::OK, "Module removed successfully").into_response(),
        Err(e @ RemoveError::NotFound(_)) => {
            (StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        Err(e @ RemoveError::Store { .. }) => {
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_point_forms() {
        use MiddlewareAttachPoint::*;
        let want = |ps: &[MiddlewareAttachPoint]| -> Vec<WasmModuleAttachPoint> {
            ps.iter().copied().map(Into::into).collect()
        };
        assert_eq!(
            parse_attach_points(r#"[{"Middleware":"OnRequest"},{"Middleware":"OnError"}]"#)
                .unwrap(),
            want(&[OnRequest, OnError])
        );
        assert_eq!(
            parse_attach_points(r#"["on-response", "OnRequest"]"#).unwrap(),
            want(&[OnResponse, OnRequest])
        );
        assert_eq!(
            parse_attach_points("on-request, on-error").unwrap(),
            want(&[OnRequest, OnError])
        );
        assert!(parse_attach_points("on-request,nope").is_err());
        assert!(parse_attach_points("[1]").is_err());
    }
}
