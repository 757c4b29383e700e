//! `smgctl wasm add|list|remove`: WASM middleware modules (`/wasm`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use smg_sdk::{
    MiddlewareAttachPoint, WasmMetrics, WasmModule, WasmModuleAddResponse, WasmModuleDescriptor,
};

use crate::Ctx;
use crate::exit::{Exit, UsageError};
use crate::output::{Format, Listing, diag, render_table};
use crate::toolkit::Consent;

#[derive(Debug, Subcommand)]
pub enum WasmCmd {
    /// Register a module: upload FILE from this machine (default), or name a file on the
    /// gateway host with --remote-path (POST /wasm)
    Add(AddArgs),
    /// Registered modules with their attach points, executions, failures and timing (GET /wasm)
    #[command(visible_alias = "ls")]
    List,
    /// Remove a module (DELETE /wasm/UUID)
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is required.
    #[command(visible_alias = "rm")]
    Remove {
        /// Module UUID
        #[arg(value_name = "UUID")]
        uuid: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The component (.wasm): a local file, or with --remote-path an absolute path on the
    /// gateway host
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Module name [default: the file name without .wasm]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Where the module runs: on-request, on-response, on-error (comma-separated or repeated)
    #[arg(
        long,
        required = true,
        value_delimiter = ',',
        value_parser = parse_point,
        value_name = "POINTS"
    )]
    attach: Vec<MiddlewareAttachPoint>,
    /// FILE is a path on the gateway host: send the JSON descriptor instead of uploading
    #[arg(long)]
    remote_path: bool,
}

fn parse_point(raw: &str) -> Result<MiddlewareAttachPoint, String> {
    raw.parse()
}

/// `points` without repeats, in the order first given (`--attach a,b,a` is `a,b`).
fn unique(points: &[MiddlewareAttachPoint]) -> Vec<MiddlewareAttachPoint> {
    let mut out = Vec::with_capacity(points.len());
    for point in points {
        if !out.contains(point) {
            out.push(*point);
        }
    }
    out
}

pub async fn run(ctx: &Ctx, cmd: WasmCmd) -> Result<Exit> {
    match cmd {
        WasmCmd::Add(args) => add(ctx, args).await,
        WasmCmd::List => list(ctx).await,
        WasmCmd::Remove { uuid, yes } => remove(ctx, &uuid, yes).await,
    }
}

async fn add(ctx: &Ctx, args: AddArgs) -> Result<Exit> {
    let points = unique(&args.attach);
    let name = match &args.name {
        Some(name) if !name.trim().is_empty() => name.trim().to_string(),
        Some(_) => return Err(UsageError("--name must not be empty".into()).into()),
        None => args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "cannot derive a name from '{}'; pass --name",
                    args.file.display()
                ))
            })?,
    };
    let response = if args.remote_path {
        let path = args.file.to_string_lossy().into_owned();
        if !args.file.is_absolute() {
            return Err(UsageError(format!(
                "--remote-path needs an absolute path on the gateway host, got '{path}'"
            ))
            .into());
        }
        ctx.client
            .wasm()
            .add(vec![WasmModuleDescriptor::new(name, path, points)])
            .await?
    } else {
        let size = std::fs::metadata(&args.file)
            .wrap_err_with(|| format!("cannot read {}", args.file.display()))?
            .len();
        if size == 0 {
            return Err(eyre!("{} is empty", args.file.display()));
        }
        diag(format_args!(
            "uploading {} ({}) as '{name}'",
            args.file.display(),
            human_bytes(size)
        ));
        ctx.client
            .wasm()
            .upload_file(&args.file, &name, &points)
            .await?
    };
    print_added(ctx, &response)
}

fn print_added(ctx: &Ctx, response: &WasmModuleAddResponse) -> Result<Exit> {
    let exit = if response.all_succeeded() {
        Exit::Ok
    } else {
        Exit::Failure
    };
    if ctx.out.structured(response)? {
        return Ok(exit);
    }
    for module in &response.modules {
        match (module.uuid(), module.error()) {
            (Some(uuid), _) if ctx.out.format == Format::Name => ctx.out.line(uuid)?,
            (Some(uuid), _) => ctx.out.line(format!(
                "{} module '{}' ({uuid}) at {}",
                ctx.out.good("registered"),
                module.name,
                points_text(module.attach_points.iter().map(|p| p.middleware()))
            ))?,
            (None, error) => diag(format_args!(
                "error: module '{}' was not registered: {}",
                module.name,
                error.unwrap_or("no reason given")
            )),
        }
    }
    Ok(exit)
}

async fn list(ctx: &Ctx) -> Result<Exit> {
    let list = ctx.client.wasm().list().await?;
    let listing = Listing {
        items: &list.modules,
        name: |m| m.module_uuid.clone(),
        empty: Some("No WASM modules registered."),
        footer: Some(format!("\nAll modules: {}", metrics_text(&list.metrics))),
    };
    ctx.out
        .list(&list, listing, |modules| modules_table(ctx, modules))?;
    Ok(Exit::Ok)
}

fn modules_table(ctx: &Ctx, modules: &[WasmModule]) -> String {
    let wide = ctx.out.format == Format::Wide;
    let mut header = vec![
        "UUID",
        "NAME",
        "ATTACH",
        "EXECUTIONS",
        "FAILED",
        "AVG MS",
        "MAX MS",
        "SIZE",
    ];
    if wide {
        header.extend(["LAST RUN", "SHA256", "PATH"]);
    } else {
        header.push("AGE");
    }
    let now = Utc::now();
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| module_row(ctx, m, wide, now))
        .collect();
    render_table(&header, &rows)
}

fn module_row(ctx: &Ctx, m: &WasmModule, wide: bool, now: DateTime<Utc>) -> Vec<String> {
    let meta = &m.module_meta;
    let metrics = m.metrics.clone().unwrap_or_default();
    let executions = if m.metrics.is_some() {
        metrics.total_executions
    } else {
        meta.access_count
    };
    let failed = match &m.metrics {
        Some(metrics) if metrics.failed_executions > 0 => {
            ctx.out.bad(&metrics.failed_executions.to_string())
        }
        Some(metrics) => metrics.failed_executions.to_string(),
        None => "-".into(),
    };
    let avg = metrics
        .average_execution_time_ms
        .map_or_else(|| "-".into(), |ms| format!("{ms:.3}"));
    let max = if m.metrics.is_some() && executions > 0 {
        metrics.max_execution_time_ms.to_string()
    } else {
        "-".into()
    };
    let mut row = vec![
        m.module_uuid.clone(),
        meta.name.clone(),
        points_text(meta.attach_points.iter().map(|p| p.middleware())),
        executions.to_string(),
        failed,
        avg,
        max,
        human_bytes(meta.size_bytes),
    ];
    if wide {
        row.push(if executions > 0 {
            ago(now, meta.last_accessed_at)
        } else {
            "never".into()
        });
        row.push(meta.sha256_hash.clone());
        row.push(meta.file_path.clone());
    } else {
        row.push(ago(now, meta.created_at));
    }
    row
}

fn metrics_text(m: &WasmMetrics) -> String {
    let mut text = format!(
        "{} executions, {} succeeded, {} failed",
        m.total_executions, m.successful_executions, m.failed_executions
    );
    if let Some(avg) = m.average_execution_time_ms {
        text.push_str(&format!(
            ", avg {avg:.3} ms, max {} ms, total {} ms",
            m.max_execution_time_ms, m.total_execution_time_ms
        ));
    }
    text
}

fn points_text(points: impl Iterator<Item = MiddlewareAttachPoint>) -> String {
    let names: Vec<&str> = points.map(MiddlewareAttachPoint::kebab).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

fn human_bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f < KIB {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else {
        format!("{:.1} MiB", f / (KIB * KIB))
    }
}

fn ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

async fn remove(ctx: &Ctx, uuid: &str, yes: bool) -> Result<Exit> {
    let consent = Consent::require(ctx, yes, &format!("remove module {uuid}"))?;
    if !consent.confirm(&format!("Remove WASM module {uuid}?")) {
        return Ok(Exit::Failure);
    }
    let text = ctx.client.wasm().remove(uuid).await?;
    if ctx.out.format.is_structured() {
        ctx.out
            .document(&serde_json::json!({"module_uuid": uuid, "message": text.trim()}))?;
    } else if ctx.out.format == Format::Name {
        ctx.out.line(uuid)?;
    } else {
        ctx.out.line(format!("{} ({uuid})", text.trim()))?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_points_keep_their_first_order() {
        use MiddlewareAttachPoint::{OnError, OnRequest, OnResponse};
        assert_eq!(
            unique(&[OnError, OnRequest, OnError, OnResponse, OnRequest]),
            [OnError, OnRequest, OnResponse]
        );
    }

    #[test]
    fn formats() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(
            points_text(
                [
                    MiddlewareAttachPoint::OnRequest,
                    MiddlewareAttachPoint::OnError
                ]
                .into_iter()
            ),
            "on-request,on-error"
        );
        let m = WasmMetrics {
            total_executions: 4,
            successful_executions: 3,
            failed_executions: 1,
            total_execution_time_ms: 1002,
            max_execution_time_ms: 1000,
            average_execution_time_ms: Some(250.5),
        };
        assert_eq!(
            metrics_text(&m),
            "4 executions, 3 succeeded, 1 failed, avg 250.500 ms, max 1000 ms, total 1002 ms"
        );
    }
}
