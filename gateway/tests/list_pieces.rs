//! `GET /workers` is streamed in pieces: a list spanning several pieces must still be one
//! well-formed document, with every worker once and the stats of all of them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use smg_gateway::workers::Worker;
use smg_gateway::{Gateway, GatewayConfig};
use smg_sdk::{WorkerSpec, WorkerStatus, WorkerType};

async fn start(dir: &tempfile::TempDir) -> Gateway {
    Gateway::start(GatewayConfig {
        port: 0,
        prometheus_port: 0,
        store: dir.path().join("list.db"),
        ..GatewayConfig::default()
    })
    .await
    .unwrap()
}

async fn list(gw: &Gateway) -> serde_json::Value {
    reqwest::get(format!("http://{}/workers", gw.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_list_of_several_pieces_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&dir).await;
    let registry = &gw.state.workers.registry;
    const COUNT: usize = 700;
    for i in 0..COUNT {
        let mut spec = WorkerSpec::new(format!("http://10.0.{}.{}:8000", i / 256, i % 256));
        if i % 7 == 0 {
            spec.worker_type = WorkerType::Prefill;
        }
        spec.health.disable_health_check = Some(true);
        let id = registry.reserve_id_for_url(&spec.url);
        registry.insert(Arc::new(Worker::new(id, spec, WorkerStatus::Ready)));
    }

    let body = list(&gw).await;
    let workers = body["workers"].as_array().unwrap();
    assert_eq!(workers.len(), COUNT);
    assert_eq!(body["total"], COUNT);
    let ids: HashSet<&str> = workers.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), COUNT);
    let prefill = (0..COUNT).filter(|i| i % 7 == 0).count();
    assert_eq!(body["stats"]["prefill_count"], prefill);
    assert_eq!(body["stats"]["regular_count"], COUNT - prefill);

    // The SDK reads the same document, and the in-process rendering matches it.
    let listed = smg_sdk::Client::builder(format!("http://{}", gw.addr))
        .build()
        .unwrap()
        .workers()
        .list()
        .await
        .unwrap();
    assert_eq!(listed.workers.len(), COUNT);
    let rendered: serde_json::Value =
        serde_json::from_slice(&gw.state.workers.list_json(None)).unwrap();
    assert_eq!(rendered["total"], COUNT);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_list_is_a_document_too() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&dir).await;
    let body = list(&gw).await;
    assert_eq!(body["workers"], serde_json::json!([]));
    assert_eq!(body["total"], 0);
    gw.shutdown().await.unwrap();
}
