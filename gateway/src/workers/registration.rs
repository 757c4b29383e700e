//! The registration workflow (upstream §4.7): wait for the worker to answer its health
//! probe, detect its engine, discover its metadata, and resolve its model card.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use smg_sdk::{ConnectionMode, ModelCard, ModelType, RuntimeType, WorkerSpec};
use tokio::sync::Semaphore;

use super::health::probe;
use crate::config::GatewayConfig;
use crate::upstream::{CallError, WorkerHttp};

/// `/server_info` fields kept as labels.
const SERVER_INFO_KEYS: &[&str] = &[
    "model_id",
    "model",
    "model_path",
    "served_model_name",
    "tokenizer_path",
    "tp_size",
    "dp_size",
    "pp_size",
    "load_balance_method",
    "disaggregation_mode",
    "version",
    "is_embedding",
    "context_length",
    "max_total_tokens",
    "max_total_num_tokens",
    "max_running_requests",
    "weight_version",
];

/// `/model_info` fields kept as labels.
const MODEL_INFO_KEYS: &[&str] = &[
    "model_path",
    "tokenizer_path",
    "is_generation",
    "has_image_understanding",
    "has_audio_understanding",
    "model_type",
    "architectures",
];

const CONTEXT_LENGTH_KEYS: &[&str] = &[
    "context_length",
    "max_context_length",
    "max_model_len",
    "max_total_tokens",
    "max_seq_len",
];

pub struct Registration<'a> {
    pub http: &'a WorkerHttp,
    pub config: &'a GatewayConfig,
}

impl Registration<'_> {
    fn probe_timeout(&self, spec: &WorkerSpec) -> Duration {
        spec.health
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or_else(|| self.config.health_check_timeout())
    }

    fn discovery_timeout(&self) -> Duration {
        Duration::from_secs(self.config.discovery_timeout_secs)
    }

    /// Wait until the worker answers its health probe, within the start-up timeout. Each
    /// probe holds a `permits` permit; the sleeps between probes hold none, so a worker that
    /// takes its time to come up does not hold up other jobs.
    pub async fn wait_until_reachable(
        &self,
        spec: &WorkerSpec,
        permits: &Semaphore,
    ) -> Result<(), String> {
        let started = Instant::now();
        let deadline = Duration::from_secs(self.config.worker_startup_timeout_secs);
        let interval = Duration::from_secs(self.config.worker_startup_check_interval_secs.max(1));
        let endpoint = &self.config.health_check_endpoint;
        loop {
            let result = {
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| "the gateway is shutting down".to_string())?;
                probe(self.http, spec, endpoint, self.probe_timeout(spec)).await
            };
            let error = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if started.elapsed() + interval > deadline {
                return Err(format!(
                    "Workflow failed at step detect_connection_mode: worker {} did not answer GET {endpoint} within {}s: {error}",
                    spec.url,
                    deadline.as_secs()
                ));
            }
            tracing::debug!(url = %spec.url, %error, "worker not reachable yet; retrying");
            tokio::time::sleep(interval).await;
        }
    }

    /// Detect the engine and discover metadata. Discovery failures are not fatal: the worker
    /// registers with what is known.
    pub async fn resolve(&self, mut spec: WorkerSpec) -> WorkerSpec {
        if spec.connection_mode != ConnectionMode::Http {
            return resolve_model_card(spec, BTreeMap::new());
        }
        let t = self.discovery_timeout();
        let v1_models: Option<Value> = self.http.get_json(&spec, "/v1/models", t).await.ok();
        if spec.runtime_type == RuntimeType::Unspecified {
            spec.runtime_type = self.detect_runtime(&spec, v1_models.as_ref()).await;
        }
        let mut labels = BTreeMap::new();
        if spec.runtime_type == RuntimeType::Vllm {
            if let Ok(version) = self.http.get_json::<Value>(&spec, "/version", t).await {
                copy_keys(&version, &["version"], &mut labels);
            }
        } else {
            if let Some(info) = self
                .get_with_fallback(&spec, "/server_info", "/get_server_info")
                .await
            {
                copy_keys(&info, SERVER_INFO_KEYS, &mut labels);
                if let Some(model) = labels.remove("model") {
                    labels.entry("model_id".into()).or_insert(model);
                }
            }
            if let Some(info) = self
                .get_with_fallback(&spec, "/model_info", "/get_model_info")
                .await
            {
                copy_keys(&info, MODEL_INFO_KEYS, &mut labels);
            }
        }
        if let Some(first) = v1_models
            .as_ref()
            .and_then(|m| m.get("data"))
            .and_then(|d| d.get(0))
        {
            for (from, to) in [
                ("id", "served_model_name"),
                ("root", "model_path"),
                ("max_model_len", "max_model_len"),
            ] {
                if let Some(value) = first.get(from).and_then(label_value) {
                    labels.entry(to.to_string()).or_insert(value);
                }
            }
        }
        resolve_model_card(spec, labels)
    }

    async fn detect_runtime(&self, spec: &WorkerSpec, v1_models: Option<&Value>) -> RuntimeType {
        let owned_by = v1_models
            .and_then(|m| m.get("data"))
            .and_then(|d| d.get(0))
            .and_then(|m| m.get("owned_by"))
            .and_then(Value::as_str);
        match owned_by {
            Some("sglang" | "nvidia") => return RuntimeType::Sglang,
            Some("vllm") => return RuntimeType::Vllm,
            _ => {}
        }
        let t = self.discovery_timeout();
        if self
            .http
            .call(spec, reqwest::Method::GET, "/version", t)
            .await
            .is_ok()
        {
            return RuntimeType::Vllm;
        }
        // Unresolved runtimes default to SGLang, as upstream does.
        RuntimeType::Sglang
    }

    async fn get_with_fallback(
        &self,
        spec: &WorkerSpec,
        path: &str,
        legacy: &str,
    ) -> Option<Value> {
        let t = self.discovery_timeout();
        match self.http.get_json(spec, path, t).await {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => self.http.get_json(spec, legacy, t).await.ok(),
            Err(CallError::Status(_) | CallError::Body(_)) => None,
            Err(_) => None,
        }
    }
}

fn label_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn copy_keys(source: &Value, keys: &[&str], labels: &mut BTreeMap<String, String>) {
    for key in keys {
        if let Some(value) = source.get(*key).and_then(label_value) {
            labels.entry((*key).to_string()).or_insert(value);
        }
    }
}

/// Merge discovered labels under the user's and resolve the primary model card. Like
/// upstream's `create_worker` step, a worker whose model cannot be found registers as model
/// `"unknown"`, not as a wildcard: it takes requests without a model (`/generate`) or naming
/// `"unknown"`, never another model's.
pub fn resolve_model_card(
    mut spec: WorkerSpec,
    discovered: BTreeMap<String, String>,
) -> WorkerSpec {
    let mut labels = discovered;
    labels.extend(std::mem::take(&mut spec.labels));
    let model_id = spec
        .models
        .first()
        .map(|m| m.id.clone())
        .or_else(|| {
            ["served_model_name", "model_id", "model_path"]
                .iter()
                .find_map(|k| labels.get(*k).cloned())
        })
        .unwrap_or_else(|| "unknown".to_string());
    if spec.models.is_empty() {
        spec.models.push(ModelCard::new(model_id));
    }
    if let Some(card) = spec.models.first_mut() {
        if card.hf_model_type.is_none() {
            card.hf_model_type = labels.get("model_type").cloned();
        }
        if card.architectures.is_empty()
            && let Some(archs) = labels.get("architectures")
        {
            card.architectures =
                serde_json::from_str::<Vec<String>>(archs).unwrap_or_else(|_| vec![archs.clone()]);
        }
        if card.context_length.is_none() {
            card.context_length = CONTEXT_LENGTH_KEYS
                .iter()
                .find_map(|k| labels.get(*k).and_then(|v| v.parse().ok()));
        }
        if card.tokenizer_path.is_none() {
            card.tokenizer_path = labels.get("tokenizer_path").cloned();
        }
        if labels.get("is_embedding").map(String::as_str) == Some("true") {
            card.model_type = ModelType::EMBEDDINGS;
        }
    }
    spec.labels = labels;
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_labels_win_and_model_id_resolves() {
        let mut spec = WorkerSpec::new("http://a:1");
        spec.labels.insert("tp_size".into(), "8".into());
        let discovered = BTreeMap::from([
            ("tp_size".to_string(), "1".to_string()),
            ("model_path".to_string(), "/models/llama".to_string()),
            ("served_model_name".to_string(), "llama".to_string()),
            ("context_length".to_string(), "8192".to_string()),
            (
                "architectures".to_string(),
                r#"["LlamaForCausalLM"]"#.to_string(),
            ),
        ]);
        let spec = resolve_model_card(spec, discovered);
        assert_eq!(spec.labels["tp_size"], "8");
        assert_eq!(spec.models[0].id, "llama");
        assert_eq!(spec.models[0].context_length, Some(8192));
        assert_eq!(spec.models[0].architectures, vec!["LlamaForCausalLM"]);
    }

    #[test]
    fn explicit_model_wins_and_unknown_is_the_fallback() {
        let mut spec = WorkerSpec::new("http://a:1");
        spec.models.push(ModelCard::new("mine"));
        let spec = resolve_model_card(
            spec,
            BTreeMap::from([("served_model_name".into(), "x".into())]),
        );
        assert_eq!(spec.models[0].id, "mine");
        let spec = resolve_model_card(WorkerSpec::new("http://b:1"), BTreeMap::new());
        assert_eq!(spec.models[0].id, "unknown");
    }
}
