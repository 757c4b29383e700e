//! Black-box tests of the worker control plane: a real `smg` process and simulated workers
//! on 127.0.0.1, driven over HTTP (raw, to pin the wire) and through the SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::{JobState, WorkerStatus};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{Fault, FlushFault, HealthFault, MockConfig, MockFleet, MockRuntime};

const WAIT: Duration = Duration::from_secs(20);

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn fleet(count: usize) -> MockFleet {
    MockFleet::start(0, count, MockConfig::default())
        .await
        .unwrap()
}

/// POST a worker and wait until it is registered and ready; returns its id.
async fn add_ready(gw: &GatewayProcess, body: Value) -> String {
    let response = http()
        .post(format!("{}/workers", gw.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        response.text().await
    );
    let created: Value = response.json().await.unwrap();
    let id = created["worker_id"].as_str().unwrap().to_string();
    gw.client()
        .workers()
        .wait_for_worker(&id, WAIT)
        .await
        .unwrap();
    id
}

/// `GET /get_loads` in seed 002's shape, which this gateway answers in.
async fn seed_loads(gw: &GatewayProcess) -> smg_sdk::GetLoadsResponse {
    match gw.client().loads_body().await.unwrap() {
        smg_sdk::LoadsBody::Workers(loads) => loads,
        other => panic!("expected the {{workers}} shape, got {other:?}"),
    }
}

/// Assert decision D1's error body and header.
async fn assert_d1(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["x-smg-error-code"], code);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["type"].is_string(), "{body}");
    body
}

#[tokio::test]
async fn create_get_list_and_conflict() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&[]).await;
    let url = fleet.urls()[0].clone();

    let response = http()
        .post(format!("{}/workers", gw.url))
        .json(&json!({"url": url, "labels": {"team": "a", "tp_size": "4"}, "priority": 70}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["worker_id"].as_str().unwrap();
    assert_eq!(created["status"], "accepted");
    assert_eq!(created["url"], url.as_str());
    assert_eq!(created["location"], format!("/workers/{id}"));
    assert_eq!(location, format!("/workers/{id}"));
    assert_eq!(
        created["message"],
        "Worker addition queued for background processing"
    );
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let info = gw
        .client()
        .workers()
        .wait_for_worker(id, WAIT)
        .await
        .unwrap();
    assert_eq!(info.status, Some(WorkerStatus::Ready));
    assert!(info.is_healthy);
    assert_eq!(info.model_id.as_deref(), Some("mock-model"));
    assert_eq!(info.spec.runtime_type, smg_sdk::RuntimeType::Sglang);
    assert_eq!(info.spec.priority, 70);
    // Discovered metadata is merged under the user's labels.
    assert_eq!(info.spec.labels["team"], "a");
    assert_eq!(info.spec.labels["tp_size"], "4");
    assert_eq!(info.spec.labels["served_model_name"], "mock-model");
    assert_eq!(info.spec.models[0].context_length, Some(32768));

    let list: Value = http()
        .get(format!("{}/workers", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["stats"],
        json!({"prefill_count":0,"decode_count":0,"regular_count":1})
    );
    assert_eq!(list["workers"][0]["id"], id);
    assert!(list["workers"][0].get("api_key").is_none());

    let again = http()
        .post(format!("{}/workers", gw.url))
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap();
    let body = assert_d1(again, StatusCode::CONFLICT, "WORKER_ALREADY_EXISTS").await;
    assert!(body["error"]["message"].as_str().unwrap().contains(id));
    assert_eq!(body["error"]["type"], "conflict");
}

#[tokio::test]
async fn request_errors_use_the_d1_body() {
    let gw = GatewayProcess::start(&["--max-payload-size", "4096"]).await;
    let workers = format!("{}/workers", gw.url);

    let r = http()
        .get(format!("{workers}/0199aaaa-0000-7000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    let body = assert_d1(r, StatusCode::NOT_FOUND, "WORKER_NOT_FOUND").await;
    assert_eq!(body["error"]["type"], "not_found");

    let r = http()
        .get(format!("{workers}/not-a-uuid"))
        .send()
        .await
        .unwrap();
    let body = assert_d1(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid worker_id 'not-a-uuid'")
    );

    // A path segment that is not UTF-8 is the D1 body too, not axum's text.
    let r = http().get(format!("{workers}/%FF")).send().await.unwrap();
    assert_d1(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let r = http()
        .post(&workers)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    let r = http()
        .post(&workers)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = assert_d1(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_eq!(body["error"]["type"], "unsupported_media_type");

    let r = http()
        .post(&workers)
        .json(&json!({"priority": 1}))
        .send()
        .await
        .unwrap();
    let body = assert_d1(r, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("url"),
        "{body}"
    );

    for bad in ["localhost:8000", "HTTP://a:1", "ftp://x"] {
        let r = http()
            .post(&workers)
            .json(&json!({"url": bad}))
            .send()
            .await
            .unwrap();
        let body = assert_d1(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("worker_url"),
            "{body}"
        );
    }

    let big = "x".repeat(8192);
    let r = http()
        .post(&workers)
        .json(&json!({"url": "http://a:1", "pad": big}))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    let r = http()
        .get(format!("{}/no/such/route", gw.url))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let r = http()
        .delete(format!("{}/workers", gw.url))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;

    let r = http()
        .get(format!("{}/workers?model", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let gw = GatewayProcess::start(&[]).await;
    let r = http()
        .get(format!("{}/workers", gw.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = http()
        .get(format!("{}/workers", gw.url))
        .header("x-correlation-id", "corr-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "corr-9");
    let r = http()
        .get(format!("{}/liveness", gw.url))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.starts_with("req-") && id.len() == 28, "{id}");
    assert_eq!(r.text().await.unwrap(), "OK");
}

#[tokio::test]
async fn patch_merges_labels_and_put_requires_the_same_url() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let urls = fleet.urls();
    let id = add_ready(&gw, json!({"url": urls[0], "labels": {"a": "1", "b": "2"}})).await;
    let one = format!("{}/workers/{id}", gw.url);

    let r = http()
        .patch(&one)
        .json(&json!({"labels": {"b": "20", "c": "3"}, "priority": 99, "cost": 2.5, "unknown_field": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(
        accepted,
        json!({"status":"accepted","worker_id":id,"message":"Worker update queued for background processing"})
    );
    let info = eventually(WAIT, "patch applied", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.spec.priority == 99).then_some(info)
    })
    .await;
    assert_eq!(info.spec.labels["a"], "1");
    assert_eq!(info.spec.labels["b"], "20");
    assert_eq!(info.spec.labels["c"], "3");
    assert_eq!(info.spec.cost, 2.5);

    let r = http()
        .put(&one)
        .json(&json!({"url": urls[1]}))
        .send()
        .await
        .unwrap();
    let body = assert_d1(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("URL mismatch"),
        "{body}"
    );

    let r = http()
        .put(&one)
        .json(&json!({"priority": 1}))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE_ENTITY").await;

    let r = http()
        .put(&one)
        .json(&json!({"url": urls[0], "priority": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let info = eventually(WAIT, "replace applied", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.spec.priority == 5 && info.job_status.is_none()).then_some(info)
    })
    .await;
    // A replace is a full replace: the PATCHed labels are gone, discovery re-ran.
    assert!(!info.spec.labels.contains_key("c"));
    assert_eq!(info.spec.labels["served_model_name"], "mock-model");

    let missing = format!("{}/workers/0199aaaa-0000-7000-8000-000000000000", gw.url);
    let r = http()
        .patch(&missing)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::NOT_FOUND, "WORKER_NOT_FOUND").await;
    let r = http()
        .put(&missing)
        .json(&json!({"url": urls[0]}))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::NOT_FOUND, "WORKER_NOT_FOUND").await;
}

#[tokio::test]
async fn delete_drains_then_removes() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&["--drain-settle-secs", "2"]).await;
    let id = add_ready(&gw, json!({"url": fleet.urls()[0]})).await;
    let r = http()
        .delete(format!("{}/workers/{id}", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Worker removal queued for background processing"
    );
    eventually(WAIT, "draining", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.status == Some(WorkerStatus::Draining)).then_some(())
    })
    .await;
    eventually(WAIT, "removed", || async {
        let err = gw.client().workers().get(&id).await.err()?;
        err.is_not_found().then_some(())
    })
    .await;
    let list = gw.client().workers().list().await.unwrap();
    assert_eq!(list.total, 0);
}

#[tokio::test]
async fn sick_worker_turns_not_ready_then_recovers() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&[]).await;
    let worker = &fleet.workers()[0];
    let id = add_ready(
        &gw,
        json!({"url": worker.url(), "health": {"check_interval_secs": 1, "failure_threshold": 2, "success_threshold": 2}}),
    )
    .await;
    let probes_before = worker.stats().health_probes;
    worker.set_fault(Fault {
        health: HealthFault::Fail,
        ..Fault::default()
    });
    eventually(WAIT, "not_ready", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.status == Some(WorkerStatus::NotReady)).then_some(())
    })
    .await;
    let failed_probes = worker.stats().health_probes - probes_before;
    assert!(
        failed_probes >= 2,
        "not_ready after {failed_probes} probes; threshold is 2"
    );
    let r = http()
        .get(format!("{}/readiness", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status":"not ready","reason":"insufficient healthy workers"})
    );

    worker.set_fault(Fault::default());
    let probes_at_heal = worker.stats().health_probes;
    eventually(WAIT, "ready again", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.status == Some(WorkerStatus::Ready)).then_some(())
    })
    .await;
    assert!(worker.stats().health_probes - probes_at_heal >= 2);
    let r = http()
        .get(format!("{}/readiness", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status":"ready","healthy_workers":1,"total_workers":1})
    );
}

#[tokio::test]
async fn readiness_is_503_with_no_workers() {
    let gw = GatewayProcess::start(&[]).await;
    let r = http()
        .get(format!("{}/readiness", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = http()
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "OK");
    let r = http()
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::SERVICE_UNAVAILABLE, "NO_MODELS_AVAILABLE").await;
    let r = http()
        .get(format!("{}/health_generate", gw.url))
        .send()
        .await
        .unwrap();
    assert_d1(r, StatusCode::SERVICE_UNAVAILABLE, "no_workers").await;
}

#[tokio::test]
async fn loads_and_flush_report_a_sick_worker_without_waiting_on_it() {
    let fleet = fleet(3).await;
    let gw =
        GatewayProcess::start(&["--load-timeout-secs", "1", "--flush-timeout-secs", "1"]).await;
    let urls = fleet.urls();
    for url in &urls {
        add_ready(&gw, json!({"url": url})).await;
    }
    // Traffic so the healthy workers' loads are real.
    let r = http()
        .post(format!("{}/v1/chat/completions", urls[0]))
        .json(&json!({"model":"mock-model","messages":[{"role":"user","content":"hello there"}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // Far slower than the 1 s per-worker timeout, so the bound below stays generous.
    let sick = &fleet.workers()[1];
    sick.set_fault(Fault {
        latency_ms: 60_000,
        flush: FlushFault::Fail,
        ..Fault::default()
    });
    fleet.workers()[2].set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });

    // Containment, not speed: the answer comes after about the per-worker timeout (1 s),
    // never after the sick worker's 60 s; the margin absorbs a loaded machine.
    let started = std::time::Instant::now();
    let loads = seed_loads(&gw).await;
    assert!(
        started.elapsed() < Duration::from_secs(1 + 20),
        "slow worker delayed /get_loads: {:?}",
        started.elapsed()
    );
    assert_eq!(loads.workers.len(), 3);
    let by_url = |u: &str| {
        loads
            .workers
            .iter()
            .find(|w| w.worker == u)
            .unwrap()
            .clone()
    };
    let healthy = by_url(&urls[0]);
    assert!(healthy.load >= 0);
    let details = healthy.details.unwrap();
    assert_eq!(details.dp_rank_count, 1);
    assert!(details.loads[0].max_total_num_tokens > 0);
    for u in &urls[1..] {
        let w = by_url(u);
        assert_eq!(w.load, -1, "{u}");
        assert!(w.details.is_none());
    }
    let raw: Value = http()
        .get(format!("{}/get_loads", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        raw["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.get("details").is_none() && w["load"] == -1)
    );

    sick.set_fault(Fault {
        flush: FlushFault::Fail,
        ..Fault::default()
    });
    let r = http()
        .post(format!("{}/flush_cache", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "partial_success");
    assert_eq!(body["workers_flushed"], 1);
    assert_eq!(body["total_workers"], 3);
    assert_eq!(body["successful"], json!([urls[0]]));
    let failed = body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    let sick_failure = failed
        .iter()
        .find(|f| f["worker"] == urls[1].as_str())
        .unwrap();
    assert!(
        sick_failure["error"].as_str().unwrap().contains("HTTP 500"),
        "{sick_failure}"
    );

    fleet.workers()[2].set_fault(Fault::default());
    sick.set_fault(Fault::default());
    let r = http()
        .post(format!("{}/flush_cache", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Successfully flushed cache on all 3 workers"
    );
    assert!(body.get("failed").is_none());
}

#[tokio::test]
async fn restart_keeps_runtime_added_workers() {
    let fleet = fleet(2).await;
    let mut gw = GatewayProcess::start(&[]).await;
    let urls = fleet.urls();
    let a = add_ready(
        &gw,
        json!({"url": urls[0], "labels": {"k": "v"}, "api_key": "worker-secret"}),
    )
    .await;
    let b = add_ready(&gw, json!({"url": urls[1]})).await;
    gw.client()
        .workers()
        .update(
            &b,
            &smg_sdk::WorkerUpdateRequest {
                priority: Some(7),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    eventually(WAIT, "patch", || async {
        (gw.client().workers().get(&b).await.ok()?.spec.priority == 7).then_some(())
    })
    .await;

    gw.restart().await;
    let list = gw.client().workers().list().await.unwrap();
    let ids: Vec<_> = list.workers.iter().map(|w| w.id.clone()).collect();
    assert_eq!(ids, vec![a.clone(), b.clone()]);
    let info = gw
        .client()
        .workers()
        .wait_for_worker(&a, WAIT)
        .await
        .unwrap();
    assert_eq!(info.spec.labels["k"], "v");
    assert_eq!(
        gw.client().workers().get(&b).await.unwrap().spec.priority,
        7
    );
    // The stored api_key is still sent to the worker after the restart.
    eventually(WAIT, "authorised probe", || async {
        (fleet.workers()[0].stats().last_authorization.as_deref() == Some("Bearer worker-secret"))
            .then_some(())
    })
    .await;
    assert!(
        !gw.logs().contains("worker-secret"),
        "api_key leaked into logs"
    );

    // A deleted worker stays deleted across a restart.
    gw.client().workers().delete(&b).await.unwrap();
    gw.restart().await;
    let list = gw.client().workers().list().await.unwrap();
    assert_eq!(list.total, 1);
    assert_eq!(list.workers[0].id, a);
}

#[tokio::test]
async fn model_filter_and_model_list() {
    let llama = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "llama".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let qwen = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "qwen".into(),
            runtime: MockRuntime::Vllm,
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;
    add_ready(&gw, json!({"url": llama.urls()[0]})).await;
    let q = add_ready(&gw, json!({"url": qwen.urls()[0]})).await;

    let only = gw.client().workers().list_for_model("qwen").await.unwrap();
    assert_eq!(only.total, 1);
    assert_eq!(only.workers[0].id, q);
    assert_eq!(
        only.workers[0].spec.runtime_type,
        smg_sdk::RuntimeType::Vllm
    );
    assert_eq!(
        gw.client()
            .workers()
            .list_for_model("nope")
            .await
            .unwrap()
            .total,
        0
    );

    let models = gw.client().models().await.unwrap();
    let mut ids: Vec<_> = models.data.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["llama", "qwen"]);
    assert!(
        models
            .data
            .iter()
            .all(|m| m.owned_by == "self_hosted" && m.object == "model")
    );

    // vLLM workers report loads through /metrics: ratio only, so load is -1 with details.
    let loads = seed_loads(&gw).await;
    let vllm = loads
        .workers
        .iter()
        .find(|w| w.worker == qwen.urls()[0])
        .unwrap();
    assert_eq!(vllm.load, -1);
    assert!(vllm.details.is_some());
}

#[tokio::test]
async fn info_routes_proxy_to_a_ready_worker() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    for url in fleet.urls() {
        add_ready(&gw, json!({"url": url})).await;
    }
    let info: Value = http()
        .get(format!("{}/get_server_info", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["served_model_name"], "mock-model");
    let info: Value = http()
        .get(format!("{}/get_model_info", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["is_generation"], true);
    let r = http()
        .get(format!("{}/health_generate", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = gw.client().engine_metrics().await.unwrap();
    for url in fleet.urls() {
        assert!(text.contains(&format!("worker_addr=\"{url}\"")), "{text}");
    }
    assert_eq!(text.matches("# TYPE sglang:token_usage").count(), 1);
}

#[tokio::test]
async fn failed_registration_stays_visible() {
    let gw = GatewayProcess::start(&[]).await;
    // Nothing listens here.
    let dead = dead_url();
    let created = gw
        .client()
        .workers()
        .create(&smg_sdk::WorkerSpec::new(&dead))
        .await
        .unwrap();
    let err = gw
        .client()
        .workers()
        .wait_for_worker(&created.worker_id, WAIT)
        .await
        .unwrap_err();
    match &err {
        smg_sdk::Error::JobFailed { message, .. } => {
            assert!(message.contains("did not answer GET /health"), "{message}")
        }
        other => panic!("expected JobFailed, got {other}"),
    }
    let info = gw.client().workers().get(&created.worker_id).await.unwrap();
    assert_eq!(info.status, Some(WorkerStatus::Pending));
    assert_eq!(info.job_status.unwrap().status, JobState::Failed);
    // Failed registrations are not listed as workers.
    assert_eq!(gw.client().workers().list().await.unwrap().total, 0);
}

/// A dead URL: nothing listens on it, so connections are refused at once.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// gRPC and ZMQ (`ipc://`) workers are stored, but this gateway cannot talk to them: they are
/// `failed` at once with a reason that outlives the job-status retention and a restart, and
/// the fan-outs report them (`load: -1`; a failed flush for gRPC; ZMQ flushes are skipped, as
/// upstream does, since ZMQ has no cache-flush RPC).
#[tokio::test]
async fn grpc_and_ipc_workers_fail_with_a_lasting_reason() {
    let mut gw = GatewayProcess::start(&["--job-status-retention-secs", "1"]).await;
    let grpc = gw
        .client()
        .workers()
        .create(&smg_sdk::WorkerSpec::new("grpc://127.0.0.1:1"))
        .await
        .unwrap();
    let ipc = gw
        .client()
        .workers()
        .create(&smg_sdk::WorkerSpec::new("ipc:///tmp/smg-test-worker.sock"))
        .await
        .unwrap();
    let check = |info: &smg_sdk::WorkerInfo, mode: smg_sdk::ConnectionMode, word: &str| {
        assert_eq!(info.spec.connection_mode, mode);
        assert_eq!(info.status, Some(WorkerStatus::Failed));
        assert!(!info.is_healthy);
        let job = info
            .job_status
            .as_ref()
            .expect("job_status with the reason");
        assert_eq!(job.status, JobState::Failed);
        let message = job.message.as_deref().unwrap_or_default();
        assert!(
            message.contains(word) && message.contains("not supported"),
            "{message}"
        );
    };
    for (created, mode, word) in [
        (&grpc, smg_sdk::ConnectionMode::Grpc, "grpc"),
        (&ipc, smg_sdk::ConnectionMode::Zmq, "zmq"),
    ] {
        let err = gw
            .client()
            .workers()
            .wait_for_worker(&created.worker_id, WAIT)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, smg_sdk::Error::JobFailed { message, .. } if message.contains("not supported")),
            "{err}"
        );
        let info = gw.client().workers().get(&created.worker_id).await.unwrap();
        check(&info, mode, word);
    }

    // Well past the 1 s retention (the sweep runs every second), and after a restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for round in 0..2 {
        let list = gw.client().workers().list().await.unwrap();
        assert_eq!(list.total, 2, "round {round}");
        check(&list.workers[0], smg_sdk::ConnectionMode::Grpc, "grpc");
        check(&list.workers[1], smg_sdk::ConnectionMode::Zmq, "zmq");

        let loads = seed_loads(&gw).await;
        assert_eq!(loads.workers.len(), 2);
        assert!(
            loads
                .workers
                .iter()
                .all(|w| w.load == -1 && w.details.is_none())
        );
        let flush = gw.client().flush_cache().await.unwrap();
        assert!(flush.is_partial());
        assert_eq!(flush.total_grpc_workers, 1);
        assert_eq!(flush.total_zmq_workers_skipped, 1);
        assert_eq!(flush.failures().len(), 1);
        assert_eq!(flush.failures()[0].worker, "grpc://127.0.0.1:1");
        assert!(
            flush.failures()[0].error.contains("not supported"),
            "{:?}",
            flush.failures()
        );
        assert!(
            flush.message.contains("1 ZMQ workers skipped"),
            "{}",
            flush.message
        );
        if round == 0 {
            gw.restart().await;
        }
    }
}

/// Registrations waiting for unreachable workers hold no job slot between probes: with one
/// slot, a DELETE and a healthy registration still finish long before those workers' 60 s
/// start-up timeout.
#[tokio::test]
async fn waiting_registrations_do_not_hold_up_other_jobs() {
    let fleet = fleet(2).await;
    let urls = fleet.urls();
    let gw = GatewayProcess::start(&[
        "--job-concurrency",
        "1",
        "--worker-startup-timeout-secs",
        "60",
    ])
    .await;
    let id = add_ready(&gw, json!({"url": urls[0]})).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let created = gw
            .client()
            .workers()
            .create(&smg_sdk::WorkerSpec::new(dead_url()))
            .await
            .unwrap();
        waiting.push(created.worker_id);
    }
    eventually(WAIT, "registrations probing their workers", || async {
        for id in &waiting {
            let info = gw.client().workers().get(id).await.ok()?;
            (info.job_status?.status == JobState::Processing).then_some(())?;
        }
        Some(())
    })
    .await;

    gw.client().workers().delete(&id).await.unwrap();
    eventually(WAIT, "the DELETE to finish", || async {
        gw.client()
            .workers()
            .get(&id)
            .await
            .err()?
            .is_not_found()
            .then_some(())
    })
    .await;
    add_ready(&gw, json!({"url": urls[1]})).await;
    // The unreachable ones are still waiting, not failed.
    for id in &waiting {
        let info = gw.client().workers().get(id).await.unwrap();
        assert_eq!(info.job_status.unwrap().status, JobState::Processing);
    }
}

/// PUT stores the new spec as pending: a replacement whose job fails leaves the stored spec
/// as it was (also after a restart), and one acknowledged but unfinished when the gateway
/// stops is applied after the restart.
#[tokio::test]
async fn a_failed_put_keeps_the_stored_spec() {
    let fleet = fleet(1).await;
    let url = fleet.urls()[0].clone();
    let worker = &fleet.workers()[0];
    let sick = Fault {
        health: HealthFault::Fail,
        ..Fault::default()
    };

    // Start-up timeout 3 s (FAST): the replacement's job fails while the worker is sick.
    let mut gw = GatewayProcess::start(&[]).await;
    let id = add_ready(
        &gw,
        json!({"url": url, "priority": 10, "labels": {"keep": "me"}}),
    )
    .await;
    worker.set_fault(sick);
    let r = http()
        .put(format!("{}/workers/{id}", gw.url))
        .json(&json!({"url": url, "priority": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let info = eventually(WAIT, "the replacement to fail", || async {
        let info = gw.client().workers().get(&id).await.ok()?;
        (info.job_status.as_ref()?.status == JobState::Failed).then_some(info)
    })
    .await;
    assert_eq!(info.spec.priority, 10);
    worker.set_fault(Fault::default());
    gw.restart().await;
    let info = gw
        .client()
        .workers()
        .wait_for_worker(&id, WAIT)
        .await
        .unwrap();
    assert_eq!(info.spec.priority, 10);
    assert_eq!(info.spec.labels["keep"], "me");
    gw.stop();

    // A long start-up timeout: the replacement is still waiting when the gateway stops.
    let args = ["--worker-startup-timeout-secs", "120"];
    let mut gw = GatewayProcess::start_with_store(gw.store_path(), &args).await;
    gw.client()
        .workers()
        .wait_for_worker(&id, WAIT)
        .await
        .unwrap();
    worker.set_fault(sick);
    let r = http()
        .put(format!("{}/workers/{id}", gw.url))
        .json(&json!({"url": url, "priority": 77}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    gw.stop();
    worker.set_fault(Fault::default());
    let mut gw = GatewayProcess::start_with_store(gw.store_path(), &args).await;
    eventually(
        WAIT,
        "the acknowledged replacement after the restart",
        || async {
            let info = gw.client().workers().get(&id).await.ok()?;
            (info.spec.priority == 77 && info.job_status.is_none()).then_some(())
        },
    )
    .await;
    assert!(
        !gw.client()
            .workers()
            .get(&id)
            .await
            .unwrap()
            .spec
            .labels
            .contains_key("keep")
    );
    gw.restart().await;
    assert_eq!(
        gw.client().workers().get(&id).await.unwrap().spec.priority,
        77
    );
}

/// Every response names the gateway's own version.
#[tokio::test]
async fn responses_carry_the_gateway_version() {
    let gw = GatewayProcess::start(&[]).await;
    for path in ["/liveness", "/workers", "/no/such/route"] {
        let r = http()
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-smg-version"],
            env!("CARGO_PKG_VERSION"),
            "{path}"
        );
    }
    assert_eq!(
        gw.client().gateway_version().await.unwrap().as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn startup_worker_urls_are_registered_but_not_stored() {
    let fleet = fleet(1).await;
    let url = fleet.urls()[0].clone();
    let mut gw = GatewayProcess::start(&["--worker-urls", &url]).await;
    let id = eventually(WAIT, "startup worker", || async {
        let list = gw.client().workers().list().await.ok()?;
        list.workers
            .first()
            .filter(|w| w.is_healthy)
            .map(|w| w.id.clone())
    })
    .await;
    assert!(!id.is_empty());
    gw.restart().await;
    eventually(WAIT, "startup worker after restart", || async {
        let list = gw.client().workers().list().await.ok()?;
        (list.total == 1).then_some(())
    })
    .await;
}
