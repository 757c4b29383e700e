//! `smg-tui`: a live terminal dashboard for the Shepherd Model Gateway, k9s-style.
//!
//! - Background tasks poll the gateway ([`sources`]): `/workers` through the SDK's worker
//!   watch, `/loads` (or `/get_loads`), `/readiness`, `/v1/models`, `/v1/tokenizers`, `/wasm`,
//!   `/admin/whoami`, and its Prometheus endpoint for requests/s and error rates
//!   ([`traffic`]).
//! - A plain [`App`](app::App) state is updated by a pure [`App::update`](app::App::update)
//!   that returns an [`Effect`](event::Effect) for the runtime.
//! - Views are pure render functions of that state ([`ui`]); the clock is part of the state, so
//!   every frame is reproducible in tests.
//!
//! ```no_run
//! # async fn demo() -> color_eyre::Result<()> {
//! let client = smg_sdk::Client::builder("http://localhost:30000").build()?;
//! smg_tui::run(client, smg_tui::DashOptions::default()).await
//! # }
//! ```

pub mod app;
pub mod event;
#[doc(hidden)]
pub mod fixtures;
pub mod format;
pub mod keymap;
mod runtime;
pub mod series;
pub mod sources;
pub mod traffic;
pub mod ui;

use std::time::Duration;

pub use runtime::{FRAME, ONCE_TIMEOUT, once_frames, once_text, run_action, run_action_outcome};

/// Options of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashOptions {
    /// Poll interval of every source.
    pub interval: Duration,
    /// Print one text frame (Overview then Workers) and exit instead of running interactively.
    pub once: bool,
    /// Width of the `--once` frame.
    pub width: u16,
    /// Height of the `--once` frame.
    pub height: u16,
    /// The gateway URL as shown in the header and the error banner.
    pub url_label: String,
    /// The gateway's Prometheus endpoint (requests/s and error rates per worker); `None`: the
    /// gateway's host, port 29000, path `/metrics`.
    pub metrics_url: Option<String>,
}

impl Default for DashOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            once: false,
            width: 160,
            height: 48,
            url_label: smg_sdk::config::DEFAULT_URL.to_string(),
            metrics_url: None,
        }
    }
}

/// Run the dashboard against `client` until the user quits.
///
/// With `options.once`, gather one snapshot of each source (5 s deadline each), print the
/// Overview and Workers views as plain text (`width`×`height` each, separated by a blank
/// line) to stdout and return; the result is an error, after printing, when the gateway was
/// unreachable (an unreachable metrics endpoint only shows `metrics unavailable`).
/// Interactively, the terminal is restored on every exit path, panics included.
///
/// Fails before starting when `options.metrics_url` is not a valid http(s) URL.
pub async fn run(client: smg_sdk::Client, options: DashOptions) -> color_eyre::Result<()> {
    use color_eyre::eyre::WrapErr;
    let options = DashOptions {
        interval: options.interval.max(Duration::from_millis(200)),
        ..options
    };
    let metrics_url = options
        .metrics_url
        .clone()
        .unwrap_or_else(|| sources::default_metrics_url(&client));
    let metrics = sources::metrics_client(&metrics_url, options.interval)
        .wrap_err_with(|| format!("invalid --metrics-url '{metrics_url}'"))?;
    if options.once {
        runtime::run_once(client, metrics, options).await
    } else {
        runtime::run_interactive(client, metrics, options).await
    }
}
