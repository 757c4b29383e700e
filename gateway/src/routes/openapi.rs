//! The OpenAPI 3.1 document of this gateway (`GET /openapi.json`, decision D7).
//!
//! Every route is registered with `utoipa_axum::routes!` from a handler carrying
//! `#[utoipa::path]`, so a route and its documentation are one definition; the schemas are the
//! `smg-sdk` wire types themselves (their `openapi` feature derives `ToSchema`).
//!
//! Documenting a new route: put `#[utoipa::path(METHOD, path = "…", tag = "…", responses(…))]`
//! on its handler, listing the success body and the errors the handler itself answers, and
//! register it with `.routes(routes!(handler))` in its group in `routes/mod.rs`. What every
//! route of a group shares is added here by [`Group::apply`]: the credential (security scheme),
//! the auth failures (401/403/503), and the extractor failures of a JSON body (400/413/415/422)
//! or of a path parameter (400). `tests/openapi.rs` fails if a route and the document disagree.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use smg_sdk::ErrorBody;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

/// Security scheme of the control-plane routes.
pub const ADMIN_SCHEME: &str = "admin_bearer";
/// Security scheme of the serving routes.
pub const SERVING_SCHEME: &str = "serving_api_key";
/// Response header repeating a D1 error's `code`.
const ERROR_CODE_HEADER: &str = "X-SMG-Error-Code";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shepherd Model Gateway (SMG) compatible gateway",
        description = "Control plane (workers, loads, KV cache, tokenizers, WASM middleware, parsers, \
API keys, audit log) and data plane of the gateway. Every JSON error is \
`{\"error\":{\"message\",\"type\",\"code\"}}` with the header `X-SMG-Error-Code`; the text bodies \
are `/health`, `/liveness`, `/engine_metrics` and `DELETE /wasm/{module_uuid}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "health", description = "Liveness, readiness and worker info (public)"),
        (name = "models", description = "Models the gateway routes to (public)"),
        (name = "workers", description = "The worker registry"),
        (name = "loads", description = "Engine loads and the KV cache, fanned out to the workers"),
        (name = "tokenizers", description = "Tokenizer registry, tokenize and detokenize"),
        (name = "wasm", description = "WASM middleware modules"),
        (name = "parse", description = "Replay model output through the gateway's parsers"),
        (name = "admin", description = "Runtime API keys, the audit log and whoami (additions to upstream)"),
        (name = "ha", description = "Reserved for HA cluster routes (decision D4); not built yet"),
        (name = "inference", description = "Serving routes, proxied to a worker"),
        (name = "openapi", description = "This document"),
    ),
)]
struct ApiDoc;

/// The route groups, each with its own credential and middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// No credential.
    Public,
    /// Admin token (API key or JWT with the admin role); audited.
    ControlPlane,
    /// Serving API key, when one is configured.
    Serving,
}

impl Group {
    /// Add what every operation of this group shares to each operation of `doc`.
    pub fn apply(self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                self.apply_to(path, method, op);
            }
        }
    }

    fn apply_to(self, path: &str, method: &str, op: &mut Operation) {
        use SharedError::*;
        operation_id(path, method, op);
        // A route that passes a worker's answer through (it documents `default`) reads its
        // body as bytes: it has no JSON extractor, so none of its rejections.
        let passes_through = op.responses.responses.contains_key("default");
        let json_body = op
            .request_body
            .as_ref()
            .is_some_and(|b| b.content.contains_key("application/json"));
        if json_body && !passes_through {
            MalformedJson.add_to(op);
            PayloadTooLarge.add_to(op);
            UnsupportedMediaType.add_to(op);
            WrongShape.add_to(op);
        }
        let has_path_params = op
            .parameters
            .iter()
            .flatten()
            .any(|p| p.parameter_in == ParameterIn::Path);
        if has_path_params {
            BadPathSegment.add_to(op);
        }
        let scheme = match self {
            Self::Public => return,
            Self::ControlPlane => ADMIN_SCHEME,
            Self::Serving => SERVING_SCHEME,
        };
        op.security = Some(vec![SecurityRequirement::new(scheme, Vec::<String>::new())]);
        Unauthorized.add_to(op);
        match self {
            Self::Serving => WasmRefused.add_to(op),
            _ => {
                JwksUnavailable.add_to(op);
                if !(path == "/admin/whoami" && method == "get") {
                    Forbidden.add_to(op);
                }
                // The body of a change is read for the audit log before the handler runs.
                if method != "get" && !path.starts_with("/parse/") {
                    PayloadTooLarge.add_to(op);
                }
            }
        }
    }
}

/// Handler names repeat across resources (`get`, `list`, `delete`): prefix the tag, so every
/// operation id is unique; an operation without one is named by its method and path.
fn operation_id(path: &str, method: &str, op: &mut Operation) {
    let tag = op.tags.iter().flatten().next().cloned().unwrap_or_default();
    let id = match op.operation_id.take() {
        Some(handler) => format!("{tag}_{handler}"),
        None => {
            let words: Vec<&str> = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let trailing_slash = if path.len() > 1 && path.ends_with('/') {
                "_index"
            } else {
                ""
            };
            format!("{method}_{}{trailing_slash}", words.join("_"))
        }
    };
    op.operation_id = Some(id);
}

/// Error answers many operations share, documented once under `components/responses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedError {
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    WrongShape,
    BadPathSegment,
    Unauthorized,
    Forbidden,
    JwksUnavailable,
    WasmRefused,
    HaNotAvailable,
}

impl SharedError {
    const ALL: [Self; 10] = [
        Self::MalformedJson,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::WrongShape,
        Self::BadPathSegment,
        Self::Unauthorized,
        Self::Forbidden,
        Self::JwksUnavailable,
        Self::WasmRefused,
        Self::HaNotAvailable,
    ];

    /// The status key (`default` for any status) and the description.
    fn status_and_description(self) -> (&'static str, &'static str) {
        match self {
            Self::MalformedJson => ("400", "The body is not valid JSON (`BAD_REQUEST`)"),
            Self::PayloadTooLarge => (
                "413",
                "The body is larger than the gateway's limit (`PAYLOAD_TOO_LARGE`)",
            ),
            Self::UnsupportedMediaType => (
                "415",
                "The body is not `application/json` (`UNSUPPORTED_MEDIA_TYPE`)",
            ),
            Self::WrongShape => (
                "422",
                "The JSON body does not have the documented shape (`UNPROCESSABLE_ENTITY`)",
            ),
            Self::BadPathSegment => ("400", "A path segment cannot be decoded (`BAD_REQUEST`)"),
            Self::Unauthorized => (
                "401",
                "Missing, unknown, disabled or expired credential (`UNAUTHORIZED`, \
                 `INVALID_TOKEN`, `TOKEN_EXPIRED`), with `WWW-Authenticate: Bearer`",
            ),
            Self::Forbidden => (
                "403",
                "The credential does not have the admin role (`ADMIN_ROLE_REQUIRED`)",
            ),
            Self::JwksUnavailable => (
                "503",
                "JWTs cannot be checked: the identity provider's keys could not be loaded \
                 (`JWKS_UNAVAILABLE`); API keys still work",
            ),
            Self::WasmRefused => (
                "default",
                "A WASM middleware module (`--enable-wasm`) refused the request with its own \
                 status",
            ),
            Self::HaNotAvailable => (
                "501",
                "HA cluster routes are not available in this version (`NOT_IMPLEMENTED`)",
            ),
        }
    }

    fn name(self) -> String {
        format!("{self:?}")
    }

    /// Document this error on `op`, unless the handler documents its status itself.
    pub fn add_to(self, op: &mut Operation) {
        let (status, _) = self.status_and_description();
        op.responses
            .responses
            .entry(status.into())
            .or_insert_with(|| {
                RefOr::Ref(Ref::new(format!("#/components/responses/{}", self.name())))
            });
    }
}

/// Every operation of a path item, with its lower-case method.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// A response with D1's body and the `X-SMG-Error-Code` header.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .header(
            ERROR_CODE_HEADER,
            utoipa::openapi::HeaderBuilder::new()
                .schema(<String as utoipa::PartialSchema>::schema())
                .description(Some("The error's `code`"))
                .build(),
        )
        .build()
}

/// The finished document: the shared parts, then every group's routes.
pub fn document(
    groups: impl IntoIterator<Item = (Group, utoipa::openapi::OpenApi)>,
) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        ADMIN_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "Control-plane routes: `Authorization: Bearer <token>` with an admin key \
                     (`--control-plane-api-keys`, or a runtime key of role `admin`) or a JWT \
                     with the admin role. While no control-plane credential exists, the serving \
                     `--api-key` is accepted (upstream's fallback), and without any credential \
                     a gateway on loopback accepts requests without one.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        SERVING_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "Serving routes: `Authorization: Bearer <key>` with the `--api-key` or a \
                     runtime API key. Required only once a serving credential is configured.",
                ))
                .build(),
        ),
    );
    for error in SharedError::ALL {
        let (_, description) = error.status_and_description();
        components
            .responses
            .insert(error.name(), RefOr::T(error_response(description)));
    }
    for (group, mut part) in groups {
        group.apply(&mut part);
        doc.merge(part);
    }
    doc
}

/// The serialised document, shared by every request for it.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

impl OpenApiJson {
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        // Serialising plain data cannot fail; an empty document would make that visible.
        Self(serde_json::to_vec(doc).unwrap_or_default().into())
    }
}

/// `GET /openapi.json`: this document. Public, like `/health`: it describes the API, holds no
/// secret, and a client or fuzzer needs it before it has a credential.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn serve(Extension(doc): Extension<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}
