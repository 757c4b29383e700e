//! Render benchmark: the Workers view of a 1000-worker fleet on a 200×50 `TestBackend`.
//!
//! `cargo bench -p smg-tui --bench render` (goal: ≤ 2 ms per frame). Also times the Overview
//! view and applying one `/get_loads` snapshot of 1000 workers, for context.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use smg_sdk::GetLoadsResponse;
use smg_tui::app::{App, View};
use smg_tui::event::{Event, Stamped};
use smg_tui::fixtures;

const WORKERS: usize = 1000;
const FRAMES: usize = 500;

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let median = samples[n / 2];
    let p99 = samples[(n * 99 / 100).min(n - 1)];
    println!(
        "{name:<44} n={n:<4} mean {:>8.1} µs   median {:>8.1} µs   p99 {:>8.1} µs",
        mean.as_secs_f64() * 1e6,
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
    );
}

fn frames(app: &mut App, view: View) -> Vec<Duration> {
    app.view = view;
    let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    let mut samples = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES + 20 {
        // Move the selection so consecutive frames differ, as they do when scrolling.
        app.cursors.set(View::Workers, (i * 7) % WORKERS);
        let start = Instant::now();
        let r = terminal.draw(|f| smg_tui::ui::render(f, black_box(app)));
        let elapsed = start.elapsed();
        if let Err(e) = r {
            panic!("draw: {e}");
        }
        if i >= 20 {
            samples.push(elapsed);
        }
    }
    samples
}

fn main() {
    let setup = Instant::now();
    let mut app = fixtures::app(WORKERS, 60);
    println!(
        "fixture: {WORKERS} workers, 60 polls of history (built in {:.0} ms)",
        setup.elapsed().as_secs_f64() * 1e3
    );
    stats(
        "Workers view, 1000 workers, 200x50",
        frames(&mut app, View::Workers),
    );
    stats(
        "Overview view, 1000 workers, 200x50",
        frames(&mut app, View::Overview),
    );

    let mut samples = Vec::new();
    for tick in 0..50 {
        let loads = fixtures::fanout(GetLoadsResponse {
            workers: (0..WORKERS).map(|i| fixtures::load(i, tick)).collect(),
        });
        let start = Instant::now();
        app.update(Event::Loads(Stamped::new(
            fixtures::t(1000 + tick as u64),
            Ok(loads),
        )));
        samples.push(start.elapsed());
    }
    stats("App::update(/get_loads of 1000 workers)", samples);
}
