//! Black-box tests of the data plane: requests through a real `smg` to simulated workers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::{ChatCompletionRequest, ChatMessage, WorkerStatus};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{Fault, MockConfig, MockFleet, WORKER_HEADER};

const WAIT: Duration = Duration::from_secs(20);

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
    register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u}))
            .collect(),
    )
    .await;
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
    let ids = register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u}))
            .collect(),
    )
    .await;
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
        list.workers
            .iter()
            .find(|w| w.load == 1)
            .map(|w| w.id.clone())
    })
    .await;
    let idle_index = if busy == ids[0] { "1" } else { "0" };
    for _ in 0..3 {
        let quick = json!({"model": "mock-model", "messages": [{"role": "user", "content": "quick"}], "max_tokens": 1});
        let (status, worker) = send_chat(&gw, &quick).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(worker.as_deref(), Some(idle_index));
    }
    assert_eq!(slow.await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn cache_aware_sends_a_repeated_prefix_to_the_same_worker() {
    let fleet = MockFleet::start(0, 3, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u}))
            .collect(),
    )
    .await;
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
    let gw = GatewayProcess::start(&["--policy", "round_robin"]).await;
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
    let metrics = http()
        .get(&gw.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let retries: f64 = smg_sdk::prometheus::sums(&metrics)
        .get("smg_retries_total")
        .copied()
        .unwrap_or(0.0);
    assert!(retries >= 3.0, "{metrics}");

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
}

#[tokio::test]
async fn circuit_breaker_opens_and_closes() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&["--policy", "round_robin"]).await;
    let resilience = json!({"cb_failure_threshold": 2, "cb_success_threshold": 1, "cb_timeout_secs": 2, "disable_retry": true});
    let ids = register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u, "resilience": resilience}))
            .collect(),
    )
    .await;
    let sick = &fleet.workers()[0];
    sick.set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    let mut failures = 0;
    for i in 0..6 {
        let (status, _) = send_chat(&gw, &chat("mock-model", &format!("q{i}"))).await;
        if status != StatusCode::OK {
            failures += 1;
        }
    }
    assert_eq!(failures, 2, "the breaker opens after 2 failures");
    let info = gw.client().workers().get(&ids[0]).await.unwrap();
    assert_eq!(info.circuit_breaker.as_deref(), Some("open"));
    assert_eq!(
        info.status,
        Some(WorkerStatus::Ready),
        "an open breaker is not a health state"
    );
    let metrics = http()
        .get(&gw.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = smg_sdk::prometheus::parse(&metrics)
        .into_iter()
        .find(|s| {
            s.name == "smg_circuit_breaker_state" && s.label("worker") == Some(sick.url().as_str())
        })
        .unwrap();
    assert_eq!(open.value, 1.0);

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
    request.max_tokens = Some(15);
    let plain = gw.client().chat_completions(&request).await.unwrap();
    let full = plain.choices[0].message.text();

    let started = Instant::now();
    let mut stream = gw.client().chat_completions_stream(&request).await.unwrap();
    let mut text = String::new();
    let mut arrivals = Vec::new();
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push(started.elapsed());
        if let Some(content) = &chunk.choices[0].delta.content {
            text.push_str(content);
        }
        if chunk.choices[0].finish_reason.is_some() {
            finish = chunk.choices[0].finish_reason.clone();
        }
    }
    assert_eq!(text, full, "chunks concatenate to the full answer in order");
    assert!(finish.is_some());
    // Chunks arrive as produced, not all at the end: the first well before the last.
    assert!(
        arrivals.last().unwrap().saturating_sub(arrivals[0]) >= Duration::from_millis(150),
        "{arrivals:?}"
    );

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
    let gw = GatewayProcess::start(&["--policy", "round_robin", "--drain-settle-secs", "5"]).await;
    let ids = register(
        &gw,
        fleet
            .urls()
            .into_iter()
            .map(|u| json!({"url": u}))
            .collect(),
    )
    .await;
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

    let text = http()
        .get(&gw.metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = smg_sdk::prometheus::parse(&text);
    let ok = samples
        .iter()
        .find(|s| {
            s.name == "smg_requests_total"
                && s.label("route") == Some("/v1/chat/completions")
                && s.label("status") == Some("200")
                && s.label("model") == Some("mock-model")
        })
        .unwrap();
    assert_eq!(ok.value, 1.0);
    for name in [
        "smg_request_duration_seconds_bucket",
        "smg_requests_in_flight",
        "smg_worker_healthy",
        "smg_circuit_breaker_state",
        "smg_job_queue_depth",
    ] {
        assert!(
            samples.iter().any(|s| s.name == name),
            "missing {name}:\n{text}"
        );
    }
}
