//! Engine loads and KV-cache flush.

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::Result;
use crate::types::{FleetLoads, FlushCacheResponse, LoadsBody, LoadsSnapshot};

impl Client {
    /// Engine loads from `GET /get_loads` as one typed model (per worker, per DP rank, fleet
    /// aggregate), whichever shape the gateway answers in: this gateway's `{"workers":[…]}`
    /// (every worker, `load == -1` for one that did not answer) or upstream 1.12+'s per-rank
    /// snapshot.
    pub async fn loads(&self) -> Result<FleetLoads> {
        Ok(self.loads_body().await?.into())
    }

    /// The body of `GET /get_loads` as the gateway sent it, in either shape.
    pub async fn loads_body(&self) -> Result<LoadsBody> {
        let req = ApiRequest::new(Method::GET, "/get_loads", RouteKind::Admin);
        let body: LoadsBody = self.send_json(req).await?;
        if let LoadsBody::Snapshot(s) = &body {
            self.observe_loads_version(&s.version);
        }
        Ok(body)
    }

    /// The load monitor's last snapshot (`GET /loads[?model=ID]`, public): cheap on both
    /// gateways, which serve it from memory without asking the workers. Only workers the
    /// monitor has a report for appear; `model` keeps the workers serving that model.
    pub async fn loads_snapshot(&self, model: Option<&str>) -> Result<LoadsSnapshot> {
        let mut req = ApiRequest::new(Method::GET, "/loads", RouteKind::Public);
        if let Some(model) = model {
            req = req.query("model", model);
        }
        let snapshot: LoadsSnapshot = self.send_json(req).await?;
        self.observe_loads_version(&snapshot.version);
        Ok(snapshot)
    }

    /// Flush the KV cache of every worker (`POST /flush_cache`). Both 200 and 206 are `Ok`:
    /// check [`FlushCacheResponse::is_partial`] and [`FlushCacheResponse::failures`].
    pub async fn flush_cache(&self) -> Result<FlushCacheResponse> {
        let req = ApiRequest::new(Method::POST, "/flush_cache", RouteKind::Admin);
        self.send_json(req).await
    }
}
