//! `smgctl parse …`: replay a model's raw output through the gateway's tool-call and reasoning
//! parsers (`POST /parse/function_call`, `POST /parse/reasoning`) and list the parser names
//! (`GET /parse/parsers`).

use std::io::Read;
use std::path::Path;

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use smg_sdk::{FunctionCallParseResponse, ParserList, ReasoningParseResponse, Tool};

use crate::Ctx;
use crate::exit::{Exit, UsageError};
use crate::output::{Format, Listing, diag, render_table};

#[derive(Debug, Subcommand)]
pub enum ParseCmd {
    /// Extract tool calls from raw model output (POST /parse/function_call)
    ///
    /// The text comes from TEXT, from a file with @FILE, or from stdin with `-` (or when no
    /// TEXT is given and stdin is not a terminal). It is sent exactly as read: a trailing
    /// newline is part of the text. Prints the calls (NAME, ARGUMENTS) and the text outside
    /// them; -o json|yaml prints the gateway's response.
    #[command(visible_alias = "fc")]
    FunctionCall(FunctionCallArgs),
    /// Split raw model output into reasoning and answer (POST /parse/reasoning)
    ///
    /// The text comes from TEXT, from a file with @FILE, or from stdin with `-` (or when no
    /// TEXT is given and stdin is not a terminal), exactly as read.
    Reasoning(ReasoningArgs),
    /// List the tool-call and reasoning parser names the gateway knows (GET /parse/parsers)
    #[command(visible_alias = "ls")]
    List,
}

#[derive(Debug, Args)]
pub struct FunctionCallArgs {
    /// Tool-call parser name (see `smgctl parse list`), e.g. json, qwen, mistral, llama
    #[arg(short, long, value_name = "NAME")]
    parser: String,
    /// JSON file with the tools offered to the model: an array of OpenAI tools, or
    /// {"tools": [...]}; schema-aware parsers coerce argument types by it
    #[arg(long, value_name = "FILE")]
    tools: Option<String>,
    /// Raw model output; @FILE reads a file, `-` reads stdin
    #[arg(value_name = "TEXT", allow_hyphen_values = true)]
    text: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReasoningArgs {
    /// Reasoning parser name (see `smgctl parse list`), e.g. deepseek_r1, qwen3
    #[arg(short, long, value_name = "NAME")]
    parser: String,
    /// Raw model output; @FILE reads a file, `-` reads stdin
    #[arg(value_name = "TEXT", allow_hyphen_values = true)]
    text: Option<String>,
}

pub async fn run(ctx: &Ctx, cmd: ParseCmd) -> Result<Exit> {
    match cmd {
        ParseCmd::FunctionCall(args) => function_call(ctx, args).await,
        ParseCmd::Reasoning(args) => reasoning(ctx, args).await,
        ParseCmd::List => list(ctx).await,
    }
}

async fn function_call(ctx: &Ctx, args: FunctionCallArgs) -> Result<Exit> {
    let tools = match args.tools.as_deref() {
        Some(path) => read_tools(Path::new(path))?,
        None => Vec::new(),
    };
    let text = read_text(ctx, args.text.as_deref())?;
    let resp = ctx
        .client
        .parse_function_call(&text, &args.parser, &tools)
        .await?;
    if ctx.out.structured(&resp)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        for call in &resp.tool_calls {
            ctx.out.line(&call.function.name)?;
        }
        return Ok(Exit::Ok);
    }
    if resp.tool_calls.is_empty() {
        diag("No tool calls found.");
    }
    ctx.out.write(&function_call_view(&resp))?;
    Ok(Exit::Ok)
}

/// The calls as a table, then the remaining text (when there is any) under its own heading.
fn function_call_view(resp: &FunctionCallParseResponse) -> String {
    let mut out = String::new();
    if !resp.tool_calls.is_empty() {
        let rows: Vec<Vec<String>> = resp
            .tool_calls
            .iter()
            .map(|c| vec![c.function.name.clone(), compact(&c.function.arguments)])
            .collect();
        out.push_str(&render_table(&["NAME", "ARGUMENTS"], &rows));
    }
    if !resp.remaining_text.trim().is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("REMAINING TEXT\n");
        push_block(&mut out, &resp.remaining_text);
    }
    out
}

/// Arguments on one line: compact JSON when they parse, as sent otherwise.
fn compact(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| serde_json::to_string(&v).ok())
        .unwrap_or_else(|| arguments.replace('\n', " "))
}

async fn reasoning(ctx: &Ctx, args: ReasoningArgs) -> Result<Exit> {
    let text = read_text(ctx, args.text.as_deref())?;
    let resp = ctx.client.parse_reasoning(&text, &args.parser).await?;
    if ctx.out.structured(&resp)? {
        return Ok(Exit::Ok);
    }
    ctx.out.write(&reasoning_view(&resp))?;
    Ok(Exit::Ok)
}

/// Both parts under their own headings; an empty part shows `(empty)`.
fn reasoning_view(resp: &ReasoningParseResponse) -> String {
    let mut out = String::from("REASONING\n");
    push_block(&mut out, &resp.reasoning_text);
    out.push_str("\nNORMAL TEXT\n");
    push_block(&mut out, &resp.normal_text);
    out
}

/// `text` ending in a newline, or `(empty)` when there is nothing but whitespace.
fn push_block(out: &mut String, text: &str) {
    if text.trim().is_empty() {
        out.push_str("(empty)\n");
        return;
    }
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

async fn list(ctx: &Ctx) -> Result<Exit> {
    let list = ctx.client.parsers().await?;
    // Both kinds in one list of names, each with its kind: `-o name` prints them all.
    let names: Vec<String> = list
        .tool_call_parsers
        .iter()
        .map(|name| format!("tool-call/{name}"))
        .chain(
            list.reasoning_parsers
                .iter()
                .map(|name| format!("reasoning/{name}")),
        )
        .collect();
    let listing = Listing {
        items: &names,
        name: String::clone,
        // The two empty columns say it.
        empty: None,
        footer: None,
    };
    ctx.out.list(&list, listing, |_| list_table(&list))?;
    Ok(Exit::Ok)
}

/// Two columns side by side, each sorted as the gateway sent it.
fn list_table(list: &ParserList) -> String {
    let rows = list
        .tool_call_parsers
        .len()
        .max(list.reasoning_parsers.len());
    let cell = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = (0..rows)
        .map(|i| {
            vec![
                cell(&list.tool_call_parsers, i),
                cell(&list.reasoning_parsers, i),
            ]
        })
        .collect();
    render_table(&["TOOL-CALL PARSERS", "REASONING PARSERS"], &rows)
}

/// The text to parse: TEXT, `@FILE`, or stdin (`-`, or no TEXT while stdin is not a terminal).
fn read_text(ctx: &Ctx, arg: Option<&str>) -> Result<String> {
    match arg {
        Some("-") => read_stdin(),
        Some(arg) => match arg.strip_prefix('@') {
            Some(path) if !path.is_empty() => std::fs::read_to_string(path)
                .wrap_err_with(|| format!("cannot read the text file {path}")),
            Some(_) => Err(UsageError("'@' must be followed by a file name".into()).into()),
            None => Ok(arg.to_string()),
        },
        None if !ctx.stdin_tty => read_stdin(),
        None => Err(UsageError(
            "no text to parse: give TEXT, @FILE, or `-` to read stdin (or pipe it in)".into(),
        )
        .into()),
    }
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .wrap_err("cannot read the text to parse from stdin")?;
    Ok(text)
}

/// `--tools FILE`: a JSON array of OpenAI tools, or an object with a `tools` array.
fn read_tools(path: &Path) -> Result<Vec<Tool>> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read the tools file {}", path.display()))?;
    tools_from_json(&text).wrap_err_with(|| {
        format!(
            "{} is not a JSON array of OpenAI tools (or {{\"tools\": [...]}})",
            path.display()
        )
    })
}

fn tools_from_json(text: &str) -> Result<Vec<Tool>> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let tools = match value {
        serde_json::Value::Object(mut map) => match map.remove("tools") {
            Some(tools) => tools,
            None => return Err(eyre!("the object has no \"tools\" field")),
        },
        other => other,
    };
    Ok(serde_json::from_value(tools)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smg_sdk::{ParsedFunction, ParsedToolCall};

    #[test]
    fn tools_accept_an_array_or_a_tools_object() {
        let array =
            r#"[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#;
        let tools = tools_from_json(array).unwrap();
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].function.name, "f");
        let object = format!(r#"{{"tools":{array},"tool_choice":"auto"}}"#);
        assert_eq!(tools_from_json(&object).unwrap(), tools);
        assert!(tools_from_json(r#"{"name":"f"}"#).is_err());
        assert!(tools_from_json(r#"[{"type":"function"}]"#).is_err());
        assert!(tools_from_json("not json").is_err());
    }

    #[test]
    fn function_call_view_shows_calls_then_text() {
        let resp = FunctionCallParseResponse {
            remaining_text: "Let me check.".into(),
            tool_calls: vec![ParsedToolCall {
                function: ParsedFunction {
                    name: "get_weather".into(),
                    arguments: "{\"city\": \"SF\"}".into(),
                },
            }],
            success: true,
        };
        assert_eq!(
            function_call_view(&resp),
            "NAME          ARGUMENTS\nget_weather   {\"city\":\"SF\"}\n\nREMAINING TEXT\nLet me check.\n"
        );
        let none = FunctionCallParseResponse {
            remaining_text: "  \n".into(),
            tool_calls: vec![],
            success: true,
        };
        assert_eq!(function_call_view(&none), "");
    }

    #[test]
    fn unparsable_arguments_are_shown_as_sent() {
        assert_eq!(compact("{\n  \"a\": 1\n}"), "{\"a\":1}");
        assert_eq!(compact("{not json}"), "{not json}");
    }

    #[test]
    fn reasoning_view_marks_empty_parts() {
        let resp = ReasoningParseResponse {
            normal_text: "answer".into(),
            reasoning_text: String::new(),
            success: true,
        };
        assert_eq!(
            reasoning_view(&resp),
            "REASONING\n(empty)\n\nNORMAL TEXT\nanswer\n"
        );
    }
}
