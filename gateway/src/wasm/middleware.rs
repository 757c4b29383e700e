//! The WASM middleware layer, outermost on the serving routes (as upstream):
//!
//! - `OnRequest`, before routing: the body is buffered (10 MiB at most); `reject(status)`
//!   answers at once; `modify` rewrites headers (set, add, remove) and the body (its status is
//!   ignored). Later modules see the rewritten request.
//! - `OnError`, when the response carries [`UpstreamFailure`] (the proxy found no worker, or
//!   the worker was unreachable, timed out or answered 5xx): may replace the error response's
//!   status, headers and body. The gateway's own errors (a tokenize failure, a tokenizer not
//!   ready yet) are not proxied failures and do not run `OnError`.
//! - `OnResponse`, on every non-streaming response: `reject(status)` replaces the status and
//!   stops; `modify` changes status, headers and body.
//!
//! Modules run oldest first. A module that traps, times out or runs out of memory is logged,
//! counted as failed, and treated as `continue`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use smg_sdk::MiddlewareAttachPoint;
use smg_sdk::error_codes;

use super::abi::{self, Action, ModifyAction};
use super::service::{LoadedModule, WasmService};
use crate::error::{ApiError, error_type};
use crate::proxy::UpstreamFailure;
use crate::request_id::{REQUEST_ID_HEADER, RequestId};

/// Wrap the serving routes with the WASM middleware (nothing at all when WASM is disabled).
pub fn layer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    wasm: Option<Arc<WasmService>>,
) -> Router<S> {
    match wasm {
        Some(wasm) => router.layer(middleware::from_fn_with_state(wasm, run)),
        None => router,
    }
}

/// What `OnError` modules get to know about the request.
struct RequestSummary {
    method: String,
    path: String,
    query: String,
    request_id: String,
}

/// The middleware function.
pub async fn run(State(wasm): State<Arc<WasmService>>, request: Request, next: Next) -> Response {
    let modules = wasm.snapshot();
    if modules.is_empty() {
        return next.run(request).await;
    }
    let limit = wasm.limits().body_bytes;
    let summary = RequestSummary {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        query: request.uri().query().unwrap_or_default().to_string(),
        request_id: request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .or_else(|| header_str(request.headers(), REQUEST_ID_HEADER))
            .unwrap_or_default(),
    };

    let on_request: Vec<&Arc<LoadedModule>> = attached(&modules, MiddlewareAttachPoint::OnRequest);
    let request = if on_request.is_empty() {
        request
    } else {
        match run_on_request(&wasm, &on_request, &summary, request, limit).await {
            Ok(request) => request,
            Err(response) => return response,
        }
    };

    let response = next.run(request).await;

    let failure = response.extensions().get::<UpstreamFailure>().cloned();
    let on_error = match &failure {
        Some(failure) => attached(&modules, MiddlewareAttachPoint::OnError)
            .into_iter()
            .map(|module| (module, failure))
            .collect(),
        None => Vec::new(),
    };
    let on_response = attached(&modules, MiddlewareAttachPoint::OnResponse);
    if (on_error.is_empty() && on_response.is_empty()) || is_streaming(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut body = match buffer(body, limit).await {
        Buffered::Full(bytes) => bytes,
        Buffered::TooLarge(body) => {
            tracing::warn!(
                limit,
                "response body larger than the WASM body limit; response modules skipped"
            );
            return Response::from_parts(parts, body);
        }
        Buffered::Failed(body, error) => {
            tracing::warn!(%error, "cannot read the response body; response modules skipped");
            return Response::from_parts(parts, body);
        }
    };
    let mut body_changed = false;

    for (module, failure) in on_error {
        let info = abi::ErrorInfo {
            method: summary.method.clone(),
            path: summary.path.clone(),
            query: summary.query.clone(),
            request_id: summary.request_id.clone(),
            now_epoch_ms: now_ms(),
            worker: failure.worker.clone().unwrap_or_default(),
            message: failure.message.clone(),
            status: parts.status.as_u16(),
            headers: to_abi(&parts.headers),
            body: body.to_vec(),
        };
        match wasm.on_error(module, &info).await {
            None | Some(Action::Continue) => {}
            Some(Action::Reject(code)) => {
                set_status(&mut parts.status, code, module);
                break;
            }
            Some(Action::Modify(modify)) => {
                if let Some(code) = modify.status {
                    set_status(&mut parts.status, code, module);
                }
                body_changed |= apply(&mut parts.headers, &mut body, modify, module);
            }
        }
    }

    for module in on_response {
        let wasm_response = abi::Response {
            status: parts.status.as_u16(),
            headers: to_abi(&parts.headers),
            body: body.to_vec(),
        };
        match wasm.on_response(module, &wasm_response).await {
            None | Some(Action::Continue) => {}
            Some(Action::Reject(code)) => {
                set_status(&mut parts.status, code, module);
                break;
            }
            Some(Action::Modify(modify)) => {
                if let Some(code) = modify.status {
                    set_status(&mut parts.status, code, module);
                }
                body_changed |= apply(&mut parts.headers, &mut body, modify, module);
            }
        }
    }
    if body_changed {
        parts.headers.remove(TRANSFER_ENCODING);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    Response::from_parts(parts, Body::from(body))
}

async fn run_on_request(
    wasm: &WasmService,
    modules: &[&Arc<LoadedModule>],
    summary: &RequestSummary,
    request: Request,
    limit: usize,
) -> Result<Request, Response> {
    let (mut parts, body) = request.into_parts();
    let mut body = match buffer(body, limit).await {
        Buffered::Full(bytes) => bytes,
        Buffered::TooLarge(_) => {
            return Err(ApiError::payload_too_large(format!(
                "Request body exceeds the {limit}-byte limit of the WASM middleware"
            ))
            .into_response());
        }
        Buffered::Failed(_, error) => {
            return Err(ApiError::bad_request(
                error_codes::BAD_REQUEST,
                format!("Failed to read request body: {error}"),
            )
            .into_response());
        }
    };
    let mut body_changed = false;
    for module in modules {
        let wasm_request = abi::Request {
            method: summary.method.clone(),
            path: summary.path.clone(),
            query: summary.query.clone(),
            headers: to_abi(&parts.headers),
            body: body.to_vec(),
            request_id: summary.request_id.clone(),
            now_epoch_ms: now_ms(),
        };
        match wasm.on_request(module, &wasm_request).await {
            None | Some(Action::Continue) => {}
            Some(Action::Reject(code)) => return Err(rejected(code, module)),
            Some(Action::Modify(modify)) => {
                // A request's status cannot change; `modify.status` is ignored, as upstream.
                body_changed |= apply(&mut parts.headers, &mut body, modify, module);
            }
        }
    }
    if body_changed {
        parts.headers.remove(TRANSFER_ENCODING);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}

fn attached(
    modules: &[Arc<LoadedModule>],
    point: MiddlewareAttachPoint,
) -> Vec<&Arc<LoadedModule>> {
    modules.iter().filter(|m| m.attached(point)).collect()
}

/// The answer to a request a module rejected: the module's status with decision D1's body
/// for errors, an empty body otherwise; an invalid status becomes 400 (as upstream).
fn rejected(code: u16, module: &LoadedModule) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    tracing::info!(module = %module.name(), module_uuid = %module.uuid, status = status.as_u16(), "request rejected by a WASM module");
    if status.is_client_error() || status.is_server_error() {
        ApiError::new(
            status,
            error_type(status),
            error_codes::WASM_MODULE_REJECTED,
            format!("Request rejected by WASM module '{}'", module.name()),
        )
        .into_response()
    } else {
        status.into_response()
    }
}

fn set_status(status: &mut StatusCode, code: u16, module: &LoadedModule) {
    match StatusCode::from_u16(code) {
        Ok(new) => *status = new,
        Err(_) => tracing::warn!(
            module = %module.name(), module_uuid = %module.uuid, code,
            "WASM module returned an invalid status; ignored"
        ),
    }
}

/// Apply a `modify` action: headers set, add, remove (in that order), then the body. Returns
/// whether the body was replaced. Invalid header names or values are skipped with a warning.
fn apply(
    headers: &mut HeaderMap,
    body: &mut Bytes,
    modify: ModifyAction,
    module: &LoadedModule,
) -> bool {
    let parse = |h: &abi::Header| -> Option<(HeaderName, HeaderValue)> {
        let parsed = HeaderName::from_bytes(h.name.as_bytes())
            .ok()
            .zip(HeaderValue::from_str(&h.value).ok());
        if parsed.is_none() {
            tracing::warn!(
                module = %module.name(), module_uuid = %module.uuid, header = %h.name,
                "WASM module set an invalid header; ignored"
            );
        }
        parsed
    };
    for h in &modify.headers_set {
        if let Some((name, value)) = parse(h) {
            headers.insert(name, value);
        }
    }
    for h in &modify.headers_add {
        if let Some((name, value)) = parse(h) {
            headers.append(name, value);
        }
    }
    for name in &modify.headers_remove {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            headers.remove(name);
        }
    }
    match modify.body_replace {
        Some(new) => {
            *body = Bytes::from(new);
            true
        }
        None => false,
    }
}

fn to_abi(headers: &HeaderMap) -> Vec<abi::Header> {
    headers
        .iter()
        .map(|(name, value)| abi::Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect()
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// SSE, NDJSON and chunked responses stream: response modules never see them (as upstream).
fn is_streaming(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    content_type.starts_with("text/event-stream")
        || content_type.starts_with("application/x-ndjson")
        || headers
            .get(TRANSFER_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
}

enum Buffered {
    Full(Bytes),
    /// Over the limit: the body, rebuilt from what was read and what is left.
    TooLarge(Body),
    /// The body failed mid-way: what was read, then the error.
    Failed(Body, axum::Error),
}

/// Read a body into memory, up to `limit` bytes, without losing it when it is larger.
async fn buffer(body: Body, limit: usize) -> Buffered {
    use axum::body::HttpBody as _;
    let hint = body.size_hint();
    if usize::try_from(hint.lower()).unwrap_or(usize::MAX) > limit {
        return Buffered::TooLarge(body);
    }
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                size += chunk.len();
                chunks.push(chunk);
                if size > limit {
                    let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
                    return Buffered::TooLarge(Body::from_stream(head.chain(stream)));
                }
            }
            Err(error) => {
                let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
                let again = axum::Error::new(error.to_string());
                return Buffered::Failed(
                    Body::from_stream(head.chain(futures::stream::once(async { Err(again) }))),
                    error,
                );
            }
        }
    }
    match chunks.len() {
        0 => Buffered::Full(Bytes::new()),
        1 => Buffered::Full(chunks.pop().unwrap_or_default()),
        _ => {
            let mut all = BytesMut::with_capacity(size);
            for chunk in chunks {
                all.extend_from_slice(&chunk);
            }
            Buffered::Full(all.freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffer_keeps_oversized_bodies_whole() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..10)
            .map(|i| Ok(Bytes::from(vec![i as u8; 100])))
            .collect();
        let body = Body::from_stream(futures::stream::iter(chunks));
        let Buffered::TooLarge(body) = buffer(body, 250).await else {
            panic!("expected TooLarge");
        };
        let all = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(all.len(), 1000);
        assert_eq!(all[999], 9);

        let Buffered::Full(bytes) = buffer(Body::from("hello"), 250).await else {
            panic!("expected Full");
        };
        assert_eq!(&bytes[..], b"hello");
        assert!(matches!(
            buffer(Body::from(vec![0u8; 300]), 250).await,
            Buffered::TooLarge(_)
        ));
    }

    #[test]
    fn streaming_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_streaming(&h));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        assert!(is_streaming(&h));
        let mut h = HeaderMap::new();
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert!(is_streaming(&h));
    }
}
