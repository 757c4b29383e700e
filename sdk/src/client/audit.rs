//! The stored audit log (`GET /admin/audit`).

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::Result;
use crate::types::{AuditLogResponse, AuditQuery};

impl Client {
    /// Audit events matching `query`, newest first (`GET /admin/audit`).
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditLogResponse> {
        let mut req = ApiRequest::new(Method::GET, "/admin/audit", RouteKind::Admin);
        for (key, value) in query.to_pairs() {
            req = req.query(key, value);
        }
        self.send_json(req).await
    }
}
