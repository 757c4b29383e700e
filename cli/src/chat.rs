//! `smgctl chat`: a smoke test of the data plane that streams a model's answer to stdout.

use std::io::Read;

use clap::Args;
use color_eyre::eyre::{Result, WrapErr};
use futures::StreamExt;
use smg_sdk::{ChatCompletionRequest, ChatMessage};

use crate::Ctx;
use crate::exit::Exit;
use crate::output::write_stdout;

/// Ask a model through the gateway (uses the API key)
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Model to route to
    #[arg(long, short)]
    pub model: String,
    /// The prompt; `-` (or nothing, with stdin piped) reads it from stdin
    pub prompt: Option<String>,
    /// A system message to send first
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens to generate
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Wait for the whole answer instead of streaming it (always so with -o json|yaml)
    #[arg(long)]
    pub no_stream: bool,
}

pub async fn run(ctx: &Ctx, args: ChatArgs) -> Result<Exit> {
    let prompt = match args.prompt.as_deref() {
        Some("-") | None => {
            if args.prompt.is_none() && ctx.stdin_tty {
                crate::output::diag("error: give a prompt, or pipe one on stdin");
                return Ok(Exit::Usage);
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .wrap_err("cannot read the prompt from stdin")?;
            text
        }
        Some(text) => text.to_string(),
    };
    let mut messages = Vec::new();
    if let Some(system) = args.system {
        messages.push(ChatMessage::system(system));
    }
    messages.push(ChatMessage::user(prompt));
    let mut request = ChatCompletionRequest::new(args.model, messages);
    request.max_tokens = Some(args.max_tokens);

    if args.no_stream || ctx.out.format.is_structured() {
        let response = ctx.client.chat_completions(&request).await?;
        if !ctx.out.structured(&response)? {
            let text = response
                .choices
                .first()
                .map(|c| c.message.text())
                .unwrap_or_default();
            write_stdout(&format!("{text}\n"))?;
        }
        return Ok(Exit::Ok);
    }
    let mut stream = ctx.client.chat_completions_stream(&request).await?;
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            if let Some(content) = choice.delta.content {
                write_stdout(&content)?;
            }
        }
    }
    write_stdout("\n")?;
    Ok(Exit::Ok)
}
