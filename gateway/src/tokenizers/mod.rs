//! The tokenizer registry behind `/v1/tokenizers*` and the encoding behind `/v1/tokenize` and
//! `/v1/detokenize`, on Hugging Face `tokenizers`.
//!
//! - [`source`]: what a `source` string means (a directory or file on the gateway host, else a
//!   Hub model id) and loading from disk, with chat-template discovery;
//! - [`hub`]: fetching tokenizer files from the Hugging Face Hub, bounded in time;
//! - [`service`]: registrations (persisted before the 202, reloaded on start), load jobs with
//!   bounded concurrency and their status (decision D3), lookup by id or name, and encoding off
//!   the async runtime for large inputs.

pub mod hub;
pub mod service;
pub mod source;

pub use service::{StoredTokenizer, TokenizerError, TokenizerService};
pub use source::{LoadError, LoadedTokenizer, Source};

#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};

    use tokenizers::Tokenizer;
    use tokenizers::models::wordlevel::WordLevel;

    /// A tiny word-level tokenizer (`[UNK]`, `<s>`, `hello`, `world`, `!`), saved as
    /// `dir/tokenizer.json`. `<s>` is a special token.
    pub fn write_tokenizer(dir: &Path) -> PathBuf {
        let vocab = [
            ("[UNK]", 0),
            ("<s>", 1),
            ("hello", 2),
            ("world", 3),
            ("!", 4),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace));
        tokenizer.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
        tokenizer.add_special_tokens(&[tokenizers::AddedToken::from("<s>", true)]);
        let path = dir.join("tokenizer.json");
        tokenizer.save(&path, false).unwrap();
        path
    }
}
