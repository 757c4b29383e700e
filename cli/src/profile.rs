//! `smgctl profile start|stop`: the workers' engine profiler, through the gateway's fan-out
//! (`POST /start_profile`, `POST /stop_profile`).

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;
use smg_sdk::{ProfileOptions, ProfileResponse, StartProfileRequest, StopProfileRequest};

use crate::Ctx;
use crate::exit::{Exit, NotFoundError, UsageError};
use crate::output::{Format, diag};

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Start profiling every worker, or one (POST /start_profile)
    ///
    /// Exit 5 when some workers failed (they are named on stderr), 3 when no worker matched
    /// --worker. A worker may take long to start its profiler: raise --timeout if needed.
    Start(StartArgs),
    /// Stop profiling every worker, or one (POST /stop_profile); the same exit codes as start
    Stop {
        /// Only the registered worker with exactly this URL
        #[arg(long, value_name = "URL")]
        worker: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Only the registered worker with exactly this URL
    #[arg(long, value_name = "URL")]
    worker: Option<String>,
    /// Directory on the worker host the trace is written to [worker default]
    #[arg(long, value_name = "DIR")]
    output_dir: Option<String>,
    /// Steps to record before the profiler stops on its own [worker default: until stopped]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    num_steps: Option<i32>,
    /// Step to start recording at
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    start_step: Option<i32>,
    /// What to record, e.g. CPU, GPU, MEM (repeatable, or comma-separated)
    #[arg(long = "activity", value_name = "NAME", value_delimiter = ',')]
    activities: Vec<String>,
    /// Record Python stacks
    #[arg(long)]
    with_stack: bool,
    /// Record tensor shapes
    #[arg(long)]
    record_shapes: bool,
    /// One trace per engine stage
    #[arg(long)]
    profile_by_stage: bool,
}

impl StartArgs {
    fn request(&self) -> Result<StartProfileRequest> {
        let worker = non_empty(self.worker.as_deref(), "--worker")?;
        let output_dir = non_empty(self.output_dir.as_deref(), "--output-dir")?;
        let activities: Vec<String> = self
            .activities
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        Ok(StartProfileRequest {
            url: worker,
            options: ProfileOptions {
                output_dir,
                start_step: self.start_step,
                num_steps: self.num_steps,
                activities: (!activities.is_empty()).then_some(activities),
                // Flags: only what was asked is sent, so the worker's defaults stay in force.
                with_stack: self.with_stack.then_some(true),
                record_shapes: self.record_shapes.then_some(true),
                profile_by_stage: self.profile_by_stage,
            },
        })
    }
}

fn non_empty(value: Option<&str>, flag: &str) -> Result<Option<String>> {
    match value.map(str::trim) {
        Some("") => Err(UsageError(format!("{flag} must not be empty")).into()),
        other => Ok(other.map(str::to_string)),
    }
}

pub async fn run(ctx: &Ctx, cmd: ProfileCmd) -> Result<Exit> {
    match cmd {
        ProfileCmd::Start(args) => {
            let request = args.request()?;
            let answer = ctx.client.start_profile(&request).await;
            report(ctx, "start", request.url.as_deref(), answer)
        }
        ProfileCmd::Stop { worker } => {
            let request = StopProfileRequest {
                url: non_empty(worker.as_deref(), "--worker")?,
            };
            let answer = ctx.client.stop_profile(&request).await;
            report(ctx, "stop", request.url.as_deref(), answer)
        }
    }
}

fn report(
    ctx: &Ctx,
    action: &str,
    worker: Option<&str>,
    answer: smg_sdk::Result<ProfileResponse>,
) -> Result<Exit> {
    let resp = match answer {
        Ok(resp) => resp,
        // 404: nothing to profile; say which filter matched nothing.
        Err(e) if e.is_not_found() && !e.is_unsupported() => {
            let message = e.api().map(|a| a.message.clone()).unwrap_or_default();
            let what = match worker {
                Some(url) => format!(
                    "no registered worker has the URL {url} (see smgctl workers list; the URL \
                     must match exactly)"
                ),
                None => "no worker to profile: the gateway has no registered worker".into(),
            };
            return Err(NotFoundError(format!("{what} [{message}]")).into());
        }
        Err(e) => return Err(e.into()),
    };
    if !ctx.out.structured(&resp)? {
        if ctx.out.format == Format::Name {
            for url in resp.successful.iter().flatten() {
                ctx.out.line(url)?;
            }
        } else {
            ctx.out.write(&summary(ctx, &resp))?;
        }
    }
    if !resp.is_partial() {
        return Ok(Exit::Ok);
    }
    let failed: Vec<String> = resp
        .failures()
        .iter()
        .map(|f| format!("{} ({})", f.worker, f.error))
        .collect();
    diag(format_args!(
        "error: profiler {action} failed on {} of {} workers: {}",
        resp.failures().len(),
        resp.total_workers,
        failed.join(", ")
    ));
    Ok(Exit::Partial)
}

fn summary(ctx: &Ctx, resp: &ProfileResponse) -> String {
    let counts = format!(
        "{} of {} workers",
        resp.workers_profiled, resp.total_workers
    );
    let failures = resp.failures();
    crate::loads::fanout_summary(
        ctx,
        &resp.status,
        resp.is_partial(),
        &resp.message,
        &counts,
        failures,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: ProfileCmd,
    }

    fn start(args: &[&str]) -> StartProfileRequest {
        let mut argv = vec!["x", "start"];
        argv.extend(args);
        match Wrap::try_parse_from(argv).unwrap().cmd {
            ProfileCmd::Start(a) => a.request().unwrap(),
            ProfileCmd::Stop { .. } => unreachable!(),
        }
    }

    #[test]
    fn only_given_options_are_sent() {
        let body = serde_json::to_value(start(&[])).unwrap();
        assert_eq!(body, serde_json::json!({"profile_by_stage": false}));
        let body = serde_json::to_value(start(&[
            "--worker",
            "http://w:1",
            "--output-dir",
            "/tmp/t",
            "--num-steps",
            "5",
            "--activity",
            "CPU,GPU",
            "--activity",
            "MEM",
            "--with-stack",
        ]))
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"url": "http://w:1", "output_dir": "/tmp/t", "num_steps": 5,
                "activities": ["CPU", "GPU", "MEM"], "with_stack": true,
                "profile_by_stage": false})
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Wrap::try_parse_from(["x", "start", "--num-steps", "0"]).is_err());
        let ProfileCmd::Start(args) = Wrap::try_parse_from(["x", "start", "--worker", " "])
            .unwrap()
            .cmd
        else {
            unreachable!()
        };
        assert!(args.request().is_err());
    }
}
