//! What the gateway at the base URL is: this project's gateway (it stamps every response with
//! `X-SMG-Version`) or an upstream SMG (no header; its version is in the loads bodies). Learned
//! from any response the client sees, probed once when needed, and cached on the client.

use std::fmt;
use std::sync::PoisonError;

use bytes::Bytes;
use http::header::{AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{ApiRequest, Client, RouteKind};
use crate::error::{Error, Result};
use crate::types::{LoadsBody, LoadsSnapshot};

/// Response header in which this project's gateway reports its version (an addition to
/// upstream SMG's wire format).
pub const VERSION_HEADER: &str = "x-smg-version";

/// Prefix of upstream's `version` field in loads bodies (`smg-1.13.0`).
const UPSTREAM_VERSION_PREFIX: &str = "smg-";

/// Which gateway implementation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// This project's gateway (`smg` from the `smg-gateway` crate).
    ThisProject,
    /// An upstream Shepherd Model Gateway (or anything else that does not send
    /// [`VERSION_HEADER`]).
    Upstream,
}

/// The gateway's implementation and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GatewayIdentity {
    /// Which implementation.
    pub kind: GatewayKind,
    /// Its version, when it reports one (`0.1.0`, `1.13.0`).
    pub version: Option<String>,
}

impl GatewayIdentity {
    /// This project's gateway at `version`.
    pub fn this_project(version: impl Into<String>) -> Self {
        Self {
            kind: GatewayKind::ThisProject,
            version: Some(version.into()),
        }
    }

    /// An upstream SMG, from the `version` field of its loads bodies (`smg-1.13.0`; empty when
    /// it does not say).
    pub fn upstream(loads_version: &str) -> Self {
        let v = loads_version.trim();
        let v = v.strip_prefix(UPSTREAM_VERSION_PREFIX).unwrap_or(v);
        Self {
            kind: GatewayKind::Upstream,
            version: (!v.is_empty()).then(|| v.to_string()),
        }
    }

    /// True for an upstream SMG.
    pub fn is_upstream(&self) -> bool {
        self.kind == GatewayKind::Upstream
    }
}

impl fmt::Display for GatewayIdentity {
    /// `smg-gateway 0.1.0 (this project)`, `upstream SMG 1.13.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = self.version.as_deref().unwrap_or("(version not reported)");
        match self.kind {
            GatewayKind::ThisProject => write!(f, "smg-gateway {version} (this project)"),
            GatewayKind::Upstream => write!(f, "upstream SMG {version}"),
        }
    }
}

impl Client {
    /// What the gateway is, from the cache or else probed once: `GET /loads` (public and cheap
    /// on both gateways) tells this project's gateway by its header and upstream's version by
    /// its body; an upstream without `/loads` is asked `GET /get_loads`. Transport errors are
    /// returned and not cached.
    pub async fn identity(&self) -> Result<GatewayIdentity> {
        if let Some(known) = self.known_identity() {
            return Ok(known);
        }
        let (status, body) = self.probe("/loads", RouteKind::Public).await?;
        if let Some(known) = self.known_identity() {
            return Ok(known);
        }
        let mut version = status
            .is_success()
            .then(|| serde_json::from_slice::<LoadsSnapshot>(&body).ok())
            .flatten()
            .map(|s| s.version);
        if version.is_none() {
            // An upstream older than `/loads`: 1.12 names itself in `/get_loads`.
            version = match self.probe("/get_loads", RouteKind::Admin).await {
                Ok((status, body)) if status.is_success() => {
                    match serde_json::from_slice::<LoadsBody>(&body) {
                        Ok(LoadsBody::Snapshot(s)) => Some(s.version),
                        _ => None,
                    }
                }
                _ => None,
            };
        }
        let identity = GatewayIdentity::upstream(version.as_deref().unwrap_or_default());
        self.remember_identity(identity.clone());
        Ok(identity)
    }

    /// One GET for the identity probe: the route's credential and the request timeout, but no
    /// retries and no error diagnosis (which may itself probe).
    async fn probe(&self, path: &str, route: RouteKind) -> Result<(StatusCode, Bytes)> {
        let inner = &*self.inner;
        let url = self.url_for_request(&ApiRequest::new(Method::GET, path, route))?;
        let mut req = inner
            .http
            .get(url.clone())
            .header(USER_AGENT, inner.user_agent.clone())
            .timeout(inner.request_timeout);
        if let (RouteKind::Admin, Some(auth)) = (route, &inner.admin_auth) {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let transport = |e| Error::from_transport(e, url.as_str());
        let resp = req.send().await.map_err(transport)?;
        self.observe_headers(resp.headers());
        let status = resp.status();
        Ok((status, resp.bytes().await.map_err(transport)?))
    }

    /// What the gateway is, if already known (from a response header or a loads body seen
    /// earlier); never sends a request.
    pub fn known_identity(&self) -> Option<GatewayIdentity> {
        self.inner
            .identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn remember_identity(&self, identity: GatewayIdentity) {
        *self
            .inner
            .identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(identity);
    }

    /// Learn from a response's headers: [`VERSION_HEADER`] names this project's gateway; its
    /// absence after it was seen means another gateway now answers at the URL. Returns whether
    /// the header was there.
    pub(super) fn observe_headers(&self, headers: &HeaderMap) -> bool {
        let version = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok());
        let mut known = self
            .inner
            .identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match version {
            Some(v) => {
                if known.as_ref().is_none_or(|k| {
                    k.kind != GatewayKind::ThisProject || k.version.as_deref() != Some(v)
                }) {
                    *known = Some(GatewayIdentity::this_project(v));
                }
                true
            }
            None => {
                if known
                    .as_ref()
                    .is_some_and(|k| k.kind == GatewayKind::ThisProject)
                {
                    *known = None;
                }
                false
            }
        }
    }

    /// Learn from the `version` of a loads body: upstream names itself there (this project's
    /// gateway is known by its header first).
    pub(super) fn observe_loads_version(&self, version: &str) {
        if version.starts_with(UPSTREAM_VERSION_PREFIX) && self.known_identity().is_none() {
            self.remember_identity(GatewayIdentity::upstream(version));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            GatewayIdentity::this_project("0.1.0").to_string(),
            "smg-gateway 0.1.0 (this project)"
        );
        let up = GatewayIdentity::upstream("smg-1.13.0");
        assert_eq!(up.version.as_deref(), Some("1.13.0"));
        assert!(up.is_upstream());
        assert_eq!(up.to_string(), "upstream SMG 1.13.0");
        assert_eq!(
            GatewayIdentity::upstream("").to_string(),
            "upstream SMG (version not reported)"
        );
        assert_eq!(
            serde_json::to_value(&up).unwrap(),
            serde_json::json!({"kind": "upstream", "version": "1.13.0"})
        );
    }

    #[test]
    fn headers_teach_and_unteach() {
        let c = Client::new("http://h:1").unwrap();
        let mut h = HeaderMap::new();
        assert!(!c.observe_headers(&h));
        assert_eq!(c.known_identity(), None);
        h.insert(VERSION_HEADER, http::HeaderValue::from_static("0.1.0"));
        assert!(c.observe_headers(&h));
        assert_eq!(
            c.known_identity(),
            Some(GatewayIdentity::this_project("0.1.0"))
        );
        // A loads body does not override the header.
        c.observe_loads_version("smg-1.13.0");
        assert_eq!(
            c.known_identity().map(|i| i.kind),
            Some(GatewayKind::ThisProject)
        );
        // Another gateway now answers at the URL.
        assert!(!c.observe_headers(&HeaderMap::new()));
        assert_eq!(c.known_identity(), None);
        c.observe_loads_version("smg-1.13.0");
        assert_eq!(
            c.known_identity(),
            Some(GatewayIdentity::upstream("smg-1.13.0"))
        );
        // Upstream sends no header: what was learned stays.
        c.observe_headers(&HeaderMap::new());
        assert!(c.known_identity().is_some_and(|i| i.is_upstream()));
    }
}
