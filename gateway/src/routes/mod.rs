//! The HTTP layer: route table and middleware. Handlers are thin: parse, call the domain,
//! map errors to decision D1's body.

mod admin;
mod auth;
pub mod extract;
pub mod inference;
mod parse;
mod public;
mod tokenizers;
mod wasm;
mod workers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{any, get, post};

use crate::app::AppState;
use crate::error::ApiError;
use crate::request_id::request_id;

/// The route table, in three groups with their own middleware:
/// - public: no auth (health, readiness, models, info, the load monitor's `/loads`);
/// - control plane: admin auth and the audit log (workers, loads, cache, profiling, parse, tokenizers,
///   wasm, `/admin/*`, `/ha/*`);
/// - serving: the serving API key and WASM middleware (inference, tokenize).
pub fn router(state: AppState) -> Router {
    let public = Router::new()
        .route("/liveness", get(public::ok_text))
        .route("/health", get(public::ok_text))
        .route("/readiness", get(public::readiness))
        .route("/health_generate", get(public::health_generate))
        .route("/engine_metrics", get(public::engine_metrics))
        .route("/v1/models", get(public::models))
        .route("/v1/models/{*model_id}", get(public::model))
        .route("/loads", get(public::loads))
        .route("/get_model_info", get(public::get_model_info))
        .route("/get_server_info", get(public::get_server_info));

    let control_plane = Router::new()
        .route("/workers", post(workers::create).get(workers::list))
        .route(
            "/workers/{worker_id}",
            get(workers::get)
                .patch(workers::update)
                .put(workers::replace)
                .delete(workers::delete),
        )
        .route("/workers/{worker_id}/retire", post(workers::retire))
        .route("/workers/{worker_id}/flush_cache", post(workers::flush))
        .route("/get_loads", get(admin::get_loads))
        .route("/flush_cache", post(admin::flush_cache))
        .route("/start_profile", post(admin::start_profile))
        .route("/stop_profile", post(admin::stop_profile))
        .merge(wasm::router(&state))
        .route(
            "/v1/tokenizers",
            post(tokenizers::add).get(tokenizers::list),
        )
        .route(
            "/v1/tokenizers/{tokenizer_id}",
            get(tokenizers::get).delete(tokenizers::delete),
        )
        .route(
            "/v1/tokenizers/{tokenizer_id}/status",
            get(tokenizers::status),
        )
        .merge(auth::admin_routes())
        // Decision D4 reserves `/ha/*`; cluster HA is not built yet, so every method and path
        // there answers 501 — behind admin auth, so it never leaks more than the other routes.
        .route("/ha", any(ha_not_available))
        .route("/ha/", any(ha_not_available))
        .route("/ha/{*rest}", any(ha_not_available))
        .merge(
            Router::new()
                .route("/parse/function_call", post(parse::function_call))
                .route("/parse/reasoning", post(parse::reasoning))
                .route("/parse/parsers", get(parse::list))
                .layer(DefaultBodyLimit::max(state.config.max_parse_body_bytes)),
        );

    let serving: Router<AppState> = Router::new()
        .route("/v1/tokenize", post(tokenizers::tokenize))
        .route("/v1/detokenize", post(tokenizers::detokenize))
        .merge(inference::router());

    // Serving auth (`--api-key`, runtime keys), inside the WASM middleware as upstream orders
    // them (WASM → serving auth); it covers every serving route added above.
    let serving = serving.layer(middleware::from_fn_with_state(
        state.clone(),
        auth::serving_auth,
    ));
    // WASM middleware: outermost on the serving group, so keep this after its last route.
    let serving = crate::wasm::layer(serving, state.wasm.clone());

    let max_body = state.config.max_payload_size;
    public
        .merge(control_plane.layer(middleware::from_fn_with_state(
            state.clone(),
            auth::control_plane_auth,
        )))
        .merge(serving)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(request_id))
        .layer(middleware::map_response(crate::info::version_header))
        .with_state(state)
}

async fn ha_not_available() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "NOT_IMPLEMENTED",
        "HA cluster routes (/ha/*) are not available in this version of the gateway",
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("NOT_FOUND", format!("No route for {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
