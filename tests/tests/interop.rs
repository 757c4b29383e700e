//! Interop: one suite of checks, run against the real upstream SMG 1.13.0 (its release wheel,
//! installed by [`smg_tests::upstream`]) and against this project's gateway, each fronting two
//! simulated SGLang workers. Every route upstream has is driven through the SDK and through the
//! real `smgctl`; `smg-tui --once` must show the loads; routes upstream lacks must be named as
//! such by smgctl. Where the two gateways answer differently by design (see
//! `shared/contract/smg-1.13/README.md`), each is held to its own documented answer.
//!
//! The upstream test fails (never skips) when the wheel cannot be installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smg_sdk::{
    AddTokenizerRequest, ChatCompletionRequest, ChatMessage, DetokenizeRequest, DetokenizedText,
    GatewayKind, HealthCheckUpdate, JobState, LoadsShape, StartProfileRequest, StopProfileRequest,
    TokenizeRequest, WorkerSpec, WorkerUpdateRequest,
};
use smg_tests::harness::{self, GatewayProcess, assert_exit, eventually, stderr, stdout};
use smg_tests::mock::{MockConfig, MockFleet};
use smg_tests::upstream::{UPSTREAM_VERSION, UpstreamGateway};
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{Tokenizer, TokenizerBuilder};

/// Bound of every wait for the gateway to converge (registration, updates, load polls).
const WAIT: Duration = Duration::from_secs(20);
const MODEL: &str = "mock-model";
/// Time to first token of the simulated workers: how long the busy-engine checks have.
const PREFILL: Duration = Duration::from_secs(10);

/// Time left for the busy-engine checks: until shortly before the requests end.
fn busy_left(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}

/// The gateway under test.
enum Gateway {
    Ours(GatewayProcess),
    Upstream(UpstreamGateway),
}

struct Target {
    gateway: Gateway,
    url: String,
}

impl Target {
    fn ours(gw: GatewayProcess) -> Self {
        let url = gw.url.clone();
        Self {
            gateway: Gateway::Ours(gw),
            url,
        }
    }

    fn upstream(gw: UpstreamGateway) -> Self {
        let url = gw.url.clone();
        Self {
            gateway: Gateway::Upstream(gw),
            url,
        }
    }

    fn is_upstream(&self) -> bool {
        matches!(self.gateway, Gateway::Upstream(_))
    }

    fn name(&self) -> &'static str {
        if self.is_upstream() {
            "upstream SMG 1.13.0"
        } else {
            "this gateway"
        }
    }

    fn client(&self) -> smg_sdk::Client {
        match &self.gateway {
            Gateway::Ours(gw) => gw.client(),
            Gateway::Upstream(gw) => gw.client(),
        }
    }

    /// `http://…/metrics` of the gateway's Prometheus listener.
    fn metrics_url(&self) -> String {
        match &self.gateway {
            Gateway::Ours(gw) => gw.metrics_url.clone(),
            Gateway::Upstream(gw) => gw.metrics_url.clone(),
        }
    }

    fn logs(&self) -> String {
        match &self.gateway {
            Gateway::Ours(gw) => gw.logs(),
            Gateway::Upstream(gw) => gw.logs(),
        }
    }

    /// `smgctl --url URL ARGS`, no credentials.
    async fn ctl(&self, args: &[&str]) -> Output {
        harness::smgctl(&self.url, None, args, None).await
    }

    /// `smgctl ARGS`, which must exit 0; its stdout.
    async fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args).await;
        assert_exit(
            &out,
            0,
            &format!("smgctl {} against {}", args.join(" "), self.name()),
        );
        stdout(&out)
    }

    /// `smgctl ARGS -o json`, which must exit 0 and print one JSON document.
    async fn ctl_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ctl_ok(&all).await;
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "smgctl {} against {}: not JSON ({e}):\n{text}",
                all.join(" "),
                self.name()
            )
        })
    }
}

/// `args` must fail with smgctl's "not offered" exit code (7), naming upstream SMG 1.13.0 and
/// `route` on stderr, without a raw status or decode error.
async fn assert_not_offered(t: &Target, args: &[&str], route: &str) {
    let out = t.ctl(args).await;
    assert_exit(&out, 7, &format!("smgctl {}", args.join(" ")));
    let err = stderr(&out);
    // `route` may be the start of the route (a PATCH names the worker and the body after it).
    let expected = format!("upstream SMG {UPSTREAM_VERSION} does not offer `{route}");
    assert!(
        err.contains(&expected),
        "smgctl {}: want {expected:?} on stderr, got:\n{err}",
        args.join(" ")
    );
    for raw in ["decode", "404 Not Found", "unknown_url", "Invalid URL"] {
        assert!(
            !err.contains(raw),
            "smgctl {}: raw {raw:?} in:\n{err}",
            args.join(" ")
        );
    }
    assert!(stdout(&out).is_empty(), "data on stdout: {}", stdout(&out));
}

/// A small byte-level BPE trained here (no download), saved as `dir/tokenizer.json`.
fn tokenizer_dir(root: &Path) -> (PathBuf, Tokenizer) {
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(300)
        .min_frequency(1)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(false)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .unwrap();
    let corpus = [
        "Both gateways must tokenize this sentence the same way.",
        "Interop tests run one suite against two gateways.",
        "The quick brown fox jumps over the lazy dog.",
    ];
    tokenizer.train(&mut trainer, corpus.iter()).unwrap();
    let dir = root.join("interop-tokenizer");
    std::fs::create_dir_all(&dir).unwrap();
    tokenizer.save(dir.join("tokenizer.json"), false).unwrap();
    let reloaded = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    (dir, reloaded)
}

/// `smg-tui --once` on `url`: exit code and the printed frames.
async fn tui_once(url: &str, metrics_url: &str) -> (Option<i32>, String) {
    let config = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(harness::bin_path("smg-tui"))
        .args(["--once", "--url", url, "--metrics-url", metrics_url])
        .env("NO_COLOR", "1")
        .env("XDG_CONFIG_HOME", config.path())
        .env("SMGCTL_CONFIG", "/nonexistent/smgctl.toml")
        .env_remove("SMG_URL")
        .env_remove("SMG_ADMIN_TOKEN")
        .env_remove("SMG_API_KEY")
        .env_remove("SMG_CONTEXT")
        .env_remove("SMG_METRICS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("smg-tui --once hung")
        .unwrap();
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// The id field of a worker as `smgctl workers add|get -o json` prints it.
fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// The whole suite against one gateway.
async fn suite(t: &Target) {
    let fleet = MockFleet::start(
        0,
        2,
        MockConfig {
            latency_ms: u64::try_from(PREFILL.as_millis()).unwrap(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let urls = fleet.urls();
    let (url_a, url_b) = (urls[0].clone(), urls[1].clone());
    let client = t.client();
    let gw = t.name();

    // ---- version: which gateway answers, by the SDK and smgctl.
    let identity = client.identity().await.unwrap();
    if t.is_upstream() {
        assert_eq!(identity.kind, GatewayKind::Upstream, "{identity:?}");
        assert_eq!(identity.version.as_deref(), Some(UPSTREAM_VERSION));
    } else {
        assert_eq!(identity.kind, GatewayKind::ThisProject, "{identity:?}");
        assert_eq!(identity.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }
    let version = t.ctl_ok(&["version"]).await;
    let want = if t.is_upstream() {
        format!("gateway: upstream SMG {UPSTREAM_VERSION}")
    } else {
        format!(
            "gateway: smg-gateway {} (this project)",
            env!("CARGO_PKG_VERSION")
        )
    };
    assert!(version.contains(&want), "{gw}: smgctl version:\n{version}");
    let version = t.ctl_json(&["version"]).await;
    let (kind, number) = if t.is_upstream() {
        ("upstream", UPSTREAM_VERSION)
    } else {
        ("this_project", env!("CARGO_PKG_VERSION"))
    };
    assert_eq!(version["gateway_kind"], json!(kind), "{version}");
    assert_eq!(version["gateway"], json!(number), "{version}");

    // ---- health and ready with no worker: live, not ready (exit 1 with the reason).
    assert_eq!(client.health().await.unwrap().trim(), "OK");
    t.ctl_ok(&["health"]).await;
    let readiness = client.readiness().await.unwrap();
    assert!(!readiness.is_ready(), "{gw}: {readiness:?}");
    let ready = t.ctl(&["ready"]).await;
    assert_exit(&ready, 1, "smgctl ready without workers");

    // ---- workers add --wait (smgctl) and create_and_wait (SDK).
    let added = t.ctl_json(&["workers", "add", &url_a, "--wait"]).await;
    let id_a = id_of(&added);
    assert_eq!(added["url"], json!(url_a), "{added}");
    assert_eq!(added["status"], json!("ready"), "{added}");
    let b = client
        .workers()
        .create_and_wait(&WorkerSpec::new(&url_b), WAIT)
        .await
        .unwrap();
    let id_b = b.id.clone();
    assert!(b.is_healthy, "{gw}: {b:?}");

    // ---- list and get.
    let list = client.workers().list().await.unwrap();
    let mut listed: Vec<&str> = list.workers.iter().map(|w| w.spec.url.as_str()).collect();
    listed.sort_unstable();
    let mut want_urls = vec![url_a.as_str(), url_b.as_str()];
    want_urls.sort_unstable();
    assert_eq!(listed, want_urls, "{gw}: SDK list");
    let listed = t.ctl_json(&["workers", "list"]).await;
    let text = listed.to_string();
    assert!(
        text.contains(&id_a) && text.contains(&id_b),
        "{gw}: smgctl workers list -o json:\n{listed}"
    );
    let table = t.ctl_ok(&["workers", "list"]).await;
    assert!(
        table.contains(&url_a) && table.contains(&url_b),
        "{gw}: smgctl workers list:\n{table}"
    );
    let names = t.ctl_ok(&["workers", "list", "-o", "name"]).await;
    assert_eq!(names.lines().count(), 2, "{gw}: -o name:\n{names}");
    let got = client.workers().get(&id_a).await.unwrap();
    assert_eq!(got.spec.url, url_a);
    assert_eq!(got.model_id.as_deref(), Some(MODEL));
    // A unique end of the id, as the tables show it.
    let tail = &id_b[id_b.len() - 8..];
    let got = t.ctl_json(&["workers", "get", tail]).await;
    assert_eq!(got["id"], json!(id_b), "{got}");
    assert_eq!(got["url"], json!(url_b), "{got}");
    let missing = t
        .ctl(&["workers", "get", "00000000-0000-7000-8000-000000000000"])
        .await;
    assert_exit(&missing, 3, "smgctl workers get of an unknown id");

    // ---- update (PATCH): smgctl with labels and a short drain, the SDK with a cost.
    t.ctl_ok(&[
        "workers",
        "update",
        &id_a,
        "--priority",
        "70",
        "--label",
        "team=interop",
        "--drain-settle-secs",
        "1",
    ])
    .await;
    client
        .workers()
        .update(
            &id_b,
            &WorkerUpdateRequest {
                cost: Some(2.5),
                health: Some(HealthCheckUpdate {
                    drain_settle_secs: Some(1),
                    ..HealthCheckUpdate::default()
                }),
                ..WorkerUpdateRequest::default()
            },
        )
        .await
        .unwrap();
    eventually(WAIT, "both updates applied", || async {
        let a = client.workers().get(&id_a).await.ok()?;
        let b = client.workers().get(&id_b).await.ok()?;
        (a.spec.priority == 70
            && a.spec.labels.get("team").map(String::as_str) == Some("interop")
            && (b.spec.cost - 2.5).abs() < 1e-6)
            .then_some(())
    })
    .await;

    // ---- replace (PUT): smgctl from a spec file, the SDK from a WorkerSpec. Both keep a
    // short drain so that the deletes below are quick on either gateway.
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("replace-b.json");
    std::fs::write(
        &spec_file,
        json!({"url": url_b, "priority": 60, "labels": {"replaced": "by-smgctl"},
               "health": {"drain_settle_secs": 1}})
        .to_string(),
    )
    .unwrap();
    t.ctl_ok(&[
        "workers",
        "replace",
        &id_b,
        "-f",
        spec_file.to_str().unwrap(),
    ])
    .await;
    let mut spec_a = WorkerSpec::new(&url_a);
    spec_a.priority = 80;
    spec_a.health.drain_settle_secs = Some(1);
    client.workers().replace(&id_a, &spec_a).await.unwrap();
    eventually(WAIT, "both replacements applied and ready", || async {
        let a = client.workers().get(&id_a).await.ok()?;
        let b = client.workers().get(&id_b).await.ok()?;
        (a.spec.priority == 80
            && a.is_healthy
            && b.spec.priority == 60
            && b.spec.labels.get("replaced").map(String::as_str) == Some("by-smgctl")
            && b.is_healthy)
            .then_some(())
    })
    .await;

    // ---- models, model info, server info, readiness with workers.
    let models = client.models().await.unwrap();
    assert!(
        models.data.iter().any(|m| m.id == MODEL),
        "{gw}: {models:?}"
    );
    assert_eq!(client.model(MODEL).await.unwrap().id, MODEL);
    let unknown = client.model("no-such-model").await.unwrap_err();
    assert!(unknown.is_not_found(), "{gw}: {unknown:?}");
    let models = t.ctl_ok(&["models"]).await;
    assert!(models.contains(MODEL), "{gw}: smgctl models:\n{models}");
    let info = client.model_info().await.unwrap();
    assert_eq!(info["model_path"], json!(MODEL), "{info}");
    let info = client.server_info().await.unwrap();
    assert_eq!(info["served_model_name"], json!(MODEL), "{info}");
    let info = t.ctl_json(&["model-info"]).await;
    assert_eq!(info["model_path"], json!(MODEL), "{info}");
    let info = t.ctl_json(&["server-info"]).await;
    assert_eq!(info["served_model_name"], json!(MODEL), "{info}");
    let readiness = client.readiness().await.unwrap();
    assert!(readiness.is_ready(), "{gw}: {readiness:?}");
    assert_eq!(readiness.healthy_workers, Some(2), "{readiness:?}");
    t.ctl_ok(&["ready"]).await;

    // ---- loads, both routes. Upstream answers /get_loads from its load monitor in the
    // snapshot shape (and names itself there); ours keeps seed 002's live {workers} shape.
    // `/loads` is the snapshot on both.
    let loads = eventually(WAIT, "both workers in /get_loads", || async {
        let loads = client.loads().await.ok()?;
        [&url_a, &url_b]
            .iter()
            .all(|u| loads.worker(u).is_some_and(|w| w.reported()))
            .then_some(loads)
    })
    .await;
    if t.is_upstream() {
        assert_eq!(loads.shape, LoadsShape::Snapshot, "{loads:?}");
        assert_eq!(
            loads.version.as_deref(),
            Some(format!("smg-{UPSTREAM_VERSION}").as_str())
        );
    } else {
        assert_eq!(loads.shape, LoadsShape::Workers, "{loads:?}");
    }
    let snapshot = eventually(WAIT, "both workers in /loads", || async {
        let s = client.loads_snapshot(None).await.ok()?;
        [&url_a, &url_b]
            .iter()
            .all(|u| s.loads.iter().any(|r| &r.worker == *u))
            .then_some(s)
    })
    .await;
    assert_eq!(snapshot.dp_rank_count, 2, "{gw}: {snapshot:?}");
    let by_model = client.loads_snapshot(Some(MODEL)).await.unwrap();
    assert_eq!(by_model.loads.len(), 2, "{gw}: {by_model:?}");
    let none = client.loads_snapshot(Some("no-such-model")).await.unwrap();
    assert!(none.loads.is_empty(), "{gw}: {none:?}");
    for args in [
        &["loads"][..],
        &["loads", "--snapshot"],
        &["loads", "--snapshot", "--model", MODEL],
    ] {
        let v = t.ctl_json(args).await;
        let text = v.to_string();
        assert!(
            text.contains(&url_a) && text.contains(&url_b),
            "{gw}: smgctl {}:\n{v}",
            args.join(" ")
        );
        let table = t.ctl_ok(args).await;
        assert!(
            table.contains(&url_a) && table.contains(&url_b),
            "{gw}: smgctl {}:\n{table}",
            args.join(" ")
        );
        assert!(!table.contains("decode"), "{table}");
    }

    // ---- busy engines: requests held in prefill show as running in both loads routes, in
    // smgctl and in the dashboard (zeros alone would not catch a misread field).
    // All of them must pass while the requests are still in prefill.
    let busy_until = Instant::now() + PREFILL - Duration::from_secs(1);
    let busy: Vec<_> = (0..4)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut req = ChatCompletionRequest::new(
                    MODEL,
                    vec![ChatMessage::user(format!("interop request {i}"))],
                );
                req.max_tokens = Some(2);
                client.chat_completions(&req).await
            })
        })
        .collect();
    eventually(
        busy_left(busy_until),
        "running requests in /get_loads and /loads",
        || async {
            let live = client.loads().await.ok()?;
            let snap = client.loads_snapshot(None).await.ok()?;
            let live_running: i64 = live
                .ranks()
                .map(|(_, r)| i64::from(r.num_running_reqs))
                .sum();
            (live_running > 0 && snap.aggregate.total_running_reqs > 0).then_some(())
        },
    )
    .await;
    for args in [&["loads"][..], &["loads", "--snapshot"]] {
        eventually(
            busy_left(busy_until),
            "smgctl loads showing running requests",
            || async {
                let v = t.ctl_json(args).await;
                (v["aggregate"]["total_running_reqs"].as_i64() > Some(0)).then_some(())
            },
        )
        .await;
    }
    let screen = eventually(
        busy_left(busy_until),
        "smg-tui --once showing running requests",
        || async {
            let (code, screen) = tui_once(&t.url, &t.metrics_url()).await;
            assert_eq!(code, Some(0), "{gw}: smg-tui --once:\n{screen}");
            let running = screen
                .lines()
                .find_map(|l| l.split("aggregate (/loads): running ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok());
            (running > Some(0)).then_some(screen)
        },
    )
    .await;
    assert!(
        screen.contains("engine loads reported by 2 of 2 workers"),
        "{gw}: smg-tui --once:\n{screen}"
    );
    for wrong in ["decode", "metrics unavailable", "GATEWAY UNREACHABLE"] {
        assert!(
            !screen.contains(wrong),
            "{gw}: {wrong} in smg-tui --once:\n{screen}"
        );
    }
    for url in [&url_a, &url_b] {
        assert!(
            screen.contains(url.as_str()),
            "{gw}: {url} not in:\n{screen}"
        );
    }
    if t.is_upstream() {
        assert!(
            screen.contains(&format!("upstream SMG {UPSTREAM_VERSION}")),
            "{screen}"
        );
    }
    for request in busy {
        let answer = request.await.unwrap();
        assert!(answer.is_ok(), "{gw}: chat through the gateway: {answer:?}");
    }

    // ---- cache flush.
    let flushed = client.flush_cache().await.unwrap();
    assert_eq!(flushed.status, "success", "{gw}: {flushed:?}");
    assert_eq!(flushed.workers_flushed, 2, "{flushed:?}");
    t.ctl_ok(&["cache", "flush"]).await;
    for w in fleet.workers() {
        assert_eq!(w.stats().flushes, 2, "{gw}: flushes on {}", w.url());
    }

    // ---- profile start/stop, SDK then smgctl.
    let started = client
        .start_profile(&StartProfileRequest::default())
        .await
        .unwrap();
    assert_eq!(
        (started.status.as_str(), started.workers_profiled),
        ("success", 2),
        "{gw}: {started:?}"
    );
    let one = client
        .stop_profile(&StopProfileRequest {
            url: Some(url_a.clone()),
        })
        .await
        .unwrap();
    assert_eq!(one.workers_profiled, 1, "{gw}: {one:?}");
    let no_match = client
        .stop_profile(&StopProfileRequest {
            url: Some("http://127.0.0.1:1".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(no_match.status(), Some(404), "{gw}: {no_match:?}");
    profile_cli(t, &fleet).await;

    // ---- tokenizers: add --wait, list, status, get, tokenize, detokenize, delete.
    let (tok_dir, reference) = tokenizer_dir(dir.path());
    let source = tok_dir.to_str().unwrap();
    t.ctl_ok(&["tokenizers", "add", "interop-tok", source, "--wait"])
        .await;
    let listed = t.ctl_json(&["tokenizers", "list"]).await;
    assert!(
        listed.to_string().contains("interop-tok"),
        "{gw}: smgctl tokenizers list:\n{listed}"
    );
    let status = t.ctl_ok(&["tokenizers", "status", "interop-tok"]).await;
    assert!(status.contains("completed"), "{gw}: status:\n{status}");
    let got = t.ctl_json(&["tokenizers", "get", "interop-tok"]).await;
    assert_eq!(got["name"], json!("interop-tok"), "{gw}: {got}");
    assert_eq!(got["source"], json!(source), "{gw}: {got}");
    let info = client.tokenizers().get("interop-tok").await.unwrap();
    assert_eq!(info.vocab_size, reference.get_vocab_size(true), "{info:?}");
    let st = client.tokenizers().status(&info.id).await.unwrap();
    assert_eq!(st.status, JobState::Completed, "{gw}: {st:?}");

    let text = "Both gateways must tokenize this sentence the same way.";
    let want: Vec<u32> = reference.encode(text, false).unwrap().get_ids().to_vec();
    let tokens = client
        .tokenize(&TokenizeRequest::new("interop-tok", text))
        .await
        .unwrap();
    assert_eq!(
        tokens.token_ids(),
        vec![want.as_slice()],
        "{gw}: SDK tokenize"
    );
    let tokenized = t
        .ctl_json(&["tokenize", "--model", "interop-tok", text])
        .await;
    assert_eq!(tokenized["tokens"], json!(want), "{gw}: {tokenized}");
    let detok = client
        .detokenize(&DetokenizeRequest::new("interop-tok", want.clone()))
        .await
        .unwrap();
    assert_eq!(detok.text, DetokenizedText::Single(text.into()), "{gw}");
    let ids: Vec<String> = want.iter().map(u32::to_string).collect();
    let mut args = vec!["detokenize", "--model", "interop-tok"];
    args.extend(ids.iter().map(String::as_str));
    let detok = t.ctl_json(&args).await;
    assert_eq!(detok["text"], json!(text), "{gw}: {detok}");
    // A second registration through the SDK, removed through the SDK.
    let sdk_tok = client
        .tokenizers()
        .add_and_wait(&AddTokenizerRequest::new("interop-sdk", source), WAIT)
        .await
        .unwrap();
    assert_eq!(sdk_tok.status, JobState::Completed, "{gw}: {sdk_tok:?}");
    assert!(
        client
            .tokenizers()
            .delete("interop-sdk")
            .await
            .unwrap()
            .success
    );
    t.ctl_ok(&["tokenizers", "delete", "interop-tok", "--yes"])
        .await;
    let left = client.tokenizers().list().await.unwrap();
    assert!(
        !left
            .tokenizers
            .iter()
            .any(|t| t.name.starts_with("interop-")),
        "{gw}: {left:?}"
    );
    let gone = t.ctl(&["tokenizers", "status", "interop-tok"]).await;
    assert_exit(&gone, 3, "smgctl tokenizers status after delete");

    // ---- parse: function calls and reasoning.
    let call = r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#;
    let parsed = client.parse_function_call(call, "json", &[]).await.unwrap();
    assert_eq!(parsed.tool_calls.len(), 1, "{gw}: {parsed:?}");
    assert_eq!(parsed.tool_calls[0].function.name, "get_weather");
    let args: Value = serde_json::from_str(&parsed.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    let parsed = t
        .ctl_json(&["parse", "function-call", "--parser", "json", call])
        .await;
    assert_eq!(
        parsed["tool_calls"][0]["function"]["name"],
        json!("get_weather"),
        "{gw}: {parsed}"
    );
    let table = t
        .ctl_ok(&["parse", "function-call", "--parser", "json", call])
        .await;
    assert!(table.contains("get_weather"), "{gw}:\n{table}");
    let thought = "the user wants weather</think>It is sunny.";
    let split = client
        .parse_reasoning(thought, "deepseek_r1")
        .await
        .unwrap();
    assert_eq!(
        split.reasoning_text.trim(),
        "the user wants weather",
        "{split:?}"
    );
    assert_eq!(split.normal_text.trim(), "It is sunny.", "{split:?}");
    let split = t
        .ctl_json(&["parse", "reasoning", "--parser", "deepseek_r1", thought])
        .await;
    assert_eq!(
        split["normal_text"].as_str().map(str::trim),
        Some("It is sunny."),
        "{gw}: {split}"
    );

    // ---- routes only this project's gateway has: upstream's answer is named, not dumped.
    if t.is_upstream() {
        assert_not_offered(t, &["keys", "list"], "/admin/api-keys").await;
        assert_not_offered(t, &["whoami"], "/admin/whoami").await;
        assert_not_offered(t, &["audit"], "/admin/audit").await;
        assert_not_offered(t, &["parse", "list"], "/parse/parsers").await;
        let keys = client.keys().list().await.unwrap_err();
        assert!(keys.is_unsupported(), "{keys:?}");
        assert_eq!(
            keys.to_string(),
            format!("upstream SMG {UPSTREAM_VERSION} does not offer `/admin/api-keys`")
        );
    } else {
        let parsers = t.ctl_ok(&["parse", "list"]).await;
        assert!(parsers.contains("deepseek_r1"), "{parsers}");
        assert!(client.parsers().await.is_ok());
        // Without auth configured, the caller is the anonymous admin; no keys, an audit log.
        let keys = t.ctl_json(&["keys", "list"]).await;
        assert_eq!(keys["keys"], json!([]), "{keys}");
        let me = t.ctl_json(&["whoami"]).await;
        assert_eq!(me["role"], json!("admin"), "{me}");
        t.ctl_ok(&["audit"]).await;
    }
    // Neither test gateway runs with --enable-wasm: both are named as such.
    let wasm = t.ctl(&["wasm", "list"]).await;
    assert_exit(&wasm, 7, "smgctl wasm list without --enable-wasm");
    assert!(
        stderr(&wasm).contains("WASM is disabled on this gateway: start it with --enable-wasm"),
        "{gw}: {}",
        stderr(&wasm)
    );

    // ---- fleet operations of issue 13. Upstream has no per-worker flush or retirement, and
    // would silently ignore `disabled`: smgctl must say so instead of reporting success.
    if t.is_upstream() {
        assert_not_offered(t, &["workers", "cordon", &id_a], "PATCH /workers/").await;
        assert_not_offered(t, &["workers", "uncordon", &id_a], "PATCH /workers/").await;
        let flush_route = format!("/workers/{id_a}/flush_cache");
        assert_not_offered(t, &["workers", "flush", &id_a], &flush_route).await;
        let retire_route = format!("/workers/{id_a}/retire");
        assert_not_offered(t, &["workers", "retire", &id_a, "--yes"], &retire_route).await;
        let cordon = client.workers().cordon(&id_a).await.unwrap_err();
        assert!(cordon.is_unsupported(), "{cordon:?}");
        let a = client.workers().get(&id_a).await.unwrap();
        assert!(a.is_healthy && !a.is_disabled(), "{a:?}");
    } else {
        t.ctl_ok(&["workers", "cordon", &id_a]).await;
        eventually(WAIT, "worker A cordoned", || async {
            client
                .workers()
                .get(&id_a)
                .await
                .ok()
                .filter(|w| w.is_disabled())
        })
        .await;
        t.ctl_ok(&["workers", "uncordon", &id_a]).await;
        eventually(WAIT, "worker A back in rotation", || async {
            client
                .workers()
                .get(&id_a)
                .await
                .ok()
                .filter(|w| !w.is_disabled())
        })
        .await;
        let flushes = fleet.workers()[0].stats().flushes;
        t.ctl_ok(&["workers", "flush", &id_a]).await;
        assert_eq!(fleet.workers()[0].stats().flushes, flushes + 1, "{gw}");
    }

    // ---- delete --wait (smgctl) and delete_and_wait (SDK).
    t.ctl_ok(&["workers", "delete", &id_a, "--wait", "--yes"])
        .await;
    client.workers().delete_and_wait(&id_b, WAIT).await.unwrap();
    let list = client.workers().list().await.unwrap();
    assert!(list.workers.is_empty(), "{gw}: {list:?}");
    let listed = t.ctl_ok(&["workers", "list", "-o", "name"]).await;
    assert!(listed.trim().is_empty(), "{gw}: {listed}");

    fleet.shutdown().await;
}

/// `smgctl profile start|stop`: the options reach the workers, `--worker` picks one, and a URL
/// no worker has exits 3.
async fn profile_cli(t: &Target, fleet: &MockFleet) {
    let gw = t.name();
    let before: Vec<_> = fleet.workers().iter().map(|w| w.stats()).collect();
    let started = t
        .ctl_json(&["profile", "start", "--num-steps", "3", "--activity", "CPU"])
        .await;
    assert_eq!(started["workers_profiled"], json!(2), "{gw}: {started}");
    for (w, before) in fleet.workers().iter().zip(&before) {
        let after = w.stats();
        assert_eq!(after.profile_starts, before.profile_starts + 1, "{gw}");
        let options = after.last_profile_options.unwrap_or_default();
        assert_eq!(options["num_steps"], json!(3), "{gw}: {options}");
        assert_eq!(options["activities"], json!(["CPU"]), "{gw}: {options}");
    }
    let one = fleet.workers()[1].url();
    let stopped = t.ctl_ok(&["profile", "stop", "--worker", &one]).await;
    assert!(!stopped.trim().is_empty(), "{gw}: nothing printed");
    assert_eq!(
        fleet.workers()[1].stats().profile_stops,
        before[1].profile_stops + 1,
        "{gw}"
    );
    assert_eq!(
        fleet.workers()[0].stats().profile_stops,
        before[0].profile_stops,
        "{gw}: --worker stopped another worker too"
    );
    let none = t
        .ctl(&["profile", "stop", "--worker", "http://127.0.0.1:1"])
        .await;
    assert_exit(&none, 3, "smgctl profile stop --worker of an unknown URL");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_smg_1_13() {
    let gw = UpstreamGateway::start(&[]).await;
    let t = Target::upstream(gw);
    run(t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn this_gateway() {
    let gw = GatewayProcess::start(&["--load-poll-interval-secs", "1"]).await;
    let t = Target::ours(gw);
    run(t).await;
}

/// Run the suite, printing the gateway's log when it fails.
async fn run(t: Target) {
    let t = std::sync::Arc::new(t);
    let result = tokio::spawn({
        let t = std::sync::Arc::clone(&t);
        async move { suite(&t).await }
    })
    .await;
    if let Err(e) = result {
        eprintln!("---- log of {} ----\n{}", t.name(), t.logs());
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("suite task: {e}");
    }
}
