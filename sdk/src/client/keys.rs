//! Runtime API keys (`/admin/api-keys`) and the caller's identity (`/admin/whoami`).

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::{Error, Result};
use crate::types::{
    ApiKeyActionResponse, ApiKeyCreateRequest, ApiKeyCreated, ApiKeyInfo, ApiKeyList,
    ApiKeyRotated, ApiKeyUpdateRequest, Principal,
};

/// Handle for the API-key routes; get one with [`Client::keys`].
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    client: &'a Client,
}

impl<'a> ApiKeys<'a> {
    pub(super) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    fn key_request(method: Method, id: &str, action: Option<&str>) -> Result<ApiRequest> {
        if id.trim().is_empty() {
            return Err(Error::InvalidInput("API key id must not be empty".into()));
        }
        let mut segments = vec!["admin".to_string(), "api-keys".into(), id.to_string()];
        if let Some(action) = action {
            segments.push(action.to_string());
        }
        Ok(ApiRequest::from_segments(
            method,
            segments,
            RouteKind::Admin,
        ))
    }

    /// Create a key (`POST /admin/api-keys`, 201). The answer holds the secret, shown only
    /// this once. Never retried.
    pub async fn create(&self, request: &ApiKeyCreateRequest) -> Result<ApiKeyCreated> {
        let req =
            ApiRequest::new(Method::POST, "/admin/api-keys", RouteKind::Admin).json(request)?;
        self.client.send_json(req).await
    }

    /// Every key, masked, with the active/expired/disabled summary (`GET /admin/api-keys`).
    pub async fn list(&self) -> Result<ApiKeyList> {
        let req = ApiRequest::new(Method::GET, "/admin/api-keys", RouteKind::Admin);
        self.client.send_json(req).await
    }

    /// One key, masked (`GET /admin/api-keys/{id}`).
    pub async fn get(&self, id: &str) -> Result<ApiKeyInfo> {
        self.client
            .send_json(Self::key_request(Method::GET, id, None)?)
            .await
    }

    /// Change a key's name, description, role, expiry or enabled flag
    /// (`PUT /admin/api-keys/{id}`; only the fields set change).
    pub async fn update(
        &self,
        id: &str,
        update: &ApiKeyUpdateRequest,
    ) -> Result<ApiKeyActionResponse> {
        let req = Self::key_request(Method::PUT, id, None)?.json(update)?;
        self.client.send_json(req).await
    }

    /// Replace a key's secret (`POST /admin/api-keys/{id}/rotate`). The old secret stops
    /// working at once; the new one is in the answer, shown only this once. Never retried.
    pub async fn rotate(&self, id: &str) -> Result<ApiKeyRotated> {
        self.client
            .send_json(Self::key_request(Method::POST, id, Some("rotate"))?)
            .await
    }

    /// Re-enable a key (`POST /admin/api-keys/{id}/enable`).
    pub async fn enable(&self, id: &str) -> Result<ApiKeyActionResponse> {
        self.client
            .send_json(Self::key_request(Method::POST, id, Some("enable"))?)
            .await
    }

    /// Suspend a key without deleting it (`POST /admin/api-keys/{id}/disable`).
    pub async fn disable(&self, id: &str) -> Result<ApiKeyActionResponse> {
        self.client
            .send_json(Self::key_request(Method::POST, id, Some("disable"))?)
            .await
    }

    /// Revoke and remove a key (`DELETE /admin/api-keys/{id}`).
    pub async fn delete(&self, id: &str) -> Result<ApiKeyActionResponse> {
        self.client
            .send_json(Self::key_request(Method::DELETE, id, None)?)
            .await
    }
}

impl Client {
    /// The runtime API-key routes (`/admin/api-keys`).
    pub fn keys(&self) -> ApiKeys<'_> {
        ApiKeys::new(self)
    }

    /// Who the admin token authenticates as (`GET /admin/whoami`): principal id, name, role and
    /// auth method. Answers for `user` principals too, so a UI can tell what the caller may do.
    pub async fn whoami(&self) -> Result<Principal> {
        let req = ApiRequest::new(Method::GET, "/admin/whoami", RouteKind::Admin);
        self.send_json(req).await
    }
}
