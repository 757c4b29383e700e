//! Fan-out admin routes: `/get_loads`, `/flush_cache`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

pub async fn get_loads(State(state): State<AppState>) -> Response {
    let workers = state.workers.registry.all();
    Json(state.fanout().get_loads(workers).await).into_response()
}

pub async fn flush_cache(State(state): State<AppState>) -> Response {
    let workers = state.workers.registry.all();
    let result = state.fanout().flush_cache(workers).await;
    let status = if result.is_partial() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}
