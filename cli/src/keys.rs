//! `smgctl keys …`: runtime API keys (`/admin/api-keys`). The secret of `create` and `rotate`
//! is printed to stdout once (alone on a line in table mode, so `$(smgctl keys create …)`
//! captures it), with a warning on stderr.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::{Result, WrapErr, eyre};
use smg_sdk::{ApiKeyCreateRequest, ApiKeyInfo, ApiKeyUpdateRequest, Role, SecretString};

use crate::Ctx;
use crate::exit::{Exit, UsageError};
use crate::output::{Format, Listing, diag, render_kv, render_table};
use crate::toolkit::Consent;

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create a key (POST /admin/api-keys); prints its secret once
    Create(CreateArgs),
    /// List keys, masked, with the active/expired/disabled summary (GET /admin/api-keys)
    #[command(visible_alias = "ls")]
    List,
    /// Show one key, masked (GET /admin/api-keys/ID)
    Get {
        /// Key id
        id: String,
    },
    /// Change a key's name, description, role, expiry or enabled flag (PUT /admin/api-keys/ID)
    Update(UpdateArgs),
    /// Replace a key's secret (POST /admin/api-keys/ID/rotate); prints the new secret once
    ///
    /// The old secret stops working at once. Asks for confirmation on a terminal; without a
    /// terminal, --yes is required.
    Rotate {
        /// Key id
        id: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Re-enable a key (POST /admin/api-keys/ID/enable)
    Enable {
        /// Key id
        id: String,
    },
    /// Suspend a key without deleting it (POST /admin/api-keys/ID/disable)
    Disable {
        /// Key id
        id: String,
    },
    /// Revoke and remove a key (DELETE /admin/api-keys/ID)
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is required.
    #[command(visible_alias = "rm")]
    Delete {
        /// Key id
        id: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `--role`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    User,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::User => Role::User,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Key id (1-128 of A-Z a-z 0-9 . _ -)
    #[arg(long, value_name = "ID")]
    id: String,
    /// Label [gateway default: the id]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Role: admin (control plane) or user (serving routes) [gateway default: user]
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<RoleArg>,
    /// Notes
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Expiry instant (RFC 3339, e.g. 2027-01-01T00:00:00Z)
    #[arg(long, value_name = "TIME", conflicts_with = "expires_in", value_parser = parse_time)]
    expires_at: Option<DateTime<Utc>>,
    /// Expiry as a duration from now (e.g. 30d, 12h)
    #[arg(long, value_name = "DURATION", value_parser = smg_sdk::config::parse_duration)]
    expires_in: Option<Duration>,
    /// Create the key disabled
    #[arg(long)]
    disabled: bool,
    /// File holding a custom secret (16-256 printable characters); generated when absent
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Key id
    id: String,
    /// New label
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// New role
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<RoleArg>,
    /// New notes (empty clears them)
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// New expiry instant (RFC 3339)
    #[arg(long, value_name = "TIME", conflicts_with_all = ["expires_in", "no_expiry"], value_parser = parse_time)]
    expires_at: Option<DateTime<Utc>>,
    /// New expiry as a duration from now (e.g. 30d)
    #[arg(long, value_name = "DURATION", conflicts_with = "no_expiry", value_parser = smg_sdk::config::parse_duration)]
    expires_in: Option<Duration>,
    /// Remove the expiry
    #[arg(long)]
    no_expiry: bool,
    /// Enable the key
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable the key
    #[arg(long)]
    disable: bool,
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time such as 2027-01-01T00:00:00Z: {e}"))
}

fn from_now(d: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| UsageError("the expiry duration is too large".into()).into())
}

pub async fn run(ctx: &Ctx, cmd: KeysCmd) -> Result<Exit> {
    match cmd {
        KeysCmd::Create(args) => create(ctx, args).await,
        KeysCmd::List => list(ctx).await,
        KeysCmd::Get { id } => {
            let key = ctx.client.keys().get(&id).await?;
            print_key(ctx, &key)?;
            Ok(Exit::Ok)
        }
        KeysCmd::Update(args) => update(ctx, args).await,
        KeysCmd::Rotate { id, yes } => rotate(ctx, &id, yes).await,
        KeysCmd::Enable { id } => {
            let done = ctx.client.keys().enable(&id).await?;
            print_action(ctx, &done, "enabled")
        }
        KeysCmd::Disable { id } => {
            let done = ctx.client.keys().disable(&id).await?;
            print_action(ctx, &done, "disabled")
        }
        KeysCmd::Delete { id, yes } => {
            let consent = Consent::require(ctx, yes, &format!("delete API key '{id}'"))?;
            if !consent.confirm(&format!(
                "Delete API key '{id}'? Clients using it stop working"
            )) {
                return Ok(Exit::Failure);
            }
            let done = ctx.client.keys().delete(&id).await?;
            print_action(ctx, &done, "deleted")
        }
    }
}

fn warn_shown_once() {
    diag("warning: this is the only time the key is shown; store it securely now");
}

async fn create(ctx: &Ctx, args: CreateArgs) -> Result<Exit> {
    let key = match &args.key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .wrap_err_with(|| format!("cannot read the key file {}", path.display()))?;
            let key = text.trim();
            if key.is_empty() {
                return Err(eyre!("the key file {} is empty", path.display()));
            }
            Some(SecretString::new(key))
        }
        None => None,
    };
    let expires_at = match (args.expires_at, args.expires_in) {
        (Some(t), _) => Some(t),
        (None, Some(d)) => Some(from_now(d)?),
        (None, None) => None,
    };
    let request = ApiKeyCreateRequest {
        id: args.id,
        name: args.name,
        description: args.description,
        role: args.role.map(Role::from),
        expires_at,
        enabled: args.disabled.then_some(false),
        key,
    };
    let created = ctx.client.keys().create(&request).await?;
    if ctx.out.structured(&created)? {
        warn_shown_once();
        return Ok(Exit::Ok);
    }
    ctx.out.line(created.key.expose())?;
    diag(format_args!(
        "created API key '{}' (role {}, {}{})",
        created.id,
        created.role,
        created.masked_key,
        if created.enabled { "" } else { ", disabled" }
    ));
    warn_shown_once();
    Ok(Exit::Ok)
}

async fn list(ctx: &Ctx) -> Result<Exit> {
    let list = ctx.client.keys().list().await?;
    let listing = Listing {
        items: &list.keys,
        name: |k| k.id.clone(),
        empty: Some("No API keys found."),
        footer: None,
    };
    ctx.out.list(&list, listing, |keys| {
        // The summary counts every key, so it only follows a table.
        let s = &list.summary;
        format!(
            "{}\n{} keys: {} active, {} expired, {} disabled\n",
            keys_table(ctx, keys),
            s.total,
            s.active,
            s.expired,
            s.disabled
        )
    })?;
    Ok(Exit::Ok)
}

fn keys_table(ctx: &Ctx, keys: &[ApiKeyInfo]) -> String {
    let wide = ctx.out.format == Format::Wide;
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let mut row = vec![
                k.id.clone(),
                k.name.clone(),
                k.role.to_string(),
                status(ctx, k),
                k.masked_key.clone(),
                k.expires_at.map_or("-".into(), |t| format_time(&t)),
            ];
            if wide {
                row.push(format_time(&k.created_at));
                row.push(k.created_by.clone().unwrap_or_else(|| "-".into()));
                row.push(k.description.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let header: &[&str] = if wide {
        &[
            "ID",
            "NAME",
            "ROLE",
            "STATUS",
            "KEY",
            "EXPIRES",
            "CREATED",
            "CREATED BY",
            "DESCRIPTION",
        ]
    } else {
        &["ID", "NAME", "ROLE", "STATUS", "KEY", "EXPIRES"]
    };
    render_table(header, &rows)
}

fn status(ctx: &Ctx, k: &ApiKeyInfo) -> String {
    if !k.enabled {
        ctx.out.bad("disabled")
    } else if k.is_expired {
        ctx.out.bad("expired")
    } else {
        ctx.out.good("active")
    }
}

fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn print_key(ctx: &Ctx, k: &ApiKeyInfo) -> Result<()> {
    if ctx.out.structured(k)? {
        return Ok(());
    }
    if ctx.out.format == Format::Name {
        return ctx.out.line(&k.id);
    }
    let rows: Vec<(&str, String)> = vec![
        ("ID", k.id.clone()),
        ("Name", k.name.clone()),
        ("Role", k.role.to_string()),
        ("Status", status(ctx, k)),
        ("Key", k.masked_key.clone()),
        (
            "Expires",
            k.expires_at.map_or("never".into(), |t| format_time(&t)),
        ),
        ("Created", format_time(&k.created_at)),
        ("Updated", format_time(&k.updated_at)),
        (
            "Created by",
            k.created_by.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "Description",
            k.description.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    ctx.out.write(&render_kv(&rows))
}

fn print_action(ctx: &Ctx, done: &smg_sdk::ApiKeyActionResponse, what: &str) -> Result<Exit> {
    if ctx.out.structured(done)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        ctx.out.line(&done.id)?;
    } else {
        ctx.out.line(format_args!("API key '{}' {what}", done.id))?;
    }
    Ok(Exit::Ok)
}

async fn update(ctx: &Ctx, args: UpdateArgs) -> Result<Exit> {
    let expires_at = if args.no_expiry {
        Some(None)
    } else if let Some(t) = args.expires_at {
        Some(Some(t))
    } else if let Some(d) = args.expires_in {
        Some(Some(from_now(d)?))
    } else {
        None
    };
    let update = ApiKeyUpdateRequest {
        name: args.name,
        description: args.description,
        role: args.role.map(Role::from),
        enabled: if args.enable {
            Some(true)
        } else if args.disable {
            Some(false)
        } else {
            None
        },
        expires_at,
    };
    if update.is_empty() {
        return Err(UsageError(
            "nothing to update: give at least one of --name, --role, --description, \
             --expires-at, --expires-in, --no-expiry, --enable, --disable"
                .into(),
        )
        .into());
    }
    let done = ctx.client.keys().update(&args.id, &update).await?;
    if let Some(key) = &done.key
        && !ctx.out.format.is_structured()
        && ctx.out.format != Format::Name
    {
        ctx.out
            .line(format_args!("API key '{}' updated", done.id))?;
        return print_key(ctx, key).map(|()| Exit::Ok);
    }
    print_action(ctx, &done, "updated")
}

async fn rotate(ctx: &Ctx, id: &str, yes: bool) -> Result<Exit> {
    let consent = Consent::require(ctx, yes, &format!("rotate API key '{id}'"))?;
    if !consent.confirm(&format!(
        "Rotate API key '{id}'? Its current secret stops working at once"
    )) {
        return Ok(Exit::Failure);
    }
    let rotated = ctx.client.keys().rotate(id).await?;
    if ctx.out.structured(&rotated)? {
        warn_shown_once();
        return Ok(Exit::Ok);
    }
    ctx.out.line(rotated.new_key.expose())?;
    diag(format_args!(
        "rotated API key '{}' (now {}); the previous secret no longer works",
        rotated.id, rotated.masked_key
    ));
    warn_shown_once();
    Ok(Exit::Ok)
}
