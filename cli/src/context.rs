//! `smgctl context …`: named gateway connections in the config file. Tokens are stored (the
//! file is written 0600) but never printed.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr, bail};
use serde::Serialize;
use smg_sdk::SecretString;
use smg_sdk::config::{ConfigFile, Context};

use crate::exit::{Exit, UsageError};
use crate::output::{self, Listing, Output, diag, render_table};
use crate::{GlobalArgs, config_path};

#[derive(Debug, Subcommand)]
pub enum ContextCmd {
    /// List the contexts (tokens are never shown: `set` or the token file's path)
    #[command(visible_alias = "ls")]
    List,
    /// Make NAME the current context
    Use {
        /// Context name
        name: String,
    },
    /// Create or update a context
    ///
    /// --url, --token and --api-key are taken from the command line only, never from SMG_URL,
    /// SMG_ADMIN_TOKEN or SMG_API_KEY. Fields not given keep their value when the context
    /// exists. The first context created becomes the current one.
    Set(SetArgs),
    /// Delete a context
    #[command(visible_alias = "rm")]
    Delete {
        /// Context name
        name: String,
    },
    /// Print the name of the current context
    Current,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Context name
    name: String,
    /// Read the admin token from FILE each time (instead of storing it with --token)
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// A context as shown by `context list -o json|yaml`: secrets replaced by `set`.
#[derive(Debug, Serialize)]
struct ContextView<'a> {
    name: &'a str,
    current: bool,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct ContextListView<'a> {
    current_context: Option<&'a str>,
    contexts: Vec<ContextView<'a>>,
}

pub fn run(cmd: ContextCmd, global: &GlobalArgs, matches: &ArgMatches) -> Result<Exit> {
    let path = config_path(global)?;
    let mut file = ConfigFile::load(&path)?;
    let out = Output::new(
        global.output,
        output::color_enabled(global.no_color),
        global.jq_filter.clone(),
    );
    match cmd {
        ContextCmd::List => list(&out, &file),
        ContextCmd::Current => match &file.current_context {
            Some(name) => {
                out.line(name)?;
                Ok(Exit::Ok)
            }
            None => bail!(
                "no current context is set in {} (smgctl context use NAME)",
                path.display()
            ),
        },
        ContextCmd::Use { name } => {
            if !file.contexts.contains_key(&name) {
                bail!(smg_sdk::config::ConfigError::UnknownContext(name));
            }
            file.current_context = Some(name.clone());
            file.save(&path)?;
            out.line(format_args!("switched to context \"{name}\""))?;
            Ok(Exit::Ok)
        }
        ContextCmd::Delete { name } => {
            if file.contexts.remove(&name).is_none() {
                bail!(smg_sdk::config::ConfigError::UnknownContext(name));
            }
            let was_current = file.current_context.as_deref() == Some(name.as_str());
            if was_current {
                file.current_context = None;
            }
            file.save(&path)?;
            out.line(format_args!("deleted context \"{name}\""))?;
            if was_current {
                diag(
                    "note: it was the current context; none is current now (smgctl context use NAME)",
                );
            }
            Ok(Exit::Ok)
        }
        ContextCmd::Set(args) => set(&out, &mut file, &path, args, global, matches),
    }
}

fn list(out: &Output, file: &ConfigFile) -> Result<Exit> {
    let current = file.current_context.as_deref();
    let views: Vec<ContextView<'_>> = file
        .contexts
        .iter()
        .map(|(name, ctx)| ContextView {
            name,
            current: current == Some(name.as_str()),
            url: &ctx.url,
            token: ctx.token.as_ref().map(|_| "set"),
            token_file: ctx.token_file.as_ref().map(|p| p.display().to_string()),
            api_key: ctx.api_key.as_ref().map(|_| "set"),
        })
        .collect();
    let doc = ContextListView {
        current_context: current,
        contexts: views,
    };
    let listing = Listing {
        items: &doc.contexts,
        name: |v| v.name.to_string(),
        empty: Some("No contexts defined (smgctl context set NAME --url URL)."),
        footer: None,
    };
    out.list(&doc, listing, contexts_table)?;
    Ok(Exit::Ok)
}

fn contexts_table(contexts: &[ContextView<'_>]) -> String {
    let rows: Vec<Vec<String>> = contexts
        .iter()
        .map(|v| {
            let token = match (&v.token, &v.token_file) {
                (Some(_), _) => "set".to_string(),
                (None, Some(path)) => format!("file: {path}"),
                (None, None) => "-".to_string(),
            };
            vec![
                if v.current { "*" } else { "" }.to_string(),
                v.name.to_string(),
                v.url.to_string(),
                token,
                v.api_key.unwrap_or("-").to_string(),
            ]
        })
        .collect();
    render_table(&["CURRENT", "NAME", "URL", "TOKEN", "API KEY"], &rows)
}

/// The value of a global flag only when it was typed on the command line (not from its env var).
fn from_command_line(matches: &ArgMatches, id: &str, value: &Option<String>) -> Option<String> {
    let typed = leaf_matches(matches).value_source(id) == Some(ValueSource::CommandLine)
        || matches.value_source(id) == Some(ValueSource::CommandLine);
    if typed { value.clone() } else { None }
}

/// The matches of the innermost subcommand.
fn leaf_matches(matches: &ArgMatches) -> &ArgMatches {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m
}

fn set(
    out: &Output,
    file: &mut ConfigFile,
    path: &std::path::Path,
    args: SetArgs,
    global: &GlobalArgs,
    matches: &ArgMatches,
) -> Result<Exit> {
    let url = from_command_line(matches, "url", &global.url);
    let token = from_command_line(matches, "token", &global.token);
    let api_key = from_command_line(matches, "api_key", &global.api_key);
    if token.is_some() && args.token_file.is_some() {
        return Err(UsageError("--token and --token-file cannot be used together".into()).into());
    }
    if args.name.trim().is_empty() {
        return Err(UsageError("the context name must not be empty".into()).into());
    }
    let exists = file.contexts.contains_key(&args.name);
    if !exists && url.is_none() {
        return Err(UsageError(format!(
            "context \"{}\" does not exist yet: --url is required to create it",
            args.name
        ))
        .into());
    }
    if let Some(url) = &url {
        // Validate early: a context with a bad URL would fail every later command.
        smg_sdk::Client::builder(url.clone())
            .build()
            .wrap_err("invalid --url")?;
    }
    let entry = file.contexts.entry(args.name.clone()).or_insert(Context {
        url: String::new(),
        ..Default::default()
    });
    if let Some(url) = url {
        entry.url = url;
    }
    if let Some(token) = token {
        entry.token = Some(SecretString::new(token));
        entry.token_file = None;
    }
    if let Some(token_file) = args.token_file {
        let absolute = std::path::absolute(&token_file).unwrap_or(token_file);
        if let Err(e) = std::fs::metadata(&absolute) {
            diag(format_args!(
                "warning: cannot read token file {}: {e}",
                absolute.display()
            ));
        }
        entry.token_file = Some(absolute);
        entry.token = None;
    }
    if let Some(key) = api_key {
        entry.api_key = Some(SecretString::new(key));
    }
    let became_current = file.current_context.is_none();
    if became_current {
        file.current_context = Some(args.name.clone());
    }
    file.save(path)?;
    let verb = if exists { "updated" } else { "created" };
    let suffix = if became_current {
        " (now the current context)"
    } else {
        ""
    };
    out.line(format_args!("{verb} context \"{}\"{suffix}", args.name))?;
    Ok(Exit::Ok)
}
