//! Black-box tests of issue 13's gateway side: cordon, retire, force delete, per-worker flush,
//! the load monitor's `/loads`, `GET /v1/models/{id}`, profiling and readiness — a real `smg`
//! process and simulated workers on 127.0.0.1, driven through the SDK (and raw HTTP where the
//! wire itself is the point).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::{
    JobKind, JobState, RETIRE_DRAIN_TIMED_OUT, RetireWorkerRequest, StartProfileRequest,
    StopProfileRequest, WorkerSpec, WorkerStatus, WorkerType,
};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{DEFAULT_MODEL, Fault, FlushFault, MockConfig, MockFleet};

const WAIT: Duration = Duration::from_secs(20);

async fn fleet(count: usize) -> MockFleet {
    MockFleet::start(0, count, MockConfig::default())
        .await
        .unwrap()
}

async fn add_ready(gw: &GatewayProcess, spec: WorkerSpec) -> String {
    let client = gw.client();
    let created = client.workers().create(&spec).await.unwrap();
    client
        .workers()
        .wait_for_worker(&created.worker_id, WAIT)
        .await
        .unwrap();
    created.worker_id
}

/// One non-streamed chat request through the data plane; its status.
async fn chat(gw_url: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{gw_url}/v1/chat/completions"))
        .json(&json!({
            "model": DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 4,
        }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap()
        .status()
}

/// A chat request, started in the background once the gateway counts it in flight on `id`.
async fn in_flight(gw: &GatewayProcess, id: &str) -> tokio::task::JoinHandle<StatusCode> {
    let url = gw.url.clone();
    let request = tokio::spawn(async move { chat(&url).await });
    let client = gw.client();
    eventually(WAIT, "the request to be in flight", || async {
        (client.workers().get(id).await.unwrap().load > 0).then_some(())
    })
    .await;
    request
}

fn slow(ms: u64) -> Fault {
    Fault {
        latency_ms: ms,
        ..Fault::default()
    }
}

#[tokio::test]
async fn a_cordoned_worker_stays_listed_and_probed_but_gets_no_new_traffic() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let a = add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;
    let b = add_ready(&gw, WorkerSpec::new(fleet.urls()[1].clone())).await;

    client.workers().cordon(&a).await.unwrap();
    let info = client.workers().get(&a).await.unwrap();
    assert!(info.is_disabled());
    assert_eq!(info.status, Some(WorkerStatus::Ready), "health is kept");
    let listed = client.workers().list().await.unwrap();
    assert_eq!(listed.workers.len(), 2, "a cordoned worker stays listed");

    fleet.workers()[0].reset();
    fleet.workers()[1].reset();
    for _ in 0..8 {
        assert_eq!(chat(&gw.url).await, StatusCode::OK);
    }
    assert_eq!(fleet.workers()[0].stats().requests_total, 0);
    assert_eq!(fleet.workers()[1].stats().requests_total, 8);
    // Still probed while cordoned.
    let probes = fleet.workers()[0].stats().health_probes;
    eventually(WAIT, "the cordoned worker to be probed", || async {
        (fleet.workers()[0].stats().health_probes > probes).then_some(())
    })
    .await;

    // Every regular worker cordoned: not ready, and the reason says why.
    client.workers().cordon(&b).await.unwrap();
    let ready = client.readiness().await.unwrap();
    assert!(!ready.is_ready());
    assert!(
        ready
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("cordon"),
        "{ready:?}"
    );

    client.workers().uncordon(&a).await.unwrap();
    assert!(!client.workers().get(&a).await.unwrap().is_disabled());
    assert!(client.readiness().await.unwrap().is_ready());
    fleet.workers()[0].reset();
    assert_eq!(chat(&gw.url).await, StatusCode::OK);
    assert_eq!(fleet.workers()[0].stats().requests_total, 1);
}

#[tokio::test]
async fn retire_drains_in_flight_requests_then_flushes_and_removes() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let id = add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;

    fleet.workers()[0].set_fault(slow(1500));
    let request = in_flight(&gw, &id).await;

    let accepted = client
        .workers()
        .retire(&id, &RetireWorkerRequest::default())
        .await
        .unwrap();
    assert_eq!(accepted.worker_id, id);
    let during = client.workers().get(&id).await.unwrap();
    assert!(during.is_disabled(), "cordoned before the 202");
    let job = during.job_status.expect("the retire job is visible");
    assert_eq!(job.kind(), Some(JobKind::RetireWorker));
    assert_ne!(job.status, JobState::Failed);

    assert_eq!(
        request.await.unwrap(),
        StatusCode::OK,
        "the in-flight request finishes"
    );
    client
        .workers()
        .wait_for_retirement(&id, WAIT, |_| {})
        .await
        .unwrap();
    assert!(client.workers().get(&id).await.is_err(), "removed");
    assert_eq!(fleet.workers()[0].stats().flushes, 1, "flushed once");
}

#[tokio::test]
async fn a_retirement_that_cannot_drain_in_time_fails_and_leaves_the_worker_cordoned() {
    let fleet = fleet(1).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let id = add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;
    fleet.workers()[0].set_fault(slow(6000));
    let request = in_flight(&gw, &id).await;

    let request_body = RetireWorkerRequest {
        timeout_secs: Some(1),
    };
    client.workers().retire(&id, &request_body).await.unwrap();
    let err = client
        .workers()
        .wait_for_retirement(&id, WAIT, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains(RETIRE_DRAIN_TIMED_OUT), "{err}");
    let info = client.workers().get(&id).await.unwrap();
    assert!(info.is_disabled(), "stays cordoned");
    assert_eq!(fleet.workers()[0].stats().flushes, 0, "never flushed");

    // Force delete: gone at once, and the request still in flight finishes.
    client.workers().force_delete(&id).await.unwrap();
    eventually(Duration::from_secs(5), "the forced removal", || async {
        client.workers().get(&id).await.is_err().then_some(())
    })
    .await;
    assert_eq!(request.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn force_delete_skips_the_drain_settle_period() {
    let fleet = fleet(1).await;
    // A settle period far longer than the test: only `force` can remove the worker in time.
    let gw = GatewayProcess::start(&["--drain-settle-secs=300"]).await;
    let client = gw.client();
    let id = add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;
    client.workers().force_delete(&id).await.unwrap();
    eventually(Duration::from_secs(5), "the forced removal", || async {
        client.workers().get(&id).await.is_err().then_some(())
    })
    .await;
}

#[tokio::test]
async fn flush_one_worker_touches_only_that_worker() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let a = add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;
    let _b = add_ready(&gw, WorkerSpec::new(fleet.urls()[1].clone())).await;

    let flushed = client.workers().flush_cache(&a).await.unwrap();
    assert!(!flushed.is_partial(), "{flushed:?}");
    assert_eq!(flushed.total_workers, 1);
    assert_eq!(fleet.workers()[0].stats().flushes, 1);
    assert_eq!(fleet.workers()[1].stats().flushes, 0);

    fleet.workers()[0].set_fault(Fault {
        flush: FlushFault::Fail,
        ..Fault::default()
    });
    let raw = reqwest::Client::new()
        .post(format!("{}/workers/{a}/flush_cache", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::PARTIAL_CONTENT);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["status"], "partial_success", "{body}");

    let unknown = reqwest::Client::new()
        .post(format!(
            "{}/workers/00000000-0000-7000-8000-000000000000/flush_cache",
            gw.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.headers()["x-smg-error-code"], "WORKER_NOT_FOUND");
}

#[tokio::test]
async fn the_load_monitor_serves_snapshots_without_asking_workers_per_request() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&["--load-poll-interval-secs=1"]).await;
    let client = gw.client();
    for url in fleet.urls() {
        add_ready(&gw, WorkerSpec::new(url)).await;
    }
    let snapshot = eventually(WAIT, "a snapshot of both workers", || async {
        let s = client.loads_snapshot(None).await.unwrap();
        (s.loads.len() >= 2).then_some(s)
    })
    .await;
    assert!(
        snapshot.loads.iter().all(|l| l.age_ms.is_some()),
        "{snapshot:?}"
    );
    let empty = client.loads_snapshot(Some("no-such-model")).await.unwrap();
    assert!(empty.loads.is_empty());

    // Many `/loads` reads, no extra calls to the workers' load endpoint beyond the poller's.
    let before: u64 = fleet
        .workers()
        .iter()
        .map(|w| {
            w.stats()
                .requests_by_path
                .get("/v1/loads")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    for _ in 0..50 {
        client.loads_snapshot(None).await.unwrap();
    }
    let after: u64 = fleet
        .workers()
        .iter()
        .map(|w| {
            w.stats()
                .requests_by_path
                .get("/v1/loads")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert!(
        after - before <= 6,
        "50 snapshot reads must not fan out: {before} → {after} worker load calls"
    );

    // `GET /workers` items carry the monitor's engine load.
    let listed = eventually(WAIT, "engine_load on the listed workers", || async {
        let l = client.workers().list().await.unwrap();
        l.workers
            .iter()
            .all(|w| w.engine_load.is_some())
            .then_some(l)
    })
    .await;
    assert_eq!(listed.workers.len(), 2);
    // `/get_loads` keeps the live fan-out.
    let live = client.loads().await.unwrap();
    assert_eq!(live.workers.len(), 2);
}

#[tokio::test]
async fn one_model_by_id_and_a_clear_404_for_an_unknown_one() {
    let fleet = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "meta-llama/Llama-3.1-8B-Instruct".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;
    add_ready(&gw, WorkerSpec::new(fleet.urls()[0].clone())).await;
    let model = gw
        .client()
        .model("meta-llama/Llama-3.1-8B-Instruct")
        .await
        .unwrap();
    assert_eq!(model.id, "meta-llama/Llama-3.1-8B-Instruct");
    let missing = reqwest::Client::new()
        .get(format!("{}/v1/models/no-such-model", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model"),
        "{body}"
    );
}

#[tokio::test]
async fn profiling_fans_out_filters_by_url_and_names_a_missing_worker() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    for url in fleet.urls() {
        add_ready(&gw, WorkerSpec::new(url)).await;
    }
    let started = client
        .start_profile(&StartProfileRequest::default())
        .await
        .unwrap();
    assert_eq!(started.total_workers, 2, "{started:?}");
    assert!(!started.is_partial());
    assert!(
        fleet
            .workers()
            .iter()
            .all(|w| w.stats().profile_starts == 1)
    );

    let one = StopProfileRequest {
        url: Some(fleet.urls()[1].clone()),
    };
    let stopped = client.stop_profile(&one).await.unwrap();
    assert_eq!(stopped.total_workers, 1);
    assert_eq!(fleet.workers()[0].stats().profile_stops, 0);
    assert_eq!(fleet.workers()[1].stats().profile_stops, 1);

    let raw = reqwest::Client::new()
        .post(format!("{}/stop_profile", gw.url))
        .json(&json!({"url": "http://127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::NOT_FOUND);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "WORKER_NOT_FOUND", "{body}");
}

#[tokio::test]
async fn a_fleet_of_only_prefill_and_decode_workers_is_not_ready() {
    let fleet = fleet(2).await;
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();
    let mut prefill = WorkerSpec::new(fleet.urls()[0].clone());
    prefill.worker_type = WorkerType::Prefill;
    let mut decode = WorkerSpec::new(fleet.urls()[1].clone());
    decode.worker_type = WorkerType::Decode;
    add_ready(&gw, prefill).await;
    add_ready(&gw, decode).await;
    let ready = client.readiness().await.unwrap();
    assert!(!ready.is_ready(), "{ready:?}");
    assert!(ready.reason.is_some());
}
