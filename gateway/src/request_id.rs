//! `x-request-id`: taken from the first present incoming id header, else generated with
//! upstream's per-route prefix; always echoed on the response.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use rand::distr::Alphanumeric;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const INCOMING: [&str; 4] = [
    "x-request-id",
    "x-correlation-id",
    "x-trace-id",
    "request-id",
];

/// The request's id, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn prefix_for(path: &str) -> &'static str {
    if path.ends_with("/chat/completions") {
        "chatcmpl-"
    } else if path.ends_with("/completions") {
        "cmpl-"
    } else if path.ends_with("/generate") {
        "gnt-"
    } else if path.ends_with("/responses") {
        "resp-"
    } else if path.ends_with("/messages") {
        "msg_"
    } else {
        "req-"
    }
}

pub fn generate(path: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{}{suffix}", prefix_for(path))
}

pub async fn request_id(mut request: Request, next: Next) -> Response {
    let incoming = INCOMING.iter().find_map(|name| {
        request
            .headers()
            .get(*name)
            .filter(|v| !v.is_empty() && v.len() <= 256)
            .cloned()
    });
    let value = match incoming {
        Some(v) => v,
        None => HeaderValue::from_str(&generate(request.uri().path()))
            .unwrap_or_else(|_| HeaderValue::from_static("req-invalid")),
    };
    let id = value.to_str().unwrap_or_default().to_string();
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, value.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_route() {
        assert!(generate("/v1/chat/completions").starts_with("chatcmpl-"));
        assert!(generate("/v1/completions").starts_with("cmpl-"));
        assert!(generate("/generate").starts_with("gnt-"));
        assert!(generate("/v1/messages").starts_with("msg_"));
        let id = generate("/workers");
        assert!(id.starts_with("req-") && id.len() == 28, "{id}");
    }
}
