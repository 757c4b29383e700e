//! Engine loads (`GET /get_loads`) and KV-cache flush (`POST /flush_cache`).

use serde::{Deserialize, Serialize};

/// One data-parallel rank's scheduler state, as a worker reports it on `/v1/loads`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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

/// A worker's `/v1/loads` body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerLoadResponse {
    /// When the engine took the snapshot.
    pub timestamp: String,
    /// Number of ranks.
    pub dp_rank_count: i32,
    /// One snapshot per rank.
    pub loads: Vec<SchedulerLoadSnapshot>,
}

impl WorkerLoadResponse {
    /// Upstream's `load`: tokens in use summed over ranks, or -1 when no rank reports a capacity.
    pub fn total_used_tokens(&self) -> i64 {
        if self.loads.iter().any(|l| l.max_total_num_tokens > 0) {
            self.loads
                .iter()
                .map(|l| i64::from(l.num_used_tokens))
                .sum()
        } else {
            -1
        }
    }
}

/// One worker's entry in `GET /get_loads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct GetLoadsResponse {
    /// One entry per registered worker.
    pub workers: Vec<WorkerLoad>,
}

/// A worker that failed to flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushFailure {
    /// Worker URL.
    pub worker: String,
    /// Why.
    pub error: String,
}

/// Body of `POST /flush_cache`: 200 when every worker flushed, 206 (`partial_success`) otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    #[test]
    fn load_without_capacity_is_minus_one() {
        let r = WorkerLoadResponse {
            loads: vec![SchedulerLoadSnapshot::default()],
            ..Default::default()
        };
        assert_eq!(r.total_used_tokens(), -1);
    }
}
