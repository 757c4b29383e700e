//! `smgctl health|ready|models|server-info|model-info|version`.

use color_eyre::eyre::Result;
use serde::Serialize;
use smg_sdk::{ModelList, ReadinessResponse};

use crate::exit::{self, Exit, HintScope};
use crate::output::{self, Format, Output, diag, render_kv, render_table};
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
    if ctx.out.structured(&list)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        for m in &list.data {
            ctx.out.line(&m.id)?;
        }
        return Ok(Exit::Ok);
    }
    if list.data.is_empty() {
        diag("No models found.");
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<String>> = list
        .data
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
    ctx.out
        .write(&render_table(&["ID", "OWNED BY", "CREATED"], &rows))?;
    Ok(Exit::Ok)
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
    server: Option<String>,
}

/// Never fails hard: an unreachable server is reported on stderr with exit 1.
pub async fn version(global: &GlobalArgs, ctx: Result<Ctx>) -> Result<Exit> {
    let client_version = env!("CARGO_PKG_VERSION");
    let (out, server) = match ctx {
        Ok(ctx) => {
            let server = match ctx.client.server_info().await {
                Ok(info) => match info.get("version").and_then(|v| v.as_str()) {
                    Some(v) => Ok(v.to_string()),
                    None => Err("unknown (no version in /get_server_info)".to_string()),
                },
                Err(e) => {
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
                    Err(format!("{word} ({})", report.message))
                }
            };
            (ctx.out, server)
        }
        Err(e) => {
            let report = exit::report(&e, None, HintScope::Other);
            (
                Output::new(global.output, output::color_enabled(global.no_color)),
                Err(format!("unknown ({})", report.message)),
            )
        }
    };
    let view = VersionView {
        client: client_version,
        server: server.as_ref().ok().cloned(),
    };
    if !out.structured(&view)? {
        out.line(format_args!("client: smgctl {client_version}"))?;
        if let Ok(v) = &server {
            out.line(format_args!("server: {v}"))?;
        }
    }
    match server {
        Ok(_) => Ok(Exit::Ok),
        Err(why) => {
            diag(format_args!("server: {why}"));
            Ok(Exit::Failure)
        }
    }
}
