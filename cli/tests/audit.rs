//! `smgctl audit` against a mock gateway: query parameters, table order, JSON, --follow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn event(id: &str, ts: &str, principal: &str, method: &str, path: &str, status: u16) -> Value {
    json!({
        "id": id, "timestamp": ts, "principal_id": principal, "auth_method": format!("api_key:{principal}"),
        "role": "admin", "method": method, "path": path, "status": status,
        "request_id": format!("req-{id}"), "outcome": if status < 300 { "success" } else { "failure" },
        "summary": format!("{method} {path} {{\"api_key\":\"***\"}}")
    })
}

fn page(events: &[Value]) -> Value {
    json!({"events": events, "count": events.len(), "enabled": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_table_is_chronological_and_filters_are_sent() {
    let gw = Gateway::start().await;
    let newest_first = vec![
        event(
            "e2",
            "2026-03-05T10:31:00Z",
            "ops",
            "DELETE",
            "/workers/w1",
            202,
        ),
        event("e1", "2026-03-05T10:30:00Z", "ops", "POST", "/workers", 202),
    ];
    Mock::given(method("GET"))
        .and(path("/admin/audit"))
        .and(query_param("principal", "ops"))
        .and(query_param("path", "/workers"))
        .and(query_param("limit", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&newest_first)))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "audit",
            "--since",
            "1h",
            "--principal",
            "ops",
            "--path",
            "/workers",
            "--limit",
            "50",
        ])
        .await;
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("PRINCIPAL"),
        "{text}"
    );
    assert!(
        lines[1].contains("POST") && lines[2].contains("DELETE"),
        "{text}"
    );
    let since = gw.requests().await[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "since")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(since.starts_with("20") && since.ends_with('Z'), "{since}");

    let out = gw
        .run(&[
            "audit",
            "--principal",
            "ops",
            "--path",
            "/workers",
            "--limit",
            "50",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, page(&newest_first));

    let out = gw.run(&["audit", "--since", "yesterday"]).await;
    assert_code(&out, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_follow_prints_only_new_events() {
    let gw = Gateway::start().await;
    let e1 = event("e1", "2026-03-05T10:30:00Z", "ops", "POST", "/workers", 202);
    let e2 = event(
        "e2",
        "2026-03-05T10:31:00Z",
        "ops",
        "DELETE",
        "/workers/w1",
        202,
    );
    let calls = Mutex::new(0usize);
    let (a, b) = (e1.clone(), e2.clone());
    Mock::given(method("GET"))
        .and(path("/admin/audit"))
        .respond_with(Counter(calls, move |n| {
            let body = if n == 0 {
                page(std::slice::from_ref(&a))
            } else {
                // The gateway answers `since` inclusively, so e1 comes back too.
                page(&[b.clone(), a.clone()])
            };
            ResponseTemplate::new(200).set_body_json(body)
        }))
        .mount(&gw.server)
        .await;
    let child = std_cmd(
        &gw,
        &["audit", "--follow", "--interval", "100ms", "-o", "json"],
    )
    .spawn()
    .unwrap();
    let lines = read_lines_then_kill(child, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["e1", "e2"]);
    let second = gw
        .requests()
        .await
        .into_iter()
        .nth(1)
        .unwrap()
        .url
        .query_pairs()
        .find(|(k, _)| k == "since")
        .map(|(_, v)| v.into_owned());
    assert_eq!(second.as_deref(), Some("2026-03-05T10:30:00.000Z"));
}
