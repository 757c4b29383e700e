//! The listener of one worker. Connections are served by hyper directly (not
//! `axum::serve`) so that a request can end its connection without any response: hyper
//! aborts a connection whose service returns `Err`, which is how `drop_connections` is
//! simulated for new and kept-alive connections alike.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::WorkerState;
use super::routes::ApiError;

/// Response headers naming the worker that answered.
pub const WORKER_HEADER: &str = "x-mock-worker";
/// Response header carrying the worker's port.
pub const PORT_HEADER: &str = "x-mock-port";

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// Accept connections until `shutdown` changes or its sender is dropped, then abort the
/// connections still open.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<WorkerState>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            // Reap finished connections so the set stays as small as the open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&state), router.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, port = state.port, "mock worker accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, state: Arc<WorkerState>, router: Router) {
    // Ignored: latency only matters for the streaming tests, and a failure changes nothing.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let router = router.clone();
        async move { handle(&state, router, request).await }
    });
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "mock worker connection ended");
    }
}

/// Apply faults and the API key (never to `/_mock/*`), route, and stamp the worker headers.
async fn handle(
    state: &WorkerState,
    router: Router,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let path = request.uri().path().to_string();
    let response = if path.starts_with("/_mock/") {
        route(router, request).await
    } else {
        let fault = state.fault();
        if fault.drop_connections {
            state.count_dropped_connection();
            return Err(DropConnection);
        }
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let headers = (request.method() == Method::POST).then(|| header_map(request.headers()));
        let version = format!("{:?}", request.version());
        state.record_request(&path, version, authorization.clone(), headers);
        if fault.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
        }
        if !authorized(state.config.api_key.as_deref(), authorization.as_deref()) {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Invalid or missing API key",
                "authentication_error",
            )
            .into_response()
        } else if let Some(status) = fault.status.filter(|_| is_inference(&path)) {
            state.count_inference();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, "injected status fault", "server_error").into_response()
        } else {
            route(router, request).await
        }
    };
    Ok(stamp(state, response))
}

/// The inference routes, which `Fault::status` answers for.
fn is_inference(path: &str) -> bool {
    matches!(
        path,
        "/generate"
            | "/v1/chat/completions"
            | "/v1/completions"
            | "/v1/embeddings"
            | "/v1/rerank"
            | "/rerank"
            | "/v1/classify"
            | "/v1/messages"
    )
}

/// Request headers by lower-case name, repeated ones joined with `, `.
fn header_map(headers: &axum::http::HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

async fn route(router: Router, request: Request<Incoming>) -> Response<Body> {
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn authorized(api_key: Option<&str>, authorization: Option<&str>) -> bool {
    let Some(key) = api_key else {
        return true;
    };
    authorization
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .is_some_and(|token| token.trim() == key)
}

fn stamp(state: &WorkerState, mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(WORKER_HEADER, HeaderValue::from(state.index));
    headers.insert(PORT_HEADER, HeaderValue::from(state.port));
    response
}

#[cfg(test)]
mod tests {
    use super::authorized;

    #[test]
    fn bearer_check() {
        assert!(authorized(None, None));
        assert!(!authorized(Some("k"), None));
        assert!(!authorized(Some("k"), Some("Bearer x")));
        assert!(!authorized(Some("k"), Some("k")));
        assert!(authorized(Some("k"), Some("Bearer k")));
    }
}
