//! Connection settings shared by `smgctl` and `smg-tui`: named contexts in
//! `$XDG_CONFIG_HOME/smgctl/config.toml` (or `$SMGCTL_CONFIG`), and the precedence
//! flag > environment > context > default.
//!
//! ```toml
//! current_context = "prod"
//!
//! [contexts.prod]
//! url = "https://smg.example.com"
//! token_file = "/run/secrets/smg-admin"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::SecretString;

/// A duration flag (`--timeout`, `--interval`, …): `500ms`, `30s`, `2m`, `1h30m`; a bad value
/// names the accepted forms.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{e}; write a duration such as 500ms, 30s, 2m or 1h30m"))
}

/// Gateway URL when nothing else says.
pub const DEFAULT_URL: &str = "http://localhost:30000";

/// Problems reading or writing the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read or parsed.
    #[error(
        "cannot read config {path} (fix it, or point SMGCTL_CONFIG or --config at another file): {message}"
    )]
    Read {
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write config {path}: {message}")]
    Write {
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A context was asked for that the file does not define.
    #[error("context '{0}' is not defined (see `smgctl context list`)")]
    UnknownContext(String),
    /// A token file named by a context cannot be read.
    #[error(
        "cannot read token file {path}: {message} (fix the context's token_file with `smgctl context set NAME --token-file FILE`)"
    )]
    TokenFile {
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No home or config directory could be found.
    #[error("cannot locate a config directory; set SMGCTL_CONFIG")]
    NoConfigDir,
}

/// One named gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Context {
    /// Gateway base URL.
    pub url: String,
    /// Admin token, stored inline (the file is then kept at mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretString>,
    /// File holding the admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Serving API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretString>,
}

/// The config file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Context used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Contexts by name.
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

impl ConfigFile {
    /// `$SMGCTL_CONFIG`, else `$XDG_CONFIG_HOME/smgctl/config.toml` (`~/.config/…`).
    pub fn default_path() -> Result<PathBuf, ConfigError> {
        if let Some(path) = std::env::var_os("SMGCTL_CONFIG").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".config")))
            .ok_or(ConfigError::NoConfigDir)?;
        Ok(base.join("smgctl").join("config.toml"))
    }

    /// Read `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let read_err = |message: String| ConfigError::Read {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| read_err(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(read_err(e.to_string())),
        }
    }

    /// Write `path` (creating its directory), readable by the owner only because it may
    /// hold tokens (secrets are written in clear: the file is private).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |message: String| ConfigError::Write {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
        }
        let text = toml::to_string_pretty(self).map_err(|e| write_err(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        write_private(&tmp, text.as_bytes()).map_err(|e| write_err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| write_err(e.to_string()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// What the user passed as flags (clap already folds in the environment variables
/// `SMG_URL`, `SMG_ADMIN_TOKEN`, `SMG_API_KEY`, `SMG_CONTEXT`).
#[derive(Debug, Clone, Default)]
pub struct ConnectionOptions {
    /// `--url` / `SMG_URL`.
    pub url: Option<String>,
    /// `--token` / `SMG_ADMIN_TOKEN`.
    pub token: Option<SecretString>,
    /// `--api-key` / `SMG_API_KEY`.
    pub api_key: Option<SecretString>,
    /// `--context` / `SMG_CONTEXT`.
    pub context: Option<String>,
    /// Config file override (else [`ConfigFile::default_path`]).
    pub config_path: Option<PathBuf>,
}

/// Where a setting came from, for `-v` diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A flag or its environment variable.
    FlagOrEnv,
    /// The selected context.
    Context,
    /// Built-in default.
    Default,
}

/// The connection to use.
#[derive(Debug, Clone)]
pub struct ResolvedConnection {
    /// Gateway base URL.
    pub url: String,
    /// Where the URL came from.
    pub url_source: Source,
    /// Admin token for control-plane routes.
    pub admin_token: Option<SecretString>,
    /// Serving API key.
    pub api_key: Option<SecretString>,
    /// The context in use, if any.
    pub context: Option<String>,
}

impl ConnectionOptions {
    /// Apply the precedence flag > environment > context > default.
    pub fn resolve(&self) -> Result<ResolvedConnection, ConfigError> {
        let path = match &self.config_path {
            Some(p) => p.clone(),
            None => ConfigFile::default_path()?,
        };
        let file = ConfigFile::load(&path)?;
        let name = self
            .context
            .clone()
            .or_else(|| file.current_context.clone());
        let context = match &name {
            Some(n) => Some(
                file.contexts
                    .get(n)
                    .cloned()
                    .ok_or_else(|| ConfigError::UnknownContext(n.clone()))?,
            ),
            None => None,
        };
        let (url, url_source) = match (&self.url, &context) {
            (Some(url), _) => (url.clone(), Source::FlagOrEnv),
            (None, Some(ctx)) if !ctx.url.is_empty() => (ctx.url.clone(), Source::Context),
            _ => (DEFAULT_URL.to_string(), Source::Default),
        };
        let admin_token = match (&self.token, &context) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(ctx)) => context_token(ctx)?,
            _ => None,
        };
        let api_key = self
            .api_key
            .clone()
            .or_else(|| context.as_ref().and_then(|c| c.api_key.clone()));
        Ok(ResolvedConnection {
            url,
            url_source,
            admin_token,
            api_key,
            context: name,
        })
    }
}

fn context_token(ctx: &Context) -> Result<Option<SecretString>, ConfigError> {
    if let Some(token) = &ctx.token {
        return Ok(Some(token.clone()));
    }
    let Some(path) = &ctx.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Some(SecretString::new(text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(path: &Path) -> ConnectionOptions {
        ConnectionOptions {
            config_path: Some(path.to_path_buf()),
            ..Default::default()
        }
    }

    #[test]
    fn precedence_flag_then_context_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        assert_eq!(options(&path).resolve().unwrap().url, DEFAULT_URL);
        let token_file = dir.path().join("tok");
        std::fs::write(&token_file, "file-token\n").unwrap();
        let mut file = ConfigFile::default();
        file.contexts.insert(
            "prod".into(),
            Context {
                url: "http://prod:1".into(),
                token_file: Some(token_file),
                ..Default::default()
            },
        );
        file.current_context = Some("prod".into());
        file.save(&path).unwrap();

        let resolved = options(&path).resolve().unwrap();
        assert_eq!(resolved.url, "http://prod:1");
        assert_eq!(resolved.url_source, Source::Context);
        assert_eq!(resolved.admin_token.unwrap().expose(), "file-token");

        let mut flags = options(&path);
        flags.url = Some("http://flag:2".into());
        flags.token = Some("flag-token".into());
        let resolved = flags.resolve().unwrap();
        assert_eq!(resolved.url, "http://flag:2");
        assert_eq!(resolved.admin_token.unwrap().expose(), "flag-token");

        let mut flags = options(&path);
        flags.context = Some("nope".into());
        assert!(matches!(
            flags.resolve(),
            Err(ConfigError::UnknownContext(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut file = ConfigFile::default();
        file.contexts.insert(
            "a".into(),
            Context {
                url: "http://a:1".into(),
                token: Some("secret".into()),
                ..Default::default()
            },
        );
        file.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ConfigFile::load(&path).unwrap(), file);
    }

    #[test]
    fn unreadable_toml_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "contexts = 3").unwrap();
        assert!(matches!(
            ConfigFile::load(&path),
            Err(ConfigError::Read { .. })
        ));
    }
}
