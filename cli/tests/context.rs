//! `smgctl context …` with a private config file: tokens are stored 0600 and never printed, and
//! the selected context is what later commands talk to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "s3cr3t-admin-TOKEN";
const KEY: &str = "sk-serving-KEY";

/// `smgctl` with the gateway's config file but no SMG_URL.
async fn ctl(gw: &Gateway, args: &[&str]) -> std::process::Output {
    run_cmd(base_cmd(&gw.config_path()), args, "").await
}

fn assert_no_secret(o: &std::process::Output) {
    for text in [stdout(o), stderr(o)] {
        assert!(!text.contains(SECRET), "token leaked: {text}");
        assert!(!text.contains(KEY), "API key leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_use_list_and_delete() {
    let gw = Gateway::start().await;
    let uri = gw.server.uri();
    let out = ctl(
        &gw,
        &[
            "context",
            "set",
            "prod",
            "--url",
            &uri,
            "--token",
            SECRET,
            "--api-key",
            KEY,
        ],
    )
    .await;
    assert_code(&out, 0);
    assert_no_secret(&out);
    assert_eq!(
        stdout(&out),
        "created context \"prod\" (now the current context)\n"
    );
    let mode = std::fs::metadata(gw.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let stored = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(
        stored.contains(SECRET),
        "the token is stored in the private file"
    );

    let token_file = gw.home.path().join("staging.token");
    std::fs::write(&token_file, "file-token\n").unwrap();
    // SMG_URL and SMG_ADMIN_TOKEN from the environment are not taken by `context set`.
    let mut cmd = base_cmd(&gw.config_path());
    cmd.env("SMG_URL", "http://from-env:1")
        .env("SMG_ADMIN_TOKEN", "env-token");
    let out = run_cmd(
        cmd,
        &[
            "context",
            "set",
            "staging",
            "--url",
            "http://staging.example:30000",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        "",
    )
    .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "created context \"staging\"\n");
    assert!(
        !std::fs::read_to_string(gw.config_path())
            .unwrap()
            .contains("env-token")
    );

    let out = ctl(&gw, &["context", "list"]).await;
    assert_code(&out, 0);
    assert_no_secret(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("CURRENT   NAME      URL"), "{text}");
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cols, ["*", "prod", uri.as_str(), "set", "set"], "{text}");
    assert!(
        lines[2].contains(&format!("file: {}", token_file.display())),
        "{text}"
    );

    for format in ["json", "yaml"] {
        let out = ctl(&gw, &["context", "list", "-o", format]).await;
        assert_code(&out, 0);
        assert_no_secret(&out);
    }
    let out = ctl(&gw, &["context", "list", "-o", "json"]).await;
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["current_context"], "prod");
    assert_eq!(
        doc["contexts"][0],
        json!({"name": "prod", "current": true, "url": uri, "token": "set", "api_key": "set"})
    );

    let out = ctl(&gw, &["context", "use", "staging"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "switched to context \"staging\"\n");
    let out = ctl(&gw, &["context", "current"]).await;
    assert_eq!(stdout(&out), "staging\n");

    let out = ctl(&gw, &["context", "use", "nope"]).await;
    assert_code(&out, 1);
    assert!(stderr(&out).contains("context 'nope' is not defined"));

    // Updating keeps what is not given.
    let out = ctl(
        &gw,
        &["context", "set", "prod", "--url", "http://127.0.0.1:9"],
    )
    .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "updated context \"prod\"\n");
    assert!(
        std::fs::read_to_string(gw.config_path())
            .unwrap()
            .contains(SECRET)
    );

    let out = ctl(&gw, &["context", "delete", "staging"]).await;
    assert_code(&out, 0);
    let out = ctl(&gw, &["context", "current"]).await;
    assert_code(&out, 1);
    let out = ctl(&gw, &["context", "list", "-o", "name"]).await;
    assert_eq!(stdout(&out), "prod\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_needs_a_url_and_one_kind_of_token() {
    let gw = Gateway::start().await;
    let out = ctl(&gw, &["context", "set", "x", "--token", SECRET]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--url is required"));
    let out = ctl(
        &gw,
        &[
            "context",
            "set",
            "x",
            "--url",
            "http://a:1",
            "--token",
            SECRET,
            "--token-file",
            "/f",
        ],
    )
    .await;
    assert_code(&out, 2);
    let out = ctl(&gw, &["context", "set", "x", "--url", "not a url"]).await;
    assert_code(&out, 1);
    assert!(!gw.config_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_use_the_current_context() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(header("authorization", format!("Bearer {SECRET}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[worker_llama()])))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(header("authorization", "Bearer flag-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[])))
        .mount(&gw.server)
        .await;
    let uri = gw.server.uri();
    let out = ctl(
        &gw,
        &["context", "set", "prod", "--url", &uri, "--token", SECRET],
    )
    .await;
    assert_code(&out, 0);

    let out = ctl(&gw, &["workers", "list", "-o", "name", "-v"]).await;
    assert_code(&out, 0);
    assert_no_secret(&out);
    assert_eq!(stdout(&out), format!("{W1}\n"));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("smgctl: gateway {uri} (from context 'prod')")),
        "{err}"
    );
    assert!(err.contains("admin token set (from the context)"), "{err}");

    // A flag beats the context.
    let out = ctl(
        &gw,
        &["workers", "list", "-o", "name", "--token", "flag-token"],
    )
    .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");

    // An unknown --context is an error before anything is sent.
    let before = gw.requests().await.len();
    let out = ctl(&gw, &["workers", "list", "--context", "nope"]).await;
    assert_code(&out, 1);
    assert!(stderr(&out).contains("context 'nope' is not defined"));
    assert_eq!(gw.requests().await.len(), before);
}
