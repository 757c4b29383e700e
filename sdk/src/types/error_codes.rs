//! Every `error.code` (and `X-SMG-Error-Code` header) this gateway writes in decision D1's
//! error body, defined once so the gateway writes and clients compare the same spelling.
//! Upstream SMG writes other codes too; [`crate::ApiError::code`] stays a string.

/// 400: the request is malformed or a field is invalid.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// 401: no credential where one is required.
pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
/// 401: the API key or JWT is not valid here.
pub const INVALID_TOKEN: &str = "INVALID_TOKEN";
/// 401: the JWT has expired.
pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
/// 503: the JWKS needed to check a JWT could not be fetched.
pub const JWKS_UNAVAILABLE: &str = "JWKS_UNAVAILABLE";
/// 403: the route needs the admin role.
pub const ADMIN_ROLE_REQUIRED: &str = "ADMIN_ROLE_REQUIRED";
/// 404: no route for the path.
pub const NOT_FOUND: &str = "NOT_FOUND";
/// 405: the path exists but not with this method.
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
/// 501: the route is known but this gateway does not implement it.
pub const NOT_IMPLEMENTED: &str = "NOT_IMPLEMENTED";
/// 415: a JSON route got another content type.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
/// 422: valid JSON of the wrong shape.
pub const UNPROCESSABLE_ENTITY: &str = "UNPROCESSABLE_ENTITY";
/// 413: the body exceeds a size limit.
pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
/// 500: an unexpected failure inside the gateway.
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
/// 503: the gateway is shutting down.
pub const SHUTTING_DOWN: &str = "SHUTTING_DOWN";
/// 503: a background job queue is full; retry after `Retry-After`.
pub const JOB_QUEUE_FULL: &str = "JOB_QUEUE_FULL";

/// 404: no worker with this id (or URL).
pub const WORKER_NOT_FOUND: &str = "WORKER_NOT_FOUND";
/// 409: a worker with this URL is already registered.
pub const WORKER_ALREADY_EXISTS: &str = "WORKER_ALREADY_EXISTS";
/// 409: the worker is still being registered.
pub const WORKER_REGISTRATION_PENDING: &str = "WORKER_REGISTRATION_PENDING";
/// 409: the worker is being removed or retired.
pub const WORKER_BEING_REMOVED: &str = "WORKER_BEING_REMOVED";
/// 502: a worker could not be reached.
pub const WORKER_UNREACHABLE: &str = "WORKER_UNREACHABLE";
/// 504: a worker did not answer in time.
pub const WORKER_TIMEOUT: &str = "WORKER_TIMEOUT";
/// A worker's own error answer, passed on with its status.
pub const WORKER_ERROR: &str = "WORKER_ERROR";
/// 503: no ready worker for an inference request.
pub const NO_AVAILABLE_WORKERS: &str = "NO_AVAILABLE_WORKERS";
/// 404: a fleet operation (profiling) targeted no worker.
pub const NO_WORKERS_AVAILABLE: &str = "NO_WORKERS_AVAILABLE";
/// 503: no worker serves any model.
pub const NO_MODELS_AVAILABLE: &str = "NO_MODELS_AVAILABLE";
/// 503: no worker's metrics could be read.
pub const NO_METRICS_AVAILABLE: &str = "NO_METRICS_AVAILABLE";

/// 404: no tokenizer with this id or name.
pub const TOKENIZER_NOT_FOUND: &str = "TOKENIZER_NOT_FOUND";
/// 409: a tokenizer with this name already exists.
pub const TOKENIZER_ALREADY_EXISTS: &str = "TOKENIZER_ALREADY_EXISTS";
/// 503: the tokenizer is still loading.
pub const TOKENIZER_NOT_READY: &str = "TOKENIZER_NOT_READY";
/// 400: the text could not be tokenized.
pub const TOKENIZATION_ERROR: &str = "TOKENIZATION_ERROR";
/// 400: the tokens could not be decoded.
pub const DETOKENIZATION_ERROR: &str = "DETOKENIZATION_ERROR";

/// 400: no tool-call parser by that name.
pub const UNKNOWN_TOOL_PARSER: &str = "UNKNOWN_TOOL_PARSER";
/// 400: no reasoning parser by that name.
pub const UNKNOWN_REASONING_PARSER: &str = "UNKNOWN_REASONING_PARSER";
/// 400: the tool definitions are invalid.
pub const INVALID_TOOLS: &str = "INVALID_TOOLS";
/// 400: the parser could not parse the text.
pub const PARSE_FAILED: &str = "PARSE_FAILED";

/// 503: WASM middleware is disabled on this gateway.
pub const WASM_DISABLED: &str = "WASM_DISABLED";
/// 400: the multipart upload is malformed.
pub const INVALID_MULTIPART: &str = "INVALID_MULTIPART";
/// 400: the upload has no module file.
pub const MISSING_FILE: &str = "MISSING_FILE";
/// 400: the upload names no attach points.
pub const MISSING_ATTACH_POINTS: &str = "MISSING_ATTACH_POINTS";
/// 400: an attach point is not known.
pub const INVALID_ATTACH_POINTS: &str = "INVALID_ATTACH_POINTS";
/// 400: the module type is not known.
pub const INVALID_MODULE_TYPE: &str = "INVALID_MODULE_TYPE";
/// A WASM module rejected the request (with the module's status).
pub const WASM_MODULE_REJECTED: &str = "WASM_MODULE_REJECTED";

/// 409: a key with this id already exists.
pub const API_KEY_ALREADY_EXISTS: &str = "API_KEY_ALREADY_EXISTS";
/// 409: the secret is already used by another key.
pub const API_KEY_SECRET_IN_USE: &str = "API_KEY_SECRET_IN_USE";
/// 404: no key with this id.
pub const API_KEY_NOT_FOUND: &str = "API_KEY_NOT_FOUND";
/// 409: the key store is full.
pub const API_KEY_LIMIT_REACHED: &str = "API_KEY_LIMIT_REACHED";
/// 409: the change would leave no admin credential.
pub const LAST_ADMIN_CREDENTIAL: &str = "LAST_ADMIN_CREDENTIAL";

/// Every code above, for tests and documentation.
pub const ALL: &[&str] = &[
    BAD_REQUEST,
    UNAUTHORIZED,
    INVALID_TOKEN,
    TOKEN_EXPIRED,
    JWKS_UNAVAILABLE,
    ADMIN_ROLE_REQUIRED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    NOT_IMPLEMENTED,
    UNSUPPORTED_MEDIA_TYPE,
    UNPROCESSABLE_ENTITY,
    PAYLOAD_TOO_LARGE,
    INTERNAL_SERVER_ERROR,
    SHUTTING_DOWN,
    JOB_QUEUE_FULL,
    WORKER_NOT_FOUND,
    WORKER_ALREADY_EXISTS,
    WORKER_REGISTRATION_PENDING,
    WORKER_BEING_REMOVED,
    WORKER_UNREACHABLE,
    WORKER_TIMEOUT,
    WORKER_ERROR,
    NO_AVAILABLE_WORKERS,
    NO_WORKERS_AVAILABLE,
    NO_MODELS_AVAILABLE,
    NO_METRICS_AVAILABLE,
    TOKENIZER_NOT_FOUND,
    TOKENIZER_ALREADY_EXISTS,
    TOKENIZER_NOT_READY,
    TOKENIZATION_ERROR,
    DETOKENIZATION_ERROR,
    UNKNOWN_TOOL_PARSER,
    UNKNOWN_REASONING_PARSER,
    INVALID_TOOLS,
    PARSE_FAILED,
    WASM_DISABLED,
    INVALID_MULTIPART,
    MISSING_FILE,
    MISSING_ATTACH_POINTS,
    INVALID_ATTACH_POINTS,
    INVALID_MODULE_TYPE,
    WASM_MODULE_REJECTED,
    API_KEY_ALREADY_EXISTS,
    API_KEY_SECRET_IN_USE,
    API_KEY_NOT_FOUND,
    API_KEY_LIMIT_REACHED,
    LAST_ADMIN_CREDENTIAL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_upper_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL {
            assert!(seen.insert(*code), "{code} listed twice");
            assert!(
                !code.is_empty()
                    && code
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{code} is not UPPER_SNAKE_CASE"
            );
        }
        // Each constant is spelled as its name, so a code on the wire greps to its definition.
        let source = include_str!("error_codes.rs");
        for code in ALL {
            assert!(
                source.contains(&format!("pub const {code}: &str = \"{code}\";")),
                "{code} is not defined as its own name"
            );
        }
        assert_eq!(
            source.matches(": &str = \"").count(),
            ALL.len(),
            "a code is missing from ALL"
        );
    }
}
