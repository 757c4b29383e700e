//! `smgctl whoami`: who the admin token authenticates as (`GET /admin/whoami`).

use color_eyre::eyre::Result;

use crate::Ctx;
use crate::exit::Exit;
use crate::output::{Format, render_kv};

pub async fn run(ctx: &Ctx) -> Result<Exit> {
    let me = ctx.client.whoami().await?;
    if ctx.out.structured(&me)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        ctx.out.line(&me.id)?;
        return Ok(Exit::Ok);
    }
    let access = if me.is_admin() {
        "control plane and serving routes"
    } else {
        "serving routes only (the control plane needs the admin role)"
    };
    let rows = vec![
        ("Principal", me.id.clone()),
        ("Name", me.name.clone().unwrap_or_else(|| "-".into())),
        ("Role", me.role.to_string()),
        ("Auth method", me.auth_method.clone()),
        ("Access", access.to_string()),
    ];
    ctx.out.write(&render_kv(&rows))?;
    if me.auth_method == "none" {
        crate::output::diag(
            "warning: the gateway's control plane has no credentials configured; anyone who can reach it is an admin",
        );
    }
    Ok(Exit::Ok)
}
