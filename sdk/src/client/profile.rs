//! Engine profiling, fanned out to the workers.

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::Result;
use crate::types::{ProfileResponse, StartProfileRequest, StopProfileRequest};

impl Client {
    /// Start the engine profiler of every worker, or of the one whose URL is `request.url`
    /// (`POST /start_profile`). Both 200 and 206 are `Ok`: check
    /// [`ProfileResponse::is_partial`]. No matching worker is a 404 [`Error::Api`](crate::Error).
    /// Not retried. A worker may take long to answer: raise the client's request timeout (or
    /// build the request with [`ApiRequest::timeout`]) when profiling slow engines.
    pub async fn start_profile(&self, request: &StartProfileRequest) -> Result<ProfileResponse> {
        let req =
            ApiRequest::new(Method::POST, "/start_profile", RouteKind::Admin).json(request)?;
        self.send_json(req).await
    }

    /// Stop the engine profiler of every worker, or of the one whose URL is `request.url`
    /// (`POST /stop_profile`); the same answers as [`start_profile`](Self::start_profile).
    pub async fn stop_profile(&self, request: &StopProfileRequest) -> Result<ProfileResponse> {
        let req = ApiRequest::new(Method::POST, "/stop_profile", RouteKind::Admin).json(request)?;
        self.send_json(req).await
    }
}
