//! Black-box tests of the tokenizer registry and `/v1/tokenize`, `/v1/detokenize`: a real `smg`
//! process, tokenizers trained by the test itself with the `tokenizers` crate (no network), raw
//! HTTP to pin the wire, and the SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_sdk::{JobState, TokenizerStatus};
use smg_tests::harness::{GatewayProcess, eventually};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

const WAIT: Duration = Duration::from_secs(20);

const CORPUS: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "A gateway routes requests to inference workers and counts their tokens.",
    "Tokenizers split text into pieces; the pieces become ids.",
    "Grüße aus München! Ça va très bien, merci.",
    "世界你好，分词器把文字变成数字。",
    "Operators register the tokenizer of each served model at runtime.",
];

/// Train a small byte-level BPE on [`CORPUS`] and save it as `dir/tokenizer.json`. Byte-level,
/// so every string round-trips exactly; `<|bos|>` and `<|eos|>` are special tokens.
fn train_tokenizer(dir: &Path) -> PathBuf {
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(400)
        .min_frequency(1)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![
            AddedToken::from("<|bos|>", true),
            AddedToken::from("<|eos|>", true),
        ])
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .unwrap();
    tokenizer
        .train(&mut trainer, CORPUS.iter().copied())
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    path
}

/// A directory with a trained `tokenizer.json` and a chat template in `tokenizer_config.json`.
fn model_dir(root: &Path) -> PathBuf {
    let dir = root.join("tiny-model");
    train_tokenizer(&dir);
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
               "bos_token": "<|bos|>"})
        .to_string(),
    )
    .unwrap();
    dir
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(gw: &GatewayProcess, path: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}{path}", gw.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(gw: &GatewayProcess, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path}", gw.url))
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// Assert decision D1's error body and header; returns the body.
async fn assert_d1(
    response: reqwest::Response,
    status: StatusCode,
    kind: &str,
    code: &str,
) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["x-smg-error-code"], code);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// `POST /v1/tokenizers`, asserting the 202; returns the id.
async fn add(gw: &GatewayProcess, name: &str, source: &str) -> String {
    let body = json_of(
        post(
            gw,
            "/v1/tokenizers",
            json!({"name": name, "source": source}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(body["status"], "pending");
    body["id"].as_str().unwrap().to_string()
}

/// Wait for a load to finish either way (HTTP 200 in both cases).
async fn settled(gw: &GatewayProcess, id: &str) -> TokenizerStatus {
    let client = gw.client();
    eventually(WAIT, "the tokenizer load to finish", || {
        let client = client.clone();
        async move {
            let status = client.tokenizers().status(id).await.unwrap();
            matches!(status.status, JobState::Completed | JobState::Failed).then_some(status)
        }
    })
    .await
}

#[tokio::test]
async fn lifecycle_round_trips_and_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = model_dir(root.path());
    let source = dir.to_str().unwrap();
    let reference = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let vocab = reference.get_vocab_size(true);
    let gw = GatewayProcess::start(&[]).await;

    // 202 with upstream's body, a UUID v7 id, then the job runs.
    let response = post(
        &gw,
        "/v1/tokenizers",
        json!({"name": "tiny", "source": source}),
    )
    .await;
    let added = json_of(response, StatusCode::ACCEPTED).await;
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(
        added,
        json!({"id": id, "status": "pending",
               "message": format!("Tokenizer 'tiny' registration job submitted. Loading from: {source}")})
    );
    let done = gw
        .client()
        .tokenizers()
        .wait_for_tokenizer(&id, WAIT)
        .await
        .unwrap();
    assert_eq!(done.vocab_size, Some(vocab));

    let status = json_of(
        get(&gw, &format!("/v1/tokenizers/{id}/status")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        status,
        json!({"id": id, "status": "completed", "message": "Tokenizer 'tiny' is loaded and ready",
               "vocab_size": vocab})
    );
    // List, get by id and by name: upstream's four fields plus the additive ones.
    let info = json!({"id": id, "name": "tiny", "source": source, "vocab_size": vocab,
                      "chat_template": true, "status": "completed"});
    let list = json_of(get(&gw, "/v1/tokenizers").await, StatusCode::OK).await;
    assert_eq!(list, json!({"tokenizers": [info.clone()]}));
    assert_eq!(
        json_of(
            get(&gw, &format!("/v1/tokenizers/{id}")).await,
            StatusCode::OK
        )
        .await,
        info
    );
    assert_eq!(
        json_of(get(&gw, "/v1/tokenizers/tiny").await, StatusCode::OK).await,
        info
    );
    assert_eq!(
        json_of(get(&gw, "/v1/tokenizers/tiny/status").await, StatusCode::OK).await["status"],
        "completed"
    );

    // 409 for a taken name.
    let body = assert_d1(
        post(
            &gw,
            "/v1/tokenizers",
            json!({"name": "tiny", "source": source}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
        "TOKENIZER_ALREADY_EXISTS",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&id),
        "{body}"
    );

    // Tokenize: the same ids as the crate in-process, no special tokens added, non-ASCII
    // text counted in Unicode scalar values.
    let text = "Grüße aus München! 世界你好 👋🏽";
    let expected = reference.encode(text, false).unwrap().get_ids().to_vec();
    let body = json_of(
        post(
            &gw,
            "/v1/tokenize",
            json!({"model": "tiny", "prompt": text}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        body,
        json!({"tokens": expected, "count": expected.len(), "char_count": text.chars().count()})
    );
    assert_eq!(text.chars().count(), 26);
    assert_ne!(text.chars().count(), text.len());

    // By id too, and the batch shape for an array (an empty string included).
    let prompts = ["The quick brown fox", "", "分词器 ✓"];
    let body = json_of(
        post(&gw, "/v1/tokenize", json!({"model": id, "prompt": prompts})).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| reference.encode(*p, false).unwrap().get_ids().to_vec())
        .collect();
    assert_eq!(body["tokens"], json!(ids));
    assert_eq!(
        body["count"],
        json!(ids.iter().map(Vec::len).collect::<Vec<_>>())
    );
    assert_eq!(body["char_count"], json!([19, 0, 5]));

    // Detokenize: exact round trips, single and batch.
    let body = json_of(
        post(
            &gw,
            "/v1/detokenize",
            json!({"model": "tiny", "tokens": expected}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, json!({"text": text}));
    let body = json_of(
        post(
            &gw,
            "/v1/detokenize",
            json!({"model": "tiny", "tokens": ids}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, json!({"text": prompts}));

    // Special tokens: recognised in the text, skipped on decode unless asked to keep them.
    let with_special = "<|bos|>hello world<|eos|>";
    let tokens = gw
        .client()
        .tokenize(&smg_sdk::TokenizeRequest::new("tiny", with_special).with_token_strs())
        .await
        .unwrap();
    let smg_sdk::TokenizeResponse::Single {
        tokens, token_strs, ..
    } = tokens
    else {
        panic!("single shape expected");
    };
    let bos = reference.token_to_id("<|bos|>").unwrap();
    assert_eq!(tokens.first(), Some(&bos));
    assert_eq!(
        token_strs.unwrap().first().map(String::as_str),
        Some("<|bos|>")
    );
    let skipped = json_of(
        post(
            &gw,
            "/v1/detokenize",
            json!({"model": "tiny", "tokens": tokens}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(skipped["text"], "hello world");
    let kept = json_of(
        post(
            &gw,
            "/v1/detokenize",
            json!({"model": "tiny", "tokens": tokens, "skip_special_tokens": false}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["text"], with_special);

    // Unknown model: 400 listing the available ones.
    let body = assert_d1(
        post(&gw, "/v1/tokenize", json!({"model": "nope", "prompt": "x"})).await,
        StatusCode::BAD_REQUEST,
        "tokenizer_not_found",
        "TOKENIZER_NOT_FOUND",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "Tokenizer for model 'nope' not found. Available: tiny"
    );
    assert_d1(
        post(
            &gw,
            "/v1/detokenize",
            json!({"model": "nope", "tokens": [1]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "tokenizer_not_found",
        "TOKENIZER_NOT_FOUND",
    )
    .await;

    // 404s by id and by name.
    let missing = "01990000-0000-7000-8000-000000000000";
    for key in [missing, "nope"] {
        assert_d1(
            get(&gw, &format!("/v1/tokenizers/{key}")).await,
            StatusCode::NOT_FOUND,
            "tokenizer_not_found",
            "TOKENIZER_NOT_FOUND",
        )
        .await;
        let body = assert_d1(
            get(&gw, &format!("/v1/tokenizers/{key}/status")).await,
            StatusCode::NOT_FOUND,
            "not_found",
            "NOT_FOUND",
        )
        .await;
        assert_eq!(
            body["error"]["message"],
            format!("Tokenizer '{key}' not found and no pending job")
        );
        assert_d1(
            http()
                .delete(format!("{}/v1/tokenizers/{key}", gw.url))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
            "tokenizer_not_found",
            "TOKENIZER_NOT_FOUND",
        )
        .await;
    }

    // Delete by name, synchronously.
    let response = http()
        .delete(format!("{}/v1/tokenizers/tiny", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(response, StatusCode::OK).await,
        json!({"success": true, "message": "Tokenizer 'tiny' removed successfully"})
    );
    assert_eq!(
        get(&gw, &format!("/v1/tokenizers/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        json_of(get(&gw, "/v1/tokenizers").await, StatusCode::OK).await,
        json!({"tokenizers": []})
    );
    let body = assert_d1(
        post(&gw, "/v1/tokenize", json!({"model": "tiny", "prompt": "x"})).await,
        StatusCode::BAD_REQUEST,
        "tokenizer_not_found",
        "TOKENIZER_NOT_FOUND",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "No tokenizers available. Use POST /v1/tokenizers to add one."
    );
}

#[tokio::test]
async fn bad_requests_get_d1_bodies() {
    let gw = GatewayProcess::start(&[]).await;
    assert_d1(
        post(&gw, "/v1/tokenizers", json!({"name": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        "UNPROCESSABLE_ENTITY",
    )
    .await;
    assert_d1(
        post(
            &gw,
            "/v1/tokenizers",
            json!({"name": " ", "source": "/tmp"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "BAD_REQUEST",
    )
    .await;
    assert_d1(
        http()
            .post(format!("{}/v1/tokenize", gw.url))
            .body("{}")
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_d1(
        post(&gw, "/v1/tokenize", json!({"model": "m", "prompt": 3})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        "UNPROCESSABLE_ENTITY",
    )
    .await;
}

#[tokio::test]
async fn failing_sources_keep_their_reason() {
    let root = tempfile::tempdir().unwrap();
    let good = model_dir(root.path());
    let invalid = root.path().join("invalid.json");
    std::fs::write(&invalid, "{\"model\": ").unwrap();
    let missing = root.path().join("missing").join("tokenizer.json");
    let gw = GatewayProcess::start(&[]).await;

    let cases = [
        (
            "missing",
            missing.to_str().unwrap().to_string(),
            vec!["missing/tokenizer.json", "no such file"],
        ),
        (
            "invalid",
            invalid.to_str().unwrap().to_string(),
            vec!["invalid.json", "not valid JSON"],
        ),
        (
            "no-tokenizer",
            root.path().to_str().unwrap().to_string(),
            vec!["has no tokenizer.json"],
        ),
        (
            "not-an-id",
            "not a/valid id!".to_string(),
            vec!["nor a valid Hugging Face model id"],
        ),
    ];
    for (name, source, needles) in &cases {
        let id = add(&gw, name, source).await;
        // A failure is reported with HTTP 200 and its reason (decision D3).
        let response = get(&gw, &format!("/v1/tokenizers/{id}/status")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let status = settled(&gw, &id).await;
        assert_eq!(status.status, JobState::Failed, "{name}: {status:?}");
        for needle in needles {
            assert!(
                status.message.contains(needle),
                "{name}: {}",
                status.message
            );
        }
        assert!(
            status
                .message
                .starts_with(&format!("Failed to load tokenizer '{name}' from ")),
            "{}",
            status.message
        );
        // The SDK's wait reports it as a typed error with the reason.
        let err = gw
            .client()
            .tokenizers()
            .wait_for_tokenizer(&id, WAIT)
            .await
            .unwrap_err();
        match err {
            smg_sdk::Error::JobFailed { message, .. } => assert_eq!(message, status.message),
            other => panic!("{other:?}"),
        }
    }

    // A chat template that cannot be read fails the load, naming the file.
    let body = json_of(
        post(
            &gw,
            "/v1/tokenizers",
            json!({"name": "templated", "source": good.to_str().unwrap(),
                   "chat_template_path": root.path().join("nope.jinja").to_str().unwrap()}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let status = settled(&gw, body["id"].as_str().unwrap()).await;
    assert_eq!(status.status, JobState::Failed);
    assert!(
        status.message.contains("cannot read chat template")
            && status.message.contains("nope.jinja"),
        "{}",
        status.message
    );

    // Failed registrations are listed with their reason; tokenizing with one says why.
    let list = gw.client().tokenizers().list().await.unwrap();
    assert_eq!(list.tokenizers.len(), 5);
    assert!(
        list.tokenizers
            .iter()
            .all(|t| t.status == Some(JobState::Failed)
                && t.message.is_some()
                && t.vocab_size == 0)
    );
    let body = assert_d1(
        post(
            &gw,
            "/v1/tokenize",
            json!({"model": "invalid", "prompt": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "tokenizer_not_found",
        "TOKENIZER_NOT_FOUND",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    // The name of a failed registration can be used again, with a good source.
    let id = add(&gw, "invalid", good.to_str().unwrap()).await;
    assert_eq!(settled(&gw, &id).await.status, JobState::Completed);
    assert_eq!(
        gw.client().tokenizers().get("invalid").await.unwrap().id,
        id
    );

    // After a restart the good one is reloaded, and the failures still say why (decision
    // D3; until the retention period ends), without being retried.
    let failures = |list: smg_sdk::TokenizerList| -> Vec<(String, Option<String>)> {
        list.tokenizers
            .into_iter()
            .filter(|t| t.status == Some(JobState::Failed))
            .map(|t| (t.id, t.message))
            .collect()
    };
    let before = failures(gw.client().tokenizers().list().await.unwrap());
    assert_eq!(before.len(), 4);
    let mut gw = gw;
    gw.restart().await;
    assert_eq!(settled(&gw, &id).await.status, JobState::Completed);
    let list = gw.client().tokenizers().list().await.unwrap();
    assert_eq!(list.tokenizers.len(), 5, "{list:?}");
    assert_eq!(failures(list), before);
    let status = gw.client().tokenizers().status("missing").await.unwrap();
    assert_eq!(status.status, JobState::Failed);
    assert!(status.message.contains("no such file"), "{status:?}");
}

#[tokio::test]
async fn unreachable_hub_fails_fast() {
    // A hub port with nothing listening: connection refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let gw =
        GatewayProcess::start(&["--hf-endpoint", &endpoint, "--hf-hub-timeout-secs", "2"]).await;
    let started = Instant::now();
    let id = add(&gw, "hub", "some-org/some-model").await;
    let status = settled(&gw, &id).await;
    // Bounded: a hang would run into the 20 s wait of `settled`.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.status, JobState::Failed);
    assert!(
        status
            .message
            .contains(&format!("cannot reach the Hugging Face Hub at {endpoint}")),
        "{}",
        status.message
    );
    drop(gw);

    // A hub that accepts connections and never answers: bounded by --hf-hub-timeout-secs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let gw =
        GatewayProcess::start(&["--hf-endpoint", &endpoint, "--hf-hub-timeout-secs", "1"]).await;
    let started = Instant::now();
    let id = add(&gw, "hub", "some-org/some-model").await;
    // While the fetch hangs, the status shows what the job is doing.
    let processing = gw.client().tokenizers().status(&id).await.unwrap();
    assert!(
        matches!(processing.status, JobState::Pending | JobState::Processing),
        "{processing:?}"
    );
    let status = settled(&gw, &id).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.status, JobState::Failed);
    assert!(
        status
            .message
            .contains("did not answer within 1s (--hf-hub-timeout-secs)"),
        "{}",
        status.message
    );
    hold.abort();
}

/// A stand-in for the Hugging Face Hub serving `org/model` (a `tokenizer.json`) only to
/// requests bearing `token`; it records every `authorization` header it gets.
async fn token_hub(
    tokenizer_json: Vec<u8>,
    token: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode as Status};
    use axum::response::{IntoResponse, Response};
    use std::sync::{Arc, Mutex};

    #[derive(Clone)]
    struct Hub {
        file: Arc<Vec<u8>>,
        token: &'static str,
        seen: Arc<Mutex<Vec<String>>>,
    }
    impl Hub {
        fn authorized(&self, headers: &HeaderMap) -> bool {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let ok = auth == format!("Bearer {}", self.token);
            self.seen.lock().unwrap().push(auth);
            ok
        }
    }
    async fn info(State(hub): State<Hub>, headers: HeaderMap) -> Response {
        if !hub.authorized(&headers) {
            return Status::UNAUTHORIZED.into_response();
        }
        axum::Json(json!({"sha": "c0ffee", "siblings": [{"rfilename": "tokenizer.json"}]}))
            .into_response()
    }
    async fn file(State(hub): State<Hub>, headers: HeaderMap) -> Response {
        if !hub.authorized(&headers) {
            return Status::UNAUTHORIZED.into_response();
        }
        let len = hub.file.len();
        let (start, stop) = headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.split_once('-'))
            .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
            .unwrap_or((0, len - 1));
        let stop = stop.min(len - 1);
        (
            Status::PARTIAL_CONTENT,
            [
                ("etag", "\"etag-tokenizer\"".to_string()),
                ("x-repo-commit", "c0ffee".to_string()),
                ("content-range", format!("bytes {start}-{stop}/{len}")),
            ],
            hub.file[start..=stop].to_vec(),
        )
            .into_response()
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let hub = Hub {
        file: Arc::new(tokenizer_json),
        token,
        seen: seen.clone(),
    };
    let app = axum::Router::new()
        .route(
            "/api/models/org/model/revision/main",
            axum::routing::get(info),
        )
        .route(
            "/org/model/resolve/main/tokenizer.json",
            axum::routing::get(file),
        )
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// An `smg` process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn hub_fetches_send_hf_token() {
    const TOKEN: &str = "hf_test_token_123";
    let root = tempfile::tempdir().unwrap();
    let json = std::fs::read(train_tokenizer(&root.path().join("src"))).unwrap();
    let (hub, seen) = token_hub(json, TOKEN).await;

    // The harness passes no environment: start this gateway by hand, with HF_TOKEN set.
    let log_path = root.path().join("smg.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _gw = Killed(
        std::process::Command::new(smg_tests::harness::bin_path("smg"))
            .arg("launch")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--store")
            .arg(root.path().join("smg.db"))
            .args(smg_tests::harness::FAST)
            .args(["--hf-endpoint", &hub, "--hf-hub-timeout-secs", "20"])
            .arg("--hf-cache-dir")
            .arg(root.path().join("hf"))
            .env("HF_TOKEN", TOKEN)
            .env_remove("HUGGING_FACE_HUB_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let url = eventually(WAIT, "the gateway to listen", || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        async move {
            // A whole line only: the address may still be being written.
            let (line, _) = log
                .split("smg listening on http://")
                .nth(1)?
                .split_once('\n')?;
            let addr: String = line
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            Some(format!("http://{addr}"))
        }
    })
    .await;

    let response = http()
        .post(format!("{url}/v1/tokenizers"))
        .json(&json!({"name": "hub", "source": "org/model"}))
        .send()
        .await
        .unwrap();
    let added = json_of(response, StatusCode::ACCEPTED).await;
    let id = added["id"].as_str().unwrap().to_string();
    let status = eventually(WAIT, "the hub tokenizer to load", || {
        let url = format!("{url}/v1/tokenizers/{id}/status");
        async move {
            let status: Value = http().get(url).send().await.ok()?.json().await.ok()?;
            (status["status"] == "completed" || status["status"] == "failed").then_some(status)
        }
    })
    .await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n{}",
        std::fs::read_to_string(&log_path).unwrap()
    );
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(|auth| *auth == format!("Bearer {TOKEN}")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn restart_keeps_the_registration() {
    let root = tempfile::tempdir().unwrap();
    let file = train_tokenizer(&root.path().join("file-only"));
    let dir = model_dir(root.path());
    let mut gw = GatewayProcess::start(&[]).await;
    let kept = add(&gw, "kept", file.to_str().unwrap()).await;
    let gone = add(&gw, "gone", dir.to_str().unwrap()).await;
    for id in [&kept, &gone] {
        assert_eq!(settled(&gw, id).await.status, JobState::Completed);
    }
    let info = gw.client().tokenizers().get("kept").await.unwrap();
    assert!(!info.chat_template, "a lone tokenizer.json has no template");
    gw.client().tokenizers().delete(&gone).await.unwrap();
    let before = gw
        .client()
        .tokenize(&smg_sdk::TokenizeRequest::new("kept", "The lazy dog"))
        .await
        .unwrap();

    gw.restart().await;
    // Reloaded under the same id and name; the deleted one stays deleted.
    let status = settled(&gw, &kept).await;
    assert_eq!(status.status, JobState::Completed);
    let list = gw.client().tokenizers().list().await.unwrap();
    assert_eq!(list.tokenizers.len(), 1);
    assert_eq!(list.tokenizers[0].name, "kept");
    assert_eq!(list.tokenizers[0].source, file.to_str().unwrap());
    let after = gw
        .client()
        .tokenize(&smg_sdk::TokenizeRequest::new("kept", "The lazy dog"))
        .await
        .unwrap();
    assert_eq!(before, after);
    assert!(
        gw.client()
            .tokenizers()
            .get(&gone)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // The name is still taken after the restart.
    let response = post(
        &gw,
        "/v1/tokenizers",
        json!({"name": "kept", "source": file.to_str().unwrap()}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn large_inputs_are_encoded_off_the_runtime() {
    let root = tempfile::tempdir().unwrap();
    let dir = model_dir(root.path());
    let reference = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let gw = GatewayProcess::start(&[]).await;
    let id = add(&gw, "tiny", dir.to_str().unwrap()).await;
    assert_eq!(settled(&gw, &id).await.status, JobState::Completed);

    // ~2 MB of text, encoded while the gateway keeps answering other requests.
    let text = CORPUS.join(" ").repeat(2_000_000 / CORPUS.join(" ").len());
    let expected = reference
        .encode(text.as_str(), false)
        .unwrap()
        .get_ids()
        .len();
    let client = gw.client();
    let big = {
        let text = text.clone();
        tokio::spawn(async move {
            client
                .tokenize(&smg_sdk::TokenizeRequest::new("tiny", text))
                .await
                .unwrap()
        })
    };
    // A smoke check only: the gateway's runtime has several threads, so this cannot tell
    // whether the encode ran on one of them (the service's unit test on a current-thread
    // runtime does).
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(get(&gw, "/liveness").await.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let answer = big.await.unwrap();
    assert_eq!(answer.counts(), vec![expected]);
    assert_eq!(answer.char_counts(), vec![text.chars().count()]);
}
