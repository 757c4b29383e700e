//! `smgctl tokenizers …`, `smgctl tokenize` and `smgctl detokenize` against a mock gateway:
//! golden tables, wire JSON, request bodies, credentials, waits and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

const T1: &str = "01990e10-2a3b-7c4d-8e5f-60718293a4b5";
const T2: &str = "01990e11-0000-7000-8000-00000000beef";

fn tokenizer_list() -> Value {
    json!({"tokenizers": [
        {"id": T1, "name": "llama3", "source": "meta-llama/Llama-3.1-8B-Instruct",
         "vocab_size": 128256, "chat_template": true, "status": "completed"},
        {"id": T2, "name": "broken", "source": "/models/missing",
         "vocab_size": 0, "chat_template": false, "status": "failed",
         "message": "Failed to load tokenizer 'broken' from /models/missing: /models/missing: no such file or directory on the gateway host"}
    ]})
}

fn status_body(state: &str, message: &str) -> Value {
    json!({"id": T1, "status": state, "message": message})
}

async fn mount(gw: &Gateway, verb: &str, route: &str, status: u16, body: Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&gw.server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_table_wide_json_and_names() {
    let gw = Gateway::start().await;
    mount(&gw, "GET", "/v1/tokenizers", 200, tokenizer_list()).await;
    let out = gw.run(&["tokenizers", "list"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenizers_list_table", stdout(&out));
    let out = gw.run(&["tokenizers", "ls", "-o", "wide"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenizers_list_wide", stdout(&out));
    let out = gw.run(&["tokenizers", "list", "-o", "json"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, tokenizer_list());
    let out = gw.run(&["tokenizers", "list", "-o", "name"]).await;
    assert_eq!(stdout(&out), "llama3\nbroken\n");

    // Upstream SMG's list has four fields only: still a table.
    let gw = Gateway::start().await;
    mount(
        &gw,
        "GET",
        "/v1/tokenizers",
        200,
        json!({"tokenizers": [{"id": T1, "name": "llama3", "source": "x", "vocab_size": 7}]}),
    )
    .await;
    let out = gw.run(&["tokenizers", "list"]).await;
    assert_code(&out, 0);
    assert!(stdout(&out).contains("completed"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_status_views() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "GET",
        "/v1/tokenizers/broken",
        200,
        tokenizer_list()["tokenizers"][1].clone(),
    )
    .await;
    mount(
        &gw,
        "GET",
        "/v1/tokenizers/broken/status",
        200,
        json!({"id": T2, "status": "failed",
               "message": "Failed to load tokenizer 'broken' from /models/missing: no such file"}),
    )
    .await;
    let out = gw.run(&["tokenizers", "get", "broken"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenizers_get_failed", stdout(&out));
    let out = gw.run(&["tokenizers", "status", "broken"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenizers_status_failed", stdout(&out));
    let out = gw
        .run(&["tokenizers", "status", "broken", "-o", "json"])
        .await;
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_exits_3() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/tokenizers/nope"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-smg-error-code", "TOKENIZER_NOT_FOUND")
                .set_body_json(error_body(
                    "Tokenizer 'nope' not found",
                    "tokenizer_not_found",
                    "TOKENIZER_NOT_FOUND",
                )),
        )
        .mount(&gw.server)
        .await;
    let out = gw.run(&["tokenizers", "get", "nope"]).await;
    assert_code(&out, 3);
    assert_eq!(
        stderr(&out),
        "error: Tokenizer 'nope' not found [TOKENIZER_NOT_FOUND]\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_sends_the_request_and_waits() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/tokenizers"))
        .and(header("authorization", "Bearer adm"))
        .and(body_json(json!({"name": "llama3", "source": "meta-llama/Llama-3.1-8B-Instruct",
                              "chat_template_path": "/srv/templates/llama.jinja"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "id": T1, "status": "pending",
            "message": "Tokenizer 'llama3' registration job submitted. Loading from: meta-llama/Llama-3.1-8B-Instruct"
        })))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/tokenizers/{T1}/status")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(status_body("pending", "queued")),
            ResponseTemplate::new(200).set_body_json(status_body("processing", "downloading")),
            ResponseTemplate::new(200).set_body_json(json!({
                "id": T1, "status": "completed",
                "message": "Tokenizer 'llama3' is loaded and ready", "vocab_size": 128256
            })),
        ]))
        .mount(&gw.server)
        .await;
    let args = [
        "tokenizers",
        "add",
        "llama3",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--chat-template",
        "/srv/templates/llama.jinja",
        "--token",
        "adm",
    ];
    let out = gw.run(&args).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!(
            "tokenizer llama3 accepted (id {T1}), loading from meta-llama/Llama-3.1-8B-Instruct\n"
        )
    );
    let mut waiting = args.to_vec();
    waiting.push("--wait");
    let out = gw.run(&waiting).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenizers_add_wait", stdout(&out));

    let out = gw.run(&[&args[..], &["-o", "name"]].concat()).await;
    assert_eq!(stdout(&out), format!("{T1}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_wait_reports_a_failed_load() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/v1/tokenizers",
        202,
        json!({"id": T1, "status": "pending", "message": "submitted"}),
    )
    .await;
    mount(
        &gw,
        "GET",
        &format!("/v1/tokenizers/{T1}/status"),
        200,
        status_body(
            "failed",
            "Failed to load tokenizer 'x' from /m/tokenizer.json: /m/tokenizer.json: not valid JSON: EOF",
        ),
    )
    .await;
    let out = gw
        .run(&["tokenizers", "add", "x", "/m/tokenizer.json", "--wait"])
        .await;
    assert_code(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: tokenizer x did not load: Failed to load tokenizer 'x' from /m/tokenizer.json: \
         /m/tokenizer.json: not valid JSON: EOF\n"
    );

    // 409 is a plain error.
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/v1/tokenizers",
        409,
        error_body(
            &format!("Tokenizer 'x' already exists (id {T1})"),
            "conflict",
            "TOKENIZER_ALREADY_EXISTS",
        ),
    )
    .await;
    let out = gw.run(&["tokenizers", "add", "x", "org/model"]).await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("already exists")
            && stderr(&out).contains("TOKENIZER_ALREADY_EXISTS"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_sources_are_sent_absolute() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/v1/tokenizers",
        202,
        json!({"id": T1, "status": "pending", "message": "submitted"}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = gw.cmd();
    cmd.current_dir(dir.path());
    let out = run_cmd(cmd, &["tokenizers", "add", "local", "./tok"], "").await;
    assert_code(&out, 0);
    let body = &gw.bodies("POST", "/v1/tokenizers").await[0];
    let sent = body["source"].as_str().unwrap();
    assert!(sent.starts_with('/') && sent.ends_with("/tok"), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_yes_without_a_terminal() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "DELETE",
        "/v1/tokenizers/llama3",
        200,
        json!({"success": true, "message": "Tokenizer 'llama3' removed successfully"}),
    )
    .await;
    let out = gw.run(&["tokenizers", "delete", "llama3"]).await;
    assert_code(&out, 2);
    assert_eq!(gw.count("DELETE", "/v1/tokenizers/llama3").await, 0);
    let out = gw.run(&["tokenizers", "rm", "llama3", "--yes"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "Tokenizer 'llama3' removed successfully\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_table_uses_the_api_key() {
    let gw = Gateway::start().await;
    let answer = json!({"tokens": [9906, 11, 1917, 0], "count": 4, "char_count": 13,
                        "token_strs": ["Hello", ",", "Ġworld", "!"]});
    Mock::given(method("POST"))
        .and(path("/v1/tokenize"))
        .and(header("authorization", "Bearer key"))
        .and(body_json(
            json!({"model": "llama3", "prompt": "Hello, world!",
                              "return_token_strs": true}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "tokenize",
            "--model",
            "llama3",
            "Hello, world!",
            "--api-key",
            "key",
        ])
        .await;
    assert_code(&out, 0);
    insta::assert_snapshot!("tokenize_table", stdout(&out));

    let out = gw
        .run_stdin(
            &[
                "tokenize",
                "-m",
                "llama3",
                "-",
                "--api-key",
                "key",
                "-o",
                "json",
            ],
            // One final line break (as `echo` adds) is not part of the text.
            "Hello, world!\n",
        )
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, answer);
    let out = gw
        .run_stdin(
            &["tokenize", "-m", "llama3", "--api-key", "key", "-o", "name"],
            "Hello, world!\r\n",
        )
        .await;
    assert_eq!(stdout(&out), "9906\n11\n1917\n0\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_against_upstream_decodes_pieces() {
    // Upstream SMG ignores return_token_strs: the pieces come from one batch detokenize.
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/v1/tokenize",
        200,
        json!({"tokens": [1, 2], "count": 2, "char_count": 7}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v1/detokenize"))
        .and(body_json(
            json!({"model": "m", "tokens": [[1], [2]], "skip_special_tokens": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": ["Hi", " there"]})))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["tokenize", "-m", "m", "Hi there"]).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "#   ID   TOKEN\n0   1    \"Hi\"\n1   2    \" there\"\n2 tokens, 7 characters\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_unknown_model_hints_at_the_api_key_only_on_401() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/v1/tokenize",
        400,
        error_body(
            "Tokenizer for model 'x' not found. Available: llama3",
            "tokenizer_not_found",
            "TOKENIZER_NOT_FOUND",
        ),
    )
    .await;
    let out = gw.run(&["tokenize", "-m", "x", "hi"]).await;
    assert_code(&out, 1);
    assert_eq!(
        stderr(&out),
        "error: Tokenizer for model 'x' not found. Available: llama3 [TOKENIZER_NOT_FOUND]\n"
    );

    let gw = Gateway::start().await;
    mount(&gw, "POST", "/v1/tokenize", 401, json!({})).await;
    let out = gw.run(&["tokenize", "-m", "x", "hi"]).await;
    assert_code(&out, 4);
    assert!(stderr(&out).contains("--api-key"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detokenize_prints_the_text() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/detokenize"))
        .and(body_json(
            json!({"model": "llama3", "tokens": [9906, 11, 1917, 0],
                              "skip_special_tokens": true}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "Hello, world!"})))
        .mount(&gw.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/detokenize"))
        .and(body_json(
            json!({"model": "llama3", "tokens": [1], "skip_special_tokens": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "<s>"})))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&["detokenize", "--model", "llama3", "9906", "11,1917", "[0]"])
        .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "Hello, world!\n");
    let out = gw
        .run(&[
            "detokenize",
            "-m",
            "llama3",
            "1",
            "--keep-special-tokens",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({"text": "<s>"}));

    let out = gw.run(&["detokenize", "-m", "llama3", "abc"]).await;
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("'abc' is not a token id"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_several_follows_the_shared_rule() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "DELETE",
        "/v1/tokenizers/gone",
        404,
        error_body(
            "Tokenizer 'gone' not found",
            "not_found",
            "TOKENIZER_NOT_FOUND",
        ),
    )
    .await;
    mount(
        &gw,
        "DELETE",
        "/v1/tokenizers/llama3",
        200,
        json!({"success": true, "message": "Tokenizer 'llama3' removed successfully"}),
    )
    .await;
    // The refused one is reported, the next still goes, the exit code is the refusal's.
    let out = gw
        .run(&["tokenizers", "delete", "gone", "llama3", "--yes"])
        .await;
    assert_code(&out, 3);
    assert_eq!(stdout(&out), "Tokenizer 'llama3' removed successfully\n");
    assert!(
        stderr(&out).starts_with("error: tokenizer gone: Tokenizer 'gone' not found"),
        "{}",
        stderr(&out)
    );
    // Alone, its error is the command's.
    let out = gw.run(&["tokenizers", "delete", "gone", "--yes"]).await;
    assert_code(&out, 3);
    assert!(
        stderr(&out).starts_with("error: Tokenizer 'gone' not found"),
        "{}",
        stderr(&out)
    );
    // The rule is in the help.
    let out = gw.run(&["tokenizers", "delete", "--help"]).await;
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("its error is printed and the others still go\nahead"),
        "{}",
        stdout(&out)
    );
}
