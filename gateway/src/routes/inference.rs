//! Serving routes proxied to workers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;

use crate::app::AppState;
use crate::error::ApiError;

/// The proxied routes; each goes to the same path on the chosen worker.
pub const ROUTES: [&str; 8] = [
    "/generate",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/rerank",
    "/v1/rerank",
    "/v1/messages",
    "/v1/classify",
];

/// The raw body, with D1 errors (413 over `--max-payload-size`).
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(format!(
                        "Request body too large: {}",
                        e.body_text()
                    ))
                } else {
                    ApiError::bad_request("BAD_REQUEST", e.body_text())
                }
            })
    }
}

pub fn router() -> Router<AppState> {
    ROUTES.iter().fold(Router::new(), |router, route| {
        let route: &'static str = route;
        router.route(
            route,
            post(move |State(state): State<AppState>, headers: HeaderMap, body: ApiBytes| async move {
                forward(state, route, headers, body).await
            }),
        )
    })
}

async fn forward(
    state: AppState,
    route: &'static str,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Response {
    state
        .proxy
        .forward(&state.workers.registry, route, &headers, body)
        .await
}
