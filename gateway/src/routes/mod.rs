//! The HTTP layer: route table and middleware. Handlers are thin: parse, call the domain,
//! map errors to decision D1's body.

mod admin;
mod auth;
pub mod extract;
pub mod inference;
pub mod openapi;
mod parse;
mod public;
mod tokenizers;
mod wasm;
mod workers;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::any;
use axum::{Extension, Router, middleware};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;
use crate::request_id::request_id;
use openapi::{Group, OpenApiJson};
use smg_sdk::error_codes;

/// The route table, in three groups with their own middleware:
/// - public: no auth (health, readiness, models, info, the load monitor's `/loads`, this API's
///   document);
/// - control plane: admin auth and the audit log (workers, loads, cache, profiling, parse,
///   tokenizers, wasm, `/admin/*`, `/ha/*`);
/// - serving: the serving API key and WASM middleware (inference, tokenize).
///
/// Every route is added with `routes!(handler)`, so it is documented in `/openapi.json` by its
/// handler's `#[utoipa::path]` (see [`openapi`]).
pub fn router(state: AppState) -> Router {
    let (router, _) = router_and_document(state);
    router
}

/// The router and the OpenAPI document of its routes.
pub fn router_and_document(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (public, mut public_doc) = OpenApiRouter::new()
        .routes(routes!(public::liveness))
        .routes(routes!(public::health))
        .routes(routes!(public::readiness))
        .routes(routes!(public::health_generate))
        .routes(routes!(public::engine_metrics))
        .routes(routes!(public::models))
        .routes(routes!(public::loads))
        .routes(routes!(public::get_model_info))
        .routes(routes!(public::get_server_info))
        .routes(routes!(openapi::serve))
        .split_for_parts();
    // A model id may hold `/` (`meta-llama/Llama-3.1-8B-Instruct`), so its route is a wildcard,
    // which an OpenAPI path cannot write: routed by hand, documented by its handler.
    let public = public.route("/v1/models/{*model_id}", axum::routing::get(public::model));
    public_doc.merge(
        utoipa::openapi::OpenApiBuilder::new()
            .paths(utoipa::openapi::path::PathsBuilder::new().path_from::<public::__path_model>())
            .build(),
    );

    let (control_plane, mut control_plane_doc) = OpenApiRouter::new()
        .routes(routes!(workers::create, workers::list))
        .routes(routes!(
            workers::get,
            workers::update,
            workers::replace,
            workers::delete
        ))
        .routes(routes!(workers::retire))
        .routes(routes!(workers::flush))
        .routes(routes!(admin::get_loads))
        .routes(routes!(admin::flush_cache))
        .routes(routes!(admin::start_profile))
        .routes(routes!(admin::stop_profile))
        .merge(wasm::router(&state))
        .routes(routes!(tokenizers::add, tokenizers::list))
        .routes(routes!(tokenizers::get, tokenizers::delete))
        .routes(routes!(tokenizers::status))
        .merge(auth::admin_routes())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(parse::function_call))
                .routes(routes!(parse::reasoning))
                .routes(routes!(parse::list))
                .layer(DefaultBodyLimit::max(state.config.max_parse_body_bytes)),
        )
        .split_for_parts();
    // Decision D4 reserves `/ha/*`; cluster HA is not built yet, so every method and path
    // there answers 501 — behind admin auth, so it never leaks more than the other routes.
    // `{*rest}` cannot be written in an OpenAPI path, so these three are documented by hand.
    let control_plane = control_plane
        .route("/ha", any(ha_not_available))
        .route("/ha/", any(ha_not_available))
        .route("/ha/{*rest}", any(ha_not_available));
    control_plane_doc.merge(ha_document());

    let (serving, serving_doc) = OpenApiRouter::<AppState>::new()
        .routes(routes!(tokenizers::tokenize))
        .routes(routes!(tokenizers::detokenize))
        .merge(inference::router())
        .split_for_parts();

    // Serving auth (`--api-key`, runtime keys), inside the WASM middleware as upstream orders
    // them (WASM → serving auth); it covers every serving route added above.
    let serving = serving.layer(middleware::from_fn_with_state(
        state.clone(),
        auth::serving_auth,
    ));
    // WASM middleware: outermost on the serving group, so keep this after its last route.
    let serving = crate::wasm::layer(serving, state.wasm.clone());

    let document = openapi::document([
        (Group::Public, public_doc),
        (Group::ControlPlane, control_plane_doc),
        (Group::Serving, serving_doc),
    ]);
    let max_body = state.config.max_payload_size;
    let router = public
        .merge(control_plane.layer(middleware::from_fn_with_state(
            state.clone(),
            auth::control_plane_auth,
        )))
        .merge(serving)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(OpenApiJson::new(&document)))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(request_id))
        .layer(middleware::map_response(crate::info::version_header))
        .with_state(state);
    (router, document)
}

/// `/ha`, `/ha/` and `/ha/{rest}` (any number of segments), every method: 501.
fn ha_document() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, PathItem};
    let methods = [
        HttpMethod::Get,
        HttpMethod::Put,
        HttpMethod::Post,
        HttpMethod::Delete,
        HttpMethod::Options,
        HttpMethod::Head,
        HttpMethod::Patch,
        HttpMethod::Trace,
    ];
    let operation = |rest: bool| {
        let op = OperationBuilder::new()
            .tag("ha")
            .summary(Some("Reserved for HA cluster routes; answers 501"));
        let mut op = if rest {
            op.parameter(
                ParameterBuilder::new()
                    .name("rest")
                    .parameter_in(utoipa::openapi::path::ParameterIn::Path)
                    .required(utoipa::openapi::Required::True)
                    .description(Some("The rest of the path (one or more segments)"))
                    .schema(Some(<String as utoipa::PartialSchema>::schema())),
            )
            .build()
        } else {
            op.build()
        };
        openapi::SharedError::HaNotAvailable.add_to(&mut op);
        op
    };
    let mut doc = utoipa::openapi::OpenApi::default();
    for (path, rest) in [("/ha", false), ("/ha/", false), ("/ha/{rest}", true)] {
        doc.paths.paths.insert(
            path.into(),
            PathItem::new(methods[0].clone(), operation(rest)),
        );
        if let Some(item) = doc.paths.paths.get_mut(path) {
            for method in &methods[1..] {
                item.merge_operations(PathItem::new(method.clone(), operation(rest)));
            }
        }
    }
    doc
}

async fn ha_not_available() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        error_codes::NOT_IMPLEMENTED,
        "HA cluster routes (/ha/*) are not available in this version of the gateway",
    )
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        error_codes::NOT_FOUND,
        format!("No route for {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        error_codes::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
