//! Black-box tests of the simulated workers over real HTTP.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::WorkerLoadResponse;

use super::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn fleet(count: usize, config: MockConfig) -> MockFleet {
    MockFleet::start(0, count, config).await.unwrap()
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

async fn post_json(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "POST {url}");
    response.json().await.unwrap()
}

async fn loads(client: &reqwest::Client, base: &str) -> WorkerLoadResponse {
    let body = get_json(
        client,
        format!("{base}/v1/loads?include=core,disagg,queues,memory"),
    )
    .await;
    serde_json::from_value(body).unwrap()
}

/// Poll `check` every 10 ms for up to ~1 s.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Data payloads of an SSE body (`event:` lines ignored).
fn sse_data(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "events end with a blank line: {body:?}"
    );
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}

fn long_prompt(words: usize) -> String {
    (0..words)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One sample of a Prometheus text exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    kind: String,
    labels: String,
    value: f64,
}

/// Parse Prometheus text format strictly enough for these tests: every sample is preceded
/// by `# HELP` and `# TYPE` lines for its name. (`prometheus-parse` rejects the `:` in
/// engine metric names, so it cannot be used here.)
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let (mut help, mut kind) = (None::<String>, None::<(String, String)>);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split(' ').next().map(str::to_string);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, k) = rest.split_once(' ').unwrap();
            assert!(["gauge", "counter"].contains(&k), "{line}");
            kind = Some((name.to_string(), k.to_string()));
        } else if !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            assert_eq!(help.as_deref(), Some(name), "HELP before {line}");
            let (typed, k) = kind.clone().unwrap();
            assert_eq!(typed, name, "TYPE before {line}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{name}"
            );
            samples.push(Sample {
                name: name.to_string(),
                kind: k,
                labels: labels.to_string(),
                value: value.parse().unwrap(),
            });
        }
    }
    samples
}

fn sample<'a>(samples: &'a [Sample], name: &str) -> &'a Sample {
    samples
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {samples:?}"))
}

#[tokio::test]
async fn sglang_metadata_endpoints() {
    let fleet = fleet(2, MockConfig::default()).await;
    let c = client();
    let urls = fleet.urls();
    assert_eq!(urls.len(), 2);
    assert_ne!(urls[0], urls[1]);
    for (i, worker) in fleet.workers().iter().enumerate() {
        assert_eq!(worker.index(), i);
        assert_eq!(worker.url(), format!("http://127.0.0.1:{}", worker.port()));
    }
    let base = &urls[1];

    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[WORKER_HEADER], "1");
    assert_eq!(
        response.headers()[PORT_HEADER],
        fleet.workers()[1].port().to_string().as_str()
    );
    assert_eq!(response.text().await.unwrap(), "OK");
    let response = c
        .get(format!("{base}/health_generate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let models = get_json(&c, format!("{base}/v1/models")).await;
    assert_eq!(
        models,
        json!({"object": "list", "data": [{"id": "mock-model", "object": "model", "created": 0,
            "owned_by": "sglang", "root": "mock-model", "max_model_len": 32768}]})
    );
    let _: smg_sdk::ModelList = serde_json::from_value(models).unwrap();

    for path in ["server_info", "get_server_info"] {
        let info = get_json(&c, format!("{base}/{path}")).await;
        assert_eq!(info["model_path"], "mock-model");
        assert_eq!(info["served_model_name"], "mock-model");
        assert_eq!(info["tokenizer_path"], "mock-model");
        assert_eq!(info["tp_size"], 1);
        assert_eq!(info["dp_size"], 1);
        assert_eq!(info["max_running_requests"], 64);
        assert_eq!(info["max_total_num_tokens"], 65536);
        assert_eq!(info["context_length"], 32768);
        assert_eq!(info["is_embedding"], false);
        assert!(info["version"].is_string());
    }
    for path in ["model_info", "get_model_info"] {
        let info = get_json(&c, format!("{base}/{path}")).await;
        assert_eq!(info["is_generation"], true);
        assert_eq!(info["has_image_understanding"], false);
        assert_eq!(info["has_audio_understanding"], false);
        assert_eq!(info["model_type"], "llama");
        assert_eq!(info["architectures"], json!(["LlamaForCausalLM"]));
    }
    let response = c.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()[WORKER_HEADER],
        "1",
        "404s are stamped too"
    );

    let load = loads(&c, base).await;
    assert_eq!(load.dp_rank_count, 1);
    assert_eq!(load.loads.len(), 1);
    assert!(chrono::DateTime::parse_from_rfc3339(&load.timestamp).is_ok());
    let rank = &load.loads[0];
    assert_eq!(rank.dp_rank, 0);
    assert_eq!(rank.max_total_num_tokens, 65536);
    assert_eq!(rank.max_running_requests, 64);
    assert_eq!(rank.num_running_reqs, 0);
    assert_eq!(load.total_used_tokens(), 0);

    let response = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let samples = parse_exposition(&text);
    assert_eq!(samples.len(), 9);
    for name in [
        "sglang:num_running_reqs",
        "sglang:num_queue_reqs",
        "sglang:num_used_tokens",
        "sglang:token_usage",
        "sglang:gen_throughput",
        "sglang:cache_hit_rate",
        "sglang:max_total_num_tokens",
        "sglang:prompt_tokens_total",
        "sglang:generation_tokens_total",
    ] {
        let sample = sample(&samples, name);
        assert_eq!(sample.labels, r#"model_name="mock-model""#);
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert_eq!(sample.kind, kind, "{name}");
    }
    assert_eq!(
        sample(&samples, "sglang:max_total_num_tokens").value,
        65536.0
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn vllm_metadata_endpoints() {
    let config = MockConfig {
        runtime: MockRuntime::Vllm,
        model: "org/model \"q\"".into(),
        ..MockConfig::default()
    };
    let fleet = fleet(1, config).await;
    let c = client();
    let base = &fleet.urls()[0];
    let version = get_json(&c, format!("{base}/version")).await;
    assert_eq!(version, json!({"version": "0.9.0"}));
    for path in [
        "server_info",
        "get_server_info",
        "model_info",
        "get_model_info",
    ] {
        let response = c.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let models = get_json(&c, format!("{base}/v1/models")).await;
    assert_eq!(models["data"][0]["owned_by"], "vllm");
    assert_eq!(models["data"][0]["id"], "org/model \"q\"");
    assert_eq!(loads(&c, base).await.loads.len(), 1);

    post_json(
        &c,
        format!("{base}/v1/completions"),
        json!({"prompt": "hi", "max_tokens": 3}),
    )
    .await;
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse_exposition(&text);
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:prefix_cache_hits_total",
    ] {
        assert_eq!(sample(&samples, name).value, 0.0, "{name}");
    }
    assert_eq!(
        sample(&samples, "vllm:prefix_cache_queries_total").value,
        1.0
    );
    assert_eq!(sample(&samples, "vllm:prompt_tokens_total").value, 1.0);
    assert_eq!(sample(&samples, "vllm:generation_tokens_total").value, 3.0);
    assert_eq!(
        sample(&samples, "vllm:prompt_tokens_total").labels,
        r#"model_name="org/model \"q\"""#
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn inference_shapes() {
    let fleet = fleet(1, MockConfig::default()).await;
    let c = client();
    let base = &fleet.urls()[0];

    let generate = post_json(
        &c,
        format!("{base}/generate"),
        json!({"text": "hello world", "sampling_params": {"max_new_tokens": 5}}),
    )
    .await;
    assert_eq!(generate["text"], "the quick brown fox jumps");
    let meta = &generate["meta_info"];
    assert_eq!(meta["prompt_tokens"], 2);
    assert_eq!(meta["completion_tokens"], 5);
    assert_eq!(meta["cached_tokens"], 0);
    assert_eq!(meta["finish_reason"]["type"], "length");
    assert!(meta["id"].is_string());
    let batch = post_json(
        &c,
        format!("{base}/generate"),
        json!({"text": ["a", "b c"], "sampling_params": {"max_new_tokens": 1}}),
    )
    .await;
    assert_eq!(batch.as_array().unwrap().len(), 2);
    assert_eq!(batch[1]["meta_info"]["prompt_tokens"], 2);
    let ids = post_json(
        &c,
        format!("{base}/generate"),
        json!({"input_ids": [1, 2, 3]}),
    )
    .await;
    assert_eq!(ids["meta_info"]["prompt_tokens"], 3);
    assert_eq!(
        ids["meta_info"]["completion_tokens"], 16,
        "default max tokens"
    );

    let chat = post_json(
        &c,
        format!("{base}/v1/chat/completions"),
        json!({"model": "echoed", "max_tokens": 3, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "say hi"}]}]}),
    )
    .await;
    assert_eq!(chat["object"], "chat.completion");
    assert_eq!(chat["model"], "echoed");
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert_eq!(chat["choices"][0]["message"]["content"], "the quick brown");
    assert_eq!(chat["choices"][0]["finish_reason"], "length");
    assert_eq!(chat["usage"]["prompt_tokens"], 4);
    assert_eq!(chat["usage"]["completion_tokens"], 3);
    assert_eq!(chat["usage"]["total_tokens"], 7);
    let chat2 = post_json(
        &c,
        format!("{base}/v1/chat/completions"),
        json!({"max_completion_tokens": 2, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(chat2["model"], "mock-model");
    assert_eq!(chat2["usage"]["completion_tokens"], 2);

    let completion = post_json(
        &c,
        format!("{base}/v1/completions"),
        json!({"model": "m", "prompt": "once upon", "max_tokens": 2}),
    )
    .await;
    assert_eq!(completion["object"], "text_completion");
    assert_eq!(completion["choices"][0]["text"], "the quick");
    assert_eq!(completion["usage"]["prompt_tokens"], 2);

    let embeddings = post_json(
        &c,
        format!("{base}/v1/embeddings"),
        json!({"model": "m", "input": ["a b", "c"]}),
    )
    .await;
    assert_eq!(embeddings["object"], "list");
    let data = embeddings["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(embeddings["usage"]["prompt_tokens"], 3);
    let again = post_json(&c, format!("{base}/v1/embeddings"), json!({"input": "a b"})).await;
    assert_eq!(
        again["data"][0]["embedding"], data[0]["embedding"],
        "deterministic"
    );

    for path in ["v1/rerank", "rerank"] {
        let rerank = post_json(
            &c,
            format!("{base}/{path}"),
            json!({"query": "giant panda", "documents": ["hi", "the giant panda bear"]}),
        )
        .await;
        let results = rerank.as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["index"], 1);
        assert_eq!(results[0]["score"], 1.0);
        assert_eq!(results[0]["document"], "the giant panda bear");
        assert_eq!(results[1]["score"], 0.0);
    }

    let classify = post_json(
        &c,
        format!("{base}/v1/classify"),
        json!({"input": ["x", "y"]}),
    )
    .await;
    assert_eq!(classify["data"].as_array().unwrap().len(), 2);
    assert_eq!(classify["data"][0]["num_classes"], 2);

    let message = post_json(
        &c,
        format!("{base}/v1/messages"),
        json!({"model": "claude-mock", "max_tokens": 2, "system": "sys",
               "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-mock");
    assert_eq!(message["content"][0]["type"], "text");
    assert_eq!(message["content"][0]["text"], "the quick");
    assert_eq!(message["stop_reason"], "max_tokens");
    assert_eq!(message["usage"]["input_tokens"], 2);
    assert_eq!(message["usage"]["output_tokens"], 2);

    let stats = fleet.workers()[0].stats();
    assert_eq!(stats.requests_total, 12);
    assert_eq!(stats.requests_by_path["/generate"], 3);
    assert_eq!(stats.requests_by_path["/v1/chat/completions"], 2);
    fleet.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_are_400_json() {
    let fleet = fleet(1, MockConfig::default()).await;
    let c = client();
    let base = &fleet.urls()[0];
    let paths = [
        "generate",
        "v1/chat/completions",
        "v1/completions",
        "v1/embeddings",
        "v1/rerank",
        "rerank",
        "v1/classify",
        "v1/messages",
    ];
    for path in paths {
        for body in ["{not json", "[1,2]", "{}"] {
            let response = c
                .post(format!("{base}/{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            assert_eq!(response.headers()[WORKER_HEADER], "0");
            let error: Value = response.json().await.unwrap();
            assert_eq!(
                error["error"]["type"], "invalid_request_error",
                "{path} {body}"
            );
            assert!(error["error"]["message"].is_string());
        }
    }
    let response = c
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"messages": [], "max_tokens": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = c
        .post(format!("{base}/generate"))
        .json(&json!({"text": ["a"], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(fleet.workers()[0].stats().requests_total, 26);
    fleet.shutdown().await;
}

#[tokio::test]
async fn sse_streaming_formats() {
    let config = MockConfig {
        itl_ms: 5,
        ..MockConfig::default()
    };
    let fleet = fleet(1, config).await;
    let c = client();
    let base = &fleet.urls()[0];
    let stream = |path: &str, body: Value| {
        let request = c.post(format!("{base}/{path}")).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            assert_eq!(response.headers()[WORKER_HEADER], "0");
            response.text().await.unwrap()
        }
    };

    let body = stream(
        "v1/chat/completions",
        json!({"stream": true, "max_tokens": 3, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let events = sse_data(&body);
    assert_eq!(events.len(), 5, "3 tokens, usage, [DONE]: {body}");
    assert_eq!(events[4], "[DONE]");
    let chunks: Vec<Value> = events[..4]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "mock-model");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks[..3]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "the quick brown");
    assert!(chunks[1]["choices"][0]["finish_reason"].is_null());
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "length");
    assert_eq!(chunks[3]["choices"], json!([]));
    assert_eq!(chunks[3]["usage"]["completion_tokens"], 3);

    let body = stream(
        "v1/completions",
        json!({"stream": true, "max_tokens": 2, "prompt": "x"}),
    )
    .await;
    let events = sse_data(&body);
    assert_eq!(events.len(), 3);
    let last: Value = serde_json::from_str(&events[1]).unwrap();
    assert_eq!(last["object"], "text_completion");
    assert_eq!(last["choices"][0]["text"], " quick");
    assert_eq!(last["choices"][0]["finish_reason"], "length");

    let body = stream(
        "generate",
        json!({"text": "x", "stream": true, "sampling_params": {"max_new_tokens": 2}}),
    )
    .await;
    let events = sse_data(&body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], "[DONE]");
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    let last: Value = serde_json::from_str(&events[1]).unwrap();
    assert!(first["meta_info"]["finish_reason"].is_null());
    assert_eq!(last["text"], "the quick", "SGLang streams cumulative text");
    assert_eq!(last["meta_info"]["finish_reason"]["type"], "length");
    assert_eq!(last["meta_info"]["completion_tokens"], 2);

    let body = stream(
        "v1/chat/completions",
        json!({"stream": true, "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    let events = sse_data(&body);
    assert_eq!(
        events.len(),
        2,
        "a finish chunk even without tokens: {body}"
    );

    let body = stream(
        "v1/messages",
        json!({"stream": true, "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    let names: Vec<&str> = body
        .split("\n\n")
        .filter_map(|e| e.lines().next()?.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let delta: Value = serde_json::from_str(&sse_data(&body)[5]).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"]["output_tokens"], 2);

    // A streaming request holds its slot while it streams.
    let response = c
        .post(format!("{base}/v1/completions"))
        .json(&json!({"stream": true, "max_tokens": 100, "prompt": "x"}))
        .send()
        .await
        .unwrap();
    let worker = fleet.workers()[0].clone();
    assert!(eventually(|| worker.stats().running == 1).await);
    // Abandoning the stream frees it.
    drop(response);
    assert!(eventually(|| worker.stats().running == 0).await);
    fleet.shutdown().await;
}

#[tokio::test]
async fn loads_move_with_traffic() {
    // Long enough that the in-flight checks below finish well inside the request.
    let config = MockConfig {
        latency_ms: 700,
        ..MockConfig::default()
    };
    let fleet = fleet(1, config).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    let worker = fleet.workers()[0].clone();

    let prompt = long_prompt(40);
    let slow = {
        let c = c.clone();
        let url = format!("{base}/v1/completions");
        let prompt = prompt.clone();
        tokio::spawn(async move {
            c.post(url)
                .json(&json!({"prompt": prompt, "max_tokens": 4}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    assert!(eventually(|| worker.stats().running == 1).await);
    let during = loads(&c, &base).await;
    let rank = &during.loads[0];
    assert_eq!(rank.num_running_reqs, 1);
    assert_eq!(rank.num_total_reqs, 1);
    assert!(rank.utilization > 0.0);
    assert!(rank.num_used_tokens >= 40, "{rank:?}");
    assert!(rank.token_usage > 0.0);
    let first = slow.await.unwrap();
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

    let after = loads(&c, &base).await;
    let rank = &after.loads[0];
    assert_eq!(rank.num_running_reqs, 0);
    assert!(rank.gen_throughput > 0.0, "{rank:?}");
    assert_eq!(rank.cache_hit_rate, 0.0);
    assert_eq!(rank.num_used_tokens, 32, "two cached blocks stay resident");

    // The same prompt again: its two full blocks come from the prefix cache.
    let second = post_json(
        &c,
        format!("{base}/v1/completions"),
        json!({"prompt": prompt, "max_tokens": 1}),
    )
    .await;
    assert_eq!(
        second["usage"]["prompt_tokens_details"]["cached_tokens"],
        32
    );
    let rank = loads(&c, &base).await.loads[0].clone();
    assert!((rank.cache_hit_rate - 32.0 / 80.0).abs() < 1e-9, "{rank:?}");
    let stats = worker.stats();
    assert_eq!(stats.cache_entries, 2);
    assert_eq!(stats.prompt_tokens_total, 80);
    assert_eq!(stats.cached_tokens_total, 32);
    assert_eq!(stats.generation_tokens_total, 5);

    let flushed = post_json(&c, format!("{base}/flush_cache"), json!({})).await;
    assert_eq!(flushed, json!({"message": "Cache flushed successfully"}));
    let stats = worker.stats();
    assert_eq!(stats.cache_entries, 0);
    assert_eq!(stats.flushes, 1);
    assert_eq!(loads(&c, &base).await.loads[0].num_used_tokens, 0);
    let third = post_json(
        &c,
        format!("{base}/v1/completions"),
        json!({"prompt": prompt, "max_tokens": 1}),
    )
    .await;
    assert_eq!(third["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    fleet.shutdown().await;
}

#[tokio::test]
async fn requests_wait_when_slots_are_full() {
    let config = MockConfig {
        latency_ms: 500,
        max_running_requests: 1,
        ..MockConfig::default()
    };
    let fleet = fleet(1, config).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    let worker = fleet.workers()[0].clone();
    let started = Instant::now();
    let requests: Vec<_> = (0..2)
        .map(|_| {
            let request = c
                .post(format!("{base}/generate"))
                .json(&json!({"text": "a b c", "sampling_params": {"max_new_tokens": 1}}));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    assert!(eventually(|| worker.stats().waiting == 1).await);
    let rank = loads(&c, &base).await.loads[0].clone();
    assert_eq!(rank.num_running_reqs, 1);
    assert_eq!(rank.num_waiting_reqs, 1);
    assert_eq!(rank.num_total_reqs, 2);
    assert_eq!(rank.num_waiting_uncached_tokens, 3);
    assert_eq!(rank.utilization, 1.0);
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "served one at a time"
    );
    let stats = worker.stats();
    assert_eq!((stats.running, stats.waiting), (0, 0));
    fleet.shutdown().await;
}

#[tokio::test]
async fn health_flush_and_latency_faults() {
    let fleet = fleet(2, MockConfig::default()).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    let other = fleet.urls()[1].clone();

    let fault = post_json(&c, format!("{base}/_mock/fault"), json!({"health": "fail"})).await;
    assert_eq!(
        fault,
        json!({"health": "fail", "latency_ms": 0, "flush": "ok", "drop_connections": false,
               "status": null, "break_stream_after": null})
    );
    for path in ["health", "health_generate"] {
        let response = c.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[WORKER_HEADER], "0");
    }
    let other_health = c.get(format!("{other}/health")).send().await.unwrap();
    assert_eq!(
        other_health.status(),
        StatusCode::OK,
        "faults are per worker"
    );

    let fault = post_json(&c, format!("{base}/_mock/fault"), json!({"flush": "fail"})).await;
    assert_eq!(fault["health"], "fail", "patches merge");
    assert_eq!(fault["flush"], "fail");
    post_json(
        &c,
        format!("{base}/v1/completions"),
        json!({"prompt": long_prompt(16)}),
    )
    .await;
    let response = c.post(format!("{base}/flush_cache")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        fleet.workers()[0].stats().cache_entries,
        1,
        "failed flush keeps the cache"
    );
    assert_eq!(fleet.workers()[0].stats().flushes, 1);

    let fault = get_json(&c, format!("{base}/_mock/fault")).await;
    assert_eq!(fault["flush"], "fail");
    fleet.workers()[0].set_fault(Fault {
        latency_ms: 250,
        ..Fault::default()
    });
    let started = Instant::now();
    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    get_json(&c, format!("{base}/_mock/stats")).await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "/_mock is never delayed"
    );
    let response = c.post(format!("{base}/flush_cache")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = c
        .post(format!("{base}/_mock/fault"))
        .body("{\"health\": \"maybe\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let stats = post_json(&c, format!("{base}/_mock/reset"), json!({})).await;
    assert_eq!(stats["requests_total"], 0);
    assert_eq!(stats["cache_entries"], 0);
    assert_eq!(fleet.workers()[0].fault(), Fault::default());
    let stats: MockStats =
        serde_json::from_value(get_json(&c, format!("{base}/_mock/stats")).await).unwrap();
    assert_eq!(stats.health_probes, 0);
    assert!(stats.requests_by_path.is_empty());
    fleet.shutdown().await;
}

#[tokio::test]
async fn status_fault_answers_inference_only_and_records_headers() {
    let fleet = fleet(1, MockConfig::default()).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    let worker = fleet.workers()[0].clone();
    let set = post_json(&c, format!("{base}/_mock/fault"), json!({"status": 503})).await;
    assert_eq!(set["status"], 503);
    let response = c
        .post(format!("{base}/v1/chat/completions"))
        .header("x-custom", "a")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503);
    assert_eq!(
        worker.stats().requests_total,
        1,
        "counted as an inference request"
    );
    assert_eq!(worker.stats().last_request_headers["x-custom"], "a");
    // Health and metadata are untouched.
    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        worker.stats().last_request_headers["x-custom"],
        "a",
        "a GET leaves the recorded headers alone"
    );
    let response = c
        .post(format!("{base}/_mock/fault"))
        .json(&json!({"status": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let cleared = post_json(&c, format!("{base}/_mock/fault"), json!({"status": null})).await;
    assert_eq!(cleared["status"], Value::Null);
    let response = c
        .post(format!("{base}/v1/completions"))
        .json(&json!({"prompt": "x", "max_tokens": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    fleet.shutdown().await;
}

#[tokio::test]
async fn break_stream_after_cuts_the_stream_midway() {
    let fleet = fleet(1, MockConfig::default()).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    fleet.workers()[0].patch_fault(&FaultPatch {
        break_stream_after: Some(Some(2)),
        ..FaultPatch::default()
    });
    let response = c
        .post(format!("{base}/v1/completions"))
        .json(&json!({"prompt": "once upon", "max_tokens": 10, "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut error = None;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(error.is_some(), "the body ends in an error: {text}");
    assert_eq!(text.matches("data: ").count(), 2, "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn drop_connections_then_heal() {
    let fleet = fleet(1, MockConfig::default()).await;
    let c = client();
    let base = fleet.urls()[0].clone();
    let worker = fleet.workers()[0].clone();

    // Open a keep-alive connection first, so both pooled and new connections are covered.
    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap();

    post_json(
        &c,
        format!("{base}/_mock/fault"),
        json!({"drop_connections": true}),
    )
    .await;
    assert!(worker.fault().drop_connections);
    for path in ["health", "v1/models"] {
        let error = c.get(format!("{base}/{path}")).send().await.unwrap_err();
        assert!(error.is_request() || error.is_connect(), "{error:?}");
    }
    let fresh = client();
    let error = fresh
        .post(format!("{base}/v1/completions"))
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert!(worker.stats().dropped_connections >= 3);
    assert_eq!(worker.stats().requests_total, 0, "dropped before routing");

    let healed = post_json(
        &fresh,
        format!("{base}/_mock/fault"),
        json!({"drop_connections": false}),
    )
    .await;
    assert_eq!(healed["drop_connections"], false);
    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    fleet.shutdown().await;
}

#[tokio::test]
async fn api_key_is_enforced_except_on_mock_routes() {
    let config = MockConfig {
        api_key: Some("sekret".into()),
        ..MockConfig::default()
    };
    let fleet = fleet(1, config).await;
    let c = client();
    let base = fleet.urls()[0].clone();

    let response = c.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WORKER_HEADER], "0");
    let response = c
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth("wrong")
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        fleet.workers()[0].stats().last_authorization.as_deref(),
        Some("Bearer wrong")
    );
    assert_eq!(
        fleet.workers()[0].stats().requests_total,
        0,
        "rejected before routing"
    );

    let response = c
        .get(format!("{base}/v1/loads"))
        .bearer_auth("sekret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats: MockStats = c
        .get(format!("{base}/_mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.last_authorization.as_deref(), Some("Bearer sekret"));
    assert_eq!(stats.requests_by_path["/health"], 1);
    assert_eq!(stats.requests_by_path["/v1/loads"], 1);
    fleet.shutdown().await;
}

#[tokio::test]
async fn fixed_ports_and_shutdown() {
    // Find a free range by binding ephemerally, then reuse it.
    let probe = fleet(1, MockConfig::default()).await;
    let port = probe.workers()[0].port();
    probe.shutdown().await;
    let Some(base) = port.checked_sub(3) else {
        return;
    };
    let fleet = match MockFleet::start(base, 3, MockConfig::default()).await {
        Ok(fleet) => fleet,
        // Another process may have taken one of the ports meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return,
        Err(e) => panic!("{e}"),
    };
    let ports: Vec<u16> = fleet.workers().iter().map(MockWorker::port).collect();
    assert_eq!(ports, [base, base + 1, base + 2]);
    let url = fleet.urls()[2].clone();
    fleet.shutdown().await;
    let error = client()
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    let error = MockFleet::start(u16::MAX, 2, MockConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(
        error.kind(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::AddrInUse
    ));
}

#[test]
fn fault_serde_is_lowercase_and_patches_merge() {
    let fault = Fault {
        health: HealthFault::Fail,
        latency_ms: 5,
        flush: FlushFault::Ok,
        drop_connections: true,
        status: Some(503),
        break_stream_after: None,
    };
    assert_eq!(
        serde_json::to_value(fault).unwrap(),
        json!({"health": "fail", "latency_ms": 5, "flush": "ok", "drop_connections": true,
               "status": 503, "break_stream_after": null})
    );
    let mut merged = fault;
    merged.apply(&serde_json::from_value(json!({"health": "ok"})).unwrap());
    assert_eq!(merged.health, HealthFault::Ok);
    assert_eq!(merged.latency_ms, 5);
    assert_eq!(merged.status, Some(503), "absent fields stay");
    merged
        .apply(&serde_json::from_value(json!({"status": null, "break_stream_after": 2})).unwrap());
    assert_eq!(merged.status, None, "null clears");
    assert_eq!(merged.break_stream_after, Some(2));
    assert!(serde_json::from_value::<FaultPatch>(json!({"bogus": 1})).is_err());
    assert_eq!(
        base_url("0.0.0.0".parse().unwrap(), 80),
        "http://127.0.0.1:80"
    );
    assert_eq!(base_url("::".parse().unwrap(), 80), "http://[::1]:80");
}

#[tokio::test]
async fn profiling_is_recorded_with_its_options_and_http_version() {
    let fleet = fleet(1, MockConfig::default()).await;
    let base = fleet.urls()[0].clone();
    let http = client();
    let response = http
        .post(format!("{base}/start_profile"))
        .json(&json!({"output_dir": "/tmp/trace", "num_steps": 3, "profile_by_stage": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "Start profiling.\n");
    let stopped = http
        .post(format!("{base}/stop_profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), StatusCode::OK);
    let bad = http
        .post(format!("{base}/start_profile"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let stats = fleet.workers()[0].stats();
    assert_eq!((stats.profile_starts, stats.profile_stops), (1, 1));
    assert_eq!(
        stats.last_profile_options,
        Some(json!({"output_dir": "/tmp/trace", "num_steps": 3, "profile_by_stage": false}))
    );
    assert_eq!(stats.last_http_version.as_deref(), Some("HTTP/1.1"));
    // HTTP/2 with prior knowledge is answered too.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let health = h2.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        fleet.workers()[0].stats().last_http_version.as_deref(),
        Some("HTTP/2.0")
    );
    fleet.shutdown().await;
}
