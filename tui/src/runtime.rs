//! The interactive loop and `--once`.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use color_eyre::eyre::{WrapErr, eyre};
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use smg_sdk::Client;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{App, View};
use crate::event::{Action, ActionOutcome, Effect, Event, Stamped};
use crate::{DashOptions, format, sources, ui};

/// Shortest time between two frames (30 fps cap).
pub const FRAME: Duration = Duration::from_millis(33);
/// Deadline of each source in `--once`.
pub const ONCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Restores the terminal when dropped (normal exit, `?` errors, and unwinding panics; the
/// panic hook installed by `ratatui::try_init` restores before the message is printed).
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

pub(crate) async fn run_interactive(
    client: Client,
    metrics: Client,
    options: DashOptions,
) -> color_eyre::Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(eyre!(
            "smg-tui needs a terminal (stdout is not a TTY); use --once for a text snapshot"
        ));
    }
    // Already installed by a binary that called it first: keep theirs.
    let _ = color_eyre::install();
    let terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(e).wrap_err("could not set up the terminal");
        }
    };
    let _guard = RestoreGuard;
    event_loop(terminal, client, metrics, options).await
}

async fn event_loop(
    mut terminal: DefaultTerminal,
    client: Client,
    metrics: Client,
    options: DashOptions,
) -> color_eyre::Result<()> {
    let mut app = App::new(options.url_label.clone(), SystemTime::now());
    app.view = View::Overview;
    app.metrics_url = Some(metrics.base_url().to_string());
    let (pollers, mut rx) = sources::spawn(&client, &metrics, options.interval);
    let (action_tx, mut action_rx) = mpsc::channel::<Stamped<ActionOutcome>>(16);
    let mut keys = EventStream::new();
    let mut signals = Signals::new();
    let mut dirty = true;
    let mut last_draw = Instant::now()
        .checked_sub(FRAME)
        .unwrap_or_else(Instant::now);

    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            app.now = SystemTime::now();
            terminal.draw(|f| ui::render(f, &app))?;
            last_draw = Instant::now();
            dirty = false;
        }
        // Sleep until the frame cap allows a pending redraw, or until something on screen
        // changes by itself (ages tick every second, a message expires).
        let deadline = if dirty {
            last_draw + FRAME
        } else {
            next_visible_change(&app, last_draw)
        };
        let event = tokio::select! {
            maybe = keys.next() => match maybe {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => Some(Event::Key(k)),
                Some(Ok(TermEvent::Resize(..))) => Some(Event::Resize),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e).wrap_err("reading terminal events"),
                None => break,
            },
            Some(ev) = rx.workers.recv() => Some(ev),
            ev = sources::next_snapshot(&mut rx.snapshots) => ev,
            Some(done) = action_rx.recv() => Some(Event::ActionDone(done)),
            () = signals.recv() => break,
            () = tokio::time::sleep_until(deadline) => {
                if dirty { None } else { Some(Event::Tick(SystemTime::now())) }
            }
        };
        let Some(event) = event else { continue };
        app.now = SystemTime::now();
        let effect = app.update(event);
        pollers.demand(app.view.on_demand_sources());
        match effect {
            Effect::None => {}
            Effect::Redraw => dirty = true,
            Effect::Quit => break,
            Effect::Refresh => {
                pollers.refresh();
                dirty = true;
            }
            Effect::Run(action) => {
                spawn_action(client.clone(), action, action_tx.clone());
                dirty = true;
            }
        }
    }
    drop(pollers);
    Ok(())
}

/// SIGTERM and SIGHUP end the loop like `q`, so the terminal is restored.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves when a termination signal arrives; never if none can be received.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = s
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending().await
            }
            tokio::select! {
                () = one(&mut self.term) => {}
                () = one(&mut self.hup) => {}
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    }
}

/// The next time the screen changes without new data: the next second (ages), or a
/// message's expiry if sooner.
fn next_visible_change(app: &App, last_draw: Instant) -> Instant {
    let mut next = last_draw + Duration::from_secs(1);
    if let Some(f) = &app.flash
        && let Ok(left) = f.expires.duration_since(SystemTime::now())
    {
        next = next.min(Instant::now() + left);
    }
    next
}

fn spawn_action(client: Client, action: Action, tx: mpsc::Sender<Stamped<ActionOutcome>>) {
    tokio::spawn(async move {
        let outcome = run_action_outcome(&client, action).await;
        let _ = tx.send(Stamped::new(SystemTime::now(), outcome)).await;
    });
}

/// Run a confirmed action: its outcome, with the secret of a created or rotated API key.
pub async fn run_action_outcome(client: &Client, action: Action) -> ActionOutcome {
    let title = action.title().to_string();
    let err = |e: smg_sdk::Error| e.to_string();
    let (result, secret) = match action {
        Action::CreateKey(req) => match client.keys().create(&req).await {
            Ok(c) => (
                Ok(format!(
                    "key {} ({}, {}) created; its secret is shown once",
                    c.id, c.role, c.masked_key
                )),
                Some(c.key),
            ),
            Err(e) => (Err(err(e)), None),
        },
        Action::RotateKey { id } => match client.keys().rotate(&id).await {
            Ok(r) => (
                Ok(format!(
                    "key {} rotated ({}); the old secret no longer works",
                    r.id, r.masked_key
                )),
                Some(r.new_key),
            ),
            Err(e) => (Err(err(e)), None),
        },
        other => (run_action(client, other).await, None),
    };
    ActionOutcome {
        title,
        result,
        secret,
    }
}

/// Run a confirmed action: a summary on success, the error text on failure (a `206` partial
/// flush counts as a failure that says how many workers failed). A created or rotated key's
/// secret is not in the summary: see [`run_action_outcome`].
pub async fn run_action(client: &Client, action: Action) -> Result<String, String> {
    let err = |e: smg_sdk::Error| e.to_string();
    match action {
        Action::CreateWorker(spec) => client.workers().create(&spec).await.map_err(err).map(|c| {
            format!(
                "worker {} queued for registration ({})",
                format::short_id(&c.worker_id),
                c.url
            )
        }),
        Action::UpdateWorker { id, update } => client
            .workers()
            .update(&id, &update)
            .await
            .map_err(err)
            .map(|a| format!("{} ({})", a.message, format::short_id(&id))),
        Action::DeleteWorker { id } => client
            .workers()
            .delete(&id)
            .await
            .map_err(err)
            .map(|a| format!("{} ({} is draining)", a.message, format::short_id(&id))),
        Action::CordonWorker { id } => client
            .workers()
            .cordon(&id)
            .await
            .map_err(err)
            .map(|_| format!("{} cordoned: no new requests", format::short_id(&id))),
        Action::UncordonWorker { id } => client
            .workers()
            .uncordon(&id)
            .await
            .map_err(err)
            .map(|_| format!("{} uncordoned: takes traffic again", format::short_id(&id))),
        Action::RetireWorker { id } => client
            .workers()
            .retire(&id, &smg_sdk::RetireWorkerRequest::default())
            .await
            .map_err(err)
            .map(|_| {
                format!(
                    "{} retiring: drain, flush, remove (its job shows in the detail view)",
                    format::short_id(&id)
                )
            }),
        Action::FlushWorker { id } => {
            let r = client.workers().flush_cache(&id).await.map_err(err)?;
            flush_summary(r)
        }
        Action::FlushCache => flush_summary(client.flush_cache().await.map_err(err)?),
        Action::AddTokenizer(req) => client.tokenizers().add(&req).await.map_err(err).map(|a| {
            format!(
                "tokenizer {} queued for loading from {} (id {})",
                req.name,
                req.source,
                format::short_id(&a.id)
            )
        }),
        Action::DeleteTokenizer { name } => client
            .tokenizers()
            .delete(&name)
            .await
            .map_err(err)
            .map(|d| d.message),
        Action::CreateKey(req) => client
            .keys()
            .create(&req)
            .await
            .map_err(err)
            .map(|c| format!("key {} ({}, {}) created", c.id, c.role, c.masked_key)),
        Action::RotateKey { id } => client
            .keys()
            .rotate(&id)
            .await
            .map_err(err)
            .map(|r| format!("key {} rotated ({})", r.id, r.masked_key)),
        Action::DisableKey { id } => client
            .keys()
            .disable(&id)
            .await
            .map_err(err)
            .map(|_| format!("key {id} disabled: it no longer authenticates")),
        Action::EnableKey { id } => client
            .keys()
            .enable(&id)
            .await
            .map_err(err)
            .map(|_| format!("key {id} enabled")),
        Action::DeleteKey { id } => client
            .keys()
            .delete(&id)
            .await
            .map_err(err)
            .map(|_| format!("key {id} deleted")),
    }
}

/// A flush's answer: its message, or (206) how many workers failed and the first failure.
fn flush_summary(r: smg_sdk::FlushCacheResponse) -> Result<String, String> {
    if !r.is_partial() {
        return Ok(r.message);
    }
    let failures = r.failures();
    let first = failures
        .first()
        .map(|f| format!(" — {}: {}", f.worker, f.error))
        .unwrap_or_default();
    Err(format!(
        "partial: {} of {} workers flushed, {} failed{first}",
        r.workers_flushed,
        r.total_workers,
        failures.len()
    ))
}

/// `--once`: one snapshot of each source, then the Overview and Workers views as text.
/// Returns the text and whether the gateway was unreachable (judged by the core sources
/// only: an unreachable metrics endpoint or a disabled WASM runtime does not count).
pub async fn once_text(client: &Client, metrics: &Client, options: &DashOptions) -> (String, bool) {
    let mut app = App::new(options.url_label.clone(), SystemTime::now());
    app.metrics_url = Some(metrics.base_url().to_string());
    for event in sources::gather_once(client, metrics, ONCE_TIMEOUT).await {
        app.update(event);
    }
    app.now = SystemTime::now();
    let text = once_frames(&app, options.width, options.height);
    let failing = app.failing_sources().len();
    (
        text,
        app.unreachable() || failing == crate::event::Source::CORE.len(),
    )
}

/// The Overview frame, a blank line, the Workers frame.
pub fn once_frames(app: &App, width: u16, height: u16) -> String {
    let mut out = ui::render_to_text(app, View::Overview, width, height);
    out.push('\n');
    out.push_str(&ui::render_to_text(app, View::Workers, width, height));
    out
}

pub(crate) async fn run_once(
    client: Client,
    metrics: Client,
    options: DashOptions,
) -> color_eyre::Result<()> {
    let (text, unreachable) = once_text(&client, &metrics, &options).await;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if unreachable {
        return Err(eyre!(
            "gateway unreachable at {}: check that it is running and that --url, SMG_URL or the context point at it",
            options.url_label
        ));
    }
    Ok(())
}
