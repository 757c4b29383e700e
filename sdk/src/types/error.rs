//! The error body every JSON error uses (decision D1).

use serde::{Deserialize, Serialize};

/// `{"error":{"message":…,"type":…,"code":…}}`, sent with the header `X-SMG-Error-Code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Human-readable message.
    pub message: String,
    /// Kind: `bad_request`, `not_found`, `conflict`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Machine code, e.g. `WORKER_NOT_FOUND`.
    pub code: String,
}

/// Name of the header that repeats the error code.
pub const ERROR_CODE_HEADER: &str = "x-smg-error-code";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let json = r#"{"error":{"message":"Worker u not found","type":"not_found","code":"WORKER_NOT_FOUND"}}"#;
        let body: ErrorBody = serde_json::from_str(json).unwrap();
        assert_eq!(body.error.kind, "not_found");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
