//! Deterministic fleets for snapshot tests and the render benchmark (not part of the stable
//! API).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smg_sdk::{
    ApiKeyInfo, ApiKeyList, ApiKeySummary, AuditEvent, AuditLogResponse, AuditOutcome,
    GetLoadsResponse, JobState, JobStatus, MiddlewareAttachPoint, ModelCard, ModelList,
    ModelObject, Principal, ReadinessResponse, Role, RuntimeType, SchedulerLoadSnapshot,
    TokenizerInfo, WasmMetrics, WasmModule, WasmModuleList, WasmModuleMeta, WorkerEvent,
    WorkerInfo, WorkerLoad, WorkerLoadResponse, WorkerSpec, WorkerStatus, WorkerType,
};

use crate::app::App;
use crate::event::{Event, LOADS_FANOUT_ROUTE, LoadsPoll, Offered, Stamped, WasmState, Whoami};
use crate::traffic::{Counts, TrafficSample};

/// The fixtures' epoch: 2025-06-15T15:06:40Z.
pub const T0_SECS: u64 = 1_750_000_000;
/// Gateway URL used by the fixtures.
pub const URL: &str = "http://smg.example:30000";
/// Seconds between two fixture polls.
pub const STEP: u64 = 2;

/// `T0 + secs`.
pub fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS + secs)
}

const MODELS: [&str; 3] = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "mistralai/Mistral-7B-v0.3",
];

/// Worker `i` of a fixture fleet: mostly ready sglang workers, with a sprinkling of every
/// other status, a pending registration and a failed one.
pub fn worker(i: usize) -> WorkerInfo {
    let prefix = 0x0199_0d3e_u32 ^ (i as u32).wrapping_mul(0x9e37_79b1);
    let id = format!("{prefix:08x}-5a1c-7b2e-9f00-{:012x}", i * 7919);
    let url = format!("http://10.0.{}.{}:30000", i / 250, i % 250 + 1);
    let wildcard = i % 29 == 28;
    let model = MODELS[i % MODELS.len()];
    let mut spec = WorkerSpec::new(url.clone());
    if !wildcard {
        spec.models = vec![ModelCard::new(model)];
    }
    spec.worker_type = match i % 10 {
        8 => WorkerType::Prefill,
        9 => WorkerType::Decode,
        _ => WorkerType::Regular,
    };
    spec.runtime_type = if i % 4 == 3 {
        RuntimeType::Vllm
    } else {
        RuntimeType::Sglang
    };
    spec.priority = if i.is_multiple_of(5) { 100 } else { 50 };
    spec.cost = if i.is_multiple_of(3) { 1.5 } else { 1.0 };
    spec.labels.insert("served_model_name".into(), model.into());
    spec.labels
        .insert("tp_size".into(), ((i % 4) + 1).to_string());
    spec.labels
        .insert("zone".into(), format!("us-east-{}", i % 3 + 1));
    let (status, job_status) = match i {
        _ if i % 17 == 3 => (WorkerStatus::NotReady, None),
        _ if i % 23 == 5 => (
            WorkerStatus::Pending,
            Some(JobStatus {
                job_type: smg_sdk::JobKind::AddWorker.as_str().into(),
                worker_url: url.clone(),
                status: JobState::Processing,
                message: None,
                timestamp: T0_SECS,
            }),
        ),
        _ if i % 31 == 7 => (WorkerStatus::Draining, None),
        _ if i % 41 == 9 => (
            WorkerStatus::Failed,
            Some(JobStatus {
                job_type: smg_sdk::JobKind::AddWorker.as_str().into(),
                worker_url: url.clone(),
                status: JobState::Failed,
                message: Some(format!(
                    "health check failed for {url}: connection refused after 20 attempts"
                )),
                timestamp: T0_SECS,
            }),
        ),
        _ => (WorkerStatus::Ready, None),
    };
    WorkerInfo {
        id,
        model_id: (!wildcard).then(|| model.to_string()),
        spec: Arc::new(spec),
        is_healthy: status == WorkerStatus::Ready,
        status: Some(status),
        load: i % 7,
        circuit_breaker: Some(
            match i % 19 {
                4 => "open",
                11 => "half_open",
                _ => "closed",
            }
            .into(),
        ),
        job_status,
        engine_load: None,
    }
}

/// `/get_loads` entry of worker `i` at poll `tick`; every 13th worker does not answer.
pub fn load(i: usize, tick: usize) -> WorkerLoad {
    let w = worker(i);
    if i % 13 == 12 || w.status != Some(WorkerStatus::Ready) {
        return WorkerLoad {
            worker: w.spec.url.clone(),
            load: -1,
            details: None,
        };
    }
    let ranks = if i.is_multiple_of(6) { 2 } else { 1 };
    let loads: Vec<SchedulerLoadSnapshot> = (0..ranks)
        .map(|r| {
            let phase = (i * 7 + tick * 3 + r * 5) % 40;
            let max = 65_536;
            let used = ((phase * 1531 + i * 97) % max) as i32;
            SchedulerLoadSnapshot {
                dp_rank: r as i32,
                num_running_reqs: phase as i32,
                num_waiting_reqs: ((i + tick) % 5) as i32,
                num_total_reqs: phase as i32 + ((i + tick) % 5) as i32,
                num_used_tokens: used,
                max_total_num_tokens: max as i32,
                token_usage: f64::from(used) / max as f64,
                gen_throughput: 20.0 + (phase as f64) * 11.5,
                cache_hit_rate: 0.35 + ((i * 13 + tick * 7) % 60) as f64 / 100.0,
                utilization: (phase as f64) / 40.0,
                max_running_requests: 256,
                ..Default::default()
            }
        })
        .collect();
    let details = WorkerLoadResponse {
        timestamp: "2025-06-15T15:06:40Z".into(),
        version: String::new(),
        dp_rank_count: ranks as i32,
        loads,
    };
    WorkerLoad {
        worker: w.spec.url.clone(),
        load: details.total_used_tokens(),
        details: Some(details),
    }
}

/// A `/get_loads` answer in this gateway's `{"workers":[…]}` shape, as the pollers deliver it.
pub fn fanout(body: GetLoadsResponse) -> LoadsPoll {
    LoadsPoll {
        loads: body.into(),
        route: LOADS_FANOUT_ROUTE,
        gateway: None,
    }
}

/// A `/v1/models` answer for the fixture models.
pub fn models() -> ModelList {
    ModelList {
        object: "list".into(),
        data: MODELS
            .iter()
            .map(|m| ModelObject {
                id: (*m).to_string(),
                object: "model".into(),
                created: 0,
                owned_by: "self_hosted".into(),
            })
            .collect(),
    }
}

/// The gateway's request counters for a fleet of `n` at poll `tick`: worker `i` serves
/// `(i % 9) * 2 + tick % 5` requests per second; every seventh worker fails some of them in
/// bursts; every eleventh worker has had no traffic at all.
pub fn traffic(n: usize, tick: usize) -> TrafficSample {
    let mut sample = TrafficSample::default();
    for i in (0..n).filter(|i| i % 11 != 10) {
        let mut counts = Counts {
            total: 1000.0,
            errors: 0.0,
        };
        for k in 0..tick {
            let requests = (((i % 9) * 2 + k % 5) * STEP as usize) as f64;
            counts.total += requests;
            if i % 7 == 2 {
                counts.errors += (requests * (k % 4) as f64 / 20.0).floor();
            }
        }
        sample.workers.insert(worker(i).spec.url.clone(), counts);
    }
    sample
}

/// Three tokenizers: one loaded, one loading, one failed with its reason.
pub fn tokenizers() -> Vec<TokenizerInfo> {
    let t = |i: u32, name: &str, source: &str, vocab: usize, status: JobState, msg: &str| {
        TokenizerInfo {
            id: format!("01990d3e-0000-7000-8000-0000000{i:05}"),
            name: name.into(),
            source: source.into(),
            vocab_size: vocab,
            chat_template: vocab > 0,
            status: Some(status),
            message: (!msg.is_empty()).then(|| msg.to_string()),
        }
    };
    vec![
        t(
            1,
            "llama3",
            "meta-llama/Llama-3.1-8B-Instruct",
            128_256,
            JobState::Completed,
            "Tokenizer 'llama3' is loaded and ready",
        ),
        t(
            2,
            "qwen",
            "/models/qwen2.5/tokenizer.json",
            0,
            JobState::Processing,
            "fetching from the Hugging Face Hub",
        ),
        t(
            3,
            "broken",
            "/models/missing",
            0,
            JobState::Failed,
            "no tokenizer.json or tokenizer_config.json in /models/missing",
        ),
    ]
}

/// Registered WASM modules and the gateway-wide counters at poll `tick`.
pub fn wasm(tick: usize) -> WasmModuleList {
    let at = |secs: i64| utc(T0_SECS as i64 + secs);
    let module =
        |i: u64, name: &str, points: &[MiddlewareAttachPoint], runs: u64, failed: u64| WasmModule {
            module_uuid: format!("01990d3f-77aa-7c01-8e3b-00000000000{i}"),
            module_meta: WasmModuleMeta {
                name: name.into(),
                file_path: format!("/etc/smg/wasm/{name}.wasm"),
                sha256_hash: format!("{:064x}", i * 0x1234_5678_9abc),
                size_bytes: 65_536 + i * 4096,
                created_at: at(-3600),
                last_accessed_at: at(tick as i64 * STEP as i64 - 1),
                access_count: runs,
                attach_points: points.iter().copied().map(Into::into).collect(),
            },
            metrics: Some(WasmMetrics {
                total_executions: runs,
                successful_executions: runs - failed,
                failed_executions: failed,
                total_execution_time_ms: runs * 2,
                max_execution_time_ms: if runs > 0 { 8 + i } else { 0 },
                average_execution_time_ms: (runs > 0).then_some(2.0),
            }),
        };
    let tick = tick as u64;
    let modules = vec![
        module(
            1,
            "auth-header",
            &[MiddlewareAttachPoint::OnRequest],
            400 + 20 * tick,
            0,
        ),
        module(
            2,
            "redact-pii",
            &[
                MiddlewareAttachPoint::OnRequest,
                MiddlewareAttachPoint::OnResponse,
            ],
            380 + 18 * tick,
            3 + tick / 10,
        ),
        module(3, "error-page", &[MiddlewareAttachPoint::OnError], 0, 0),
    ];
    let sum = |f: fn(&WasmMetrics) -> u64| {
        modules
            .iter()
            .filter_map(|m| m.metrics.as_ref())
            .map(f)
            .sum::<u64>()
    };
    let total = sum(|m| m.total_executions);
    WasmModuleList {
        metrics: WasmMetrics {
            total_executions: total,
            successful_executions: sum(|m| m.successful_executions),
            failed_executions: sum(|m| m.failed_executions),
            total_execution_time_ms: sum(|m| m.total_execution_time_ms),
            max_execution_time_ms: 10,
            average_execution_time_ms: (total > 0).then_some(2.0),
        },
        modules,
    }
}

fn utc(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn key(id: &str, role: Role, enabled: bool, expires: Option<i64>, tail: &str) -> ApiKeyInfo {
    let t0 = T0_SECS as i64;
    let expires_at = expires.map(|d| utc(t0 + d));
    let is_expired = expires.is_some_and(|d| d < 0);
    ApiKeyInfo {
        id: id.into(),
        masked_key: format!("sk-***{tail}"),
        name: id.replace('-', " "),
        description: None,
        role,
        enabled,
        is_active: enabled,
        is_expired,
        is_valid: enabled && !is_expired,
        created_at: utc(t0 - 86_400 * 30),
        updated_at: utc(t0 - 3_600),
        expires_at,
        created_by: Some("ops".into()),
    }
}

/// Runtime API keys: an admin key, serving keys, one expired, one disabled.
pub fn api_keys() -> ApiKeyList {
    let keys = vec![
        key("ops", Role::Admin, true, None, "a1b2"),
        key("ci-deploy", Role::Admin, true, Some(86_400 * 90), "c3d4"),
        key("team-search", Role::User, true, Some(86_400 * 7), "e5f6"),
        key("batch-2024", Role::User, true, Some(-86_400), "0789"),
        key("contractor", Role::User, false, None, "ffee"),
    ];
    ApiKeyList {
        summary: ApiKeySummary {
            total: keys.len(),
            active: 3,
            expired: 1,
            disabled: 1,
        },
        keys,
    }
}

fn event(secs_ago: i64, who: Option<&str>, method: &str, path: &str, status: u16) -> AuditEvent {
    let outcome = match status {
        401 | 403 => AuditOutcome::Denied,
        s if s >= 400 => AuditOutcome::Failure,
        _ => AuditOutcome::Success,
    };
    AuditEvent {
        id: format!("0199a000-0000-7000-8000-{:012}", 1_000 - secs_ago),
        timestamp: utc(T0_SECS as i64 - secs_ago),
        principal_id: who.map(Into::into),
        principal_name: who.map(|w| w.replace('-', " ")),
        auth_method: Some(who.map_or("none".to_string(), |w| format!("api_key:{w}"))),
        role: who.map(|w| {
            if w == "team-search" {
                Role::User
            } else {
                Role::Admin
            }
        }),
        method: method.into(),
        path: path.into(),
        status,
        request_id: None,
        outcome,
        summary: Some(match outcome {
            AuditOutcome::Denied => "refused: admin role required".to_string(),
            _ => format!("{method} {path}"),
        }),
    }
}

/// An audit tail, deliberately not in order (the view sorts newest first).
pub fn audit_log() -> AuditLogResponse {
    let events = vec![
        event(600, Some("ops"), "POST", "/admin/api-keys", 201),
        event(30, Some("ci-deploy"), "POST", "/workers", 202),
        event(120, Some("team-search"), "GET", "/workers", 403),
        event(
            5,
            Some("ops"),
            "POST",
            "/admin/api-keys/team-search/rotate",
            200,
        ),
        event(300, Some("ci-deploy"), "DELETE", "/workers/0199", 404),
        event(900, None, "POST", "/flush_cache", 401),
    ];
    AuditLogResponse {
        count: events.len(),
        events,
        enabled: true,
    }
}

/// The admin principal of the fixtures.
pub fn principal() -> Principal {
    Principal {
        id: "ops".into(),
        name: Some("Ops team".into()),
        role: Role::Admin,
        auth_method: "api_key:ops".into(),
    }
}

/// An app that has seen `n` workers and `ticks` polls of every source, `STEP` seconds apart;
/// `now` is 3 s after the last poll.
pub fn app(n: usize, ticks: usize) -> App {
    let mut app = App::new(URL, t(0));
    let workers: Vec<WorkerInfo> = (0..n).map(worker).collect();
    app.update(Event::Workers(Stamped::new(
        t(0),
        Ok(workers.into_iter().map(WorkerEvent::Added).collect()),
    )));
    let mut last = t(0);
    for tick in 0..ticks.max(1) {
        last = t(tick as u64 * STEP);
        app.update(Event::Loads(Stamped::new(
            last,
            Ok(fanout(GetLoadsResponse {
                workers: (0..n).map(|i| load(i, tick)).collect(),
            })),
        )));
        let healthy = app.status_counts()[0];
        app.update(Event::Readiness(Stamped::new(
            last,
            Ok(if healthy > 0 {
                ReadinessResponse {
                    status: "ready".into(),
                    healthy_workers: Some(healthy),
                    total_workers: Some(n),
                    reason: None,
                }
            } else {
                ReadinessResponse {
                    status: "not ready".into(),
                    healthy_workers: None,
                    total_workers: None,
                    reason: Some("insufficient healthy workers".into()),
                }
            }),
        )));
        app.update(Event::Models(Stamped::new(last, Ok(models()))));
        app.update(Event::Metrics(Stamped::new(last, Ok(traffic(n, tick)))));
        app.update(Event::Tokenizers(Stamped::new(last, Ok(tokenizers()))));
        app.update(Event::Wasm(Stamped::new(
            last,
            Ok(WasmState::Enabled(wasm(tick))),
        )));
        if tick + 1 < ticks {
            app.update(Event::Workers(Stamped::new(last, Ok(Vec::new()))));
        }
    }
    app.update(Event::Workers(Stamped::new(last, Ok(Vec::new()))));
    app.update(Event::Whoami(Stamped::new(
        last,
        Ok(Whoami::Principal(principal())),
    )));
    app.update(Event::Keys(Stamped::new(
        last,
        Ok(Offered::Yes(api_keys())),
    )));
    app.update(Event::Audit(Stamped::new(
        last,
        Ok(Offered::Yes(audit_log())),
    )));
    app.metrics_url = Some("http://smg.example:29000/metrics".into());
    app.now = last + Duration::from_secs(3);
    app
}
