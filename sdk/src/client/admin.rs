//! Fan-out admin operations: engine loads and KV-cache flush.

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::Result;
use crate::types::{FlushCacheResponse, GetLoadsResponse};

impl Client {
    /// Engine load of every worker (`GET /get_loads`). A worker that did not answer has
    /// `load == -1` and no details.
    pub async fn get_loads(&self) -> Result<GetLoadsResponse> {
        let req = ApiRequest::new(Method::GET, "/get_loads", RouteKind::Admin);
        self.send_json(req).await
    }

    /// Flush the KV cache of every worker (`POST /flush_cache`). Both 200 and 206 are `Ok`:
    /// check [`FlushCacheResponse::is_partial`] and [`FlushCacheResponse::failures`].
    pub async fn flush_cache(&self) -> Result<FlushCacheResponse> {
        let req = ApiRequest::new(Method::POST, "/flush_cache", RouteKind::Admin);
        self.send_json(req).await
    }
}
