//! Model listing (`GET /v1/models`).

use serde::{Deserialize, Serialize};

/// One model in `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelObject {
    /// Model id.
    pub id: String,
    /// Always `model`.
    #[serde(default = "model_object")]
    pub object: String,
    /// Creation time (unix seconds; 0 when unknown).
    #[serde(default)]
    pub created: i64,
    /// Owner (`self_hosted` for local workers).
    #[serde(default)]
    pub owned_by: String,
}

fn model_object() -> String {
    "model".into()
}

fn list_object() -> String {
    "list".into()
}

/// Body of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelList {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// The models.
    pub data: Vec<ModelObject>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_round_trips() {
        let json = r#"{"object":"list","data":[{"id":"llama3-70b","object":"model","created":1700000000,"owned_by":"meta"}]}"#;
        let list: ModelList = serde_json::from_str(json).unwrap();
        assert_eq!(list.data[0].id, "llama3-70b");
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
