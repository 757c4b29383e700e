//! What the nouns share besides printing ([`crate::output`]): the consent a destructive command
//! needs, the spinner shown while waiting, and the runner of commands that take several ids.

use std::io::{BufRead, Write};
use std::time::Duration;

use color_eyre::eyre::Result;

use crate::Ctx;
use crate::exit::{self, Exit, HintScope, UsageError};
use crate::output::diag;

/// `1 worker`, `2 workers`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

// ---------------------------------------------------------------------------------------------
// consent

/// The consent a destructive command needs: `--yes`, or a person at the terminal answering `y`.
///
/// Two steps, so a command refuses before it sends anything ([`Consent::require`]) and asks
/// only once it knows exactly what it will change ([`Consent::confirm`]: the question can then
/// name full ids).
#[derive(Debug)]
#[must_use = "a consent does nothing until it is confirmed"]
pub struct Consent {
    /// False with `--yes`: nothing to ask.
    ask: bool,
}

impl Consent {
    /// Without `--yes`, a usage error (exit 2) when stdin is not a terminal: no one could
    /// answer. `action` completes "refusing to …", e.g. `delete 2 workers`.
    pub fn require(ctx: &Ctx, yes: bool, action: &str) -> Result<Self> {
        Ok(Self::check(ctx.stdin_tty, yes, action)?)
    }

    fn check(stdin_tty: bool, yes: bool, action: &str) -> Result<Self, UsageError> {
        if yes || stdin_tty {
            return Ok(Self { ask: !yes });
        }
        Err(UsageError(format!(
            "refusing to {action} without --yes: stdin is not a terminal, so there is no one to \
             confirm"
        )))
    }

    /// Ask `question` on stderr unless `--yes` was given. False unless the answer is `y` or
    /// `yes`; `aborted` is then printed and the command exits 1 having changed nothing.
    pub fn confirm(self, question: &str) -> bool {
        if !self.ask {
            return true;
        }
        let yes = ask(question, std::io::stdin().lock(), std::io::stderr().lock());
        if !yes {
            diag("aborted");
        }
        yes
    }
}

/// Write `question [y/N] ` to `prompt`, read one line from `input`: only `y`/`yes` (any case)
/// confirms; an unreadable answer does not.
fn ask(question: &str, mut input: impl BufRead, mut prompt: impl Write) -> bool {
    let _ = write!(prompt, "{question} [y/N] ");
    let _ = prompt.flush();
    drop(prompt);
    let mut answer = String::new();
    if input.read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

// ---------------------------------------------------------------------------------------------
// spinner

/// A spinner on stderr while waiting, drawn only when stderr is a terminal (stdout stays data);
/// cleared when dropped.
#[derive(Debug)]
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// `message (elapsed)` with a spinner, until dropped.
    pub fn start(ctx: &Ctx, message: String) -> Self {
        Self::on(ctx.stderr_tty, message)
    }

    fn on(stderr_tty: bool, message: String) -> Self {
        if !stderr_tty {
            return Self(None);
        }
        let pb = indicatif::ProgressBar::new_spinner();
        let style = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        pb.set_style(style);
        pb.set_message(message);
        pb.enable_steady_tick(Duration::from_millis(100));
        Self(Some(pb))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// several ids

/// The rule of [`Targets::run`], shown in the `--help` of every command that takes several ids.
pub const SEVERAL_IDS_HELP: &str = "\
Several ids: they are acted on one after another. When the gateway refuses one (an error
answer, a failed job, a wait that ran out), its error is printed and the others still go
ahead; the exit code is then the first failure's. Not reaching the gateway stops at once.
With a single id, its error is the command's, with the usual exit code.";

/// The ids a command acts on, already resolved (every id is resolved before the first action,
/// so a typo changes nothing), and how to name them in errors.
#[derive(Debug)]
pub struct Targets<'a> {
    ids: Vec<String>,
    /// What an id names (`worker`), for `error: worker ID: …`.
    noun: &'a str,
    /// Which hints fit an error about one of them.
    scope: HintScope,
    /// The gateway, for hints.
    gateway_url: &'a str,
}

impl<'a> Targets<'a> {
    /// `ids` as resolved by the caller.
    pub fn new(ctx: &'a Ctx, noun: &'a str, scope: HintScope, ids: Vec<String>) -> Self {
        Self {
            ids,
            noun,
            scope,
            gateway_url: &ctx.url,
        }
    }

    /// The ids, in the order given.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Run `action` on every id in turn, by [`SEVERAL_IDS_HELP`]'s rule: with several ids, an
    /// error about one of them ([`continues_after`]) is reported on stderr (`error: NOUN ID: …`
    /// and its hints) and the loop goes on, keeping the first such error's exit code; any other
    /// error (the gateway unreachable, stdout closed) ends the command. With one id, its error
    /// is returned as it is, so the exit code and hints are the command's own.
    pub async fn run(&self, mut action: impl AsyncFnMut(&str) -> Result<()>) -> Result<Exit> {
        let mut exit = Exit::Ok;
        for id in &self.ids {
            match action(id).await {
                Ok(()) => {}
                Err(err) if self.ids.len() == 1 || !continues_after(&err) => return Err(err),
                Err(err) => {
                    let report = exit::report(&err, Some(self.gateway_url), self.scope);
                    diag(format_args!(
                        "error: {} {id}: {}",
                        self.noun, report.message
                    ));
                    for hint in &report.hints {
                        diag(format_args!("hint: {hint}"));
                    }
                    if exit == Exit::Ok {
                        exit = report.exit;
                    }
                }
            }
        }
        Ok(exit)
    }
}

/// Whether the error is about one id only, so the next id may still go ahead: the gateway's
/// error answer, a failed background job, or a wait that ran out.
fn continues_after(err: &color_eyre::Report) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<smg_sdk::Error>().is_some_and(|e| {
            e.api().is_some()
                || matches!(
                    e,
                    smg_sdk::Error::JobFailed { .. } | smg_sdk::Error::WaitTimeout { .. }
                )
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Cursor;

    use super::*;
    use crate::exit::StdoutClosed;

    fn not_found() -> color_eyre::Report {
        let body = r#"{"error":{"message":"gone","type":"not_found","code":"WORKER_NOT_FOUND"}}"#;
        smg_sdk::Error::Api(Box::new(smg_sdk::ApiError::parse(
            404,
            &http::HeaderMap::new(),
            body,
        )))
        .into()
    }

    fn targets(ids: &[&str]) -> Targets<'static> {
        Targets {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            noun: "worker",
            scope: HintScope::Worker,
            gateway_url: "http://127.0.0.1:1",
        }
    }

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "worker"), "1 worker");
        assert_eq!(plural(0, "worker"), "0 workers");
        assert_eq!(plural(3, "tokenizer"), "3 tokenizers");
    }

    #[test]
    fn consent_refuses_only_without_yes_and_without_terminal() {
        let refused = Consent::check(false, false, "delete 2 workers").unwrap_err();
        assert_eq!(
            refused.0,
            "refusing to delete 2 workers without --yes: stdin is not a terminal, so there is \
             no one to confirm"
        );
        assert!(!Consent::check(false, true, "x").unwrap().ask);
        assert!(!Consent::check(true, true, "x").unwrap().ask);
        assert!(Consent::check(true, false, "x").unwrap().ask);
        // --yes never asks, so it never reads stdin.
        assert!(
            Consent::check(false, true, "x")
                .unwrap()
                .confirm("never shown")
        );
    }

    #[test]
    fn only_y_or_yes_confirms() {
        for (answer, confirmed) in [
            ("y\n", true),
            ("YES\n", true),
            ("  yes  \r\n", true),
            ("n\n", false),
            ("\n", false),
            ("", false),
            ("yeah\n", false),
        ] {
            let mut prompt = Vec::new();
            assert_eq!(
                ask("Delete?", Cursor::new(answer), &mut prompt),
                confirmed,
                "{answer:?}"
            );
            assert_eq!(String::from_utf8(prompt).unwrap(), "Delete? [y/N] ");
        }
    }

    #[test]
    fn no_spinner_off_a_terminal() {
        let spinner = Spinner::on(false, "waiting".into());
        assert!(spinner.0.is_none());
    }

    #[test]
    fn answers_about_one_id_let_the_others_go_ahead() {
        assert!(continues_after(&not_found()));
        let failed = smg_sdk::Error::JobFailed {
            id: "w".into(),
            message: "no".into(),
        };
        assert!(continues_after(&failed.into()));
        let waited = smg_sdk::Error::WaitTimeout {
            id: "w".into(),
            last_status: None,
            waited: Duration::from_secs(1),
        };
        assert!(continues_after(&waited.into()));
        let timeout = smg_sdk::Error::Timeout { url: "u".into() };
        assert!(!continues_after(&timeout.into()));
        assert!(!continues_after(&StdoutClosed.into()));
    }

    #[tokio::test]
    async fn several_ids_go_on_after_an_answer_and_keep_its_exit_code() {
        let mut seen = Vec::new();
        let exit = targets(&["a", "b", "c"])
            .run(async |id| {
                seen.push(id.to_string());
                if id == "a" { Err(not_found()) } else { Ok(()) }
            })
            .await
            .unwrap();
        assert_eq!(exit, Exit::NotFound);
        assert_eq!(seen, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn an_unreachable_gateway_stops_everything() {
        let mut seen = Vec::new();
        let result = targets(&["a", "b"])
            .run(async |id| {
                seen.push(id.to_string());
                Err(smg_sdk::Error::Timeout { url: "u".into() }.into())
            })
            .await;
        assert!(result.is_err());
        assert_eq!(seen, ["a"]);
    }

    #[tokio::test]
    async fn a_single_id_returns_its_error() {
        let err = targets(&["a"])
            .run(async |_| Err(not_found()))
            .await
            .unwrap_err();
        assert_eq!(
            exit::report(&err, None, HintScope::Worker).exit,
            Exit::NotFound
        );
        assert_eq!(
            targets(&["a"]).run(async |_| Ok(())).await.unwrap(),
            Exit::Ok
        );
    }
}
