//! `smgctl health|ready|models|server-info|model-info|version`.

use color_eyre::eyre::Result;
use serde::Serialize;
use smg_sdk::{GatewayKind, ModelList, ModelObject, ReadinessResponse};

use crate::exit::{self, Exit, HintScope};
use crate::output::{self, Listing, Output, diag, render_kv, render_table};
use crate::{Ctx, GlobalArgs};

/// `health -o json|yaml`.
#[derive(Debug, Serialize)]
struct HealthView<'a> {
    liveness: &'a str,
    readiness: &'a ReadinessResponse,
}

fn readiness_text(r: &ReadinessResponse) -> String {
    if r.is_ready() {
        match (r.healthy_workers, r.total_workers) {
            (Some(h), Some(t)) => format!("{} ({h}/{t} workers healthy)", r.status),
            _ => r.status.clone(),
        }
    } else {
        match &r.reason {
            Some(reason) => format!("{}: {reason}", r.status),
            None => r.status.clone(),
        }
    }
}

pub async fn health(ctx: &Ctx) -> Result<Exit> {
    let liveness = ctx.client.liveness().await?;
    let liveness = liveness.trim();
    let readiness = ctx.client.readiness().await?;
    if ctx.out.structured(&HealthView {
        liveness,
        readiness: &readiness,
    })? {
        return Ok(Exit::Ok);
    }
    let ready = readiness_text(&readiness);
    let ready = if readiness.is_ready() {
        ctx.out.good(&ready)
    } else {
        ctx.out.bad(&ready)
    };
    ctx.out.write(&render_kv(&[
        ("Gateway", ctx.url.clone()),
        ("Liveness", ctx.out.good(liveness)),
        ("Readiness", ready),
    ]))?;
    Ok(Exit::Ok)
}

pub async fn ready(ctx: &Ctx) -> Result<Exit> {
    let readiness = ctx.client.readiness().await?;
    if !ctx.out.structured(&readiness)? {
        ctx.out.line(readiness_text(&readiness))?;
    }
    Ok(if readiness.is_ready() {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

pub async fn models(ctx: &Ctx) -> Result<Exit> {
    let list: ModelList = ctx.client.models().await?;
    let listing = Listing {
        items: &list.data,
        name: |m| m.id.clone(),
        empty: Some("No models found."),
        footer: None,
    };
    ctx.out.list(&list, listing, models_table)?;
    Ok(Exit::Ok)
}

fn models_table(models: &[ModelObject]) -> String {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            let created = u64::try_from(m.created)
                .ok()
                .filter(|s| *s > 0)
                .map(|s| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
                    )
                    .to_string()
                })
                .unwrap_or_else(|| "-".into());
            vec![m.id.clone(), m.owned_by.clone(), created]
        })
        .collect();
    render_table(&["ID", "OWNED BY", "CREATED"], &rows)
}

pub async fn server_info(ctx: &Ctx) -> Result<Exit> {
    let info = ctx.client.server_info().await?;
    ctx.out.document(&info)?;
    Ok(Exit::Ok)
}

pub async fn model_info(ctx: &Ctx) -> Result<Exit> {
    let info = ctx.client.model_info().await?;
    ctx.out.document(&info)?;
    Ok(Exit::Ok)
}

/// `version -o json|yaml`.
#[derive(Debug, Serialize)]
struct VersionView<'a> {
    client: &'a str,
    /// The gateway's version, when it reports one (a string, as before `gateway_kind` existed,
    /// so scripts reading `.gateway` keep working).
    gateway: Option<String>,
    /// What the gateway is: this project's (by its `X-SMG-Version` header) or upstream SMG
    /// (by the version in its loads bodies).
    gateway_kind: Option<GatewayKind>,
    /// The engine version a worker reports in `/get_server_info`, if any worker does.
    worker: Option<String>,
}

/// Client, gateway and worker versions. Exit 0 when the gateway answered, else 1 with the
/// reason on stderr (the client version is printed either way).
pub async fn version(global: &GlobalArgs, ctx: Result<Ctx>) -> Result<Exit> {
    let client_version = env!("CARGO_PKG_VERSION");
    let (out, gateway, worker) = match ctx {
        Ok(ctx) => {
            let (gateway, info) = tokio::join!(ctx.client.identity(), ctx.client.server_info());
            let gateway = gateway.map_err(|e| {
                let unreachable = matches!(
                    e,
                    smg_sdk::Error::Connect { .. }
                        | smg_sdk::Error::Timeout { .. }
                        | smg_sdk::Error::Http(_)
                );
                let report = exit::report(&e.into(), Some(&ctx.url), HintScope::Other);
                let word = if unreachable {
                    "unreachable"
                } else {
                    "unknown"
                };
                format!("{word} ({})", report.message)
            });
            // A worker's version is extra information: no ready worker is not an error.
            let worker = info.ok().and_then(|info| {
                info.get("version")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            });
            (ctx.out, gateway, worker)
        }
        Err(e) => {
            let report = exit::report(&e, None, HintScope::Other);
            (
                Output::new(
                    global.output,
                    output::color_enabled(global.no_color),
                    global.jq_filter.clone(),
                ),
                Err(format!("unknown ({})", report.message)),
                None,
            )
        }
    };
    let identity = gateway.as_ref().ok();
    let view = VersionView {
        client: client_version,
        gateway: identity.and_then(|g| g.version.clone()),
        gateway_kind: identity.map(|g| g.kind),
        worker,
    };
    if !out.structured(&view)? {
        out.line(format_args!("client: smgctl {client_version}"))?;
        if let Some(g) = identity {
            out.line(format_args!("gateway: {g}"))?;
        }
        if let Some(v) = &view.worker {
            out.line(format_args!("worker: {v}"))?;
        }
    }
    match gateway {
        Ok(_) => Ok(Exit::Ok),
        Err(why) => {
            diag(format_args!("gateway: {why}"));
            Ok(Exit::Failure)
        }
    }
}
