//! Crash-restart: 16 concurrent writers on every kind of mutation (workers add, patch, put and
//! delete, tokenizer add, WASM upload, runtime key create and rotate — each also an audit
//! event), the real `smg` killed mid-flight (`kill -9`, and SIGTERM), restarted on the same
//! store. Each time: the gateway starts on the first try, every write answered 2xx is there, an
//! acknowledged registration that had not finished is listed at once as pending with its job,
//! and the store reads back whole. The stop comes at a different point each round.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smg_sdk::{JobState, WorkerStatus};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{MockConfig, MockFleet};
use smg_tests::wasm;
use tokenizers::Tokenizer;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;

const ADMIN: &str = "crash-admin-secret-0001";
const SERVING: &str = "crash-serving-secret-0001";
const WRITERS: usize = 16;
/// Iterations of a writer's mutation loop per round: the stop comes first (each iteration
/// pauses 20 ms); the cap only bounds a round whose stop never came.
const MAX_STEPS: usize = 400;
const WAIT: Duration = Duration::from_secs(20);
/// Start-up probes of an unreachable worker give up after 3 s (FAST); a registration of one
/// acknowledged less than this before the stop cannot have failed yet.
const SURELY_UNFINISHED: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone, Copy)]
enum Stop {
    Kill,
    Term,
}

/// When (after the writers start) and how each round stops the gateway.
const ROUNDS: &[(u64, Stop)] = &[
    (150, Stop::Kill),
    (450, Stop::Kill),
    (800, Stop::Term),
    (1100, Stop::Kill),
    (1500, Stop::Kill),
    (2000, Stop::Kill),
    (600, Stop::Term),
];

/// What happened to a request: answered 2xx, answered otherwise (not applied), or unknown
/// (no answer, or a 5xx: it may have been applied).
#[derive(Debug)]
enum Outcome {
    Acked(Value),
    Refused(StatusCode, String),
    Unknown,
}

/// The worker a writer owns (one mock worker URL per writer, for the whole test).
#[derive(Debug, Clone, Default)]
struct OwnedWorker {
    /// Known id of the registration, when its add was acknowledged (or seen after a restart).
    id: Option<String>,
    /// An add that got no answer: the worker may exist under an id we never saw.
    add_unknown: bool,
    /// Priority of the last acknowledged add, PATCH or PUT.
    priority: i64,
    /// Priority of a PATCH/PUT that got no answer.
    priority_unknown: Option<i64>,
    delete_acked: bool,
    delete_unknown: bool,
}

#[derive(Debug, Clone)]
struct Key {
    /// The last acknowledged secret; `None` once a rotation went unanswered through a stop.
    secret: Option<String>,
    /// A rotation got no answer: the secret may be a new, unseen one.
    rotation_unknown: bool,
}

/// Everything the writers were told, shared by the tasks.
#[derive(Default, Clone)]
struct Ledger {
    workers: Vec<OwnedWorker>,
    /// Registrations of unreachable workers acknowledged this round, with when.
    unfinished: Vec<(String, Instant)>,
    tokenizers: Vec<String>,
    modules: Vec<String>,
    keys: BTreeMap<String, Key>,
    /// `x-request-id` of every acknowledged mutation this round (each must be audited).
    audited: Vec<String>,
    /// Statuses nobody should see: 5xx other than 503.
    server_errors: Vec<String>,
}

struct Ctx {
    url: String,
    http: reqwest::Client,
    ledger: Mutex<Ledger>,
    mock_urls: Vec<String>,
    tokenizer_path: PathBuf,
    module_dir: PathBuf,
    round: usize,
}

impl Ctx {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }

    /// Send one mutation with a known request id; an acknowledged one is queued for the audit
    /// check. A transport error ends the writer (the gateway is gone).
    async fn send(&self, method: Method, path: &str, rid: &str, body: Option<Value>) -> Outcome {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .header("x-request-id", rid);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(_) => return Outcome::Unknown,
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(_) => return Outcome::Unknown,
        };
        if status.is_success() {
            self.ledger().audited.push(rid.to_string());
            return Outcome::Acked(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        if status.is_server_error() {
            if status != StatusCode::SERVICE_UNAVAILABLE {
                self.ledger()
                    .server_errors
                    .push(format!("{method} {path}: {status} {text}"));
            }
            return Outcome::Unknown;
        }
        Outcome::Refused(status, text)
    }
}

/// A writer: its own worker (add, then PATCH/PUT, sometimes DELETE), an unreachable worker
/// whose registration stays unfinished, a tokenizer, a runtime key it keeps rotating and, for
/// some writers, a WASM module. Stops at the first request without an answer.
async fn writer(ctx: Arc<Ctx>, w: usize) {
    let r = ctx.round;
    let rid = |what: &str, n: usize| format!("crash-r{r}-w{w}-{what}-{n}");
    let mock_url = ctx.mock_urls[w].clone();

    // (Re-)register the owned worker when it has none.
    let needs_add = {
        let l = ctx.ledger();
        let o = &l.workers[w];
        o.id.is_none() && !o.add_unknown
    };
    if needs_add {
        ctx.ledger().workers[w].add_unknown = true;
        match ctx
            .send(
                Method::POST,
                "/workers",
                &rid("add", 0),
                Some(json!({"url": mock_url, "priority": r * 100})),
            )
            .await
        {
            Outcome::Acked(v) => {
                let mut l = ctx.ledger();
                let o = &mut l.workers[w];
                *o = OwnedWorker {
                    id: Some(v["worker_id"].as_str().unwrap().to_string()),
                    priority: (r * 100) as i64,
                    ..OwnedWorker::default()
                };
            }
            Outcome::Refused(s, t) => {
                ctx.ledger().workers[w].add_unknown = false;
                panic!("adding {mock_url} refused: {s} {t}");
            }
            Outcome::Unknown => return,
        }
    }

    // A registration that cannot finish before the stop: nothing listens on port 9 (discard).
    let dead = format!("http://127.0.0.{}:9", 10 + r * WRITERS + w);
    match ctx
        .send(
            Method::POST,
            "/workers",
            &rid("dead", 0),
            Some(json!({"url": dead})),
        )
        .await
    {
        Outcome::Acked(v) => {
            let id = v["worker_id"].as_str().unwrap().to_string();
            ctx.ledger().unfinished.push((id, Instant::now()));
        }
        Outcome::Refused(s, t) => panic!("adding {dead} refused: {s} {t}"),
        Outcome::Unknown => return,
    }

    let source = ctx.tokenizer_path.display().to_string();
    match ctx
        .send(
            Method::POST,
            "/v1/tokenizers",
            &rid("tok", 0),
            Some(json!({"name": format!("tok-r{r}-w{w}"), "source": source})),
        )
        .await
    {
        Outcome::Acked(v) => {
            let id = v["id"].as_str().unwrap().to_string();
            ctx.ledger().tokenizers.push(id);
        }
        Outcome::Refused(s, t) => panic!("adding a tokenizer refused: {s} {t}"),
        Outcome::Unknown => return,
    }

    let key_id = format!("k-r{r}-w{w}");
    match ctx
        .send(
            Method::POST,
            "/admin/api-keys",
            &rid("key", 0),
            Some(json!({"id": key_id, "role": "user"})),
        )
        .await
    {
        Outcome::Acked(v) => {
            let secret = v["key"].as_str().unwrap().to_string();
            ctx.ledger().keys.insert(
                key_id.clone(),
                Key {
                    secret: Some(secret),
                    rotation_unknown: false,
                },
            );
        }
        Outcome::Refused(s, t) => panic!("creating key {key_id} refused: {s} {t}"),
        Outcome::Unknown => return,
    }

    if w % 4 == 1 {
        // Each module's bytes differ (the gateway refuses a second module with the same hash).
        let path = ctx.module_dir.join(format!("m-r{r}-w{w}.wasm"));
        std::fs::write(&path, tagged_module(&format!("r{r}-w{w}"))).unwrap();
        let body = json!({"modules": [{
            "name": format!("m-r{r}-w{w}"),
            "file_path": path.display().to_string(),
            "module_type": "Middleware",
            "attach_points": [{"Middleware": "OnRequest"}],
        }]});
        match ctx
            .send(Method::POST, "/wasm", &rid("wasm", 0), Some(body))
            .await
        {
            Outcome::Acked(v) => {
                let uuid = v["modules"][0]["add_result"]["Success"]
                    .as_str()
                    .unwrap()
                    .to_string();
                ctx.ledger().modules.push(uuid);
            }
            Outcome::Refused(s, t) => panic!("uploading a module refused: {s} {t}"),
            Outcome::Unknown => return,
        }
    }

    let deletes_this_round = (w + r).is_multiple_of(4);
    for n in 1..=MAX_STEPS {
        let id = {
            let l = ctx.ledger();
            let o = &l.workers[w];
            (!o.delete_acked && !o.delete_unknown && o.priority_unknown.is_none())
                .then(|| o.id.clone())
                .flatten()
        };
        if let Some(id) = id {
            let priority = (r * 100 + n) as i64;
            let path = format!("/workers/{id}");
            let (method, body, what) = if deletes_this_round && n == 4 {
                (Method::DELETE, None, "delete")
            } else if n % 3 == 0 {
                (
                    Method::PUT,
                    Some(json!({"url": mock_url, "priority": priority})),
                    "put",
                )
            } else {
                (Method::PATCH, Some(json!({"priority": priority})), "patch")
            };
            let deleting = method == Method::DELETE;
            {
                let mut l = ctx.ledger();
                if deleting {
                    l.workers[w].delete_unknown = true;
                } else {
                    l.workers[w].priority_unknown = Some(priority);
                }
            }
            let outcome = ctx.send(method, &path, &rid(what, n), body).await;
            let mut l = ctx.ledger();
            let o = &mut l.workers[w];
            match outcome {
                Outcome::Acked(_) if deleting => {
                    o.delete_unknown = false;
                    o.delete_acked = true;
                }
                Outcome::Acked(_) => {
                    o.priority_unknown = None;
                    o.priority = priority;
                }
                // Not registered yet (409), or a job of it still running: not applied.
                Outcome::Refused(..) => {
                    o.delete_unknown = false;
                    o.priority_unknown = None;
                }
                Outcome::Unknown => return,
            }
        }

        ctx.ledger().keys.get_mut(&key_id).unwrap().rotation_unknown = true;
        let path = format!("/admin/api-keys/{key_id}/rotate");
        match ctx.send(Method::POST, &path, &rid("rotate", n), None).await {
            Outcome::Acked(v) => {
                let secret = v["new_key"].as_str().unwrap().to_string();
                ctx.ledger().keys.insert(
                    key_id.clone(),
                    Key {
                        secret: Some(secret),
                        rotation_unknown: false,
                    },
                );
            }
            Outcome::Refused(s, t) => panic!("rotating {key_id} refused: {s} {t}"),
            Outcome::Unknown => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pass-through component with a custom section naming `tag` appended, so every module
/// has its own hash (a custom section may follow any section of a component).
fn tagged_module(tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"crash-restart-tag";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut bytes = wasm::pass_through();
    bytes.push(0);
    leb(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    bytes
}

/// A tiny word-level tokenizer saved as `dir/tokenizer.json`.
fn tokenizer_fixture(dir: &Path) -> PathBuf {
    let model = WordLevel::builder()
        .vocab(
            ["[UNK]", "crash", "restart", "store"]
                .iter()
                .enumerate()
                .map(|(i, w)| (w.to_string(), i as u32))
                .collect(),
        )
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    let path = dir.join("tokenizer.json");
    tokenizer.save(&path, false).unwrap();
    path
}

async fn get_json(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let r = http.get(url).bearer_auth(ADMIN).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn list_workers(http: &reqwest::Client, base: &str) -> Vec<smg_sdk::WorkerInfo> {
    let (status, body) = get_json(http, &format!("{base}/workers")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value::<smg_sdk::WorkerListResponse>(body)
        .unwrap()
        .workers
}

/// Every audit event since `since`, following pages (newest first, 1000 at most a page).
async fn audit_request_ids(http: &reqwest::Client, base: &str, since: i64) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut until: Option<i64> = None;
    for _ in 0..50 {
        let mut url = format!("{base}/admin/audit?since={since}&limit=1000");
        if let Some(until) = until {
            url.push_str(&format!("&until={until}"));
        }
        let (status, body) = get_json(http, &url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let events = body["events"].as_array().unwrap();
        for e in events {
            if let Some(rid) = e["request_id"].as_str() {
                ids.insert(rid.to_string());
            }
        }
        if events.len() < 1000 {
            return ids;
        }
        let oldest = events.last().unwrap()["timestamp"].as_str().unwrap();
        let oldest = chrono::DateTime::parse_from_rfc3339(oldest).unwrap();
        // `until` is exclusive: keep the oldest millisecond (the set drops repeats).
        until = Some(oldest.timestamp_millis() + 1);
    }
    panic!("more audit pages than expected");
}

/// The checks right after a restart, before anything else touches the gateway.
async fn check_at_once(ctx: &Ctx, gw: &GatewayProcess, stopped_at: Instant, round_start: i64) {
    let http = &ctx.http;
    let base = &gw.url;
    let l = ctx.ledger().clone();
    let listed: HashMap<String, smg_sdk::WorkerInfo> = list_workers(http, base)
        .await
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    let listed_at_once = |id: &str, what: &str| {
        listed.get(id).unwrap_or_else(|| {
            panic!("{what} {id} missing from GET /workers right after the restart")
        })
    };
    for (w, o) in l.workers.iter().enumerate() {
        if let (Some(id), false, false) = (&o.id, o.delete_acked, o.delete_unknown) {
            listed_at_once(id, &format!("worker of writer {w}"));
        }
    }
    for (id, acked_at) in &l.unfinished {
        if stopped_at.duration_since(*acked_at) >= SURELY_UNFINISHED {
            continue;
        }
        let w = listed_at_once(id, "acknowledged, unfinished registration");
        assert_eq!(w.status, Some(WorkerStatus::Pending), "{w:?}");
        let job = w
            .job_status
            .as_ref()
            .unwrap_or_else(|| panic!("pending registration {id} without its job: {w:?}"));
        assert!(
            matches!(job.status, JobState::Pending | JobState::Processing),
            "{job:?}"
        );
    }

    for id in &l.tokenizers {
        let (status, body) = get_json(http, &format!("{base}/v1/tokenizers/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged tokenizer {id}: {body}"
        );
    }

    let (status, body) = get_json(http, &format!("{base}/wasm")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let modules: HashSet<&str> = body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["module_uuid"].as_str())
        .collect();
    for uuid in &l.modules {
        assert!(
            modules.contains(uuid.as_str()),
            "acknowledged module {uuid} missing: {body}"
        );
    }

    for (id, key) in &l.keys {
        let (status, body) = get_json(http, &format!("{base}/admin/api-keys/{id}")).await;
        assert_eq!(status, StatusCode::OK, "acknowledged key {id}: {body}");
        let Some(secret) = key.secret.as_deref().filter(|_| !key.rotation_unknown) else {
            continue;
        };
        // The last acknowledged secret still authenticates a serving route.
        let r = http
            .post(format!("{base}/v1/tokenize"))
            .bearer_auth(secret)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_ne!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "key {id}: its last acknowledged secret was refused"
        );
    }

    let audited = audit_request_ids(http, base, round_start).await;
    let missing: Vec<&String> = l.audited.iter().filter(|r| !audited.contains(*r)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged changes without an audit event: {missing:?}"
    );
}

/// After the replayed jobs ran: each owned worker is where its acknowledged writes left it.
/// Then the ledger takes what the gateway shows, for the next round.
async fn settle_and_reconcile(ctx: &Ctx, gw: &GatewayProcess) {
    let http = &ctx.http;
    let mocks: HashSet<&str> = ctx.mock_urls.iter().map(String::as_str).collect();
    let settled = eventually(WAIT, "replayed worker jobs to finish", || async {
        let workers = list_workers(http, &gw.url).await;
        let ours: Vec<_> = workers
            .into_iter()
            .filter(|w| mocks.contains(w.spec.url.as_str()))
            .collect();
        ours.iter()
            .all(|w| w.status == Some(WorkerStatus::Ready) && w.job_status.is_none())
            .then_some(ours)
    })
    .await;
    let by_url: HashMap<&str, &smg_sdk::WorkerInfo> =
        settled.iter().map(|w| (w.spec.url.as_str(), w)).collect();
    let mut l = ctx.ledger();
    for (w, o) in l.workers.iter_mut().enumerate() {
        let seen = by_url.get(ctx.mock_urls[w].as_str());
        if o.delete_acked {
            assert!(
                seen.is_none(),
                "writer {w}: acknowledged delete undone: {seen:?}"
            );
        } else if let (Some(id), false) = (&o.id, o.delete_unknown) {
            let seen = seen.unwrap_or_else(|| panic!("writer {w}: worker {id} lost"));
            assert_eq!(&seen.id, id);
            let p = seen.spec.priority as i64;
            assert!(
                p == o.priority || Some(p) == o.priority_unknown,
                "writer {w}: priority {p}, acknowledged {}, unanswered {:?}",
                o.priority,
                o.priority_unknown
            );
        }
        *o = match seen {
            Some(seen) => OwnedWorker {
                id: Some(seen.id.clone()),
                priority: seen.spec.priority as i64,
                ..OwnedWorker::default()
            },
            None => OwnedWorker::default(),
        };
    }
    for key in l.keys.values_mut() {
        if key.rotation_unknown {
            key.secret = None;
            key.rotation_unknown = false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_and_sigterm() {
    let started = Instant::now();
    let fleet = MockFleet::start(0, WRITERS, MockConfig::default())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let tokenizer_path = tokenizer_fixture(files.path());
    let module_dir = files.path().join("modules");
    std::fs::create_dir_all(&module_dir).unwrap();
    let admin_key = format!("ops:ops:admin:{ADMIN}");
    let args = [
        "--enable-wasm",
        "--api-key",
        SERVING,
        "--control-plane-api-keys",
        &admin_key,
    ];
    let mut gw = GatewayProcess::start(&args).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut ledger = Ledger {
        workers: vec![OwnedWorker::default(); WRITERS],
        ..Ledger::default()
    };

    for (round, (delay_ms, stop)) in ROUNDS.iter().enumerate() {
        ledger.unfinished.clear();
        ledger.audited.clear();
        let round_start = chrono::Utc::now().timestamp_millis() - 1;
        let ctx = Arc::new(Ctx {
            url: gw.url.clone(),
            http: http.clone(),
            ledger: Mutex::new(std::mem::take(&mut ledger)),
            mock_urls: fleet.urls(),
            tokenizer_path: tokenizer_path.clone(),
            module_dir: module_dir.clone(),
            round,
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(ctx.clone(), w)))
            .collect();
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
        let stopped_at = Instant::now();
        match stop {
            Stop::Kill => gw.kill_hard(),
            Stop::Term => {
                let status = gw.terminate();
                assert!(
                    status.is_some_and(|s| s.success()),
                    "round {round}: SIGTERM ended the gateway with {status:?}\n{}",
                    gw.logs()
                );
            }
        }
        for task in writers {
            task.await.unwrap();
        }
        // Panics (with the log) unless this first start succeeds.
        gw.start_again().await;
        check_at_once(&ctx, &gw, stopped_at, round_start).await;
        settle_and_reconcile(&ctx, &gw).await;
        let ctx = Arc::into_inner(ctx).expect("writers are done");
        ledger = ctx.ledger.into_inner().unwrap();
        assert!(
            ledger.server_errors.is_empty(),
            "round {round}: server errors: {:?}",
            ledger.server_errors
        );
        eprintln!(
            "round {round}: {stop:?} after {delay_ms} ms; {} acknowledged changes, {} unfinished registrations, {} keys, {} tokenizers, {} modules",
            ledger.audited.len(),
            ledger.unfinished.len(),
            ledger.keys.len(),
            ledger.tokenizers.len(),
            ledger.modules.len()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    gw.stop();
}
