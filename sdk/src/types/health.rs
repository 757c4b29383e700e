//! Health and readiness (`/liveness`, `/health`, `/readiness`).

use serde::{Deserialize, Serialize};

/// Body of `GET /readiness`: 200 with counts when ready, 503 with a `reason` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessResponse {
    /// `ready` or `not ready`.
    pub status: String,
    /// Healthy workers (ready form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_workers: Option<usize>,
    /// All workers (ready form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_workers: Option<usize>,
    /// Why not ready (not-ready form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ReadinessResponse {
    /// True for the 200 form.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_round_trip() {
        for json in [
            r#"{"status":"ready","healthy_workers":2,"total_workers":3}"#,
            r#"{"status":"not ready","reason":"insufficient healthy workers"}"#,
        ] {
            let body: ReadinessResponse = serde_json::from_str(json).unwrap();
            assert_eq!(
                serde_json::to_value(&body).unwrap(),
                serde_json::from_str::<serde_json::Value>(json).unwrap()
            );
        }
    }
}
