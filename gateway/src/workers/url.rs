//! Worker URL rules (upstream `validate_worker_url`).

use smg_sdk::ConnectionMode;

/// Check a worker URL and return the connection mode its scheme implies.
pub fn validate_worker_url(raw: &str) -> Result<ConnectionMode, String> {
    let invalid = |why: &str| format!("Invalid value for field 'worker_url': {raw} - {why}");
    let scheme_rule =
        "URL must start with a lowercase http://, https://, grpc://, grpcs:// or ipc:// scheme";
    let (mode, rest) = [
        ("http://", ConnectionMode::Http),
        ("https://", ConnectionMode::Http),
        ("grpc://", ConnectionMode::Grpc),
        ("grpcs://", ConnectionMode::Grpc),
        ("ipc://", ConnectionMode::Zmq),
    ]
    .iter()
    .find_map(|(prefix, mode)| raw.strip_prefix(prefix).map(|rest| (*mode, rest)))
    .ok_or_else(|| invalid(scheme_rule))?;

    if raw.chars().any(char::is_whitespace) {
        return Err(invalid("URL must not contain whitespace"));
    }
    if mode == ConnectionMode::Zmq {
        if rest.is_empty() {
            return Err(invalid("ipc:// URL needs a socket path"));
        }
        return Ok(mode);
    }
    let parsed = url::Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(mode),
        _ => Err(invalid("URL must include a host")),
    }
}

/// The URL without a trailing slash, so paths can be appended.
pub fn base_url(url: &str) -> &str {
    url.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_scheme() {
        assert_eq!(validate_worker_url("http://a:1"), Ok(ConnectionMode::Http));
        assert_eq!(
            validate_worker_url("https://a.b/x"),
            Ok(ConnectionMode::Http)
        );
        assert_eq!(
            validate_worker_url("grpc://localhost:50051"),
            Ok(ConnectionMode::Grpc)
        );
        assert_eq!(validate_worker_url("grpcs://h:1"), Ok(ConnectionMode::Grpc));
        assert_eq!(
            validate_worker_url("ipc:///tmp/sock"),
            Ok(ConnectionMode::Zmq)
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "localhost:8000",
            "HTTP://a:1",
            "ftp://a",
            "http://",
            "ipc://",
            "http://a b:1",
            "",
        ] {
            let err = validate_worker_url(bad).unwrap_err();
            assert!(
                err.contains("Invalid value for field 'worker_url'"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn base_url_trims() {
        assert_eq!(base_url("http://a:1/"), "http://a:1");
    }
}
