//! Engine profiling (`POST /start_profile`, `POST /stop_profile`), fanned out to the workers.

use serde::{Deserialize, Serialize};

use super::loads::FlushFailure;

/// What a worker's profiler should record: the body the gateway forwards to each worker's
/// `POST /start_profile` (unset fields omitted, `profile_by_stage` always sent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileOptions {
    /// Directory on the worker host the trace is written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<String>,
    /// Step to start recording at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_step: Option<i32>,
    /// Steps to record before stopping on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_steps: Option<i32>,
    /// What to record (e.g. `CPU`, `GPU`, `MEM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activities: Option<Vec<String>>,
    /// Record Python stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_stack: Option<bool>,
    /// Record tensor shapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_shapes: Option<bool>,
    /// One trace per engine stage.
    #[serde(default)]
    pub profile_by_stage: bool,
}

/// Body of `POST /start_profile` (optional as a whole): which worker (`url`; absent: every
/// worker) and the [`ProfileOptions`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartProfileRequest {
    /// Only the registered worker with exactly this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What to record.
    #[serde(flatten)]
    pub options: ProfileOptions,
}

/// Body of `POST /stop_profile` (optional as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopProfileRequest {
    /// Only the registered worker with exactly this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Answer of `POST /start_profile` and `POST /stop_profile`: 200 `success` when every targeted
/// worker answered, 206 `partial_success` (with `successful` and `failed`) otherwise, and 404
/// `error` when no worker matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileResponse {
    /// `success`, `partial_success` or `error`.
    pub status: String,
    /// Summary.
    pub message: String,
    /// Workers that answered 2xx.
    pub workers_profiled: usize,
    /// Workers targeted.
    pub total_workers: usize,
    /// URLs that answered (partial form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful: Option<Vec<String>>,
    /// Workers that failed, and why (partial form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<FlushFailure>>,
}

impl ProfileResponse {
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
    fn start_request_is_url_plus_flattened_options() {
        let json = r#"{"url":"http://w:1","output_dir":"/tmp/t","num_steps":5,"activities":["CPU","GPU"],"profile_by_stage":false}"#;
        let req: StartProfileRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.url.as_deref(), Some("http://w:1"));
        assert_eq!(req.options.num_steps, Some(5));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        // Forwarded to a worker: unset fields omitted, profile_by_stage always there.
        assert_eq!(
            serde_json::to_value(ProfileOptions::default()).unwrap(),
            serde_json::json!({"profile_by_stage": false})
        );
        let empty: StartProfileRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, StartProfileRequest::default());
    }

    #[test]
    fn response_forms_round_trip() {
        for json in [
            r#"{"status":"success","message":"Successfully started profiling on all 2 workers","workers_profiled":2,"total_workers":2}"#,
            r#"{"status":"partial_success","message":"Start profiling: 1 succeeded, 1 failed","workers_profiled":1,"total_workers":2,"successful":["http://a:1"],"failed":[{"worker":"http://b:1","error":"x"}]}"#,
        ] {
            let r: ProfileResponse = serde_json::from_str(json).unwrap();
            assert_eq!(r.is_partial(), r.failures().len() == 1);
            assert_eq!(
                serde_json::to_value(&r).unwrap(),
                serde_json::from_str::<serde_json::Value>(json).unwrap()
            );
        }
    }
}
