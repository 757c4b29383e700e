//! State-update tests: `App::update` driven by data events and keys, no rendering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smg_sdk::{
    GetLoadsResponse, JobState, Principal, Role, WorkerEvent, WorkerSpec, WorkerStatus, WorkerType,
};
use smg_tui::app::{App, Column, Identity, Mode, View, natural_cmp};
use smg_tui::event::{
    Action, ActionOutcome, Effect, Event, Source, SourceError, Stamped, WasmState, Whoami,
};
use smg_tui::fixtures::{self, t, worker};
use smg_tui::traffic::{Counts, TrafficSample};

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
    assert_eq!(app.data.workers.len(), 5);
    let w = &app.data.workers[&old.id];
    assert_eq!(w.status, Some(WorkerStatus::Draining));
    assert_eq!(w.load, 42);
    for i in [0, 1, 3, 4] {
        assert_eq!(
            app.data.workers[&worker(i).id],
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
    assert_eq!(app.cursors.get(View::Workers), 2);
    let last = app.order[2].clone();
    let gone = app.data.workers[&last].clone();
    app.update(workers_event(2, vec![WorkerEvent::Removed(gone)]));
    assert_eq!(app.data.workers.len(), 2);
    assert!(!app.order.contains(&last));
    assert_eq!(app.cursors.get(View::Workers), 1);
}

#[test]
fn selection_follows_the_worker_across_resorts() {
    let mut app = app_with(10);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    let id = app.order[app.cursors.get(View::Workers)].clone();
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.order[app.cursors.get(View::Workers)], id);
}

#[test]
fn sort_orders_rows() {
    let mut app = app_with(12);
    app.view = View::Workers;
    // Default: URL ascending, numerically (10.0.0.2 before 10.0.0.10).
    let urls: Vec<String> = app
        .order
        .iter()
        .map(|id| app.data.workers[id].spec.url.clone())
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
        .map(|id| app.data.workers[id].spec.priority)
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    // Again flips.
    press(&mut app, KeyCode::Char('P'));
    assert!(!app.sort.descending);
    let prios: Vec<u32> = app
        .order
        .iter()
        .map(|id| app.data.workers[id].spec.priority)
        .collect();
    assert!(prios.windows(2).all(|w| w[0] <= w[1]), "{prios:?}");

    // Status ascending puts problems first.
    press(&mut app, KeyCode::Char('A'));
    assert_eq!(app.sort.column, Column::Status);
    let first = &app.data.workers[&app.order[0]];
    assert_ne!(first.status, Some(WorkerStatus::Ready));

    // `s` cycles to the next column.
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort.column, Column::Breaker);
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
        .map(|id| {
            app.metrics_for(&app.data.workers[id])
                .and_then(|m| m.running)
        })
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
        .map(|id| {
            app.metrics_for(&app.data.workers[id])
                .and_then(|m| m.running)
        })
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
        app.data.workers[id]
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
            .all(|id| app.data.workers[id].status == Some(WorkerStatus::Draining))
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
            Ok(fixtures::fanout(GetLoadsResponse {
                workers: (0..3).map(|i| fixtures::load(i, tick)).collect(),
            })),
        )));
    }
    assert_eq!(app.data.fleet.running.len(), 5);
    assert_eq!(app.data.fleet.running.capacity(), 5);
    assert_eq!(app.data.fleet.token_usage.len(), 5);
    for s in app.data.worker_series.values() {
        assert_eq!(s.load.len(), 5);
        assert_eq!(s.hit_rate.len(), 5);
    }
    assert_eq!(smg_tui::series::DEFAULT_CAPACITY, 300);
    let big = fixtures::app(3, 400);
    assert_eq!(big.data.fleet.running.len(), 300);
}

#[test]
fn removed_worker_history_is_dropped() {
    let mut app = fixtures::app(3, 3);
    let w = worker(1);
    assert!(app.data.worker_series.contains_key(&w.spec.url));
    app.update(workers_event(100, vec![WorkerEvent::Removed(w.clone())]));
    assert!(!app.data.worker_series.contains_key(&w.spec.url));
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
    app.update(Event::Loads(Stamped::new(
        t(1),
        Ok(fixtures::fanout(loads)),
    )));
    assert_eq!(app.data.fleet.running.last(), None);
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
    assert_eq!(app.cursors.get(View::Workers), 29);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.cursors.get(View::Workers), 28);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.cursors.get(View::Workers), 0);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.cursors.get(View::Workers), 0);
    app.page.set(10);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.cursors.get(View::Workers), 10);
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.cursors.get(View::Workers), 29);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.cursors.get(View::Workers), 19);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.cursors.get(View::Workers), 20);
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
    assert_eq!(app.view, View::Tokenizers);
    press(&mut app, KeyCode::Char('5'));
    assert_eq!(app.view, View::Modules);
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "mod");
    press(&mut app, KeyCode::Tab);
    // Ambiguous (models, modules): nothing completed.
    assert_eq!(app.mode, Mode::Command("mod".into()));
    typed(&mut app, "e");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.mode, Mode::Command("models ".into()));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Models);
    for (cmd, view) in [
        ("workers", View::Workers),
        ("overview", View::Overview),
        ("tokenizers", View::Tokenizers),
        ("wasm", View::Modules),
    ] {
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
            .all(|id| app.data.workers[id].model_id.as_deref() == Some(model.as_str()))
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
fn cordon_uncordon_retire_and_flush_one_are_confirmed_per_worker() {
    let mut app = app_with(2);
    press(&mut app, KeyCode::Char('2'));
    let id = app.order[0].clone();

    press(&mut app, KeyCode::Char('c'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(c.action.smgctl(), format!("smgctl workers cordon {id}"));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::CordonWorker { id: id.clone() })
    );
    // Not cordoned yet: `u` says so instead of asking.
    assert_eq!(press(&mut app, KeyCode::Char('u')), Effect::Redraw);
    assert_eq!(app.mode, Mode::Normal);

    // Once the gateway reports it cordoned, `c` refuses and `u` offers to undo it.
    let old = app.data.workers[&id].clone();
    let mut new = old.clone();
    std::sync::Arc::make_mut(&mut new.spec).disabled = true;
    app.update(workers_event(1, vec![WorkerEvent::Changed { old, new }]));
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, KeyCode::Char('u'));
    assert!(matches!(app.mode, Mode::Confirm(_)));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::UncordonWorker { id: id.clone() })
    );

    press(&mut app, KeyCode::Char('x'));
    let Mode::Confirm(c) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(
        c.action.smgctl(),
        format!("smgctl workers retire {id} --yes")
    );
    assert!(
        c.details.iter().any(|d| d.contains("flushes")),
        "{:?}",
        c.details
    );
    press(&mut app, KeyCode::Char('n'));

    press(&mut app, KeyCode::Char('f'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::FlushWorker { id: id.clone() })
    );
    // The same through `:` commands.
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "retire");
    press(&mut app, KeyCode::Enter);
    assert!(matches!(&app.mode, Mode::Confirm(c) if c.action == Action::RetireWorker { id }));
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
            secret: None,
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
            secret: None,
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
    assert!(app.data.fleet.running.last().is_some());
    app.update(Event::Loads(Stamped::new(
        t(102),
        Ok(fixtures::fanout(GetLoadsResponse::default())),
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

// ---------------------------------------------------------------------------------------------
// The SDK watch's marker, tokenizers, modules, identity and traffic.

#[test]
fn synced_marker_changes_nothing_but_freshness() {
    let mut app = app_with(2);
    let before = app.data.workers.clone();
    app.update(workers_event(4, vec![WorkerEvent::Synced { total: 2 }]));
    assert_eq!(app.data.workers, before);
    assert_eq!(app.source(Source::Workers).last_success, Some(t(4)));
}

fn tokenizers_app() -> App {
    let mut app = app_with(2);
    app.update(Event::Tokenizers(Stamped::new(
        t(1),
        Ok(fixtures::tokenizers()),
    )));
    app.view = View::Tokenizers;
    app
}

#[test]
fn tokenizers_list_filter_and_failure_reason() {
    let mut app = tokenizers_app();
    assert_eq!(app.tokenizer_rows().len(), 3);
    press(&mut app, KeyCode::Char('G'));
    let t3 = app.selected_tokenizer().unwrap();
    assert_eq!(t3.name, "broken");
    let (word, reason) = smg_tui::app::tokenizer_status(t3);
    assert_eq!(word, "failed");
    assert!(reason.unwrap().contains("no tokenizer.json"));
    // The filter matches status words too, and resets the selection.
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "fail");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.tokenizer_rows().len(), 1);
    assert_eq!(app.cursors.get(View::Tokenizers), 0);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.tokenizer_rows().len(), 3);
    // A shorter list clamps the selection.
    press(&mut app, KeyCode::Char('G'));
    let mut shorter = fixtures::tokenizers();
    shorter.truncate(1);
    app.update(Event::Tokenizers(Stamped::new(t(3), Ok(shorter))));
    assert_eq!(app.cursors.get(View::Tokenizers), 0);
    // Loading state words.
    let mut t2 = fixtures::tokenizers()[1].clone();
    assert_eq!(smg_tui::app::tokenizer_status(&t2).0, "loading");
    t2.status = None;
    assert_eq!(smg_tui::app::tokenizer_status(&t2), ("loaded", None));
    t2.status = Some(JobState::Pending);
    assert_eq!(smg_tui::app::tokenizer_status(&t2).0, "pending");
}

#[test]
fn add_tokenizer_form_validates_then_runs() {
    let mut app = tokenizers_app();
    press(&mut app, KeyCode::Char('a'));
    let Mode::Form(f) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(f.title(), "Add tokenizer");
    press(&mut app, KeyCode::Enter);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert_eq!(f.error.as_deref(), Some("name is required"));
    typed(&mut app, "my tok");
    press(&mut app, KeyCode::Enter);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert!(f.error.as_deref().unwrap().contains("spaces"));
    for _ in 0..4 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "-tok");
    press(&mut app, KeyCode::Enter);
    let Mode::Form(f) = &app.mode else { panic!() };
    assert!(
        f.error
            .as_deref()
            .unwrap()
            .starts_with("source is required")
    );
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "/models/my");
    press(&mut app, KeyCode::Enter);
    let Mode::Confirm(c) = app.mode.clone() else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(c.action.smgctl(), "smgctl tokenizers add my-tok /models/my");
    let Action::AddTokenizer(req) = &c.action else {
        panic!()
    };
    assert_eq!(req.chat_template_path, None);
    assert_eq!(press(&mut app, KeyCode::Char('y')), Effect::Run(c.action));
}

#[test]
fn delete_tokenizer_confirms() {
    let mut app = tokenizers_app();
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('d'));
    let Mode::Confirm(c) = app.mode.clone() else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(
        c.action,
        Action::DeleteTokenizer {
            name: "qwen".into()
        }
    );
    assert!(c.details.iter().any(|d| d.contains("/models/qwen2.5")));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    // Nothing to delete in an empty list.
    app.update(Event::Tokenizers(Stamped::new(t(5), Ok(vec![]))));
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.visible_flash().unwrap().error);
}

#[test]
fn modules_state_and_execution_rates() {
    let mut app = app_with(1);
    app.update(Event::Wasm(Stamped::new(
        t(0),
        Ok(WasmState::Enabled(fixtures::wasm(0))),
    )));
    assert_eq!(app.module_rows().len(), 3);
    assert_eq!(app.wasm_exec_rate(), None);
    app.update(Event::Wasm(Stamped::new(
        t(2),
        Ok(WasmState::Enabled(fixtures::wasm(1))),
    )));
    // 20 + 18 more runs in 2 s.
    assert_eq!(app.wasm_exec_rate(), Some(19.0));
    let rows = app.module_rows();
    assert_eq!(rows[0].exec_rate, Some(10.0));
    assert_eq!(rows[2].exec_rate, Some(0.0));
    app.view = View::Modules;
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.cursors.get(View::Modules), 2);
    // `a` in the Modules view explains instead of opening a form.
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.visible_flash()
            .unwrap()
            .text
            .contains("smgctl wasm add")
    );
    // Disabled: no rows, not an error.
    app.update(Event::Wasm(Stamped::new(t(4), Ok(WasmState::Disabled))));
    assert!(app.module_rows().is_empty());
    assert_eq!(app.cursors.get(View::Modules), 0);
    assert!(app.source(Source::Wasm).failing().is_none());
}

fn whoami(app: &mut App, at: u64, answer: Whoami) {
    app.update(Event::Whoami(Stamped::new(t(at), Ok(answer))));
}

#[test]
fn whoami_sets_principal_and_gates_actions() {
    let mut app = app_with(2);
    app.view = View::Workers;
    whoami(&mut app, 1, Whoami::Principal(fixtures::principal()));
    assert_eq!(
        app.principal,
        Some(("Ops team [ops]".into(), "admin".into()))
    );
    assert_eq!(app.identity, Identity::Known);
    assert!(app.actions_allowed());

    whoami(
        &mut app,
        2,
        Whoami::Principal(Principal {
            id: "ci".into(),
            name: Some("ci".into()),
            role: Role::User,
            auth_method: "api_key:ci".into(),
        }),
    );
    assert_eq!(app.principal, Some(("ci".into(), "user".into())));
    assert!(!app.actions_allowed());
    for c in ['a', 'e', 'd', 'F'] {
        press(&mut app, KeyCode::Char(c));
        assert_eq!(app.mode, Mode::Normal, "{c}");
    }

    // Not offered (e.g. upstream SMG): role unknown, actions enabled.
    whoami(
        &mut app,
        3,
        Whoami::NotOffered("upstream SMG 1.13.0".into()),
    );
    assert_eq!(app.principal, None);
    assert_eq!(
        app.identity,
        Identity::NotOffered("upstream SMG 1.13.0".into())
    );
    assert!(app.actions_allowed());
    assert!(app.source(Source::Whoami).failing().is_none());
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.mode, Mode::Form(_)));
    press(&mut app, KeyCode::Esc);

    // Refused (401/403): shown, actions disabled, but no gateway banner.
    whoami(
        &mut app,
        4,
        Whoami::Refused {
            status: 403,
            message: "403 Forbidden".into(),
        },
    );
    assert!(!app.actions_allowed());
    assert!(app.source(Source::Whoami).failing().is_some());
    assert!(app.failing_sources().is_empty());
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.visible_flash().unwrap().text.contains("403"));

    // An unreachable whoami keeps what was known.
    app.update(Event::Whoami(Stamped::new(
        t(5),
        Err(SourceError {
            message: "timed out".into(),
            unreachable: true,
        }),
    )));
    assert!(matches!(
        app.identity,
        Identity::Refused { status: 403, .. }
    ));
    assert!(!app.unreachable());
}

fn sample(entries: &[(&str, f64, f64)]) -> TrafficSample {
    let mut s = TrafficSample::default();
    for (url, total, errors) in entries {
        s.workers.insert(
            (*url).to_string(),
            Counts {
                total: *total,
                errors: *errors,
            },
        );
    }
    s
}

#[test]
fn traffic_rates_from_two_scrapes() {
    let mut app = app_with(3);
    let (u0, u1, u2) = (
        worker(0).spec.url.clone(),
        worker(1).spec.url.clone(),
        worker(2).spec.url.clone(),
    );
    let metrics = |app: &mut App, at: u64, s: TrafficSample| {
        app.update(Event::Metrics(Stamped::new(t(at), Ok(s))));
    };
    metrics(&mut app, 0, sample(&[(&u0, 100.0, 0.0), (&u1, 10.0, 1.0)]));
    // One scrape: no rate yet.
    assert_eq!(app.traffic_for(&worker(0)), None);
    assert!(app.data.fleet.req_rate.is_empty());
    metrics(&mut app, 2, sample(&[(&u0, 120.0, 5.0), (&u1, 10.0, 1.0)]));
    let r0 = app.traffic_for(&worker(0)).unwrap();
    assert_eq!(r0.req_per_sec, 10.0);
    assert_eq!(r0.err_rate, Some(0.25));
    let r1 = app.traffic_for(&worker(1)).unwrap();
    assert_eq!((r1.req_per_sec, r1.err_rate), (0.0, None));
    // A worker without a series had no requests at all.
    let r2 = app.traffic_for(&worker(2)).unwrap();
    assert_eq!((r2.req_per_sec, r2.err_rate), (0.0, None));
    assert_eq!(app.data.fleet.req_rate.last(), Some(10.0));
    assert_eq!(app.data.fleet.err_rate.last(), Some(0.25));

    // Sorting by REQ/S puts the busy worker first.
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('Q'));
    assert_eq!(app.sort.column, Column::ReqRate);
    assert!(app.sort.descending);
    assert_eq!(app.order[0], worker(0).id);
    let _ = u2;

    // A failed scrape: "metrics unavailable", a gap in the history, no gateway banner.
    app.update(Event::Metrics(Stamped::new(
        t(4),
        Err(SourceError {
            message: "connection refused".into(),
            unreachable: true,
        }),
    )));
    assert!(app.metrics_unavailable());
    assert_eq!(app.traffic_for(&worker(0)), None);
    assert_eq!(app.data.fleet.req_rate.last(), None);
    assert!(app.failing_sources().is_empty());
    assert!(!app.unreachable());
    // Recovery: the rate spans the whole gap.
    metrics(&mut app, 6, sample(&[(&u0, 160.0, 5.0), (&u1, 10.0, 1.0)]));
    assert!(!app.metrics_unavailable());
    assert_eq!(app.traffic_for(&worker(0)).unwrap().req_per_sec, 10.0);
}

#[test]
fn sort_by_breaker_puts_open_first() {
    let mut app = app_with(20);
    app.view = View::Workers;
    press(&mut app, KeyCode::Char('B'));
    assert_eq!(app.sort.column, Column::Breaker);
    let first = &app.data.workers[&app.order[0]];
    assert_eq!(first.circuit_breaker.as_deref(), Some("open"));
    let second = &app.data.workers[&app.order[1]];
    assert_eq!(second.circuit_breaker.as_deref(), Some("half_open"));
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sort -err");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.sort.column, Column::ErrRate);
}

fn keys_app() -> App {
    let mut app = fixtures::app(3, 1);
    press(&mut app, KeyCode::Char('6'));
    assert_eq!(app.view, View::Keys);
    app
}

fn confirmed(app: &App) -> Action {
    match &app.mode {
        Mode::Confirm(c) => c.action.clone(),
        other => panic!("no confirmation: {other:?}"),
    }
}

#[test]
fn keys_view_lists_filters_and_confirms_each_action() {
    let mut app = keys_app();
    assert_eq!(app.key_rows().len(), 5);
    assert_eq!(app.selected_key().unwrap().id, "ops");
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "admin");
    press(&mut app, KeyCode::Enter);
    let ids: Vec<&str> = app.key_rows().iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["ops", "ci-deploy"]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.key_rows().len(), 5);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_key().unwrap().id, "ci-deploy");

    // x disables (not retire), u enables (not uncordon), o rotates, d deletes: each confirmed,
    // each showing the smgctl equivalent.
    for (c, action, line) in [
        (
            'x',
            Action::DisableKey {
                id: "ci-deploy".into(),
            },
            "smgctl keys disable ci-deploy",
        ),
        (
            'o',
            Action::RotateKey {
                id: "ci-deploy".into(),
            },
            "smgctl keys rotate ci-deploy --yes",
        ),
        (
            'd',
            Action::DeleteKey {
                id: "ci-deploy".into(),
            },
            "smgctl keys delete ci-deploy --yes",
        ),
    ] {
        press(&mut app, KeyCode::Char(c));
        assert_eq!(confirmed(&app), action, "{c}");
        assert_eq!(action.smgctl(), line);
        assert_eq!(press(&mut app, KeyCode::Char('n')), Effect::Redraw);
        assert_eq!(app.mode, Mode::Normal);
    }
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Effect::Run(Action::DisableKey {
            id: "ci-deploy".into()
        })
    );
    // Enabling an enabled key is refused with a reason; the disabled one can be.
    press(&mut app, KeyCode::Char('u'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.visible_flash().unwrap().error);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_key().unwrap().id, "contractor");
    press(&mut app, KeyCode::Char('u'));
    assert_eq!(
        confirmed(&app),
        Action::EnableKey {
            id: "contractor".into()
        }
    );
    press(&mut app, KeyCode::Esc);
    // Worker actions are not bound here: c does nothing.
    assert_eq!(press(&mut app, KeyCode::Char('c')), Effect::None);
    // The command line knows the key actions in this view only.
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "rotate");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        confirmed(&app),
        Action::RotateKey {
            id: "contractor".into()
        }
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "rotate");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.visible_flash()
            .unwrap()
            .text
            .contains("unknown command")
    );
}

#[test]
fn create_key_form_validates_then_confirms() {
    let mut app = keys_app();
    press(&mut app, KeyCode::Char('a'));
    let Mode::Form(form) = &app.mode else {
        panic!("no form")
    };
    assert_eq!(form.title(), "Create API key");
    typed(&mut app, "bad id");
    press(&mut app, KeyCode::Enter);
    let Mode::Form(form) = &app.mode else {
        panic!("form closed")
    };
    assert!(form.error.as_deref().unwrap().contains("A-Z a-z 0-9"));
    for _ in 0.."bad id".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "ci-2");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    for _ in 0.."user".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "root");
    press(&mut app, KeyCode::Enter);
    let Mode::Form(form) = &app.mode else {
        panic!("form closed")
    };
    assert!(form.error.as_deref().unwrap().contains("user, admin"));
    for _ in 0.."root".len() {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "admin");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "2027-01-01T00:00:00Z");
    press(&mut app, KeyCode::Enter);
    let action = confirmed(&app);
    assert_eq!(
        action.smgctl(),
        "smgctl keys create --id ci-2 --role admin --expires-at 2027-01-01T00:00:00Z"
    );
    // n goes back to the form, with what was typed.
    press(&mut app, KeyCode::Char('n'));
    assert!(matches!(app.mode, Mode::Form(_)));
    press(&mut app, KeyCode::Enter);
    assert_eq!(press(&mut app, KeyCode::Char('y')), Effect::Run(action));
}

#[test]
fn a_created_key_secret_stays_until_esc() {
    let mut app = keys_app();
    let effect = app.update(Event::ActionDone(Stamped::new(
        t(200),
        ActionOutcome {
            title: "Create API key".into(),
            result: Ok("key ci-2 (admin, sk-***9f3a) created".into()),
            secret: Some("sk-live-0123456789abcdef9f3a".into()),
        },
    )));
    assert_eq!(effect, Effect::Refresh);
    let (what, secret) = app.revealed.as_ref().unwrap();
    assert!(what.contains("ci-2"));
    assert_eq!(secret.expose(), "sk-live-0123456789abcdef9f3a");
    // The secret is not in the flash (which a screen recording of the footer would keep).
    assert!(!app.visible_flash().unwrap().text.contains("sk-live"));
    // Later polls keep it; Esc hides it.
    app.update(Event::Keys(Stamped::new(
        t(201),
        Ok(smg_tui::event::Offered::Yes(fixtures::api_keys())),
    )));
    assert!(app.revealed.is_some());
    press(&mut app, KeyCode::Esc);
    assert!(app.revealed.is_none());
    // A failed action reveals nothing.
    app.update(Event::ActionDone(Stamped::new(
        t(202),
        ActionOutcome {
            title: "Rotate API key".into(),
            result: Err("404 not_found".into()),
            secret: None,
        },
    )));
    assert!(app.revealed.is_none());
}

#[test]
fn key_actions_need_the_admin_role() {
    let mut app = keys_app();
    app.principal = Some(("alice".into(), "user".into()));
    for c in ['a', 'o', 'x', 'd'] {
        assert_eq!(press(&mut app, KeyCode::Char(c)), Effect::Redraw);
        assert_eq!(app.mode, Mode::Normal, "{c}");
    }
    assert!(app.visible_flash().unwrap().text.contains("admin role"));
}

#[test]
fn keys_and_audit_not_offered_are_states_not_errors() {
    let mut app = fixtures::app(3, 1);
    let why = "upstream SMG 1.13.0 does not offer `/admin/api-keys`".to_string();
    app.update(Event::Keys(Stamped::new(
        t(50),
        Ok(smg_tui::event::Offered::NotOffered(why)),
    )));
    app.update(Event::Audit(Stamped::new(
        t(50),
        Ok(smg_tui::event::Offered::NotOffered(
            "upstream SMG 1.13.0 does not offer `/admin/audit`".into(),
        )),
    )));
    assert!(app.key_rows().is_empty());
    assert!(app.audit_rows().is_empty());
    assert!(app.source(Source::Keys).failing().is_none());
    assert!(app.source(Source::Audit).failing().is_none());
    assert!(app.failing_sources().is_empty());
    // Nothing to act on: a key action says so instead of failing.
    press(&mut app, KeyCode::Char('6'));
    press(&mut app, KeyCode::Char('o'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.visible_flash()
            .unwrap()
            .text
            .contains("no key selected")
    );
    // Keys and audit are not core sources: an error there raises no banner either.
    assert!(!Source::Keys.is_core() && !Source::Audit.is_core());
}

#[test]
fn audit_view_is_newest_first_and_filters_by_principal_or_action() {
    let mut app = fixtures::app(3, 1);
    press(&mut app, KeyCode::Char('7'));
    assert_eq!(app.view, View::Audit);
    let rows = app.audit_rows();
    assert_eq!(rows.len(), 6);
    assert!(
        rows.windows(2).all(|w| w[0].timestamp >= w[1].timestamp),
        "newest first"
    );
    assert_eq!(rows[0].path, "/admin/api-keys/team-search/rotate");
    // By principal.
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "ci-deploy");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.audit_rows().len(), 2);
    assert!(
        app.audit_rows()
            .iter()
            .all(|e| e.principal_id.as_deref() == Some("ci-deploy"))
    );
    // By action (method and path) or outcome.
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "filter delete /workers");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Audit);
    assert_eq!(app.audit_rows().len(), 1);
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "filter denied");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.audit_rows().len(), 2);
    // The cursor stays on a row as the tail shrinks.
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.cursors.get(View::Audit), 1);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.audit_rows().len(), 6);
    // The Keys view shows when the tail last saw each key.
    assert_eq!(
        app.key_last_seen("ops").unwrap().path,
        "/admin/api-keys/team-search/rotate"
    );
    assert!(app.key_last_seen("contractor").is_none());
    // :audit and :keys switch views.
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "keys");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Keys);
    press(&mut app, KeyCode::Char(':'));
    typed(&mut app, "audit");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Audit);
}
