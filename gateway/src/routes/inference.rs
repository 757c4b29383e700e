//! Serving routes proxied to workers.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use smg_sdk::error_codes;
use smg_sdk::{
    ChatCompletionRequest, ChatCompletionResponse, CompletionRequest, CompletionResponse,
    EmbeddingRequest, EmbeddingResponse, ErrorBody, GenerateRequest, GenerateResponse,
    RerankRequest, RerankResult,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;

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
                    ApiError::bad_request(error_codes::BAD_REQUEST, e.body_text())
                }
            })
    }
}

/// One proxied route: a handler documented with the request and answer shapes workers use.
/// Arguments are `tt` so `#[utoipa::path]` sees plain literals and idents.
macro_rules! proxied {
    ($handler:ident, $path:tt, $request:tt, $response:tt, $what:tt) => {
        #[doc = concat!("`POST ", $path, "`: ", $what, ", proxied to a worker.")]
        #[utoipa::path(
            post,
            path = $path,
            tag = "inference",
            request_body = $request,
            responses(
                (status = 200, description = "The worker's answer: JSON, or server-sent events with `\"stream\": true`",
                    content(($response = "application/json"), (String = "text/event-stream"))),
                // A worker's JSON error passes through unchanged (decision D1), so these
                // statuses carry either the gateway's D1 body or the worker's own JSON object.
                (status = 400, description = "The worker refused the request: its own JSON error, passed through unchanged (e.g. `{\"error\":{…,\"code\":400}}`); or D1's body from the gateway", body = Object),
                (status = 413, description = "The body is larger than `--max-payload-size` (D1, `PAYLOAD_TOO_LARGE`), or than the worker accepts (its JSON error passed through, or its text wrapped in D1 with `WORKER_ERROR`)", body = Object),
                (status = 502, description = "The worker could not be reached (`WORKER_UNREACHABLE`)", body = ErrorBody),
                (status = 503, description = "No ready worker serves the model (`NO_AVAILABLE_WORKERS`)", body = ErrorBody),
                (status = 504, description = "The worker did not answer in time (`WORKER_TIMEOUT`)", body = ErrorBody),
                (status = "default", description = "The worker's own status and body, passed through (e.g. its 400 for an invalid request)",
                    content_type = "*/*"),
            ),
        )]
        pub async fn $handler(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: ApiBytes,
        ) -> Response {
            forward(state, $path, headers, body).await
        }
    };
}

proxied!(
    generate,
    "/generate",
    GenerateRequest,
    GenerateResponse,
    "SGLang's native generation"
);
proxied!(
    chat_completions,
    "/v1/chat/completions",
    ChatCompletionRequest,
    ChatCompletionResponse,
    "OpenAI chat completions"
);
proxied!(
    completions,
    "/v1/completions",
    CompletionRequest,
    CompletionResponse,
    "OpenAI text completions"
);
proxied!(
    embeddings,
    "/v1/embeddings",
    EmbeddingRequest,
    EmbeddingResponse,
    "OpenAI embeddings"
);
proxied!(
    rerank,
    "/rerank",
    RerankRequest,
    [RerankResult],
    "Rerank documents (SGLang)"
);
proxied!(
    v1_rerank,
    "/v1/rerank",
    RerankRequest,
    [RerankResult],
    "Rerank documents"
);
proxied!(
    messages,
    "/v1/messages",
    Object,
    Object,
    "Anthropic messages"
);
proxied!(classify, "/v1/classify", Object, Object, "Classification");

/// The proxied routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(chat_completions))
        .routes(routes!(completions))
        .routes(routes!(embeddings))
        .routes(routes!(rerank))
        .routes(routes!(v1_rerank))
        .routes(routes!(messages))
        .routes(routes!(classify))
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
