//! `smgctl keys …` and `smgctl whoami` against a mock gateway: the secret goes to stdout once
//! with a warning on stderr, request bodies, confirmations, tables and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "sk-Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg";

fn key_info(id: &str, role: &str, enabled: bool, expired: bool) -> Value {
    json!({
        "id": id, "masked_key": "sk-***quux", "name": format!("{id} name"), "role": role,
        "enabled": enabled, "is_active": enabled, "is_expired": expired,
        "is_valid": enabled && !expired,
        "created_at": "2026-03-05T10:30:00Z", "updated_at": "2026-03-05T10:30:00Z",
        "expires_at": if expired { json!("2026-03-06T00:00:00Z") } else { Value::Null },
        "created_by": "ops"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_prints_the_secret_once_on_stdout() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/api-keys"))
        .and(header("authorization", "Bearer admin-tok"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "key": SECRET, "masked_key": "sk-***quux", "id": "ci", "name": "CI",
            "role": "user", "enabled": true, "created_at": "2026-03-05T10:30:00Z",
            "expires_at": null, "warning": "Store this key securely. It will not be shown again."
        })))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "--token",
            "admin-tok",
            "keys",
            "create",
            "--id",
            "ci",
            "--name",
            "CI",
            "--role",
            "user",
            "--expires-in",
            "30d",
            "--description",
            "pipeline",
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("{SECRET}\n"));
    let err = stderr(&out);
    assert!(
        err.contains("warning:") && err.contains("only time"),
        "{err}"
    );
    assert!(err.contains("sk-***quux") && !err.contains(SECRET), "{err}");
    let body = &gw.bodies("POST", "/admin/api-keys").await[0];
    assert_eq!(body["id"], "ci");
    assert_eq!(body["name"], "CI");
    assert_eq!(body["role"], "user");
    assert_eq!(body["description"], "pipeline");
    assert!(
        body["expires_at"].as_str().unwrap().starts_with("20"),
        "{body}"
    );
    assert!(
        body.get("key").is_none() && body.get("enabled").is_none(),
        "{body}"
    );

    // -o json prints the whole answer (with the secret) and still warns.
    let out = gw
        .run(&[
            "--token",
            "admin-tok",
            "keys",
            "create",
            "--id",
            "ci",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["key"], SECRET);
    assert!(stderr(&out).contains("warning:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_a_custom_key_file_and_disabled() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/api-keys"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "key": "my-own-secret-value-123", "masked_key": "sk-***-123", "id": "own",
            "name": "own", "role": "admin", "enabled": false,
            "created_at": "2026-03-05T10:30:00Z", "expires_at": null, "warning": ""
        })))
        .mount(&gw.server)
        .await;
    let file = gw.home.path().join("key.txt");
    std::fs::write(&file, "my-own-secret-value-123\n").unwrap();
    let out = gw
        .run(&[
            "keys",
            "create",
            "--id",
            "own",
            "--role",
            "admin",
            "--disabled",
            "--key-file",
            file.to_str().unwrap(),
        ])
        .await;
    assert_code(&out, 0);
    let body = &gw.bodies("POST", "/admin/api-keys").await[0];
    assert_eq!(body["key"], "my-own-secret-value-123");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["role"], "admin");
    assert!(stderr(&out).contains("disabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_table_json_and_names() {
    let gw = Gateway::start().await;
    let body = json!({
        "keys": [key_info("ops", "admin", true, false), key_info("ci", "user", false, false),
                 key_info("old", "user", true, true)],
        "summary": {"total": 3, "active": 1, "expired": 1, "disabled": 1}
    });
    Mock::given(method("GET"))
        .and(path("/admin/api-keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["keys", "list"]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("ops") && lines[1].contains("active"),
        "{text}"
    );
    assert!(
        lines[2].contains("disabled") && lines[3].contains("expired"),
        "{text}"
    );
    assert!(
        text.contains("3 keys: 1 active, 1 expired, 1 disabled"),
        "{text}"
    );
    assert!(!text.contains("sk-Zm9v"));

    let out = gw.run(&["keys", "list", "-o", "json"]).await;
    assert_code(&out, 0);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), body);
    let out = gw.run(&["keys", "list", "-o", "name"]).await;
    assert_eq!(stdout(&out), "ops\nci\nold\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_update_enable_disable() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/api-keys/ops"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(key_info("ops", "admin", true, false)),
        )
        .mount(&gw.server)
        .await;
    let action = |a: &str| {
        ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "action": a, "id": "ops", "key": key_info("ops", "admin", a != "disable", false)
        }))
    };
    Mock::given(method("PUT"))
        .and(path("/admin/api-keys/ops"))
        .respond_with(action("update"))
        .mount(&gw.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/api-keys/ops/enable"))
        .respond_with(action("enable"))
        .mount(&gw.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/api-keys/ops/disable"))
        .respond_with(action("disable"))
        .mount(&gw.server)
        .await;

    let out = gw.run(&["keys", "get", "ops"]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("Role:") && text.contains("admin"), "{text}");
    assert!(
        text.contains("sk-***quux") && text.contains("never"),
        "{text}"
    );

    let out = gw
        .run(&[
            "keys",
            "update",
            "ops",
            "--name",
            "Ops",
            "--role",
            "user",
            "--no-expiry",
            "--disable",
        ])
        .await;
    assert_code(&out, 0);
    let body = &gw.bodies("PUT", "/admin/api-keys/ops").await[0];
    assert_eq!(
        body,
        &json!({"name": "Ops", "role": "user", "enabled": false, "expires_at": null})
    );

    let out = gw.run(&["keys", "update", "ops"]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("nothing to update"));

    let out = gw.run(&["keys", "enable", "ops"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "API key 'ops' enabled\n");
    let out = gw.run(&["keys", "disable", "ops"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "API key 'ops' disabled\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_and_delete_need_yes_without_a_terminal() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/api-keys/ci/rotate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "action": "rotate", "id": "ci", "new_key": SECRET,
            "masked_key": "sk-***quux", "warning": "Store this key securely."
        })))
        .mount(&gw.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/admin/api-keys/ci"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "action": "delete", "id": "ci"
        })))
        .mount(&gw.server)
        .await;

    for args in [&["keys", "rotate", "ci"][..], &["keys", "delete", "ci"][..]] {
        let out = gw.run(args).await;
        assert_code(&out, 2);
        assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    }
    assert_eq!(gw.count("POST", "/admin/api-keys/ci/rotate").await, 0);
    assert_eq!(gw.count("DELETE", "/admin/api-keys/ci").await, 0);

    let out = gw.run(&["keys", "rotate", "ci", "--yes"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("{SECRET}\n"));
    assert!(stderr(&out).contains("warning:") && !stderr(&out).contains(SECRET));

    let out = gw.run(&["keys", "delete", "ci", "-y"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "API key 'ci' deleted\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_exit_codes() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/api-keys/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body(
            "API key 'nope' not found",
            "not_found",
            "API_KEY_NOT_FOUND",
        )))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/admin/api-keys"))
        .respond_with(ResponseTemplate::new(403).set_body_json(error_body(
            "Admin role required for control plane access",
            "forbidden",
            "ADMIN_ROLE_REQUIRED",
        )))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["keys", "get", "nope"]).await;
    assert_code(&out, 3);
    assert!(stderr(&out).contains("API_KEY_NOT_FOUND"));
    let out = gw.run(&["keys", "list"]).await;
    assert_code(&out, 4);
    assert!(stderr(&out).contains("ADMIN_ROLE_REQUIRED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_shows_principal_and_role() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/whoami"))
        .and(header("authorization", "Bearer user-tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "ci", "name": "CI", "role": "user", "auth_method": "api_key:ci"
        })))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["--token", "user-tok", "whoami"]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("Principal:") && text.contains("ci"), "{text}");
    assert!(
        text.contains("user") && text.contains("api_key:ci"),
        "{text}"
    );
    assert!(text.contains("serving routes only"), "{text}");
    let out = gw
        .run(&["--token", "user-tok", "whoami", "-o", "json"])
        .await;
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["role"], "user");
}
