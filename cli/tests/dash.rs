//! `smgctl dash`: the dashboard on smgctl's connection (`--once` prints the frames), and the
//! worker watch's end-of-poll marker as `workers list --watch` sees it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "dash-admin-token-0123456789";

/// `http://127.0.0.1:PORT` on a port that was just free (bound, then released), so connecting
/// is refused; a fixed port such as 9 may be open on some hosts.
fn closed_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Run `smgctl args…` (a `--watch`) until the mock has received `polls` more
/// `GET /workers`, then stop it and return every stdout line it printed. The watch fetches one
/// poll at a time and only once the previous poll's events are printed, so when poll `n`
/// arrives, everything polls up to `n - 2` will ever print is in the pipe: no time window.
async fn watch_lines(gw: &Gateway, args: &[&str], polls: usize) -> Vec<String> {
    let base = gw.count("GET", "/workers").await;
    let mut child = std_cmd(gw, args).spawn().unwrap();
    let drain = |stream: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failure = None;
    while gw.count("GET", "/workers").await < base + polls {
        if let Some(status) = child.try_wait().unwrap() {
            failure = Some(format!("smgctl exited early: {status}"));
            break;
        }
        if Instant::now() > deadline {
            failure = Some(format!("fewer than {polls} polls in 30 s"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = out.join().unwrap();
    if let Some(failure) = failure {
        panic!(
            "{failure}; stdout {lines:?}; stderr {:?}",
            err.join().unwrap()
        );
    }
    lines
}

/// A gateway with two workers, a failed tokenizer, WASM disabled, no `/admin/whoami`, and
/// Prometheus counters on `/metrics`.
async fn mount_gateway(gw: &Gateway) {
    let ok = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ok(worker_list(&[worker_llama(), worker_qwen()])))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ok(json!({"workers": [
            {"worker": "http://10.0.0.5:30000", "load": -1}
        ]})))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/readiness"))
        .respond_with(ok(
            json!({"status": "ready", "healthy_workers": 2, "total_workers": 2}),
        ))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ok(json!({"object": "list", "data": []})))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tokenizers"))
        .respond_with(ok(json!({"tokenizers": [{
            "id": "01990d3e-0000-7000-8000-000000000003", "name": "broken",
            "source": "/models/missing", "vocab_size": 0, "status": "failed",
            "message": "no tokenizer.json in /models/missing"
        }]})))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wasm"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": {
            "message": "WASM modules are disabled on this gateway",
            "type": "service_unavailable", "code": "WASM_DISABLED"
        }})))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/whoami"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "message": "no route", "type": "not_found", "code": "NOT_FOUND"
        }})))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "smg_requests_total{route=\"/generate\",model=\"m\",worker=\"http://10.0.0.5:30000\",\
             status=\"200\"} 10\n",
        ))
        .mount(&gw.server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_once_prints_overview_and_workers() {
    let gw = Gateway::start().await;
    mount_gateway(&gw).await;
    let metrics = format!("{}/metrics", gw.server.uri());
    let out = gw
        .run(&[
            "dash",
            "--once",
            "--width",
            "180",
            "--height",
            "40",
            "--metrics-url",
            &metrics,
        ])
        .await;
    assert_code(&out, 0);
    let text = stdout(&out);
    let frames: Vec<&str> = text.split("\n\n").collect();
    assert!(frames.len() >= 2, "{text}");
    // Both frames, each at most 40 lines of at most 180 columns.
    assert!(text.contains(" 1 Overview "), "{text}");
    assert!(text.contains("┌ Workers (2) · sort URL↑"), "{text}");
    assert!(text.contains("http://10.0.0.5:30000"), "{text}");
    assert!(text.contains("BREAKER"), "{text}");
    assert!(text.contains("principal ? (role unknown: no /admin/whoami)"));
    // WASM disabled and a failed tokenizer are not gateway errors.
    assert!(!text.contains("GATEWAY"), "{text}");
    assert!(text.contains("disabled (no --enable-wasm)"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 180, "{line}");
    }
    // The metrics endpoint was scraped once.
    assert_eq!(gw.count("GET", "/metrics").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_uses_the_context_and_its_token() {
    let gw = Gateway::start().await;
    // Only the context's token gets the workers.
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(header("authorization", format!("Bearer {SECRET}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[worker_llama()])))
        .mount(&gw.server)
        .await;
    let uri = gw.server.uri();
    let out = run_cmd(
        base_cmd(&gw.config_path()),
        &["context", "set", "prod", "--url", &uri, "--token", SECRET],
        "",
    )
    .await;
    assert_code(&out, 0);
    let metrics_url = format!("{}/metrics", closed_url());
    let out = run_cmd(
        base_cmd(&gw.config_path()),
        &["dash", "--once", "--metrics-url", &metrics_url],
        "",
    )
    .await;
    let text = stdout(&out);
    assert!(text.contains(&format!("SMG  {uri}")), "{text}");
    assert!(text.contains("┌ Workers (1)"), "{text}");
    assert!(!text.contains(SECRET) && !stderr(&out).contains(SECRET));
    // The metrics endpoint is down: dimmed "unavailable", not the gateway banner.
    assert!(text.contains("metrics unavailable"), "{text}");
    assert!(text.contains("n/a"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_once_exits_1_when_the_gateway_is_unreachable() {
    let gw = Gateway::start().await;
    let mut cmd = base_cmd(&gw.config_path());
    let gateway_url = closed_url();
    let metrics_url = format!("{gateway_url}/metrics");
    cmd.env("SMG_URL", &gateway_url);
    let out = run_cmd(
        cmd,
        &[
            "dash",
            "--once",
            "--width",
            "120",
            "--height",
            "30",
            "--metrics-url",
            &metrics_url,
        ],
        "",
    )
    .await;
    assert_code(&out, 1);
    // The frame, with its banner, is printed anyway.
    assert!(stdout(&out).contains(&format!("GATEWAY UNREACHABLE at {gateway_url}")));
    assert!(
        stderr(&out).contains(&format!("error: gateway unreachable at {gateway_url}")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_rejects_a_bad_metrics_url_and_needs_a_terminal() {
    let gw = Gateway::start().await;
    let out = gw
        .run(&["dash", "--once", "--metrics-url", "ftp://x/metrics"])
        .await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--metrics-url"), "{}", stderr(&out));
    assert_eq!(gw.requests().await.len(), 0);

    // Interactive mode without a terminal: a clear error, no escape sequences on stdout.
    let out = gw.run(&["dash", "--interval", "1s"]).await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("needs a terminal"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_an_empty_fleet_says_so_once_and_json_stays_quiet() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[])))
        .mount(&gw.server)
        .await;
    // Table: the first (unchanged-ever) poll draws "No workers found."; later polls print
    // nothing more (at least four of them are fully handled before the watch is stopped).
    let watch = ["workers", "list", "--watch", "--interval", "20ms"];
    let lines = watch_lines(&gw, &watch, 6).await;
    assert_eq!(lines, ["No workers found."]);

    // JSON lines: the end-of-poll marker is never printed.
    let json = [
        "workers",
        "list",
        "--watch",
        "--interval",
        "20ms",
        "-o",
        "json",
    ];
    let lines = watch_lines(&gw, &json, 6).await;
    assert!(lines.is_empty(), "{lines:?}");
}
