//! What the public routes report about the fleet and the gateway itself: readiness, the
//! model list, and the gateway's version on every response.

use std::collections::HashSet;

use axum::http::HeaderValue;
use axum::response::Response;

use smg_sdk::{ModelList, ModelObject, ReadinessResponse, RuntimeType, WorkerType};

use crate::workers::Registry;

/// Ready when at least one worker can serve; a prefill/decode-only fleet needs a ready
/// worker of each half.
pub fn readiness(registry: &Registry, draining: bool) -> ReadinessResponse {
    if draining {
        return not_ready("draining");
    }
    let workers = registry.all();
    let healthy: Vec<_> = workers.iter().filter(|w| w.is_ready()).collect();
    let has = |t: WorkerType| workers.iter().any(|w| w.spec().worker_type == t);
    let healthy_has = |t: WorkerType| healthy.iter().any(|w| w.spec().worker_type == t);
    let disaggregated =
        !has(WorkerType::Regular) && (has(WorkerType::Prefill) || has(WorkerType::Decode));
    let ok = if disaggregated {
        healthy_has(WorkerType::Prefill) && healthy_has(WorkerType::Decode)
    } else {
        !healthy.is_empty()
    };
    if ok {
        ReadinessResponse {
            status: "ready".into(),
            healthy_workers: Some(healthy.len()),
            total_workers: Some(workers.len()),
            reason: None,
        }
    } else {
        not_ready("insufficient healthy workers")
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
    for worker in registry.all() {
        let spec = worker.spec();
        if spec.runtime_type == RuntimeType::External {
            continue;
        }
        for card in &spec.models {
            if seen.insert(card.id.clone()) {
                data.push(ModelObject {
                    id: card.id.clone(),
                    object: "model".into(),
                    created: 0,
                    owned_by: card
                        .provider
                        .as_ref()
                        .or(spec.provider.as_ref())
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "self_hosted".into()),
                });
            }
        }
    }
    ModelList {
        object: "list".into(),
        data,
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
