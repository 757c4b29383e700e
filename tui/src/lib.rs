//! `smg-tui`: a live terminal dashboard for the Shepherd Model Gateway, k9s-style.
//!
//! - Background tasks poll `/workers` (diffed into worker events), `/get_loads`,
//!   `/readiness` and `/v1/models` ([`sources`]).
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
mod runtime;
pub mod series;
pub mod sources;
pub mod ui;

use std::time::Duration;

pub use runtime::{FRAME, ONCE_TIMEOUT, once_frames, once_text, run_action};

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
}

impl Default for DashOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            once: false,
            width: 160,
            height: 48,
            url_label: smg_sdk::config::DEFAULT_URL.to_string(),
        }
    }
}

/// Run the dashboard against `client` until the user quits.
///
/// With `options.once`, gather one snapshot of each source (5 s deadline each), print the
/// Overview and Workers views as plain text (`width`×`height` each, separated by a blank
/// line) to stdout and return; the result is an error, after printing, when the gateway was
/// unreachable. Interactively, the terminal is restored on every exit path, panics included.
pub async fn run(client: smg_sdk::Client, options: DashOptions) -> color_eyre::Result<()> {
    let options = DashOptions {
        interval: options.interval.max(Duration::from_millis(200)),
        ..options
    };
    if options.once {
        runtime::run_once(client, options).await
    } else {
        runtime::run_interactive(client, options).await
    }
}
