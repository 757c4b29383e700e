//! `smgctl tokenizers …` (the registry: list, get, status, add, delete) and `smgctl tokenize` /
//! `smgctl detokenize` (serving routes, with the API key).

use std::io::Read;
use std::time::Duration;

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr};
use smg_sdk::{
    AddTokenizerRequest, DetokenizeRequest, DetokenizedText, JobState, TokenizeRequest,
    TokenizeResponse, TokenizerInfo, TokenizerStatus,
};

use crate::Ctx;
use crate::exit::{Exit, HintScope, UsageError};
use crate::output::{Format, Listing, diag, render_kv, render_table};
use crate::toolkit::{Consent, SEVERAL_IDS_HELP, Spinner, Targets, plural};

#[derive(Debug, Subcommand)]
pub enum TokenizersCmd {
    /// List tokenizers with their load status (GET /v1/tokenizers)
    #[command(visible_alias = "ls")]
    List,
    /// Show one tokenizer, by id or name (GET /v1/tokenizers/ID)
    Get {
        /// Tokenizer id or name
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Load status, by id or name; a failed load shows its reason (GET /v1/tokenizers/ID/status)
    Status {
        /// Tokenizer id or name
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
    /// Register a tokenizer (POST /v1/tokenizers)
    ///
    /// SOURCE is a directory or tokenizer.json on the gateway host, or a Hugging Face model id
    /// (ORG/NAME[@REVISION]) the gateway fetches. The gateway answers 202 and loads it in the
    /// background; --wait follows the load until it is ready or failed.
    Add(AddArgs),
    /// Remove tokenizers, by id or name (DELETE /v1/tokenizers/ID)
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is required.
    #[command(visible_alias = "rm", after_help = SEVERAL_IDS_HELP)]
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Unique name; `smgctl tokenize --model NAME` uses it
    name: String,
    /// Directory or tokenizer.json on the gateway host, or a Hugging Face model id
    source: String,
    /// Chat template file on the gateway host (.jinja, or JSON with a chat_template field);
    /// overrides the one found beside the tokenizer
    #[arg(long, value_name = "FILE")]
    chat_template: Option<String>,
    /// Wait until the tokenizer is loaded (exit 1 with the reason if the load fails)
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "5m", value_name = "DURATION", requires = "wait")]
    wait_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Tokenizer ids or names
    #[arg(required = true, value_name = "ID|NAME")]
    ids: Vec<String>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Tokenizer name or id
    #[arg(short, long, value_name = "NAME")]
    model: String,
    /// Text to tokenize; `-` or nothing reads stdin, without its one final line break (`\n`
    /// or `\r\n`, as `echo` and editors add), so pipe with `printf` to keep one
    #[arg(value_name = "TEXT")]
    text: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetokenizeArgs {
    /// Tokenizer name or id
    #[arg(short, long, value_name = "NAME")]
    model: String,
    /// Token ids, separated by spaces or commas (`[1, 2]` works too)
    #[arg(required = true, value_name = "IDS", num_args = 1..)]
    ids: Vec<String>,
    /// Keep special tokens in the text (they are skipped by default)
    #[arg(long)]
    keep_special_tokens: bool,
}

pub async fn run(ctx: &Ctx, cmd: TokenizersCmd) -> Result<Exit> {
    match cmd {
        TokenizersCmd::List => list(ctx).await,
        TokenizersCmd::Get { id } => {
            let info = ctx.client.tokenizers().get(&id).await?;
            if ctx.out.structured(&info)? {
                return Ok(Exit::Ok);
            }
            if ctx.out.format == Format::Name {
                ctx.out.line(&info.id)?;
                return Ok(Exit::Ok);
            }
            ctx.out.write(&details(ctx, &info))?;
            Ok(Exit::Ok)
        }
        TokenizersCmd::Status { id } => {
            let status = ctx.client.tokenizers().status(&id).await?;
            print_status(ctx, &status)?;
            Ok(Exit::Ok)
        }
        TokenizersCmd::Add(args) => add(ctx, args).await,
        TokenizersCmd::Delete(args) => delete(ctx, args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// list, get, status

fn state_text(ctx: &Ctx, state: Option<JobState>) -> String {
    match state {
        None | Some(JobState::Completed) => ctx.out.good("completed"),
        Some(JobState::Failed) => ctx.out.bad("failed"),
        Some(other) => other.to_string(),
    }
}

async fn list(ctx: &Ctx) -> Result<Exit> {
    let list = ctx.client.tokenizers().list().await?;
    let listing = Listing {
        items: &list.tokenizers,
        name: |t| t.name.clone(),
        empty: Some("No tokenizers found."),
        footer: None,
    };
    ctx.out.list(&list, listing, |tokenizers| {
        tokenizers_table(ctx, tokenizers)
    })?;
    Ok(Exit::Ok)
}

fn tokenizers_table(ctx: &Ctx, tokenizers: &[TokenizerInfo]) -> String {
    let wide = ctx.out.format == Format::Wide;
    let rows: Vec<Vec<String>> = tokenizers
        .iter()
        .map(|t| {
            let id = if wide {
                t.id.clone()
            } else {
                t.short_id().to_string()
            };
            let mut row = vec![
                t.name.clone(),
                id,
                t.source.clone(),
                vocab_text(t),
                yes_no(t.chat_template).into(),
                state_text(ctx, t.status),
            ];
            if wide {
                row.push(t.message.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let header: &[&str] = if wide {
        &[
            "NAME", "ID", "SOURCE", "VOCAB", "TEMPLATE", "STATUS", "MESSAGE",
        ]
    } else {
        &["NAME", "ID", "SOURCE", "VOCAB", "TEMPLATE", "STATUS"]
    };
    render_table(header, &rows)
}

fn vocab_text(t: &TokenizerInfo) -> String {
    if t.is_loaded() {
        t.vocab_size.to_string()
    } else {
        "-".into()
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn details(ctx: &Ctx, t: &TokenizerInfo) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", t.id.clone()),
        ("Name", t.name.clone()),
        ("Source", t.source.clone()),
        ("Status", state_text(ctx, t.status)),
        ("Vocab size", vocab_text(t)),
        ("Chat template", yes_no(t.chat_template).into()),
    ];
    if let Some(message) = &t.message {
        rows.push(("Message", message.clone()));
    }
    render_kv(&rows)
}

fn print_status(ctx: &Ctx, status: &TokenizerStatus) -> Result<()> {
    if ctx.out.structured(status)? {
        return Ok(());
    }
    if ctx.out.format == Format::Name {
        return ctx.out.line(&status.id);
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", status.id.clone()),
        ("Status", state_text(ctx, Some(status.status))),
        ("Message", status.message.clone()),
    ];
    if let Some(vocab) = status.vocab_size {
        rows.push(("Vocab size", vocab.to_string()));
    }
    ctx.out.write(&render_kv(&rows))
}

// ---------------------------------------------------------------------------------------------
// add, delete

/// `./x` and `../x` mean the caller's directory, not the gateway's: send them absolute.
fn absolute_if_relative(path: &str) -> String {
    let explicit = path == "." || path.starts_with("./") || path.starts_with("../");
    if !explicit {
        return path.to_string();
    }
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

async fn add(ctx: &Ctx, args: AddArgs) -> Result<Exit> {
    let mut request = AddTokenizerRequest::new(&args.name, absolute_if_relative(&args.source));
    if let Some(template) = &args.chat_template {
        request = request.with_chat_template(absolute_if_relative(template));
    }
    let tokenizers = ctx.client.tokenizers();
    let added = tokenizers.add(&request).await?;
    let accepted = format!(
        "tokenizer {} accepted (id {}), loading from {}",
        args.name, added.id, request.source
    );
    if !args.wait {
        if ctx.out.structured(&added)? {
            return Ok(Exit::Ok);
        }
        if ctx.out.format == Format::Name {
            ctx.out.line(&added.id)?;
        } else {
            ctx.out.line(accepted)?;
        }
        return Ok(Exit::Ok);
    }
    if !ctx.out.format.is_structured() && ctx.out.format != Format::Name {
        ctx.out.line(accepted)?;
    }
    let spinner = Spinner::start(ctx, format!("waiting for tokenizer {} to load", args.name));
    let result = tokenizers
        .wait_for_tokenizer(&added.id, args.wait_timeout)
        .await;
    drop(spinner);
    match result {
        Ok(status) => {
            print_status(ctx, &status)?;
            Ok(Exit::Ok)
        }
        Err(smg_sdk::Error::JobFailed { message, .. }) => {
            diag(format_args!(
                "error: tokenizer {} did not load: {message}",
                args.name
            ));
            Ok(Exit::Failure)
        }
        Err(smg_sdk::Error::WaitTimeout { waited, .. }) => {
            diag(format_args!(
                "error: timed out after {} waiting for tokenizer {} to load; see: smgctl \
                 tokenizers status {}",
                humantime::format_duration(Duration::from_secs(waited.as_secs())),
                args.name,
                added.id
            ));
            Ok(Exit::WaitTimeout)
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(ctx: &Ctx, args: DeleteArgs) -> Result<Exit> {
    let what = plural(args.ids.len(), "tokenizer");
    let consent = Consent::require(ctx, args.yes, &format!("delete {what}"))?;
    if !consent.confirm(&format!("Delete {what} ({})?", args.ids.join(", "))) {
        return Ok(Exit::Failure);
    }
    // Ids and names go as given: the gateway resolves a name.
    let targets = Targets::new(ctx, "tokenizer", HintScope::Other, args.ids);
    targets
        .run(async |id| {
            let deleted = ctx.client.tokenizers().delete(id).await?;
            if ctx.out.structured(&deleted)? {
                return Ok(());
            }
            if ctx.out.format == Format::Name {
                ctx.out.line(id)
            } else {
                ctx.out.line(&deleted.message)
            }
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// tokenize, detokenize

pub async fn tokenize(ctx: &Ctx, args: TokenizeArgs) -> Result<Exit> {
    let text = match args.text.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .wrap_err("cannot read the text to tokenize from stdin")?;
            strip_final_newline(text)
        }
        Some(text) => text.to_string(),
    };
    let request = TokenizeRequest::new(&args.model, text).with_token_strs();
    let answer = ctx.client.tokenize(&request).await?;
    let (tokens, count, char_count, strs) = match &answer {
        TokenizeResponse::Single {
            tokens,
            count,
            char_count,
            token_strs,
        } => (tokens, *count, *char_count, token_strs.clone()),
        TokenizeResponse::Batch { .. } => {
            // A single prompt never gets the batch shape; print what came anyway.
            ctx.out.document(&answer)?;
            return Ok(Exit::Ok);
        }
    };
    if ctx.out.structured(&answer)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        for id in tokens {
            ctx.out.line(id)?;
        }
        return Ok(Exit::Ok);
    }
    // A gateway that ignores `return_token_strs` (upstream SMG): decode each token alone.
    let pieces = match strs {
        Some(strs) if strs.len() == tokens.len() => strs,
        _ => pieces_by_decoding(ctx, &args.model, tokens).await?,
    };
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .zip(&pieces)
        .enumerate()
        .map(|(i, (id, piece))| vec![i.to_string(), id.to_string(), format!("{piece:?}")])
        .collect();
    if !rows.is_empty() {
        ctx.out.write(&render_table(&["#", "ID", "TOKEN"], &rows))?;
    }
    ctx.out.line(format_args!(
        "{count} {}, {char_count} {}",
        if count == 1 { "token" } else { "tokens" },
        if char_count == 1 {
            "character"
        } else {
            "characters"
        }
    ))?;
    Ok(Exit::Ok)
}

/// Drop exactly one trailing `\n` or `\r\n`: `echo hi | smgctl tokenize -` means `hi`.
fn strip_final_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

async fn pieces_by_decoding(ctx: &Ctx, model: &str, tokens: &[u32]) -> Result<Vec<String>> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let batch: Vec<Vec<u32>> = tokens.iter().map(|id| vec![*id]).collect();
    let request = DetokenizeRequest::new(model, batch).skip_special_tokens(false);
    let answer = ctx.client.detokenize(&request).await?;
    Ok(match answer.text {
        DetokenizedText::Batch(pieces) if pieces.len() == tokens.len() => pieces,
        _ => tokens.iter().map(|_| "?".to_string()).collect(),
    })
}

fn parse_ids(raw: &[String]) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for part in raw
        .iter()
        .flat_map(|s| s.split(|c: char| c == ',' || c.is_whitespace()))
        .map(|s| s.trim_matches(|c| c == '[' || c == ']'))
        .filter(|s| !s.is_empty())
    {
        let id = part.parse::<u32>().map_err(|_| {
            UsageError(format!(
                "'{part}' is not a token id (expected non-negative integers)"
            ))
        })?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(UsageError("give at least one token id".into()).into());
    }
    Ok(ids)
}

pub async fn detokenize(ctx: &Ctx, args: DetokenizeArgs) -> Result<Exit> {
    let ids = parse_ids(&args.ids)?;
    let request =
        DetokenizeRequest::new(&args.model, ids).skip_special_tokens(!args.keep_special_tokens);
    let answer = ctx.client.detokenize(&request).await?;
    if ctx.out.structured(&answer)? {
        return Ok(Exit::Ok);
    }
    match &answer.text {
        DetokenizedText::Single(text) => ctx.out.line(text)?,
        DetokenizedText::Batch(texts) => {
            for text in texts {
                ctx.out.line(text)?;
            }
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_in_every_spelling() {
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_ids(&raw(&["1", "2", "3"])).unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids(&raw(&["1,2, 3"])).unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids(&raw(&["[1, 2]"])).unwrap(), vec![1, 2]);
        assert!(parse_ids(&raw(&["-1"])).is_err());
        assert!(parse_ids(&raw(&["x"])).is_err());
        assert!(parse_ids(&raw(&[","])).is_err());
    }

    #[test]
    fn stdin_loses_exactly_one_final_line_break() {
        let strip = |s: &str| strip_final_newline(s.to_string());
        assert_eq!(strip("hi\n"), "hi");
        assert_eq!(strip("hi\r\n"), "hi");
        assert_eq!(strip("hi\n\n"), "hi\n");
        assert_eq!(strip("hi\r\n\r\n"), "hi\r\n");
        assert_eq!(strip("hi\r"), "hi\r");
        assert_eq!(strip("hi"), "hi");
        assert_eq!(strip("\n"), "");
        assert_eq!(strip(""), "");
    }

    #[test]
    fn explicit_relative_paths_become_absolute() {
        assert_eq!(absolute_if_relative("org/model"), "org/model");
        assert_eq!(absolute_if_relative("/abs/tok"), "/abs/tok");
        assert!(absolute_if_relative("./tok").starts_with('/'));
    }
}
