//! Every body captured from the real upstream SMG 1.13.0 (`fixtures/smg-1.13/`) decodes with the
//! SDK's types, and the worker bodies keep every field through a decode and re-encode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::de::DeserializeOwned;
use serde_json::Value;
use smg_sdk::{
    FleetLoads, FlushCacheResponse, LoadsBody, LoadsShape, LoadsSnapshot, ModelList, ModelObject,
    ReadinessResponse, RuntimeType, WorkerInfo, WorkerListResponse, WorkerStatus, WorkerType,
};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/smg-1.13/", $name))
    };
}

fn decode<T: DeserializeOwned>(name: &str, body: &str) -> T {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{name} does not decode: {e}"))
}

/// The body as JSON, minus `engine_load.version` when it is `""` (upstream's placeholder, which
/// the SDK leaves out when re-encoding).
fn normalized(body: &str) -> Value {
    let mut v: Value = serde_json::from_str(body).unwrap();
    let mut strip = |w: &mut Value| {
        if let Some(load) = w.get_mut("engine_load").and_then(Value::as_object_mut)
            && load.get("version") == Some(&Value::String(String::new()))
        {
            load.remove("version");
        }
    };
    match v.get_mut("workers").and_then(Value::as_array_mut) {
        Some(list) => list.iter_mut().for_each(&mut strip),
        None => strip(&mut v),
    }
    v
}

#[test]
fn worker_list_keeps_every_field() {
    for (name, body) in [
        ("workers.json", fixture!("workers.json")),
        (
            "workers_generic_runtime.json",
            fixture!("workers_generic_runtime.json"),
        ),
    ] {
        let list: WorkerListResponse = decode(name, body);
        assert_eq!(list.total, list.workers.len(), "{name}");
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            normalized(body),
            "{name} lost or changed a field"
        );
    }
    let list: WorkerListResponse = decode("workers.json", fixture!("workers.json"));
    let w = &list.workers[0];
    assert_eq!(w.status, Some(WorkerStatus::Ready));
    assert!(!w.spec.http2);
    let engine = w.engine_load.as_ref().expect("engine_load");
    assert_eq!(engine.loads[0].max_total_num_tokens, 65536);
    assert_eq!(list.stats.regular_count, 2);

    let list: WorkerListResponse = decode("", fixture!("workers_generic_runtime.json"));
    assert!(
        list.workers
            .iter()
            .any(|w| w.spec.runtime_type == RuntimeType::Generic)
    );
}

#[test]
fn pending_worker_keeps_every_field() {
    let body = fixture!("workers_pending.json");
    let info: WorkerInfo = decode("workers_pending.json", body);
    assert_eq!(info.status, Some(WorkerStatus::Pending));
    assert!(info.job_status.is_some());
    assert_eq!(serde_json::to_value(&info).unwrap(), normalized(body));
}

#[test]
fn loads_bodies_read_into_fleet_loads() {
    for (name, body) in [
        ("get_loads.json", fixture!("get_loads.json")),
        ("loads.json", fixture!("loads.json")),
        (
            "loads_model_mock-model.json",
            fixture!("loads_model_mock-model.json"),
        ),
    ] {
        let raw: LoadsBody = decode(name, body);
        assert!(matches!(raw, LoadsBody::Snapshot(_)), "{name}");
        let fleet = FleetLoads::from(raw);
        assert_eq!(fleet.shape, LoadsShape::Snapshot);
        assert_eq!(fleet.version.as_deref(), Some("smg-1.13.0"), "{name}");
        assert_eq!(fleet.workers.len(), 1, "{name}");
        let w = &fleet.workers[0];
        assert_eq!(w.worker_type, Some(WorkerType::Regular));
        assert_eq!(w.load, 0, "a worker that reported capacity has a load");
        assert_eq!(w.ranks[0].max_running_requests, 64);
        let snapshot: LoadsSnapshot = decode(name, body);
        assert_eq!(snapshot.dp_rank_count, 1);
    }
    for (name, body) in [
        ("loads_no_workers.json", fixture!("loads_no_workers.json")),
        (
            "loads_model_unknown.json",
            fixture!("loads_model_unknown.json"),
        ),
    ] {
        // No worker polled yet (or none serving the model): no `aggregate` at all.
        let fleet = FleetLoads::from(decode::<LoadsBody>(name, body));
        assert!(fleet.workers.is_empty(), "{name}");
        assert_eq!(fleet.aggregate.total_reqs, 0);
    }
}

#[test]
fn public_bodies_decode() {
    let models: ModelList = decode("v1_models.json", fixture!("v1_models.json"));
    assert_eq!(models.data[0].id, "mock-model");
    let one: ModelObject = decode(
        "v1_models_mock-model.json",
        fixture!("v1_models_mock-model.json"),
    );
    assert_eq!(one.owned_by, "self_hosted");
    let ready: ReadinessResponse = decode("readiness.json", fixture!("readiness.json"));
    assert!(ready.is_ready());
    assert_eq!(ready.total_workers, Some(2));
    let flush: FlushCacheResponse = decode("flush_cache.json", fixture!("flush_cache.json"));
    assert!(!flush.is_partial());
    for (name, body) in [
        ("get_model_info.json", fixture!("get_model_info.json")),
        ("get_server_info.json", fixture!("get_server_info.json")),
    ] {
        let info: Value = decode(name, body);
        assert!(info.get("model_path").is_some(), "{name}");
    }
}

#[test]
fn unknown_new_fields_never_fail_a_decode() {
    let mut list: Value = serde_json::from_str(fixture!("workers.json")).unwrap();
    list["some_future_field"] = Value::from(1);
    list["stats"]["encode_count"] = Value::from(0);
    let w = &mut list["workers"][0];
    w["stalled"] = Value::Bool(false);
    w["pd_pairing"] = serde_json::json!({"peer": "x"});
    w["models"][0]["new_card_field"] = Value::from("x");
    w["engine_load"]["loads"][0]["active_token_usage"] = Value::from(0.5);
    w["engine_load"]["aggregate"] = serde_json::json!({"total_reqs": 1});
    let decoded: WorkerListResponse = serde_json::from_value(list).unwrap();
    assert_eq!(decoded.workers.len(), 2);

    let mut loads: Value = serde_json::from_str(fixture!("loads.json")).unwrap();
    loads["loads"][0]["memory"] = serde_json::json!({"weight_gb": 1.0});
    loads["aggregate"]["future"] = Value::from(2);
    loads["mode"] = Value::from("x");
    let fleet = FleetLoads::from(serde_json::from_value::<LoadsBody>(loads).unwrap());
    assert_eq!(fleet.workers.len(), 1);
}
