//! Black-box tests of the data plane: requests through a real `smg` to simulated workers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::{
    ChatCompletionRequest, ChatMessage, CompletionRequest, EmbeddingRequest, GenerateRequest,
    RerankRequest, WorkerStatus,
};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{Fault, FaultPatch, MockConfig, MockFleet, WORKER_HEADER};

const WAIT: Duration = Duration::from_secs(20);
/// Health probes so rare they never run during a test: faults that also fail `/health`
/// (dropped connections) then leave the worker `ready`, and only the data plane reacts.
const NO_PROBES: [&str; 2] = ["--health-check-interval-secs", "3600"];

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Register every URL and wait until all are ready; returns ids in order.
async fn register(gw: &GatewayProcess, specs: Vec<Value>) -> Vec<String> {
    let mut ids = Vec::new();
    for spec in specs {
        let r = http()
            .post(format!("{}/workers", gw.url))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = r.json::<Value>().await.unwrap()["worker_id"]
            .as_str()
            .unwrap()
            .to_string();
        gw.client()
            .workers()
            .wait_for_worker(&id, WAIT)
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

fn chat(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 4})
}

/// Wait until the gateway counts no request in flight on any worker. A request's load is
/// released when the gateway finishes the response body, which can be a moment after the
/// client has read it; load-aware choices made before that would see a stale load.
async fn wait_idle(gw: &GatewayProcess) {
    eventually(WAIT, "no request in flight", || async {
        let list = gw.client().workers().list().await.ok()?;
        list.workers.iter().all(|w| w.load == 0).then_some(())
    })
    .await;
}

async fn metrics(gw: &GatewayProcess) -> String {
    http()
        .get(&gw.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The sum of `name` over its samples whose labels include every pair of `labels`.
async fn metric(gw: &GatewayProcess, name: &str, labels: &[(&str, &str)]) -> f64 {
    smg_sdk::prometheus::parse(&metrics(gw).await)
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

fn urls(fleet: &MockFleet) -> Vec<Value> {
    fleet
        .urls()
        .into_iter()
        .map(|u| json!({"url": u}))
        .collect()
}

/// POST a chat completion; returns (status, index of the worker that answered).
async fn send_chat(gw: &GatewayProcess, body: &Value) -> (StatusCode, Option<String>) {
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(body)
        .send()
        .await
        .unwrap();
    let worker = r
        .headers()
        .get(WORKER_HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    let status = r.status();
    let _ = r.bytes().await;
    (status, worker)
}

#[tokio::test]
async fn round_robin_is_exact_and_responses_pass_through() {
    let fleet = MockFleet::start(0, 3, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&["--policy", "round_robin"]).await;
    register(&gw, urls(&fleet)).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..9 {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("hello {i}"))).await;
        assert_eq!(status, StatusCode::OK);
        *counts.entry(worker.unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|c| *c == 3), "{counts:?}");

    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-request-id", "my-req-1")
        .json(&chat("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-req-1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock-model");
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("chatcmpl-")
    );

    for (path, body) in [
        (
            "/v1/completions",
            json!({"model":"mock-model","prompt":"once upon","max_tokens":3}),
        ),
        (
            "/generate",
            json!({"text":"once upon","sampling_params":{"max_new_tokens":3}}),
        ),
        (
            "/v1/embeddings",
            json!({"model":"mock-model","input":"hello"}),
        ),
        (
            "/v1/rerank",
            json!({"model":"mock-model","query":"q","documents":["a","b"]}),
        ),
        ("/rerank", json!({"query":"q","documents":["a","b"]})),
        (
            "/v1/classify",
            json!({"model":"mock-model","input":"hello"}),
        ),
        (
            "/v1/messages",
            json!({"model":"mock-model","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}),
        ),
    ] {
        let r = http()
            .post(format!("{}{path}", gw.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}: {:?}", r.text().await);
    }
}

#[tokio::test]
async fn least_load_prefers_the_idle_worker() {
    // 10 ms per generated token: the slow request takes seconds, the quick ones milliseconds.
    let fleet = MockFleet::start(
        0,
        2,
        MockConfig {
            itl_ms: 10,
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&["--policy", "least_load"]).await;
    let ids = register(&gw, urls(&fleet)).await;
    let url = gw.url.clone();
    let slow = tokio::spawn(async move {
        let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": "slow"}], "max_tokens": 600});
        http()
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
    });
    // Wait until the gateway counts the first request in flight on one worker.
    let busy = eventually(WAIT, "one request in flight", || async {
        let list = gw.client().workers().list().await.ok()?;
        list.workers.iter().find(|w| w.load == 1).cloned()
    })
    .await;
    let idle_index = if busy.id == ids[0] { "1" } else { "0" };
    let load = metric(
        &gw,
        "smg_worker_load",
        &[("worker", busy.spec.url.as_str())],
    )
    .await;
    assert_eq!(load, 1.0, "smg_worker_load follows WorkerInfo.load");
    for _ in 0..3 {
        // The previous quick request may still count on the idle worker for a moment.
        eventually(WAIT, "the idle worker is idle again", || async {
            let list = gw.client().workers().list().await.ok()?;
            let idle = list.workers.iter().find(|w| w.id != busy.id)?;
            (idle.load == 0).then_some(())
        })
        .await;
        let quick = json!({"model": "mock-model", "messages": [{"role": "user", "content": "quick"}], "max_tokens": 1});
        let (status, worker) = send_chat(&gw, &quick).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some(idle_index));
    }
    assert_eq!(slow.await.unwrap().status(), StatusCode::OK);
}

/// Requests per worker index over `n` chat requests.
async fn distribution(gw: &GatewayProcess, n: usize) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        let (status, worker) = send_chat(gw, &chat("mock-model", &format!("question {i}"))).await;
        assert_eq!(status, StatusCode::OK);
        *counts.entry(worker.unwrap()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn random_and_power_of_two_spread_over_every_worker() {
    let fleet = MockFleet::start(0, 3, MockConfig::default()).await.unwrap();
    for policy in ["random", "power_of_two"] {
        let gw = GatewayProcess::start(&["--policy", policy]).await;
        register(&gw, urls(&fleet)).await;
        // 20 expected each; fewer than 5 is over 3.5 standard deviations away.
        let counts = distribution(&gw, 60).await;
        assert_eq!(counts.len(), 3, "{policy}: {counts:?}");
        assert!(counts.values().all(|c| *c >= 5), "{policy}: {counts:?}");
    }
}

#[tokio::test]
async fn the_cheaper_worker_wins_at_equal_load() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&["--policy", "least_load"]).await;
    let urls = fleet.urls();
    register(
        &gw,
        vec![
            json!({"url": urls[0], "cost": 3.0}),
            json!({"url": urls[1], "cost": 1.0}),
        ],
    )
    .await;
    for i in 0..8 {
        wait_idle(&gw).await;
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some("1"));
    }
}

#[tokio::test]
async fn cache_aware_sends_a_repeated_prefix_to_the_same_worker() {
    let fleet = MockFleet::start(0, 3, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(&gw, urls(&fleet)).await;
    let system =
        "You are the support assistant of an online bookshop. Be concise, polite and accurate. ";
    let mut seen = Vec::new();
    for q in [
        "Where is my order?",
        "Can I return a book?",
        "Do you ship abroad?",
        "What are your hours?",
    ] {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("{system}{q}"))).await;
        assert_eq!(status, StatusCode::OK);
        seen.push(worker.unwrap());
    }
    assert!(seen.iter().all(|w| *w == seen[0]), "{seen:?}");
}

#[tokio::test]
async fn model_filtering_and_503_without_a_worker() {
    let a = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "model-a".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let b = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "model-b".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;

    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("model-a", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["x-smg-error-code"], "NO_AVAILABLE_WORKERS");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "service_unavailable");

    register(
        &gw,
        vec![json!({"url": a.urls()[0]}), json!({"url": b.urls()[0]})],
    )
    .await;
    for _ in 0..4 {
        let r = http()
            .post(format!("{}/v1/chat/completions", gw.url))
            .json(&chat("model-b", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["model"], "model-b");
    }
    assert_eq!(a.workers()[0].stats().requests_total, 0);
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("model-c", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model-c")
    );
    // /generate without a model may go anywhere.
    let r = http()
        .post(format!("{}/generate", gw.url))
        .json(&json!({"text":"hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Malformed JSON is the caller's error.
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["x-smg-error-code"], "BAD_REQUEST");
}

#[tokio::test]
async fn failover_when_a_worker_drops_connections() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[&["--policy", "round_robin"][..], &NO_PROBES].concat()).await;
    register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u, "resilience": {"disable_circuit_breaker": true}}))
            .collect(),
    )
    .await;
    fleet.workers()[0].set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    for i in 0..6 {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some("1"));
    }
    assert!(fleet.workers()[0].stats().dropped_connections >= 3);
    let retries = metric(&gw, "smg_retries_total", &[]).await;
    assert!(retries >= 3.0, "{}", metrics(&gw).await);

    // With every worker failing, the caller gets a D1 502 after bounded retries.
    fleet.workers()[1].set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("mock-model", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(r.headers()["x-smg-error-code"], "WORKER_UNREACHABLE");
    // Every failed attempt released its load.
    wait_idle(&gw).await;
}

#[tokio::test]
async fn a_retryable_status_fails_over_to_another_worker() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&["--policy", "round_robin", "--disable-circuit-breaker"]).await;
    register(&gw, urls(&fleet)).await;
    let sick = &fleet.workers()[0];
    sick.patch_fault(&FaultPatch {
        status: Some(Some(503)),
        ..FaultPatch::default()
    });
    for i in 0..6 {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some("1"));
    }
    assert!(sick.stats().requests_total >= 3, "{:?}", sick.stats());
    let retries = metric(&gw, "smg_retries_total", &[("worker", sick.url().as_str())]).await;
    assert!(retries >= 3.0, "{}", metrics(&gw).await);

    // When every worker answers 503, the caller gets the last worker's answer, and no
    // failed attempt is left counting as in flight.
    fleet.workers()[1].patch_fault(&FaultPatch {
        status: Some(Some(503)),
        ..FaultPatch::default()
    });
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("mock-model", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key(WORKER_HEADER));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503, "{body}");
    wait_idle(&gw).await;
    assert_eq!(metric(&gw, "smg_requests_in_flight", &[]).await, 0.0);
}

#[tokio::test]
async fn no_retry_once_a_stream_has_begun() {
    let fleet = MockFleet::start(
        0,
        2,
        MockConfig {
            itl_ms: 5,
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(&gw, urls(&fleet)).await;
    // Whichever worker is chosen breaks after three tokens.
    for worker in fleet.workers() {
        worker.patch_fault(&FaultPatch {
            break_stream_after: Some(Some(3)),
            ..FaultPatch::default()
        });
    }
    let mut request = ChatCompletionRequest::new("mock-model", vec![ChatMessage::user("hi")]);
    request.max_tokens = Some(20);
    let mut stream = gw.client().chat_completions_stream(&request).await.unwrap();
    let mut text = String::new();
    let mut finished = false;
    let mut broken = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if let Some(content) = &chunk.choices[0].delta.content {
                    text.push_str(content);
                }
                finished |= chunk.choices[0].finish_reason.is_some();
            }
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    assert!(
        !text.is_empty(),
        "the tokens before the break reach the client"
    );
    assert!(!finished, "the stream is truncated: {text:?}");
    assert!(broken, "the client sees the stream break");
    let hits: u64 = fleet
        .workers()
        .iter()
        .map(|w| w.stats().requests_total)
        .sum();
    assert_eq!(hits, 1, "a begun stream is never retried");
    assert_eq!(metric(&gw, "smg_retries_total", &[]).await, 0.0);
    eventually(WAIT, "the broken stream counted", || async {
        let n = metric(&gw, "smg_requests_total", &[("status", "stream_error")]).await;
        (n == 1.0).then_some(())
    })
    .await;
    wait_idle(&gw).await;
}

#[tokio::test]
async fn circuit_breaker_opens_and_closes() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    // Gateway-wide breaker flags; no health probes, which the dropped connections would fail.
    let gw = GatewayProcess::start(
        &[
            &[
                "--policy",
                "round_robin",
                "--cb-failure-threshold",
                "2",
                "--cb-success-threshold",
                "1",
                "--cb-timeout-duration-secs",
                "5",
                "--disable-retries",
            ][..],
            &NO_PROBES,
        ]
        .concat(),
    )
    .await;
    let ids = register(&gw, urls(&fleet)).await;
    let sick = &fleet.workers()[0];
    sick.set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    // Without retries each request to the sick worker fails; the second in a row opens its
    // breaker, whatever the order the policy sends them in.
    let mut failures = 0;
    for i in 0..20 {
        let (status, _) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        if status != StatusCode::OK {
            failures += 1;
        }
        let info = gw.client().workers().get(&ids[0]).await.unwrap();
        if info.circuit_breaker.as_deref() == Some("open") {
            break;
        }
    }
    assert_eq!(
        failures, 2,
        "the breaker opens after 2 consecutive failures"
    );
    let info = gw.client().workers().get(&ids[0]).await.unwrap();
    assert_eq!(info.circuit_breaker.as_deref(), Some("open"));
    assert_eq!(
        info.status,
        Some(WorkerStatus::Ready),
        "an open breaker is not a health state"
    );
    let open = metric(
        &gw,
        "smg_circuit_breaker_state",
        &[("worker", sick.url().as_str())],
    )
    .await;
    assert_eq!(open, 1.0);
    // While open, the sick worker is skipped.
    for i in 0..3 {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("open {i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some("1"));
    }

    sick.set_fault(Fault::default());
    let before = sick.stats().requests_total;
    eventually(WAIT, "breaker half-open then closed", || async {
        send_chat(&gw, &chat("mock-model", "probe")).await;
        let info = gw.client().workers().get(&ids[0]).await.ok()?;
        (info.circuit_breaker.as_deref() == Some("closed")).then_some(())
    })
    .await;
    assert!(sick.stats().requests_total > before);
}

#[tokio::test]
async fn streaming_passes_chunks_in_order_and_cancels_upstream() {
    let fleet = MockFleet::start(
        0,
        1,
        MockConfig {
            itl_ms: 20,
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(&gw, vec![json!({"url": fleet.urls()[0]})]).await;

    let mut request =
        ChatCompletionRequest::new("mock-model", vec![ChatMessage::user("tell me a story")]);
    // 60 tokens at 20 ms: the worker generates for over a second.
    request.max_tokens = Some(60);
    let plain = gw.client().chat_completions(&request).await.unwrap();
    let full = plain.choices[0].message.text();

    let mut stream = gw.client().chat_completions_stream(&request).await.unwrap();
    let mut text = String::new();
    let mut finish = None;
    let mut first = true;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if first {
            // Passed through as produced, not buffered: the first chunk arrives while the
            // worker is still generating.
            assert_eq!(
                fleet.workers()[0].stats().running,
                1,
                "first chunk came late"
            );
            first = false;
        }
        if let Some(content) = &chunk.choices[0].delta.content {
            text.push_str(content);
        }
        if chunk.choices[0].finish_reason.is_some() {
            finish = chunk.choices[0].finish_reason.clone();
        }
    }
    assert_eq!(text, full, "chunks concatenate to the full answer in order");
    assert!(finish.is_some());

    // A client that goes away cancels the worker's generation.
    let mut long = request.clone();
    long.max_tokens = Some(2000);
    let mut stream = gw.client().chat_completions_stream(&long).await.unwrap();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(fleet.workers()[0].stats().running, 1);
    drop(stream);
    eventually(WAIT, "worker slot released", || async {
        (fleet.workers()[0].stats().running == 0).then_some(())
    })
    .await;
    eventually(WAIT, "gateway load back to 0", || async {
        let list = gw.client().workers().list().await.ok()?;
        (list.workers[0].load == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn draining_worker_gets_no_new_requests() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    // Long enough that the worker is still draining when it is checked on a busy machine.
    let gw = GatewayProcess::start(&["--policy", "round_robin", "--drain-settle-secs", "60"]).await;
    let ids = register(&gw, urls(&fleet)).await;
    gw.client().workers().delete(&ids[0]).await.unwrap();
    eventually(WAIT, "draining", || async {
        let info = gw.client().workers().get(&ids[0]).await.ok()?;
        (info.status == Some(WorkerStatus::Draining)).then_some(())
    })
    .await;
    let before = fleet.workers()[0].stats().requests_total;
    for i in 0..6 {
        let (status, worker) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some("1"));
    }
    assert_eq!(fleet.workers()[0].stats().requests_total, before);
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_their_hop() {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(&gw, urls(&fleet)).await;
    let worker = &fleet.workers()[0];

    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-request-id", "hop-test-1")
        .header("x-custom", "kept")
        .header("connection", "x-hop-secret")
        .header("x-hop-secret", "not for the worker")
        .header("proxy-connection", "keep-alive")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("authorization", "Bearer the-caller")
        .json(&chat("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-request-id"], "hop-test-1");
    let seen = worker.stats().last_request_headers;
    assert_eq!(
        seen.get("x-request-id").map(String::as_str),
        Some("hop-test-1")
    );
    assert_eq!(seen.get("x-custom").map(String::as_str), Some("kept"));
    for hop in [
        "connection",
        "x-hop-secret",
        "proxy-connection",
        "keep-alive",
        "te",
        "authorization",
    ] {
        assert!(
            !seen.contains_key(hop),
            "{hop} reached the worker: {seen:?}"
        );
    }

    // A generated request id reaches the worker too, and is the one echoed.
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    let echoed = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(echoed.starts_with("chatcmpl-"), "{echoed}");
    assert_eq!(
        worker.stats().last_request_headers.get("x-request-id"),
        Some(&echoed)
    );
}

#[tokio::test]
async fn sdk_inference_methods_through_the_gateway() {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(&gw, urls(&fleet)).await;
    let client = gw.client();

    let mut completion = CompletionRequest::new("mock-model", "once upon a time");
    completion.max_tokens = Some(6);
    let full = client.completions(&completion).await.unwrap();
    assert_eq!(full.object, "text_completion");
    assert_eq!(full.model, "mock-model");
    let full_text = full.choices[0].text.clone();
    assert!(!full_text.is_empty());
    let mut stream = client.completions_stream(&completion).await.unwrap();
    let mut text = String::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if let Some(choice) = chunk.choices.first() {
            text.push_str(&choice.text);
            finish = finish.or(choice.finish_reason.clone());
        }
    }
    assert_eq!(text, full_text, "streamed pieces concatenate to the answer");
    assert!(finish.is_some());

    let generate = GenerateRequest {
        text: Some(json!("once upon a time")),
        sampling_params: Some(json!({"max_new_tokens": 6})),
        ..GenerateRequest::default()
    };
    let full = client.generate(&generate).await.unwrap();
    assert!(!full.text.is_empty());
    assert!(
        full.meta_info.get("finish_reason").is_some(),
        "{:?}",
        full.meta_info
    );
    let mut stream = client.generate_stream(&generate).await.unwrap();
    let mut last = None;
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        last = Some(chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "streamed in pieces");
    assert_eq!(last.unwrap().text, full.text, "the text is cumulative");

    let embeddings = client
        .embeddings(&EmbeddingRequest::new("mock-model", json!(["one", "two"])))
        .await
        .unwrap();
    assert_eq!(embeddings.data.len(), 2);
    assert_eq!(embeddings.data[1].index, 1);
    assert!(!embeddings.data[0].embedding.is_empty());
    assert_eq!(
        embeddings.data[0].embedding.len(),
        embeddings.data[1].embedding.len()
    );

    let ranked = client
        .rerank(&RerankRequest::new(
            "mock-model",
            "rust model gateway",
            ["a recipe for soup", "a model gateway written in rust"],
        ))
        .await
        .unwrap();
    assert_eq!(ranked.len(), 2);
    assert_eq!(ranked[0].index, 1, "best first: {ranked:?}");
    assert!(ranked[0].score >= ranked[1].score);
    assert_eq!(fleet.workers()[0].stats().requests_total, 6);
}

#[tokio::test]
async fn body_limit_worker_key_and_metrics() {
    let fleet = MockFleet::start(
        0,
        1,
        MockConfig {
            api_key: Some("w-secret".into()),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&["--max-payload-size", "2000"]).await;
    register(
        &gw,
        vec![json!({"url": fleet.urls()[0], "api_key": "w-secret"})],
    )
    .await;

    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("authorization", "Bearer client-credential")
        .json(&chat("mock-model", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The worker saw its own key, not the caller's credential.
    assert_eq!(
        fleet.workers()[0].stats().last_authorization.as_deref(),
        Some("Bearer w-secret")
    );

    let big = "word ".repeat(1000);
    let r = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&chat("mock-model", &big))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["x-smg-error-code"], "PAYLOAD_TOO_LARGE");

    // A request is counted when its response body ends, which may trail the client.
    let ok = [
        ("route", "/v1/chat/completions"),
        ("status", "200"),
        ("model", "mock-model"),
    ];
    eventually(WAIT, "the request counted", || async {
        (metric(&gw, "smg_requests_total", &ok).await == 1.0).then_some(())
    })
    .await;
    let text = metrics(&gw).await;
    let samples = smg_sdk::prometheus::parse(&text);
    for name in [
        "smg_request_duration_seconds_bucket",
        "smg_requests_in_flight",
        "smg_worker_healthy",
        "smg_worker_load",
        "smg_circuit_breaker_state",
        "smg_job_queue_depth",
    ] {
        assert!(
            samples.iter().any(|s| s.name == name),
            "missing {name}:\n{text}"
        );
    }
}
