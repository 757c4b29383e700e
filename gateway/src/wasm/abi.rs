//! Host-side mirrors of the WIT types in `gateway/wit/smg.wit` (`smg:gateway/middleware-types`
//! and this gateway's `middleware-on-error`). Field names and order are the WIT's: the
//! component model checks them when a typed export is looked up.

use wasmtime::component::{ComponentType, Lift, Lower};

/// `header`.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// `request`: what `on-request` sees.
#[derive(ComponentType, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    #[component(name = "request-id")]
    pub request_id: String,
    #[component(name = "now-epoch-ms")]
    pub now_epoch_ms: u64,
}

/// `response`: what `on-response` sees.
#[derive(ComponentType, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// `error-info`: what `on-error` sees.
#[derive(ComponentType, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct ErrorInfo {
    pub method: String,
    pub path: String,
    pub query: String,
    #[component(name = "request-id")]
    pub request_id: String,
    #[component(name = "now-epoch-ms")]
    pub now_epoch_ms: u64,
    pub worker: String,
    pub message: String,
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// `modify-action`.
#[derive(ComponentType, Lift, Clone, Debug, PartialEq, Eq, Default)]
#[component(record)]
pub struct ModifyAction {
    pub status: Option<u16>,
    #[component(name = "headers-set")]
    pub headers_set: Vec<Header>,
    #[component(name = "headers-add")]
    pub headers_add: Vec<Header>,
    #[component(name = "headers-remove")]
    pub headers_remove: Vec<String>,
    #[component(name = "body-replace")]
    pub body_replace: Option<Vec<u8>>,
}

/// `action`: a module's answer.
#[derive(ComponentType, Lift, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
pub enum Action {
    #[component(name = "continue")]
    Continue,
    #[component(name = "reject")]
    Reject(u16),
    #[component(name = "modify")]
    Modify(ModifyAction),
}
