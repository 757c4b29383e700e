//! `--jq EXPR`: every JSON document smgctl would print goes through a jq program instead, run
//! by jaq (the jq language as a library; the standard library of jq is available).
//!
//! Each result is printed on its own line: strings raw (as `jq -r`), everything else as
//! compact JSON (as `jq -c`), so `--jq '.workers[].id'` feeds `xargs` directly and a filter
//! that builds objects gives JSON Lines.

use std::fmt;

use jaq_core::compile::Undefined;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde::{Deserialize, Serialize};

use crate::exit::UsageError;

/// The jaq data type: plain values, no inputs beyond the document.
type Data = data::JustLut<Val>;

/// A compiled `--jq` program.
pub struct JqFilter {
    filter: jaq_core::Filter<Data>,
}

impl fmt::Debug for JqFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JqFilter").finish_non_exhaustive()
    }
}

/// A jq program that failed on a document (e.g. `.x` applied to an array).
#[derive(Debug)]
pub struct JqRunError(pub String);

impl fmt::Display for JqRunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--jq failed: {}", self.0)
    }
}

impl std::error::Error for JqRunError {}

impl JqFilter {
    /// Parse and compile `expr`; a syntax error or an unknown name is a usage error that
    /// quotes jaq's diagnosis and where in the expression it is.
    pub fn compile(expr: &str) -> Result<Self, UsageError> {
        if expr.trim().is_empty() {
            return Err(UsageError(
                "--jq needs a jq expression (e.g. --jq '.workers[].id'); it is empty".into(),
            ));
        }
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: expr,
                    path: (),
                },
            )
            .map_err(|errors| {
                let reasons: Vec<String> = errors
                    .iter()
                    .flat_map(|(_, e)| load_error_reasons(expr, e))
                    .collect();
                invalid(expr, &reasons)
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let reasons: Vec<String> = errors
                    .iter()
                    .flat_map(|(_, undefined)| undefined.iter())
                    .map(|(name, what)| undefined_reason(expr, name, what))
                    .collect();
                invalid(expr, &reasons)
            })?;
        Ok(Self { filter })
    }

    /// Run the program on `value`: one output line per result (without the line break).
    pub fn apply<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<String>, JqRunError> {
        let json = serde_json::to_value(value)
            .map_err(|e| JqRunError(format!("cannot encode the document as JSON: {e}")))?;
        let input = Val::deserialize(&json)
            .map_err(|e| JqRunError(format!("cannot read the document: {e}")))?;
        let ctx = jaq_core::Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let mut lines = Vec::new();
        for result in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            match result {
                Ok(v) => lines.push(render(&v)),
                // A string error (e.g. `error("…")`) reads better without its quotes.
                Err(e) => return Err(JqRunError(render(&e.into_val()))),
            }
        }
        Ok(lines)
    }
}

fn invalid(expr: &str, reasons: &[String]) -> UsageError {
    let why = if reasons.is_empty() {
        "it does not parse".to_string()
    } else {
        reasons.join("; ")
    };
    UsageError(format!("invalid --jq expression '{expr}': {why}"))
}

/// Strings raw, everything else compact JSON.
fn render(v: &Val) -> String {
    match v {
        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// Where `part` (a slice of `expr`, as jaq reports it) starts, 1-based, in characters.
fn position(expr: &str, part: &str) -> Option<usize> {
    let offset = (part.as_ptr() as usize).checked_sub(expr.as_ptr() as usize)?;
    if offset > expr.len() || !expr.is_char_boundary(offset) {
        return None;
    }
    Some(expr[..offset].chars().count() + 1)
}

/// "expected X, found `Y` at character N" (or "at the end").
fn expected_found(expr: &str, expected: &str, found: &str) -> String {
    let shown: String = found.chars().take(12).collect();
    match position(expr, found) {
        _ if found.is_empty() => format!("expected {expected} at the end of the expression"),
        Some(at) => format!("expected {expected}, found `{shown}` at character {at}"),
        None => format!("expected {expected}, found `{shown}`"),
    }
}

fn load_error_reasons(expr: &str, error: &jaq_core::load::Error<&str>) -> Vec<String> {
    use jaq_core::load::Error;
    match error {
        Error::Io(items) => items
            .iter()
            .map(|(path, why)| format!("cannot load module {path}: {why}"))
            .collect(),
        Error::Lex(items) => items
            .iter()
            .map(|(expected, found)| expected_found(expr, expected.as_str(), found))
            .collect(),
        Error::Parse(items) => items
            .iter()
            .map(|(expected, found)| expected_found(expr, expected.as_str(), found))
            .collect(),
    }
}

fn undefined_reason(expr: &str, name: &str, what: &Undefined) -> String {
    let at = position(expr, name)
        .map(|n| format!(" at character {n}"))
        .unwrap_or_default();
    match what {
        Undefined::Filter(arity) => format!("undefined filter `{name}/{arity}`{at}"),
        other => format!("undefined {} `{name}`{at}", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn run(expr: &str, input: serde_json::Value) -> Vec<String> {
        JqFilter::compile(expr).unwrap().apply(&input).unwrap()
    }

    #[test]
    fn strings_are_raw_and_the_rest_compact_json() {
        let doc = json!({"workers": [{"id": "a", "load": 1}, {"id": "b", "load": 2}]});
        assert_eq!(run(".workers[].id", doc.clone()), ["a", "b"]);
        assert_eq!(run(".workers[0]", doc.clone()), [r#"{"id":"a","load":1}"#]);
        assert_eq!(run("[.workers[].load] | add", doc.clone()), ["3"]);
        assert_eq!(run(".missing", doc.clone()), ["null"]);
        assert_eq!(run("empty", doc), Vec::<String>::new());
    }

    #[test]
    fn the_standard_library_is_there() {
        let doc = json!({"workers": [{"id": "a", "ok": true}, {"id": "b", "ok": false}]});
        assert_eq!(
            run(".workers | map(select(.ok)) | length", doc.clone()),
            ["1"]
        );
        assert_eq!(run(".workers[0] | keys", doc.clone()), [r#"["id","ok"]"#]);
        assert_eq!(
            run(r#".workers[] | "\(.id)=\(.ok)" | ascii_upcase"#, doc),
            ["A=TRUE", "B=FALSE"]
        );
    }

    #[test]
    fn key_order_is_kept() {
        let doc = json!({"z": 1, "a": 2});
        assert_eq!(run(".", doc), [r#"{"z":1,"a":2}"#]);
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = JqFilter::compile(".workers[").unwrap_err().0;
        assert!(
            err.starts_with("invalid --jq expression '.workers['"),
            "{err}"
        );
        assert!(err.contains("expected"), "{err}");
        let err = JqFilter::compile(".a | )").unwrap_err().0;
        assert!(err.contains("character 6"), "{err}");
    }

    #[test]
    fn unknown_names_are_named() {
        let err = JqFilter::compile(".workers | nosuchfn").unwrap_err().0;
        assert!(err.contains("undefined filter `nosuchfn/0`"), "{err}");
        assert!(err.contains("character 12"), "{err}");
        let err = JqFilter::compile("$nope").unwrap_err().0;
        assert!(err.contains("undefined variable"), "{err}");
    }

    #[test]
    fn empty_expression_is_a_usage_error() {
        assert!(JqFilter::compile("  ").unwrap_err().0.contains("empty"));
    }

    #[test]
    fn runtime_errors_are_reported() {
        let f = JqFilter::compile(".a | keys").unwrap();
        let err = f.apply(&json!({"a": 1})).unwrap_err();
        assert!(err.to_string().starts_with("--jq failed: "), "{err}");
        let f = JqFilter::compile(r#"error("boom")"#).unwrap();
        assert_eq!(
            f.apply(&json!(null)).unwrap_err().to_string(),
            "--jq failed: boom"
        );
    }
}
