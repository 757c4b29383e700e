//! What the public routes report about the fleet and the gateway itself: readiness, the
//! model list, and the gateway's version on every response.

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::HeaderValue;
use axum::response::Response;

use smg_sdk::{
    ConnectionMode, ModelCard, ModelList, ModelObject, ReadinessResponse, RuntimeType, WorkerSpec,
    WorkerType,
};

use crate::workers::Registry;

/// `/readiness` reason when every healthy regular worker is cordoned.
pub const REASON_ALL_CORDONED: &str =
    "no worker can take traffic: every ready regular worker is cordoned (disabled)";
/// `/readiness` reason when the healthy workers are all prefill, decode or encode workers,
/// which this gateway's data plane does not route to.
pub const REASON_NO_REGULAR: &str = "no worker can take traffic: no regular worker is ready (prefill/decode/encode workers get no requests here)";

/// Ready when the data plane can route a request: some worker is ready, not cordoned, a
/// regular worker and reachable over HTTP. Otherwise not ready, with upstream's
/// `insufficient healthy workers` when no worker is healthy at all, or a reason saying why the
/// healthy ones cannot take traffic.
pub fn readiness(registry: &Registry, draining: bool) -> ReadinessResponse {
    if draining {
        return not_ready("draining");
    }
    let workers = registry.all();
    let healthy: Vec<_> = workers.iter().filter(|w| w.is_ready()).collect();
    let regular: Vec<_> = healthy
        .iter()
        .filter(|w| {
            let spec = w.spec();
            spec.worker_type == WorkerType::Regular && spec.connection_mode == ConnectionMode::Http
        })
        .collect();
    if regular.iter().any(|w| !w.is_disabled()) {
        ReadinessResponse {
            status: "ready".into(),
            healthy_workers: Some(healthy.len()),
            total_workers: Some(workers.len()),
            reason: None,
        }
    } else if healthy.is_empty() {
        not_ready("insufficient healthy workers")
    } else if regular.is_empty() {
        not_ready(REASON_NO_REGULAR)
    } else {
        not_ready(REASON_ALL_CORDONED)
    }
}

fn not_ready(reason: &str) -> ReadinessResponse {
    ReadinessResponse {
        status: "not ready".into(),
        healthy_workers: None,
        total_workers: None,
        reason: Some(reason.into()),
    }
}

/// Model cards of every non-external worker, de-duplicated by id; wildcards add nothing.
pub fn model_list(registry: &Registry) -> ModelList {
    let mut seen = HashSet::new();
    let mut data = Vec::new();
    for spec in local_specs(registry) {
        for card in &spec.models {
            if seen.insert(card.id.clone()) {
                data.push(model_object(card, &spec));
            }
        }
    }
    ModelList {
        object: "list".into(),
        data,
    }
}

/// `GET /v1/models/{id}`: the model with that id (or alias) as `/v1/models` lists it.
pub fn find_model(registry: &Registry, id: &str) -> Option<ModelObject> {
    local_specs(registry).iter().find_map(|spec| {
        spec.models
            .iter()
            .find(|card| card.matches(id))
            .map(|card| model_object(card, spec))
    })
}

/// Specs of the non-external workers, in registry order.
fn local_specs(registry: &Registry) -> Vec<Arc<WorkerSpec>> {
    registry
        .all()
        .iter()
        .map(|w| w.spec())
        .filter(|spec| spec.runtime_type != RuntimeType::External)
        .collect()
}

fn model_object(card: &ModelCard, spec: &WorkerSpec) -> ModelObject {
    ModelObject {
        id: card.id.clone(),
        object: "model".into(),
        created: 0,
        owned_by: card
            .provider
            .as_ref()
            .or(spec.provider.as_ref())
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "self_hosted".into()),
    }
}

/// Response header carrying this gateway's version (an addition to upstream's wire: a client
/// can tell the gateway's version from a worker's `/get_server_info` version).
pub const VERSION_HEADER: &str = "x-smg-version";

/// Stamp a response with [`VERSION_HEADER`].
pub async fn version_header(mut response: Response) -> Response {
    response.headers_mut().insert(
        VERSION_HEADER,
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    response
}
