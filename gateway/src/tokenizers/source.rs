//! Where a tokenizer comes from, as upstream resolves `source`: a directory or a file on the
//! gateway host, else a Hugging Face Hub model id. Loading from disk is blocking; callers run
//! it on the blocking pool.
//!
//! Every failure is a [`LoadError`] whose message names the file and the problem, because it
//! becomes the `failed` status an operator reads.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

/// Why a tokenizer could not be loaded, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

impl LoadError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A parsed `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file or directory that exists on the gateway host.
    Local(PathBuf),
    /// A Hugging Face Hub model id, with an optional `@revision`.
    Hub {
        repo: String,
        revision: Option<String>,
    },
}

/// A tokenizer ready to encode, with what was found beside it.
pub struct LoadedTokenizer {
    pub tokenizer: Tokenizer,
    pub chat_template: Option<String>,
    /// Vocabulary size including added tokens.
    pub vocab_size: usize,
    /// The file the vocabulary was read from.
    pub loaded_from: PathBuf,
}

impl std::fmt::Debug for LoadedTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("chat_template", &self.chat_template.is_some())
            .field("loaded_from", &self.loaded_from)
            .finish_non_exhaustive()
    }
}

/// Classify `source`: an existing path is local; a string that looks like a path but does not
/// exist is an error (not a Hub lookup); anything else must be a valid Hub model id.
pub fn classify(source: &str) -> Result<Source, LoadError> {
    let source = source.trim();
    let path = Path::new(source);
    if path.symlink_metadata().is_ok() {
        return Ok(Source::Local(path.to_path_buf()));
    }
    if looks_like_path(source) {
        return Err(LoadError::new(format!(
            "{source}: no such file or directory on the gateway host"
        )));
    }
    let (repo, revision) = match source.split_once('@') {
        Some((repo, rev)) if !rev.is_empty() => (repo, Some(rev.to_string())),
        Some(_) => ("", None),
        None => (source, None),
    };
    if !is_hub_repo_id(repo) {
        return Err(LoadError::new(format!(
            "'{source}' is neither a file or directory on the gateway host nor a valid Hugging \
             Face model id (expected ORG/NAME)"
        )));
    }
    Ok(Source::Hub {
        repo: repo.to_string(),
        revision,
    })
}

fn looks_like_path(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with("./")
        || source.starts_with("../")
        || source.starts_with('~')
        || source.starts_with('.')
        || source.contains('\\')
        || [".json", ".jinja", ".model", ".tiktoken", ".txt", ".gguf"]
            .iter()
            .any(|ext| source.ends_with(ext))
}

/// `NAME` or `ORG/NAME`, each part of letters, digits, `-`, `_` and `.`, not starting with a
/// dot or dash, at most 96 characters (the Hub's rules).
fn is_hub_repo_id(repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.is_empty() || parts.len() > 2 || repo.len() > 96 {
        return false;
    }
    parts.iter().all(|part| {
        !part.is_empty()
            && !part.starts_with(['.', '-'])
            && !part.contains("..")
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}

/// Load from a local file or directory. `chat_template_path` overrides discovery.
pub fn load_local(
    path: &Path,
    chat_template_path: Option<&Path>,
) -> Result<LoadedTokenizer, LoadError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| LoadError::new(format!("cannot access {}: {e}", path.display())))?;
    let (tokenizer, loaded_from, discovered) = if meta.is_dir() {
        let (tokenizer, from) = load_dir(path)?;
        (tokenizer, from, discover_chat_template(path, true)?)
    } else {
        let tokenizer = load_file(path)?;
        let discovered = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => discover_chat_template(dir, false)?,
            _ => None,
        };
        (tokenizer, path.to_path_buf(), discovered)
    };
    let chat_template = match chat_template_path {
        Some(file) => Some(read_chat_template_file(file)?),
        None => discovered,
    };
    let vocab_size = tokenizer.get_vocab_size(true);
    Ok(LoadedTokenizer {
        tokenizer,
        chat_template,
        vocab_size,
        loaded_from,
    })
}

fn load_dir(dir: &Path) -> Result<(Tokenizer, PathBuf), LoadError> {
    let json = dir.join("tokenizer.json");
    if json.exists() {
        return Ok((load_tokenizer_json(&json)?, json));
    }
    let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
    if vocab.exists() && merges.exists() {
        return Ok((load_vocab_merges(&vocab, &merges)?, vocab));
    }
    if dir.join("tiktoken.model").exists() || has_extension(dir, "tiktoken") {
        return Err(LoadError::new(format!(
            "{}: tiktoken tokenizers are not supported by this gateway; give a directory with a \
             tokenizer.json",
            dir.display()
        )));
    }
    Err(LoadError::new(format!(
        "{}: directory has no tokenizer.json (nor vocab.json with merges.txt)",
        dir.display()
    )))
}

fn has_extension(dir: &Path, ext: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == ext))
    })
}

fn load_file(path: &Path) -> Result<Tokenizer, LoadError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("model") => Err(LoadError::new(format!(
            "{}: SentencePiece .model files are not supported; give the model's tokenizer.json",
            path.display()
        ))),
        Some("tiktoken") => Err(LoadError::new(format!(
            "{}: tiktoken tokenizers are not supported by this gateway; give a tokenizer.json",
            path.display()
        ))),
        Some("gguf") => Err(LoadError::new(format!(
            "{}: GGUF files are not supported; give the model's tokenizer.json",
            path.display()
        ))),
        // `.json`, and anything else by content.
        _ => load_tokenizer_json(path),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::new(format!("cannot read {}: {e}", path.display())))
}

/// A Hugging Face `tokenizer.json`.
pub fn load_tokenizer_json(path: &Path) -> Result<Tokenizer, LoadError> {
    let bytes = read_file(path)?;
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        return Err(LoadError::new(format!(
            "{}: not valid JSON: {e}",
            path.display()
        )));
    }
    Tokenizer::from_bytes(&bytes).map_err(|e| {
        LoadError::new(format!(
            "{}: not a valid Hugging Face tokenizer.json: {e}",
            path.display()
        ))
    })
}

/// A GPT-2/Qwen2-style byte-level BPE from `vocab.json` and `merges.txt`.
fn load_vocab_merges(vocab: &Path, merges: &Path) -> Result<Tokenizer, LoadError> {
    for file in [vocab, merges] {
        read_file(file)?;
    }
    let (Some(vocab_str), Some(merges_str)) = (vocab.to_str(), merges.to_str()) else {
        return Err(LoadError::new(format!(
            "{}: path is not valid UTF-8",
            vocab.display()
        )));
    };
    let bpe = BPE::from_file(vocab_str, merges_str).build().map_err(|e| {
        LoadError::new(format!(
            "{} with {}: not a valid BPE vocabulary: {e}",
            vocab.display(),
            merges.display()
        ))
    })?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    Ok(tokenizer)
}

/// Find a chat template beside a tokenizer, in upstream's order: `chat_template.json`, then
/// `chat_template.jinja`, then (only when `any_jinja`) any other `*.jinja`, then the
/// `chat_template` field of `tokenizer_config.json`. A file that is there but unreadable or
/// invalid is an error.
pub fn discover_chat_template(dir: &Path, any_jinja: bool) -> Result<Option<String>, LoadError> {
    let json = dir.join("chat_template.json");
    if json.is_file() {
        let value = read_json(&json)?;
        return template_field(&value)
            .map(Some)
            .ok_or_else(|| LoadError::new(format!("{}: no chat_template field", json.display())));
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return read_text(&jinja).map(Some);
    }
    if any_jinja && let Ok(entries) = std::fs::read_dir(dir) {
        let mut templates: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "jinja"))
            .collect();
        templates.sort();
        if let Some(first) = templates.first() {
            return read_text(first).map(Some);
        }
    }
    let config = dir.join("tokenizer_config.json");
    if config.is_file() {
        let value = read_json(&config)?;
        return Ok(template_field(&value));
    }
    Ok(None)
}

/// A chat template file given explicitly: JSON with a `chat_template` field, or the template
/// text itself.
pub fn read_chat_template_file(path: &Path) -> Result<String, LoadError> {
    let is_json = path.extension().is_some_and(|x| x == "json");
    if is_json {
        let value = read_json(path)?;
        return template_field(&value).ok_or_else(|| {
            LoadError::new(format!(
                "chat template {}: no chat_template field",
                path.display()
            ))
        });
    }
    std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(format!("cannot read chat template {}: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(format!("cannot read {}: {e}", path.display())))
}

fn read_json(path: &Path) -> Result<serde_json::Value, LoadError> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LoadError::new(format!("{}: not valid JSON: {e}", path.display())))
}

/// `chat_template` as a string, or the `default` (else first) of a list of named templates.
fn template_field(value: &serde_json::Value) -> Option<String> {
    match value.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => {
            let named = |item: &serde_json::Value| {
                item.get("template")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            };
            items
                .iter()
                .find(|item| item.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(named)
                .or_else(|| items.iter().find_map(named))
        }
        _ => None,
    }
}

/// Whether a file in a Hub repository is one the gateway needs: tokenizer and chat-template
/// files only, never weights.
pub fn is_tokenizer_file(name: &str) -> bool {
    if name.contains('/') {
        return false;
    }
    matches!(
        name,
        "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "chat_template.json"
            | "vocab.json"
            | "merges.txt"
    ) || name.ends_with(".jinja")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizers::testing::write_tokenizer;

    #[test]
    fn classify_sources() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().to_str().unwrap();
        assert_eq!(classify(local).unwrap(), Source::Local(dir.path().into()));
        assert!(
            classify("/does/not/exist")
                .unwrap_err()
                .0
                .contains("no such file")
        );
        assert!(classify("./tok.json").is_err());
        assert_eq!(
            classify("meta-llama/Llama-3.1-8B-Instruct").unwrap(),
            Source::Hub {
                repo: "meta-llama/Llama-3.1-8B-Instruct".into(),
                revision: None
            }
        );
        assert_eq!(
            classify("gpt2@main").unwrap(),
            Source::Hub {
                repo: "gpt2".into(),
                revision: Some("main".into())
            }
        );
        for bad in ["a/b/c", "has space/x", "org/", "-x/y", "x@"] {
            assert!(classify(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loads_a_directory_with_discovered_templates() {
        let dir = tempfile::tempdir().unwrap();
        write_tokenizer(dir.path());
        let loaded = load_local(dir.path(), None).unwrap();
        assert_eq!(loaded.vocab_size, 5);
        assert!(loaded.chat_template.is_none());

        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#,
        )
        .unwrap();
        let loaded = load_local(dir.path(), None).unwrap();
        assert_eq!(loaded.chat_template.as_deref(), Some("D"));

        std::fs::write(dir.path().join("other.jinja"), "J").unwrap();
        assert_eq!(
            load_local(dir.path(), None)
                .unwrap()
                .chat_template
                .as_deref(),
            Some("J")
        );
        // Beside a file, only the well-known names count.
        let file = dir.path().join("tokenizer.json");
        assert_eq!(
            load_local(&file, None).unwrap().chat_template.as_deref(),
            Some("D")
        );

        std::fs::write(
            dir.path().join("chat_template.json"),
            r#"{"chat_template": "C"}"#,
        )
        .unwrap();
        assert_eq!(
            load_local(dir.path(), None)
                .unwrap()
                .chat_template
                .as_deref(),
            Some("C")
        );

        let custom = dir.path().join("custom.tmpl");
        std::fs::write(&custom, "X").unwrap();
        assert_eq!(
            load_local(dir.path(), Some(&custom))
                .unwrap()
                .chat_template
                .as_deref(),
            Some("X")
        );
    }

    #[test]
    fn failures_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_local(dir.path(), None).unwrap_err().0;
        assert!(err.contains("has no tokenizer.json"), "{err}");

        let bad = dir.path().join("tokenizer.json");
        std::fs::write(&bad, "{not json").unwrap();
        let err = load_local(&bad, None).unwrap_err().0;
        assert!(err.contains("tokenizer.json: not valid JSON"), "{err}");

        std::fs::write(&bad, r#"{"model": 3}"#).unwrap();
        let err = load_local(dir.path(), None).unwrap_err().0;
        assert!(
            err.contains("not a valid Hugging Face tokenizer.json"),
            "{err}"
        );

        write_tokenizer(dir.path());
        let missing = dir.path().join("nope.jinja");
        let err = load_local(dir.path(), Some(&missing)).unwrap_err().0;
        assert!(
            err.contains("cannot read chat template") && err.contains("nope.jinja"),
            "{err}"
        );

        std::fs::write(dir.path().join("tokenizer_config.json"), "[").unwrap();
        let err = load_local(dir.path(), None).unwrap_err().0;
        assert!(
            err.contains("tokenizer_config.json: not valid JSON"),
            "{err}"
        );

        let sp = dir.path().join("tokenizer.model");
        std::fs::write(&sp, "x").unwrap();
        assert!(
            load_local(&sp, None)
                .unwrap_err()
                .0
                .contains("SentencePiece")
        );
    }

    #[test]
    fn hub_file_filter() {
        for name in [
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.jinja",
            "merges.txt",
        ] {
            assert!(is_tokenizer_file(name), "{name}");
        }
        for name in [
            "model.safetensors",
            "config.json",
            "sub/tokenizer.json",
            "pytorch_model.bin",
        ] {
            assert!(!is_tokenizer_file(name), "{name}");
        }
    }
}
