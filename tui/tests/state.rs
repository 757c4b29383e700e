//! State-update tests: `App::update` driven by data events and keys, no rendering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smg_sdk::{GetLoadsResponse, WorkerEvent, WorkerSpec, WorkerStatus, WorkerType};
use smg_tui::app::{App, Column, Mode, View, natural_cmp};
use smg_tui::event::{Action, ActionOutcome, Effect, Event, SourceError, Stamped};
use smg_tui::fixtures::{self, t, worker};

fn press(app: &mut App, code: KeyCode) -> Effect {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Effect {
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn workers_event(at: u64, events: Vec<WorkerEvent>) -> Event {
    Event::Workers(Stamped::new(t(at), Ok(events)))
}

fn app_with(n: usize) -> App {
    let mut app = App::new(fixtures::URL, t(0));
    app.update(workers_event(
        0,
        (0..n).map(|i| WorkerEvent::Added(worker(i))).collect(),
    ));
    app
}

#[test]
fn changed_event_updates_the_right_row() {
    let mut app = app_with(5);
    let old = worker(2);
    let mut new = old.clone();
    new.status = Some(WorkerStatus::Draining);
    new.load = 42;
    app.update(workers_event(
        2,
        vec![WorkerEvent::Changed {
            old: old.clone(),
            new,
        }],
    ));
    assert_eq!(app.workers.len(), 5);
    let w = &app.workers[&old.id];
    assert_eq!(w.status, Some(WorkerStatus::Draining));
    assert_eq!(w.load, 42);
    for i in [0, 1, 3, 4] {
        assert_eq!(
            app.workers[&worker(i).id],
            worker(i),
            "worker {i} untouched"
        );
    }
    assert_eq!(
        app.source(smg_tui::event::Source::Workers).last_success,
        Some(t(2))
    );
}

#[test]
fn removed_event_removes_the_row_and_keeps_selection_valid() {
    let mut app = app_with(3);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected, 2);
    let last = app.order[2].clone();
    let gone = app.workers[&last].clone();
    app.update(workers_event(2, vec![WorkerEvent::Removed(gone)]));
    assert_eq!(app.workers.len(), 2);
    assert!(!app.order.contains(&last));
    assert_eq!(app.selected, 1);
}

#[test]
fn selection_follows_the_worker_across_resorts() {
    let mut app = app_with(10);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    let id = app.order[app.selected].clone();
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.order[app.selected], id);
}

#[test]
fn sort_orders_rows() {
    let mut app = app_with(12);
    app.view = View::Workers;
    // Default: URL ascending, numerically (10.0.0.2 before 10.0.0.10).
    let urls: Vec<String> = app
        .order
        .iter()
        .map(|id| app.workers[id].spec.url.clone())
        .collect();
    assert_eq!(urls[0], "http://10.0.0.1:30000");
    assert_eq!(urls[1], "http://10.0.0.2:30000");
    assert_eq!(urls[11], "http://10.0.0.12:30000");

    // Shift+P: priority, descending first; then ties by id.
    press(&mut app, KeyCode::Char('P'));
    assert_eq!(app.sort.column, Column::Priority);
    assert!(app.sort.descending);
    let prios: Vec<u32> = app
        .order
        .iter()
        .map(|id| app.workers[id].spec.priority)
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    // Again flips.
    press(&mut app, KeyCode::Char('P'));
    assert!(!app.sort.descending);
    let prios: Vec<u32> = app
        .order
        .iter()
        .map(|id| app.workers[id].spec.priority)
        .collect();
    assert!(prios.windows(2).all(|w| w[0] <= w[1]), "{prios:?}");

    // Status ascending puts problems first.
    press(&mut app, KeyCode::Char('A'));
    assert_eq!(app.sort.column, Column::Status);
    let first = &app.workers[&app.order[0]];
    assert_ne!(first.status, Some(WorkerStatus::Ready));

    // `s` cycles to the next column.
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort.column, Column::Running);
}

#[test]
fn metric_sort_puts_missing_reports_last() {
    let mut app = fixtures::app(30, 2);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('N'));
    let running: Vec<Option<i64>> = app
        .order
        .iter()
        .map(|id| app.metrics_for(&app.workers[id]).and_then(|m| m.running))
        .collect();
    let first_none = running.iter().position(Option::is_none).unwrap();
    assert!(
        running[first_none..].iter().all(Option::is_none),
        "{running:?}"
    );
    let some: Vec<i64> = running.iter().flatten().copied().collect();
    assert!(some.windows(2).all(|w| w[0] >= w[1]), "{some:?}");
    press(&mut app, KeyCode::Char('S'));
    let running: Vec<Option<i64>> = app
        .order
        .iter()
        .map(|id| app.metrics_for(&app.workers[id]).and_then(|m| m.running))
        .collect();
    assert!(
        running.last().unwrap().is_none(),
        "missing stays last ascending too"
    );
}

#[test]
fn filter_matches_id_url_model_status() {
    let mut app = app_with(40);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode, Mode::Filter);
    typed(&mut app, "QWEN");
    assert!(!app.order.is_empty());
    assert!(app.order.iter().all(|id| {
        app.workers[id]
            .model_id
            .as_deref()
            .is_some_and(|m| m.contains("Qwen"))
    }));
    // `q` is a letter while typing.
    assert_eq!(app.filter, "QWEN");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "QWEN");

    app.filter.clear();
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "draining");
    assert!(
        app.order
            .iter()
            .all(|id| app.workers[id].status == Some(WorkerStatus::Draining))
    );
    assert!(!app.order.is_empty());
    // Esc while typing clears and leaves.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.filter.is_empty());
    assert_eq!(app.order.len(), 40);

    let id = worker(7).id;
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, smg_tui::format::short_id(&id));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.order, vec![id]);
    // Esc in normal mode clears a kept filter.
    press(&mut app, KeyCode::Esc);
    assert!(app.filter.is_empty());
    assert_eq!(app.order.len(), 40);

    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "10.0.0.33:");
    assert_eq!(app.order, vec![worker(32).id]);
}

#[test]
fn time_series_stay_bounded() {
    let mut app = App::with_history(fixtures::URL, t(0), 5);
    app.update(workers_event(
        0,
        (0..3).map(|i| WorkerEvent::Added(worker(i))).collect(),
    ));
    for tick in 0..50 {
        app.update(Event::Loads(Stamped::new(
            t(tick as u64),
            Ok(GetLoadsResponse {
                workers: (0..3).map(|i| fixtures::load(i, tick)).collect(),
            }),
        )));
    }
    assert_eq!(app.fleet.running.len(), 5);
    assert_eq!(app.fleet.running.capacity(), 5);
    assert_eq!(app.fleet.token_usage.len(), 5);
    for s in app.worker_series.values() {
        assert_eq!(s.load.len(), 5);
        assert_eq!(s.hit_rate.len(), 5);
    }
    assert_eq!(smg_tui::series::DEFAULT_CAPACITY, 300);
    let big = fixtures::app(3, 400);
    assert_eq!(big.fleet.running.len(), 300);
}

#[test]
fn removed_worker_history_is_dropped() {
    let mut app = fixtures::app(3, 3);
    let w = worker(1);
    assert!(app.worker_series.contains_key(&w.spec.url));
    app.update(workers_event(100, vec![WorkerEvent::Removed(w.clone())]));
    assert!(!app.worker_series.contains_key(&w.spec.url));
}

#[test]
fn missing_load_reports_are_gaps_not_zeros() {
    let mut app = app_with(2);
    let mut loads = GetLoadsResponse {
        workers: (0..2).map(|i| fixtures::load(i, 0)).collect(),
    };
    for l in &mut loads.workers {
        l.load = -1;
        l.details = None;
    }
    app.update(Event::Loads(Stamped::new(t(1), Ok(loads))));
    assert_eq!(app.fleet.running.last(), None);
    let m = app.metrics_for(&worker(0)).unwrap();
    assert_eq!(m.running, None);
    assert_eq!(m.kv_load, None);
}

#[test]
fn keys_q_quits_only_outside_text_input() {
    let mut app = app_with(3);
    app.view = View::Workers;
    // In the add form, q is text.
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.mode, Mode::Form(_)));
    assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Redraw);
    let Mode::Form(form) = &app.mode else {
        panic!()
    };
    assert_eq!(form.fields[0].value, "q");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    // In the command line, q is text until Enter.
    press(&mut app, KeyCode::Char(':'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Redraw);
    assert_eq!(app.mode, Mode::Command("q".into()));
    assert_eq!(press(&mut app, KeyCode::Enter), Effect::Quit);
    // In the filter, q is text.
    app.mode = Mode::Normal;
    press(&mut app, KeyCode::Char('/'));
    assert_ne!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
    assert_eq!(app.filter, "q");
    press(&mut app, KeyCode::Esc);
    // In the help overlay, q closes it.
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Redraw);
    assert_eq!(app.mode, Mode::Normal);
    // Normally, q quits; Ctrl-C quits from anywhere.
    assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(ctrl(&mut app, 'c'), Effect::Quit);
}

#[test]
fn g_and_big_g_move_to_ends() {
    let mut app = app_with(30);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected, 29);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected, 28);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected, 0);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected, 0);
    app.page.set(10);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, 10);
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, 29);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected, 19);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 20);
}

#[test]
fn views_by_number_and_command() {
    let mut app = app_with(3);
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.view, View::Workers);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    assert_eq!(app.detail_id.as_deref(), Some(app.order[0].as_str()));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Workers);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.view, View::Models);
    press(&mut app, KeyCode::Char('1'));
    assert_eq!(app.view, View::Overview);
    press(&mut app, KeyCode::Char('4'));
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "mod");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.mode, Mode::Command("models ".into()));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Models);
    for (cmd, view) in [("workers", View::Workers), ("overview", View::Overview)] {
        press(&mut app, KeyCode::Char(':'));
        typed(&mut app, cmd);
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.view, view);
    }
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "help");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "bogus");
    press(&mut app, KeyCode::Enter);
    assert!(app.visible_flash().unwrap().error);
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sort -prio");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.sort.column, Column::Priority);
    assert!(app.sort.descending);
}

#[test]
fn enter_on_a_model_filters_workers() {
    let mut app = fixtures::app(12, 1);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('j'));
    let model = app.model_rows()[1].id.clone();
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Workers);
    assert_eq!(app.filter, model);
    assert!(
        app.order
            .iter()
            .all(|id| app.workers[id].model_id.as_deref() == Some(model.as_str()))
    );
}

#[test]
fn delete_needs_confirmation() {
    let mut app = app_with(3);
    press(&mut app, KeyCode::Char('2'));
    let id = app.order[0].clone();
    press(&mut app, KeyCode::Char('d'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(
        c.action.smgctl(),
        format!("smgctl workers delete {id} --yes")
    );
    // n cancels.
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.mode, Mode::Normal);
    // Ctrl-d also deletes; y runs it.
    ctrl(&mut app, 'd');
    assert!(matches!(app.mode, Mode::Confirm(_)));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::DeleteWorker { id })
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn add_form_validates_then_confirms() {
    let mut app = app_with(1);
    press(&mut app, KeyCode::Char('a'));
    press(&mut app, KeyCode::Enter);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert_eq!(f.error.as_deref(), Some("URL is required"));
    typed(&mut app, "http://10.9.9.9:8000");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "my-model");
    press(&mut app, KeyCode::Tab);
    for _ in 0..7 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "prefill");
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab); // wraps from URL to Priority
    for _ in 0..2 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "70");
    press(&mut app, KeyCode::Enter);
    let Mode::Confirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    let Action::CreateWorker(spec) = &c.action else {
        panic!()
    };
    assert_eq!(spec.url, "http://10.9.9.9:8000");
    assert_eq!(spec.models[0].id, "my-model");
    assert_eq!(spec.worker_type, WorkerType::Prefill);
    assert_eq!(spec.priority, 70);
    assert_eq!(
        c.action.smgctl(),
        "smgctl workers add http://10.9.9.9:8000 --model my-model --type prefill --priority 70"
    );
    // Esc goes back to the form, contents kept.
    press(&mut app, KeyCode::Esc);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert_eq!(f.fields[0].value, "http://10.9.9.9:8000");
    press(&mut app, KeyCode::Enter);
    let Mode::Confirm(c) = app.mode.clone() else {
        panic!()
    };
    assert_eq!(press(&mut app, KeyCode::Enter), Effect::Run(c.action));
}

#[test]
fn edit_form_sends_only_changes() {
    let mut app = app_with(3);
    press(&mut app, KeyCode::Char('2'));
    let id = app.order[0].clone();
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Enter);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert_eq!(f.error.as_deref(), Some("nothing changed"));
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "tier=gold");
    press(&mut app, KeyCode::Enter);
    let Mode::Confirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    let Action::UpdateWorker { id: uid, update } = &c.action else {
        panic!()
    };
    assert_eq!(uid, &id);
    assert_eq!(update.priority, None);
    assert_eq!(update.cost, None);
    assert_eq!(update.labels.as_ref().unwrap()["tier"], "gold");
}

#[test]
fn flush_confirms_and_reports_partial_failure() {
    let mut app = app_with(2);
    press(&mut app, KeyCode::Char('F'));
    let Mode::Confirm(c) = &app.mode else {
        panic!()
    };
    assert_eq!(c.action, Action::FlushCache);
    assert_eq!(c.action.smgctl(), "smgctl cache flush");
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::FlushCache)
    );
    let effect = app.update(Event::ActionDone(Stamped::new(
        t(1),
        ActionOutcome {
            title: "Flush all caches".into(),
            result: Err("partial: 1 of 2 workers flushed, 1 failed".into()),
        },
    )));
    assert_eq!(effect, Effect::Redraw);
    let f = app.visible_flash().unwrap();
    assert!(f.error);
    assert!(f.text.contains("1 failed"), "{}", f.text);
}

#[test]
fn action_success_refreshes_and_message_expires() {
    let mut app = app_with(1);
    let effect = app.update(Event::ActionDone(Stamped::new(
        t(0),
        ActionOutcome {
            title: "Delete worker".into(),
            result: Ok("Worker removal queued".into()),
        },
    )));
    assert_eq!(effect, Effect::Refresh);
    assert!(!app.visible_flash().unwrap().error);
    app.update(Event::Tick(t(0) + Duration::from_secs(4)));
    assert!(app.visible_flash().is_some());
    app.update(Event::Tick(t(0) + Duration::from_secs(6)));
    assert!(app.visible_flash().is_none());
}

#[test]
fn staleness_tracks_errors_and_recovery() {
    let mut app = fixtures::app(5, 2);
    let src = smg_tui::event::Source::Loads;
    assert!(app.failing_sources().is_empty());
    let ready_before = app.status_counts();
    let err = SourceError {
        message: "gateway answered 401 Unauthorized: bad token".into(),
        unreachable: false,
    };
    app.update(Event::Loads(Stamped::new(t(100), Err(err.clone()))));
    assert_eq!(app.source(src).failing(), Some(&err));
    assert!(!app.unreachable());
    // Data is kept.
    assert_eq!(app.status_counts(), ready_before);
    assert!(app.fleet.running.last().is_some());
    app.update(Event::Loads(Stamped::new(
        t(102),
        Ok(GetLoadsResponse::default()),
    )));
    assert!(app.source(src).failing().is_none());
}

#[test]
fn non_admin_role_disables_actions() {
    let mut app = app_with(2);
    app.principal = Some(("alice".into(), "viewer".into()));
    press(&mut app, KeyCode::Char('2'));
    for c in ['a', 'e', 'd', 'F'] {
        assert_eq!(press(&mut app, KeyCode::Char(c)), Effect::Redraw);
        assert_eq!(app.mode, Mode::Normal, "{c}");
    }
    assert!(app.visible_flash().unwrap().text.contains("admin"));
    app.principal = Some(("root".into(), "admin".into()));
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.mode, Mode::Form(_)));
}

#[test]
fn refresh_key_asks_for_refresh() {
    let mut app = app_with(1);
    assert_eq!(press(&mut app, KeyCode::Char('r')), Effect::Refresh);
}

#[test]
fn models_count_ready_and_total_workers() {
    let mut app = App::new(fixtures::URL, t(0));
    let mut a = worker(0);
    let mut b = worker(3);
    Arc::make_mut(&mut a.spec).models = vec![smg_sdk::ModelCard::new("m1")];
    Arc::make_mut(&mut b.spec).models = vec![smg_sdk::ModelCard::new("m1")];
    b.status = Some(WorkerStatus::NotReady);
    let mut c = worker(1);
    c.spec = Arc::new(WorkerSpec::new("http://wild:1"));
    app.update(workers_event(
        0,
        vec![
            WorkerEvent::Added(a),
            WorkerEvent::Added(b),
            WorkerEvent::Added(c),
        ],
    ));
    let rows = app.model_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].ready, rows[0].total), (1, 2));
    assert_eq!(app.wildcard_workers(), (1, 1));
}

#[test]
fn natural_order() {
    use std::cmp::Ordering::*;
    assert_eq!(natural_cmp("10.0.0.2", "10.0.0.10"), Less);
    assert_eq!(natural_cmp("a10", "A9"), Greater);
    assert_eq!(natural_cmp("x", "x1"), Less);
    assert_eq!(natural_cmp("007", "7"), Equal);
}
