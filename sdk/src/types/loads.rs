//! Engine loads (`GET /get_loads`, `GET /loads`) and KV-cache flush (`POST /flush_cache`).
//!
//! Two wire shapes carry engine loads:
//! - seed 002's live fan-out, `{"workers":[{worker, load, details}]}` ([`GetLoadsResponse`]),
//!   which this gateway answers on `/get_loads`;
//! - upstream SMG 1.12+'s engine-load snapshot, `{timestamp, version, dp_rank_count,
//!   loads:[one entry per DP rank, tagged with its worker], aggregate}` ([`LoadsSnapshot`]),
//!   which upstream answers on `/get_loads` and both gateways on `/loads`.
//!
//! [`LoadsBody`] decodes either; [`FleetLoads`] is the one typed model clients read (per worker,
//! per DP rank, fleet aggregate), whichever shape the gateway sent.

use serde::{Deserialize, Serialize};

use super::workers::WorkerType;

/// One data-parallel rank's scheduler state, as a worker reports it on `/v1/loads`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SchedulerLoadSnapshot {
    /// Rank index.
    pub dp_rank: i32,
    /// Requests being decoded.
    pub num_running_reqs: i32,
    /// Requests queued.
    pub num_waiting_reqs: i32,
    /// Prompt tokens of queued requests not found in the prefix cache.
    pub num_waiting_uncached_tokens: i32,
    /// Running plus waiting.
    pub num_total_reqs: i32,
    /// KV-cache tokens in use.
    pub num_used_tokens: i32,
    /// KV-cache capacity in tokens.
    pub max_total_num_tokens: i32,
    /// `num_used_tokens / max_total_num_tokens`.
    pub token_usage: f64,
    /// Generated tokens per second.
    pub gen_throughput: f64,
    /// Fraction of prompt tokens served from the prefix cache.
    pub cache_hit_rate: f64,
    /// Scheduler utilisation, 0..1.
    pub utilization: f64,
    /// Concurrency cap.
    pub max_running_requests: i32,
    /// KV transfer latency (disaggregated serving).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_transfer_latency_ms: Option<f64>,
    /// KV transfer speed (disaggregated serving).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_transfer_speed_gb_s: Option<f64>,
    /// Prefill queue length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_queue_reqs: Option<i32>,
    /// Decode queue length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_queue_reqs: Option<i32>,
    /// Disaggregation mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagg_mode: Option<String>,
    /// Engine memory breakdown, passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<serde_json::Value>,
    /// Engine queue breakdown, passed through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<serde_json::Value>,
}

/// A worker's `/v1/loads` body (also `engine_load` on upstream 1.13's worker items).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WorkerLoadResponse {
    /// When the engine took the snapshot.
    pub timestamp: String,
    /// Reporter version; upstream 1.13 sends `""` inside `engine_load`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Number of ranks.
    pub dp_rank_count: i32,
    /// One snapshot per rank.
    pub loads: Vec<SchedulerLoadSnapshot>,
}

impl WorkerLoadResponse {
    /// Upstream's `load`: tokens in use summed over ranks, or -1 when no rank reports a capacity.
    pub fn total_used_tokens(&self) -> i64 {
        used_tokens(&self.loads)
    }
}

/// Upstream's `load` of a worker: tokens in use summed over its ranks, or -1 when no rank
/// reports a capacity.
pub fn used_tokens(ranks: &[SchedulerLoadSnapshot]) -> i64 {
    if ranks.iter().any(|l| l.max_total_num_tokens > 0) {
        ranks.iter().map(|l| i64::from(l.num_used_tokens)).sum()
    } else {
        -1
    }
}

/// One worker's entry in `GET /get_loads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerLoad {
    /// Worker URL.
    pub worker: String,
    /// KV tokens in use over all ranks; -1 when the worker did not answer in time.
    pub load: i64,
    /// The worker's report; absent when it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<WorkerLoadResponse>,
}

/// Body of `GET /get_loads`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetLoadsResponse {
    /// One entry per registered worker.
    pub workers: Vec<WorkerLoad>,
}

/// One DP rank of one worker in an engine-load snapshot ([`LoadsSnapshot::loads`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RankLoad {
    /// Worker URL.
    pub worker: String,
    /// Role of the worker.
    #[serde(default)]
    pub worker_type: WorkerType,
    /// The rank's scheduler state.
    #[serde(flatten)]
    pub snapshot: SchedulerLoadSnapshot,
    /// Milliseconds between the load monitor's poll of this worker and the snapshot being
    /// served (this gateway; upstream does not send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}

/// Fleet totals of an engine-load snapshot ([`LoadsSnapshot::aggregate`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct LoadAggregate {
    /// Running requests over every rank.
    pub total_running_reqs: i64,
    /// Queued requests over every rank.
    pub total_waiting_reqs: i64,
    /// Running plus queued over every rank.
    pub total_reqs: i64,
    /// Mean KV-cache usage per rank, 0..1.
    pub avg_token_usage: f64,
    /// Mean generation throughput per rank, tokens/s.
    pub avg_throughput: f64,
    /// Mean scheduler utilisation per rank, 0..1.
    pub avg_utilization: f64,
}

impl LoadAggregate {
    /// Totals and means over `ranks` (all zero when there are none).
    pub fn of<'a>(ranks: impl IntoIterator<Item = &'a SchedulerLoadSnapshot>) -> Self {
        let mut agg = Self::default();
        let mut n = 0u32;
        for r in ranks {
            n += 1;
            agg.total_running_reqs += i64::from(r.num_running_reqs);
            agg.total_waiting_reqs += i64::from(r.num_waiting_reqs);
            agg.total_reqs += i64::from(r.num_total_reqs);
            agg.avg_token_usage += r.token_usage;
            agg.avg_throughput += r.gen_throughput;
            agg.avg_utilization += r.utilization;
        }
        if n > 0 {
            let n = f64::from(n);
            agg.avg_token_usage /= n;
            agg.avg_throughput /= n;
            agg.avg_utilization /= n;
        }
        agg
    }
}

/// Start of this gateway's [`LoadsSnapshot::version`] (`smg-gateway-<version>`); upstream SMG
/// sends `smg-<version>` there.
pub const GATEWAY_LOADS_VERSION_PREFIX: &str = "smg-gateway-";

/// Body of `GET /loads[?model=ID]` (both gateways) and of upstream 1.12+'s `GET /get_loads`:
/// the load monitor's last snapshot, one entry per DP rank.
/// `loads` is required, so an unrelated object never decodes as an empty snapshot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadsSnapshot {
    /// When the snapshot was served (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// The gateway's version, e.g. `smg-1.13.0`.
    #[serde(default)]
    pub version: String,
    /// Number of rank entries in `loads`.
    #[serde(default)]
    pub dp_rank_count: i32,
    /// One entry per DP rank of every polled worker.
    pub loads: Vec<RankLoad>,
    /// Fleet totals.
    #[serde(default)]
    pub aggregate: LoadAggregate,
}

/// Either wire shape of an engine-load body; decode with this when the gateway may be ours or
/// upstream's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LoadsBody {
    /// Seed 002's `{"workers":[…]}` (this gateway's `/get_loads`).
    Workers(GetLoadsResponse),
    /// Upstream 1.12+'s engine-load snapshot (upstream's `/get_loads`, both gateways' `/loads`).
    Snapshot(LoadsSnapshot),
}

/// Which wire shape a [`FleetLoads`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LoadsShape {
    /// `{"workers":[…]}`: every registered worker, -1 for one that did not answer.
    Workers,
    /// Per-rank snapshot: only workers the load monitor has a report for.
    Snapshot,
}

/// One worker in [`FleetLoads`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerLoads {
    /// Worker URL.
    pub worker: String,
    /// Role, when the body says (the snapshot shape does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_type: Option<WorkerType>,
    /// KV tokens in use over all ranks; -1 when the worker did not report.
    pub load: i64,
    /// One snapshot per DP rank; empty when the worker did not report.
    pub ranks: Vec<SchedulerLoadSnapshot>,
    /// Age of the report in ms, when the gateway says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}

impl WorkerLoads {
    /// Whether the worker reported a load.
    pub fn reported(&self) -> bool {
        !self.ranks.is_empty()
    }
}

/// Engine loads in one typed model, read from either wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetLoads {
    /// The shape the gateway answered in.
    pub shape: LoadsShape,
    /// The gateway's version when the body names it (upstream's `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the snapshot was taken, when the body says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Per worker, in the order the gateway listed them.
    pub workers: Vec<WorkerLoads>,
    /// Fleet totals over every reported rank.
    pub aggregate: LoadAggregate,
}

impl FleetLoads {
    /// Every reported rank, with its worker.
    pub fn ranks(&self) -> impl Iterator<Item = (&WorkerLoads, &SchedulerLoadSnapshot)> {
        self.workers
            .iter()
            .flat_map(|w| w.ranks.iter().map(move |r| (w, r)))
    }

    /// The entry of the worker at `url`.
    pub fn worker(&self, url: &str) -> Option<&WorkerLoads> {
        self.workers.iter().find(|w| w.worker == url)
    }
}

impl From<GetLoadsResponse> for FleetLoads {
    fn from(body: GetLoadsResponse) -> Self {
        let workers: Vec<WorkerLoads> = body
            .workers
            .into_iter()
            .map(|w| WorkerLoads {
                worker: w.worker,
                worker_type: None,
                load: w.load,
                ranks: w.details.map(|d| d.loads).unwrap_or_default(),
                age_ms: None,
            })
            .collect();
        let aggregate = LoadAggregate::of(workers.iter().flat_map(|w| &w.ranks));
        Self {
            shape: LoadsShape::Workers,
            version: None,
            timestamp: None,
            workers,
            aggregate,
        }
    }
}

impl From<LoadsSnapshot> for FleetLoads {
    fn from(body: LoadsSnapshot) -> Self {
        let mut workers: Vec<WorkerLoads> = Vec::new();
        for rank in body.loads {
            let at = match workers.iter().position(|w| w.worker == rank.worker) {
                Some(at) => at,
                None => {
                    workers.push(WorkerLoads {
                        worker: rank.worker.clone(),
                        worker_type: Some(rank.worker_type),
                        load: 0,
                        ranks: Vec::new(),
                        age_ms: rank.age_ms,
                    });
                    workers.len() - 1
                }
            };
            let w = &mut workers[at];
            w.age_ms = match (w.age_ms, rank.age_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            w.ranks.push(rank.snapshot);
        }
        for w in &mut workers {
            w.load = used_tokens(&w.ranks);
        }
        let version = Some(body.version).filter(|v| !v.is_empty());
        let timestamp = Some(body.timestamp).filter(|t| !t.is_empty());
        Self {
            shape: LoadsShape::Snapshot,
            version,
            timestamp,
            workers,
            aggregate: body.aggregate,
        }
    }
}

impl From<LoadsBody> for FleetLoads {
    fn from(body: LoadsBody) -> Self {
        match body {
            LoadsBody::Workers(b) => b.into(),
            LoadsBody::Snapshot(b) => b.into(),
        }
    }
}

/// A worker that failed to flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlushFailure {
    /// Worker URL.
    pub worker: String,
    /// Why.
    pub error: String,
}

/// Body of `POST /flush_cache`: 200 when every worker flushed, 206 (`partial_success`) otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlushCacheResponse {
    /// `success` or `partial_success`.
    pub status: String,
    /// Summary.
    pub message: String,
    /// Workers flushed.
    pub workers_flushed: usize,
    /// HTTP workers targeted.
    pub total_http_workers: usize,
    /// gRPC workers targeted.
    #[serde(default)]
    pub total_grpc_workers: usize,
    /// ZMQ workers skipped.
    #[serde(default)]
    pub total_zmq_workers_skipped: usize,
    /// All workers.
    pub total_workers: usize,
    /// URLs flushed (partial form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful: Option<Vec<String>>,
    /// Failures (partial form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<FlushFailure>>,
}

impl FlushCacheResponse {
    /// True for the 206 form: at least one worker failed.
    pub fn is_partial(&self) -> bool {
        self.status == "partial_success"
    }

    /// Workers that failed (empty on full success).
    pub fn failures(&self) -> &[FlushFailure] {
        self.failed.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_loads_example_round_trips() {
        let json = r#"{"workers":[{"worker":"http://gpu1:8000","load":1234,"details":{
            "timestamp":"2024-01-15T12:00:00Z","dp_rank_count":1,"loads":[{"dp_rank":0,
            "num_running_reqs":5,"num_waiting_reqs":2,"num_waiting_uncached_tokens":0,"num_total_reqs":7,
            "num_used_tokens":1234,"max_total_num_tokens":16384,"token_usage":0.075,"gen_throughput":45.2,
            "cache_hit_rate":0.82,"utilization":0.31,"max_running_requests":256}]}},
            {"worker":"http://gpu2:8000","load":-1}]}"#;
        let loads: GetLoadsResponse = serde_json::from_str(json).unwrap();
        assert_eq!(loads.workers[1].load, -1);
        assert!(loads.workers[1].details.is_none());
        let details = loads.workers[0].details.as_ref().unwrap();
        assert_eq!(details.total_used_tokens(), 1234);
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&loads).unwrap(), original);
    }

    #[test]
    fn flush_forms_round_trip() {
        let ok = r#"{"status":"success","message":"Successfully flushed cache on all 3 workers","workers_flushed":3,
            "total_http_workers":3,"total_grpc_workers":0,"total_zmq_workers_skipped":0,"total_workers":3}"#;
        let body: FlushCacheResponse = serde_json::from_str(ok).unwrap();
        assert!(!body.is_partial());
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::from_str::<serde_json::Value>(ok).unwrap()
        );
        let partial = r#"{"status":"partial_success","message":"Cache flush: 1 succeeded, 1 failed","workers_flushed":1,
            "total_http_workers":2,"total_grpc_workers":0,"total_zmq_workers_skipped":0,"total_workers":2,
            "successful":["http://a:1"],"failed":[{"worker":"http://b:1","error":"flush_cache failed for worker http://b:1: HTTP 500 Internal Server Error"}]}"#;
        let body: FlushCacheResponse = serde_json::from_str(partial).unwrap();
        assert!(body.is_partial());
        assert_eq!(body.failures().len(), 1);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::from_str::<serde_json::Value>(partial).unwrap()
        );
    }

    const UPSTREAM_GET_LOADS: &str = r#"{"timestamp":"2026-12-04T23:27:09.809218736+00:00","version":"smg-1.13.0",
        "dp_rank_count":2,"loads":[
        {"worker":"http://127.0.0.1:31001","worker_type":"regular","dp_rank":0,"num_running_reqs":2,"num_waiting_reqs":1,
         "num_waiting_uncached_tokens":0,"num_total_reqs":3,"num_used_tokens":100,"max_total_num_tokens":65536,"token_usage":0.5,
         "gen_throughput":10.0,"cache_hit_rate":0.0,"utilization":0.25,"max_running_requests":64,"some_future_field":1},
        {"worker":"http://127.0.0.1:31001","worker_type":"regular","dp_rank":1,"num_running_reqs":0,"num_waiting_reqs":0,
         "num_waiting_uncached_tokens":0,"num_total_reqs":0,"num_used_tokens":20,"max_total_num_tokens":65536,"token_usage":0.1,
         "gen_throughput":0.0,"cache_hit_rate":0.0,"utilization":0.0,"max_running_requests":64}],
        "aggregate":{"total_running_reqs":2,"total_waiting_reqs":1,"total_reqs":3,"avg_token_usage":0.3,"avg_throughput":5.0,"avg_utilization":0.125}}"#;

    #[test]
    fn upstream_snapshot_reads_into_fleet_loads() {
        let body: LoadsBody = serde_json::from_str(UPSTREAM_GET_LOADS).unwrap();
        assert!(matches!(body, LoadsBody::Snapshot(_)));
        let fleet = FleetLoads::from(body);
        assert_eq!(fleet.shape, LoadsShape::Snapshot);
        assert_eq!(fleet.version.as_deref(), Some("smg-1.13.0"));
        assert_eq!(fleet.workers.len(), 1);
        let w = &fleet.workers[0];
        assert_eq!(w.load, 120);
        assert_eq!(w.ranks.len(), 2);
        assert_eq!(w.worker_type, Some(WorkerType::Regular));
        assert_eq!(fleet.aggregate.total_reqs, 3);
        assert_eq!(fleet.ranks().count(), 2);
    }

    #[test]
    fn seed_shape_reads_into_fleet_loads_with_computed_aggregate() {
        let json = r#"{"workers":[{"worker":"http://a:1","load":10,"details":{"timestamp":"t","dp_rank_count":1,
            "loads":[{"dp_rank":0,"num_running_reqs":4,"num_total_reqs":4,"num_used_tokens":10,"max_total_num_tokens":100,
            "token_usage":0.1,"gen_throughput":8.0,"utilization":0.5}]}},{"worker":"http://b:1","load":-1}]}"#;
        let fleet = FleetLoads::from(serde_json::from_str::<LoadsBody>(json).unwrap());
        assert_eq!(fleet.shape, LoadsShape::Workers);
        assert_eq!(fleet.workers.len(), 2);
        assert!(!fleet.workers[1].reported());
        assert_eq!(fleet.workers[1].load, -1);
        assert_eq!(fleet.aggregate.total_running_reqs, 4);
        assert!((fleet.aggregate.avg_utilization - 0.5).abs() < 1e-9);
    }

    #[test]
    fn empty_bodies_of_both_shapes_decode() {
        let a: LoadsBody = serde_json::from_str(r#"{"workers":[]}"#).unwrap();
        assert!(matches!(a, LoadsBody::Workers(_)));
        let b: LoadsBody = serde_json::from_str(
            r#"{"timestamp":"t","version":"smg-1.13.0","dp_rank_count":0,"loads":[],"aggregate":{}}"#,
        )
        .unwrap();
        assert!(matches!(b, LoadsBody::Snapshot(_)));
    }

    #[test]
    fn engine_load_with_version_round_trips() {
        let json = r#"{"timestamp":"t","version":"smg-1.13.0","dp_rank_count":0,"loads":[]}"#;
        let r: WorkerLoadResponse = serde_json::from_str(json).unwrap();
        assert_eq!(r.version, "smg-1.13.0");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }

    #[test]
    fn load_without_capacity_is_minus_one() {
        let r = WorkerLoadResponse {
            loads: vec![SchedulerLoadSnapshot::default()],
            ..Default::default()
        };
        assert_eq!(r.total_used_tokens(), -1);
    }
}
