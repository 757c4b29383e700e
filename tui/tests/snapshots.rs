//! Snapshot tests: every view and overlay rendered from fixed state on a 160×48 buffer.
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test -p smg-tui`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::style::Modifier;
use smg_sdk::{GetLoadsResponse, ModelList, Principal, ReadinessResponse, Role};
use smg_tui::app::{App, Mode, View};
use smg_tui::event::{Event, SourceError, Stamped, WasmState, Whoami};
use smg_tui::fixtures::{self, t};
use smg_tui::ui::{buffer_to_text, render, render_to_text};

const W: u16 = 160;
const H: u16 = 48;

fn key(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn fleet() -> App {
    fixtures::app(40, 40)
}

/// Render through a real `Terminal<TestBackend>` (the same path as the interactive loop).
fn frame(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    terminal.draw(|f| render(f, app)).unwrap();
    buffer_to_text(terminal.backend().buffer())
}

#[test]
fn overview() {
    insta::assert_snapshot!(render_to_text(&fleet(), View::Overview, W, H));
}

#[test]
fn workers() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn workers_sorted_by_running_desc() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('N'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn workers_filtered() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "qwen");
    insta::assert_snapshot!(frame(&app));
}

/// A cordoned worker shows `⊘ cordoned` in the table and why in its detail view.
#[test]
fn cordoned_worker_in_table_and_detail() {
    let mut app = fleet();
    let id = fixtures::worker(1).id;
    std::sync::Arc::make_mut(&mut app.data.workers.get_mut(&id).unwrap().spec).disabled = true;
    key(&mut app, KeyCode::Char('2'));
    let table = frame(&app);
    assert!(table.contains("⊘ cordoned"), "{table}");
    app.view = View::Detail;
    app.detail_id = Some(id);
    insta::assert_snapshot!(format!("{table}\n{}", frame(&app)));
}

#[test]
fn worker_detail() {
    let mut app = fleet();
    app.view = View::Detail;
    app.detail_id = Some(fixtures::worker(0).id);
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn worker_detail_failed_job() {
    let mut app = fleet();
    app.view = View::Detail;
    app.detail_id = Some(fixtures::worker(9).id);
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn models() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('3'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn help_overlay() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn add_worker_form() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "http://10.0.9.9:30000");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "qwen-q");
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn add_worker_form_validation_error() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "10.0.9.9:30000");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn confirm_delete() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('d'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn confirm_edit_from_form() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('e'));
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    typed(&mut app, "80");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "zone=eu-west-1,canary=true");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn empty_fleet() {
    let mut app = App::new(fixtures::URL, t(0));
    app.update(Event::Workers(Stamped::new(t(0), Ok(vec![]))));
    app.update(Event::Loads(Stamped::new(
        t(0),
        Ok(fixtures::fanout(GetLoadsResponse::default())),
    )));
    app.update(Event::Readiness(Stamped::new(
        t(0),
        Ok(ReadinessResponse {
            status: "not ready".into(),
            healthy_workers: None,
            total_workers: None,
            reason: Some("insufficient healthy workers".into()),
        }),
    )));
    app.update(Event::Models(Stamped::new(
        t(0),
        Ok(ModelList {
            object: "list".into(),
            data: vec![],
        }),
    )));
    app.now = t(1);
    let overview = render_to_text(&app, View::Overview, W, H);
    let workers = render_to_text(&app, View::Workers, W, H);
    insta::assert_snapshot!(format!("{overview}\n{workers}"));
}

#[test]
fn thousand_workers_first_page() {
    let mut app = fixtures::app(1000, 5);
    key(&mut app, KeyCode::Char('2'));
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn thousand_workers_last_page() {
    let mut app = fixtures::app(1000, 5);
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('G'));
    let text = frame(&app);
    assert!(text.contains(&smg_tui::format::short_id(&fixtures::worker(999).id).to_string()));
    insta::assert_snapshot!(text);
}

fn disconnected() -> App {
    let mut app = fleet();
    let last = app.now;
    let err = SourceError {
        message: "could not connect to the gateway at http://smg.example:30000/workers: \
                  Connection refused (os error 111)"
            .into(),
        unreachable: true,
    };
    let at = last + Duration::from_secs(10);
    app.update(Event::Workers(Stamped::new(at, Err(err.clone()))));
    app.update(Event::Loads(Stamped::new(at, Err(err.clone()))));
    app.update(Event::Readiness(Stamped::new(at, Err(err.clone()))));
    app.update(Event::Models(Stamped::new(at, Err(err))));
    app.now = at + Duration::from_secs(4);
    app
}

#[test]
fn disconnected_banner_keeps_stale_data() {
    let app = disconnected();
    let overview = render_to_text(&app, View::Overview, W, H);
    let workers = render_to_text(&app, View::Workers, W, H);
    assert!(overview.contains("GATEWAY UNREACHABLE"));
    // The stale numbers stay: the ready count is not replaced by zero.
    assert!(workers.contains("Workers (40)"));
    insta::assert_snapshot!(format!("{overview}\n{workers}"));
}

#[test]
fn disconnected_data_is_dimmed() {
    let mut app = disconnected();
    app.view = View::Workers;
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    terminal.draw(|f| render(f, &app)).unwrap();
    let buf = terminal.backend().buffer();
    // Row 0 is the header, rows 2-3 the banner; the table starts below it.
    let table_cell = &buf[(5, 7)];
    assert!(
        table_cell.modifier.contains(Modifier::DIM),
        "{table_cell:?}"
    );
    let header_cell = &buf[(5, 0)];
    assert!(!header_cell.modifier.contains(Modifier::DIM));

    let fresh = fleet();
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    let mut fresh = fresh;
    fresh.view = View::Workers;
    terminal.draw(|f| render(f, &fresh)).unwrap();
    assert!(
        !terminal.backend().buffer()[(5, 5)]
            .modifier
            .contains(Modifier::DIM)
    );
}

#[test]
fn never_connected() {
    let mut app = App::new("http://127.0.0.1:9", t(0));
    let err = SourceError {
        message:
            "could not connect to the gateway at http://127.0.0.1:9/workers: Connection refused"
                .into(),
        unreachable: true,
    };
    app.update(Event::Workers(Stamped::new(t(1), Err(err.clone()))));
    app.update(Event::Loads(Stamped::new(t(1), Err(err.clone()))));
    app.update(Event::Readiness(Stamped::new(t(1), Err(err.clone()))));
    app.update(Event::Models(Stamped::new(t(1), Err(err))));
    app.now = t(2);
    insta::assert_snapshot!(smg_tui::once_frames(&app, 120, 30));
}

#[test]
fn read_only_role_disables_actions() {
    let mut app = fleet();
    app.principal = Some(("ci-bot".into(), "viewer".into()));
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('d'));
    assert_eq!(app.mode, smg_tui::app::Mode::Normal);
    insta::assert_snapshot!(frame(&app));
}

// ---------------------------------------------------------------------------------------------
// Tokenizers, modules, identity, traffic and breakers.

#[test]
fn tokenizers_view_with_a_failed_load() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('G'));
    let text = frame(&app);
    assert!(text.contains("✖ failed: no tokenizer.json"), "{text}");
    assert!(text.contains("reason: no tokenizer.json or tokenizer_config.json in /models/missing"));
    assert!(text.contains("128,256"));
    insta::assert_snapshot!(text);
}

#[test]
fn add_tokenizer_form() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "llama3-chat");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "meta-llama/Llama-3.1-8B-Instruct");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "/etc/smg/chat.jinja");
    insta::assert_snapshot!(frame(&app));
}

#[test]
fn confirm_add_tokenizer_shows_the_command() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "llama3-chat");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "meta-llama/Llama-3.1-8B-Instruct");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "/etc/smg/chat.jinja");
    key(&mut app, KeyCode::Enter);
    let text = frame(&app);
    assert!(text.contains(
        "$ smgctl tokenizers add llama3-chat meta-llama/Llama-3.1-8B-Instruct --chat-template \
         /etc/smg/chat.jinja"
    ));
    insta::assert_snapshot!(text);
}

#[test]
fn confirm_delete_tokenizer() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('d'));
    let text = frame(&app);
    assert!(text.contains("$ smgctl tokenizers delete broken --yes"));
    insta::assert_snapshot!(text);
}

#[test]
fn modules_view() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('5'));
    key(&mut app, KeyCode::Char('j'));
    let text = frame(&app);
    assert!(text.contains("on-request, on-response"));
    insta::assert_snapshot!(text);
}

#[test]
fn wasm_disabled() {
    let mut app = fleet();
    let at = app.now;
    app.update(Event::Wasm(Stamped::new(at, Ok(WasmState::Disabled))));
    key(&mut app, KeyCode::Char('5'));
    let text = frame(&app);
    assert!(text.contains("WASM disabled (start smg with --enable-wasm)"));
    assert!(!text.contains("GATEWAY"), "no error banner:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn principal_in_header_and_whoami_states() {
    let app = fleet();
    let header = frame(&app).lines().next().unwrap().to_string();
    assert!(
        header.contains("principal Ops team [ops] (admin)"),
        "{header}"
    );

    let mut app = fleet();
    let at = app.now;
    app.update(Event::Whoami(Stamped::new(
        at,
        Ok(Whoami::NotOffered("upstream SMG 1.13.0".into())),
    )));
    assert!(app.actions_allowed());
    let header = frame(&app).lines().next().unwrap().to_string();
    assert!(
        header.contains("principal ? (role unknown: no /admin/whoami)"),
        "{header}"
    );
}

#[test]
fn refused_token_disables_actions() {
    let mut app = fleet();
    let at = app.now;
    app.update(Event::Whoami(Stamped::new(
        at,
        Ok(Whoami::Refused {
            status: 401,
            message: "401 Unauthorized: missing or invalid admin token".into(),
        }),
    )));
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.mode, Mode::Normal, "no form when the token is refused");
    let text = frame(&app);
    assert!(text.contains("✖ token refused (401 on /admin/whoami) · actions disabled"));
    assert!(
        !text.contains("GATEWAY"),
        "whoami is not a core source:\n{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn read_only_role_from_whoami_in_tokenizers() {
    let mut app = fleet();
    let at = app.now;
    app.update(Event::Whoami(Stamped::new(
        at,
        Ok(Whoami::Principal(Principal {
            id: "ci".into(),
            name: None,
            role: Role::User,
            auth_method: "api_key:ci".into(),
        })),
    )));
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('d'));
    assert_eq!(app.mode, Mode::Normal);
    let text = frame(&app);
    assert!(text.contains("principal ci (user)  read-only"));
    assert!(text.contains("actions need the admin role (ci is 'user')"));
    insta::assert_snapshot!(text);
}

fn metrics_down(app: &mut App) {
    let at = app.now + Duration::from_secs(1);
    app.update(Event::Metrics(Stamped::new(
        at,
        Err(SourceError {
            message: "could not connect to the gateway at http://smg.example:29000/metrics: \
                      Connection refused (os error 111)"
                .into(),
            unreachable: true,
        }),
    )));
    app.now = at + Duration::from_secs(1);
}

#[test]
fn metrics_unavailable_is_not_a_gateway_error() {
    let mut app = fleet();
    metrics_down(&mut app);
    assert!(!app.unreachable());
    let overview = render_to_text(&app, View::Overview, W, H);
    let workers = render_to_text(&app, View::Workers, W, H);
    assert!(!overview.contains("GATEWAY"), "{overview}");
    assert!(overview.contains("metrics unavailable"), "{overview}");
    assert!(overview.contains("http://smg.example:29000/metrics"));
    assert!(workers.contains("REQ/S, ERR%: metrics unavailable"));
    assert!(workers.contains("n/a"));
    insta::assert_snapshot!(format!("{overview}\n{workers}"));
}

#[test]
fn workers_sorted_by_breaker() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Char('B'));
    let text = frame(&app);
    let first = text.lines().nth(4).unwrap();
    assert!(first.contains(" open "), "{first}");
    insta::assert_snapshot!(text);
}

#[test]
fn breaker_colours() {
    let mut app = fleet();
    app.view = View::Workers;
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    terminal.draw(|f| render(f, &app)).unwrap();
    let buf = terminal.backend().buffer();
    let text = buffer_to_text(buf);
    let find = |needle: &str| {
        text.lines()
            .enumerate()
            .find_map(|(y, l)| {
                l.find(needle)
                    .map(|bx| (l[..bx].chars().count() as u16, y as u16))
            })
            .unwrap()
    };
    let (x, y) = find(" half_open ");
    assert_eq!(buf[(x + 1, y)].fg, Color::Yellow);
    let (x, y) = find(" open ");
    assert_eq!(buf[(x + 1, y)].fg, Color::Red);
}

#[test]
fn worker_detail_with_an_open_breaker() {
    let mut app = fleet();
    app.view = View::Detail;
    app.detail_id = Some(fixtures::worker(4).id);
    let text = frame(&app);
    assert!(text.contains("circuit breaker open  (not routed to until it half-opens)"));
    assert!(text.contains("traffic         11 req/s"), "{text}");
    insta::assert_snapshot!(text);
}

/// Against upstream SMG 1.13.0, fed the bodies it really sends: the loads snapshot from
/// `/loads`, its worker list, WASM disabled (its empty 500) and no `/admin/whoami`.
fn upstream_app() -> App {
    use smg_sdk::{GatewayIdentity, LoadsSnapshot, WorkerEvent, WorkerListResponse};
    use smg_tui::event::{LOADS_SNAPSHOT_ROUTE, LoadsPoll};
    let workers: WorkerListResponse = serde_json::from_str(include_str!(
        "../../sdk/tests/fixtures/smg-1.13/workers.json"
    ))
    .unwrap();
    let loads: LoadsSnapshot =
        serde_json::from_str(include_str!("../../sdk/tests/fixtures/smg-1.13/loads.json")).unwrap();
    let ready: ReadinessResponse = serde_json::from_str(include_str!(
        "../../sdk/tests/fixtures/smg-1.13/readiness.json"
    ))
    .unwrap();
    let models: ModelList = serde_json::from_str(include_str!(
        "../../sdk/tests/fixtures/smg-1.13/v1_models.json"
    ))
    .unwrap();
    let mut app = App::new("http://127.0.0.1:30000", t(0));
    let at = t(2);
    app.update(Event::Workers(Stamped::new(
        at,
        Ok(workers
            .workers
            .into_iter()
            .map(WorkerEvent::Added)
            .collect()),
    )));
    app.update(Event::Loads(Stamped::new(
        at,
        Ok(LoadsPoll {
            loads: loads.into(),
            route: LOADS_SNAPSHOT_ROUTE,
            gateway: Some(GatewayIdentity::upstream("smg-1.13.0")),
        }),
    )));
    app.update(Event::Readiness(Stamped::new(at, Ok(ready))));
    app.update(Event::Models(Stamped::new(at, Ok(models))));
    app.update(Event::Tokenizers(Stamped::new(at, Ok(Vec::new()))));
    app.update(Event::Wasm(Stamped::new(at, Ok(WasmState::Disabled))));
    app.update(Event::Whoami(Stamped::new(
        at,
        Ok(Whoami::NotOffered("upstream SMG 1.13.0".into())),
    )));
    app.now = t(5);
    app
}

#[test]
fn upstream_1_13_overview() {
    let text = render_to_text(&upstream_app(), View::Overview, W, H);
    assert!(text.contains("upstream SMG 1.13.0"), "{text}");
    assert!(
        text.contains("/admin/whoami  not offered by upstream SMG 1.13.0"),
        "{text}"
    );
    assert!(text.contains("aggregate (/loads): running 0"), "{text}");
    assert!(!text.contains(" failed:"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn upstream_1_13_workers() {
    let mut app = upstream_app();
    app.view = View::Workers;
    let text = frame(&app);
    // The worker the snapshot covers has engine numbers; the other one is not polled yet.
    let running = |url: &str| app.data.metrics.get(url).and_then(|m| m.running);
    assert_eq!(running("http://127.0.0.1:31001"), Some(0));
    assert_eq!(running("http://127.0.0.1:31000"), None);
    insta::assert_snapshot!(text);
}

#[test]
fn keys_view() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('6'));
    key(&mut app, KeyCode::Char('j'));
    let text = frame(&app);
    assert!(text.contains("sk-***c3d4"), "{text}");
    assert!(text.contains("3 active, 1 expired, 1 disabled"), "{text}");
    assert!(text.contains(" 6 Keys "), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn keys_view_with_a_new_secret() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('6'));
    let at = app.now;
    app.update(Event::ActionDone(Stamped::new(
        at,
        smg_tui::event::ActionOutcome {
            title: "Rotate API key".into(),
            result: Ok("key ops rotated (sk-***77aa); the old secret no longer works".into()),
            secret: Some("sk-fixture-0000000000000000000077aa".into()),
        },
    )));
    let text = frame(&app);
    assert!(
        text.contains("sk-fixture-0000000000000000000077aa"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn confirm_rotate_key() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('6'));
    key(&mut app, KeyCode::Char('o'));
    let text = frame(&app);
    assert!(text.contains("$ smgctl keys rotate ops --yes"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn keys_and_audit_not_offered_by_upstream() {
    let mut app = fleet();
    let at = app.now;
    app.update(Event::Keys(Stamped::new(
        at,
        Ok(smg_tui::event::Offered::NotOffered(
            "upstream SMG 1.13.0 does not offer `/admin/api-keys`".into(),
        )),
    )));
    app.update(Event::Audit(Stamped::new(
        at,
        Ok(smg_tui::event::Offered::NotOffered(
            "upstream SMG 1.13.0 does not offer `/admin/audit`".into(),
        )),
    )));
    key(&mut app, KeyCode::Char('6'));
    let keys = frame(&app);
    assert!(keys.contains("does not offer `/admin/api-keys`"), "{keys}");
    assert!(!keys.contains("GATEWAY"), "no error banner:\n{keys}");
    key(&mut app, KeyCode::Char('7'));
    let audit = frame(&app);
    assert!(audit.contains("does not offer `/admin/audit`"), "{audit}");
    assert!(!audit.contains("GATEWAY"), "no error banner:\n{audit}");
    insta::assert_snapshot!(format!("{keys}\n{audit}"));
}

#[test]
fn audit_view() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('7'));
    let text = frame(&app);
    assert!(text.contains("Audit log (newest 6)"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn audit_filtered_by_principal() {
    let mut app = fleet();
    key(&mut app, KeyCode::Char('7'));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "ci-deploy");
    let text = frame(&app);
    assert!(text.contains("Audit log (2 of 6)"), "{text}");
    insta::assert_snapshot!(text);
}
