//! `smgctl parse …` against a mock gateway: golden tables, wire JSON/YAML, where the text comes
//! from (argument, @file, stdin), `--tools` files, and the server's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const QWEN_TEXT: &str = "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\"}}\n</tool_call>";

/// What the real gateway answers for [`QWEN_TEXT`] with the `qwen` parser.
fn qwen_answer() -> Value {
    json!({
        "remaining_text": "Let me check both.\n",
        "tool_calls": [
            {"function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":3}"}},
            {"function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
        ],
        "success": true
    })
}

fn reasoning_answer() -> Value {
    json!({
        "normal_text": "The answer is 4.",
        "reasoning_text": "The user wants 2+2.\nThat is 4.",
        "success": true
    })
}

fn parser_list() -> Value {
    json!({
        "tool_call_parsers": ["cohere", "deepseek", "json", "llama", "qwen"],
        "reasoning_parsers": ["base", "deepseek_r1", "qwen3"]
    })
}

async fn mount(gw: &Gateway, verb: &str, route: &str, status: u16, body: Value) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&gw.server)
        .await;
}

async fn function_call_gateway(answer: Value) -> Gateway {
    let gw = Gateway::start().await;
    mount(&gw, "POST", "/parse/function_call", 200, answer).await;
    gw
}

async fn reasoning_gateway() -> Gateway {
    let gw = Gateway::start().await;
    mount(&gw, "POST", "/parse/reasoning", 200, reasoning_answer()).await;
    gw
}

/// The one body sent to `route`.
async fn sent(gw: &Gateway, route: &str) -> Value {
    let bodies = gw.bodies("POST", route).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    bodies.into_iter().next().unwrap()
}

fn tools_json() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer"}}}
        }},
        {"type": "function", "function": {"name": "get_time", "parameters": {}}}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_table() {
    let gw = function_call_gateway(qwen_answer()).await;
    let out = gw
        .run(&["parse", "function-call", "--parser", "qwen", QWEN_TEXT])
        .await;
    assert_code(&out, 0);
    insta::assert_snapshot!("function_call_table", stdout(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        sent(&gw, "/parse/function_call").await,
        json!({"text": QWEN_TEXT, "tool_call_parser": "qwen", "tools": []})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_json_yaml_and_names() {
    let gw = function_call_gateway(qwen_answer()).await;
    let out = gw
        .run(&[
            "parse",
            "function-call",
            "-p",
            "qwen",
            "-o",
            "json",
            QWEN_TEXT,
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, qwen_answer());

    let out = gw
        .run(&["parse", "fc", "-p", "qwen", "-o", "yaml", QWEN_TEXT])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, qwen_answer());

    let out = gw
        .run(&[
            "parse",
            "function-call",
            "-p",
            "qwen",
            "-o",
            "name",
            QWEN_TEXT,
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "get_weather\nget_time\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_without_calls_prints_the_text() {
    let gw = function_call_gateway(json!({
        "remaining_text": "No tools needed: it is 4.", "tool_calls": [], "success": true
    }))
    .await;
    let out = gw
        .run(&[
            "parse",
            "function-call",
            "--parser",
            "json",
            "No tools needed: it is 4.",
        ])
        .await;
    assert_code(&out, 0);
    insta::assert_snapshot!("function_call_no_calls", stdout(&out));
    assert_eq!(stderr(&out), "No tool calls found.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_text_from_stdin_and_file() {
    // `-` reads stdin, exactly as given (trailing newline included).
    let gw = function_call_gateway(qwen_answer()).await;
    let input = format!("{QWEN_TEXT}\n");
    let out = gw
        .run_stdin(&["parse", "function-call", "--parser", "qwen", "-"], &input)
        .await;
    assert_code(&out, 0);
    assert_eq!(sent(&gw, "/parse/function_call").await["text"], input);

    // No TEXT and stdin is not a terminal: stdin too.
    let gw = function_call_gateway(qwen_answer()).await;
    let out = gw
        .run_stdin(&["parse", "function-call", "--parser", "qwen"], QWEN_TEXT)
        .await;
    assert_code(&out, 0);
    assert_eq!(sent(&gw, "/parse/function_call").await["text"], QWEN_TEXT);
    insta::assert_snapshot!("function_call_table", stdout(&out));

    // @file reads the file.
    let gw = function_call_gateway(qwen_answer()).await;
    let file = gw.home.path().join("output.txt");
    std::fs::write(&file, "é漢字 🦀\r\n<tool_call>\n").unwrap();
    let arg = format!("@{}", file.display());
    let out = gw
        .run(&["parse", "function-call", "--parser", "qwen", &arg])
        .await;
    assert_code(&out, 0);
    assert_eq!(
        sent(&gw, "/parse/function_call").await["text"],
        "é漢字 🦀\r\n<tool_call>\n"
    );

    // A missing file is an error before any request.
    let missing = format!("@{}", gw.home.path().join("nope.txt").display());
    let out = gw
        .run(&["parse", "function-call", "--parser", "qwen", &missing])
        .await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).starts_with("error: cannot read the text file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(gw.count("POST", "/parse/function_call").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_call_tools_file() {
    // A plain array of OpenAI tools.
    let gw = function_call_gateway(qwen_answer()).await;
    let file = gw.home.path().join("tools.json");
    std::fs::write(&file, serde_json::to_string_pretty(&tools_json()).unwrap()).unwrap();
    let out = gw
        .run(&[
            "parse",
            "function-call",
            "--parser",
            "glm47_moe",
            "--tools",
            file.to_str().unwrap(),
            "text",
        ])
        .await;
    assert_code(&out, 0);
    let body = sent(&gw, "/parse/function_call").await;
    assert_eq!(body["tools"], tools_json());
    assert_eq!(body["tool_call_parser"], "glm47_moe");

    // A chat-completions-like request holding `tools`.
    let gw = function_call_gateway(qwen_answer()).await;
    let file = gw.home.path().join("request.json");
    let request = json!({"model": "m", "tools": tools_json(), "tool_choice": "auto"});
    std::fs::write(&file, request.to_string()).unwrap();
    let out = gw
        .run(&[
            "parse",
            "function-call",
            "-p",
            "minimax_m2",
            "--tools",
            file.to_str().unwrap(),
            "text",
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(
        sent(&gw, "/parse/function_call").await["tools"],
        tools_json()
    );

    // Not tools: an error naming the file, and nothing sent.
    let bad = gw.home.path().join("bad.json");
    std::fs::write(&bad, r#"{"name": "get_weather"}"#).unwrap();
    let out = gw
        .run(&[
            "parse",
            "function-call",
            "-p",
            "qwen",
            "--tools",
            bad.to_str().unwrap(),
            "text",
        ])
        .await;
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "error: {} is not a JSON array of OpenAI tools",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(gw.count("POST", "/parse/function_call").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_parser_exits_1_with_the_server_message() {
    let gw = Gateway::start().await;
    let message = "Unknown tool parser: hermes. Valid tool parsers: cohere, deepseek, json, qwen";
    Mock::given(method("POST"))
        .and(path("/parse/function_call"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-smg-error-code", "UNKNOWN_TOOL_PARSER")
                .set_body_json(error_body(message, "bad_request", "UNKNOWN_TOOL_PARSER")),
        )
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&["parse", "function-call", "--parser", "hermes", "text"])
        .await;
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("error: {message} [UNKNOWN_TOOL_PARSER]\n")
    );

    // Upstream SMG's own error shape is understood too.
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/parse/reasoning",
        400,
        json!({"error": "Unknown reasoning parser: qwen", "success": false}),
    )
    .await;
    let out = gw
        .run(&["parse", "reasoning", "--parser", "qwen", "x"])
        .await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).starts_with("error: Unknown reasoning parser: qwen"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parser_flag_is_a_usage_error() {
    let gw = Gateway::start().await;
    let out = gw.run(&["parse", "function-call", "text"]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--parser"), "{}", stderr(&out));
    let out = gw.run(&["parse", "function-call", "-p", "json", "@"]).await;
    assert_code(&out, 2);
    assert_eq!(gw.requests().await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_table_json_and_inputs() {
    let gw = reasoning_gateway().await;
    let text = "<think>The user wants 2+2.\nThat is 4.</think>The answer is 4.";
    let out = gw
        .run(&["parse", "reasoning", "--parser", "deepseek_r1", text])
        .await;
    assert_code(&out, 0);
    insta::assert_snapshot!("reasoning_table", stdout(&out));
    assert_eq!(
        sent(&gw, "/parse/reasoning").await,
        json!({"text": text, "reasoning_parser": "deepseek_r1"})
    );

    let gw = reasoning_gateway().await;
    let out = gw
        .run_stdin(
            &["parse", "reasoning", "-p", "qwen3", "-o", "json", "-"],
            "from stdin\n",
        )
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, reasoning_answer());
    assert_eq!(sent(&gw, "/parse/reasoning").await["text"], "from stdin\n");

    let gw = reasoning_gateway().await;
    let file = gw.home.path().join("r.txt");
    std::fs::write(&file, "<think>from a file</think>ok").unwrap();
    let out = gw
        .run(&[
            "parse",
            "reasoning",
            "-p",
            "qwen3",
            "-o",
            "yaml",
            &format!("@{}", file.display()),
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, reasoning_answer());
    assert_eq!(
        sent(&gw, "/parse/reasoning").await["text"],
        "<think>from a file</think>ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_without_reasoning_shows_empty() {
    let gw = Gateway::start().await;
    mount(
        &gw,
        "POST",
        "/parse/reasoning",
        200,
        json!({"normal_text": "Just an answer.", "reasoning_text": "", "success": true}),
    )
    .await;
    let out = gw
        .run(&["parse", "reasoning", "-p", "qwen3", "Just an answer."])
        .await;
    assert_code(&out, 0);
    insta::assert_snapshot!("reasoning_empty", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_table_json_and_names() {
    let gw = Gateway::start().await;
    mount(&gw, "GET", "/parse/parsers", 200, parser_list()).await;
    let out = gw.run(&["parse", "list"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("list_table", stdout(&out));

    let out = gw.run(&["parse", "ls", "-o", "json"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, parser_list());

    let out = gw.run(&["parse", "list", "-o", "name"]).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "tool-call/cohere\ntool-call/deepseek\ntool-call/json\ntool-call/llama\ntool-call/qwen\n\
         reasoning/base\nreasoning/deepseek_r1\nreasoning/qwen3\n"
    );
}
