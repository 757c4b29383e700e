//! Black-box tests of the parser utilities (`/parse/function_call`, `/parse/reasoning`,
//! `/parse/parsers`): a real `smg` process, no workers, driven over raw HTTP (to pin the wire)
//! and through the SDK.
//!
//! Every tool-call parser gets realistic samples written from its format (upstream-smg.md §9,
//! checked against the `tool-parser` crate sources): one call, several calls, text around the
//! calls, and malformed input. Arguments are always compared as parsed JSON, since the wire
//! carries them as JSON-encoded strings whose spacing is the parser's business.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use smg_tests::harness::GatewayProcess;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

// ---------------------------------------------------------------------------------------------
// Special tokens, spelled with escapes so the exact code points are visible.

/// DeepSeek V3/V3.1: `<｜tool▁calls▁begin｜>` etc. (U+FF5C fullwidth bar, U+2581 lower block).
const DS_CALLS_BEGIN: &str = "<\u{ff5c}tool\u{2581}calls\u{2581}begin\u{ff5c}>";
const DS_CALLS_END: &str = "<\u{ff5c}tool\u{2581}calls\u{2581}end\u{ff5c}>";
const DS_CALL_BEGIN: &str = "<\u{ff5c}tool\u{2581}call\u{2581}begin\u{ff5c}>";
const DS_CALL_END: &str = "<\u{ff5c}tool\u{2581}call\u{2581}end\u{ff5c}>";
const DS_SEP: &str = "<\u{ff5c}tool\u{2581}sep\u{ff5c}>";
/// DeepSeek V3.2/V4 DSML sentinel `｜DSML｜`.
const DSML: &str = "\u{ff5c}DSML\u{ff5c}";
/// Step-3: `<｜tool_calls_begin｜>` etc. (fullwidth bars, ASCII underscores).
const STEP_CALLS_BEGIN: &str = "<\u{ff5c}tool_calls_begin\u{ff5c}>";
const STEP_CALLS_END: &str = "<\u{ff5c}tool_calls_end\u{ff5c}>";
const STEP_CALL_BEGIN: &str = "<\u{ff5c}tool_call_begin\u{ff5c}>";
const STEP_CALL_END: &str = "<\u{ff5c}tool_call_end\u{ff5c}>";
const STEP_SEP: &str = "<\u{ff5c}tool_sep\u{ff5c}>";
/// Kimi (K1.5) reasoning: `◁think▷` / `◁/think▷`.
const KIMI_THINK: &str = "\u{25c1}think\u{25b7}";
const KIMI_END_THINK: &str = "\u{25c1}/think\u{25b7}";

const TOOL_PARSERS: &[&str] = &[
    "passthrough",
    "json",
    "mistral",
    "qwen",
    "qwen_xml",
    "qwen_coder",
    "pythonic",
    "llama",
    "deepseek",
    "deepseek31",
    "deepseek32",
    "deepseek_v4",
    "glm45_moe",
    "glm47_moe",
    "step3",
    "sarashina",
    "kimik2",
    "kimi_k3",
    "inkling",
    "minimax_m2",
    "cohere",
];

const REASONING_PARSERS: &[&str] = &[
    "base",
    "passthrough",
    "deepseek_r1",
    "qwen3",
    "qwen3_thinking",
    "kimi",
    "glm45",
    "step3",
    "minimax",
    "cohere_cmd",
    "nano_v3",
    "deepseek_v31",
    "kimi_k25",
    "kimi_thinking",
    "kimi_k3",
    "inkling",
];

/// Names people guess that upstream does not register (upstream-smg.md §9.2).
const NOT_TOOL_PARSERS: &[&str] = &[
    "llama3",
    "kimi_k2",
    "glm",
    "glm4",
    "step-3",
    "gpt-oss",
    "gpt_oss",
    "harmony",
    "hermes",
    "deepseek_v3",
    "minimax",
];

/// The same for reasoning parsers (upstream-smg.md §9.4).
const NOT_REASONING_PARSERS: &[&str] = &[
    "deepseek",
    "deepseek-r1",
    "qwen",
    "glm",
    "glm47",
    "gpt-oss",
    "harmony",
    "mistral",
    "kimi_k2",
    "cohere",
];

// ---------------------------------------------------------------------------------------------
// Helpers

type Calls = Vec<(String, Value)>;

/// `(name, arguments)` of an expected call.
fn call(name: &str, arguments: Value) -> (String, Value) {
    (name.to_string(), arguments)
}

/// POST a body to `/parse/<route>`; status and JSON body.
async fn post(gw: &GatewayProcess, route: &str, body: &Value) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/parse/{route}", gw.url))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
    (status, body)
}

/// Check a 200 function-call body's shape and decode it: the remaining text and each call's
/// name with its arguments parsed as JSON.
fn decode_calls(body: &Value) -> (String, Calls) {
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 3, "unexpected fields: {body}");
    assert_eq!(body["success"], true, "{body}");
    let remaining = body["remaining_text"].as_str().unwrap().to_string();
    let calls = body["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            // Upstream's shape: no id, no type, just the function.
            assert_eq!(c.as_object().unwrap().len(), 1, "{c}");
            assert_eq!(c["function"].as_object().unwrap().len(), 2, "{c}");
            let name = c["function"]["name"].as_str().unwrap().to_string();
            let raw = c["function"]["arguments"]
                .as_str()
                .unwrap_or_else(|| panic!("arguments must be a JSON-encoded string: {c}"));
            let arguments: Value = serde_json::from_str(raw)
                .unwrap_or_else(|e| panic!("arguments of {name} are not JSON ({e}): {raw}"));
            assert!(arguments.is_object(), "arguments of {name}: {raw}");
            (name, arguments)
        })
        .collect();
    (remaining, calls)
}

/// Parse `text` with `parser` and `tools`; asserts a 200.
async fn parse_with(
    gw: &GatewayProcess,
    parser: &str,
    text: &str,
    tools: Value,
) -> (String, Calls) {
    let body = json!({"text": text, "tool_call_parser": parser, "tools": tools});
    let (status, answer) = post(gw, "function_call", &body).await;
    assert_eq!(status, StatusCode::OK, "{parser} on {text:?}: {answer}");
    decode_calls(&answer)
}

/// Parse `text` with `parser` and no tools; asserts a 200.
async fn parse(gw: &GatewayProcess, parser: &str, text: &str) -> (String, Calls) {
    parse_with(gw, parser, text, json!([])).await
}

/// The calls of `text` with their arguments exactly as sent (the JSON-encoded string).
async fn raw_calls(gw: &GatewayProcess, parser: &str, text: &str) -> Vec<(String, String)> {
    let body = json!({"text": text, "tool_call_parser": parser, "tools": []});
    let (status, answer) = post(gw, "function_call", &body).await;
    assert_eq!(status, StatusCode::OK, "{parser} on {text:?}: {answer}");
    answer["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["function"]["name"].as_str().unwrap().to_string(),
                c["function"]["arguments"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Assert `text` yields exactly `remaining` and `calls`.
async fn expect(gw: &GatewayProcess, parser: &str, text: &str, remaining: &str, calls: Calls) {
    let (got_text, got_calls) = parse(gw, parser, text).await;
    assert_eq!(got_text, remaining, "{parser}: remaining text of {text:?}");
    assert_eq!(got_calls, calls, "{parser}: calls of {text:?}");
}

/// Assert `text` is left alone: 200, no calls, the text back unchanged.
async fn expect_untouched(gw: &GatewayProcess, parser: &str, text: &str) {
    expect(gw, parser, text, text, vec![]).await;
}

/// Split `text` with the reasoning parser `parser`; asserts a 200 and returns
/// `(normal_text, reasoning_text)`.
async fn reason(gw: &GatewayProcess, parser: &str, text: &str) -> (String, String) {
    let body = json!({"text": text, "reasoning_parser": parser});
    let (status, answer) = post(gw, "reasoning", &body).await;
    assert_eq!(status, StatusCode::OK, "{parser} on {text:?}: {answer}");
    assert_eq!(answer.as_object().unwrap().len(), 3, "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    (
        answer["normal_text"].as_str().unwrap().to_string(),
        answer["reasoning_text"].as_str().unwrap().to_string(),
    )
}

/// Assert the reasoning split of `text`.
async fn expect_split(
    gw: &GatewayProcess,
    parser: &str,
    text: &str,
    normal: &str,
    reasoning: &str,
) {
    let got = reason(gw, parser, text).await;
    assert_eq!(
        (got.0.as_str(), got.1.as_str()),
        (normal, reasoning),
        "{parser} on {text:?}: (normal_text, reasoning_text)"
    );
}

/// Assert decision D1's error body and header; returns the body.
async fn assert_d1(
    response: reqwest::Response,
    status: StatusCode,
    kind: &str,
    code: &str,
) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["x-smg-error-code"], code);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_object().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(error.len(), 3, "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

async fn send(gw: &GatewayProcess, route: &str, body: &Value) -> reqwest::Response {
    http()
        .post(format!("{}/parse/{route}", gw.url))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// One OpenAI tool.
fn tool(name: &str, properties: Value) -> Value {
    json!({"type": "function", "function": {
        "name": name,
        "description": format!("{name} tool"),
        "parameters": {"type": "object", "properties": properties}
    }})
}

/// The tools the schema-coercion tests offer: `zip` is a string that looks like a number,
/// `days` an integer, `tags` an array, `metric` a boolean.
fn weather_tools() -> Value {
    json!([
        tool(
            "get_weather",
            json!({
                "city": {"type": "string"},
                "zip": {"type": "string"},
                "days": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "metric": {"type": "boolean"}
            })
        ),
        tool("get_time", json!({"tz": {"type": "string"}}))
    ])
}

// ---------------------------------------------------------------------------------------------
// The seed's two examples, verbatim

#[tokio::test]
async fn seed_examples_verbatim() {
    let gw = GatewayProcess::start(&[]).await;

    // Control-plane guide §4 "Function call parsing", body byte for byte.
    let body = r#"{
    "text": "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"SF\"}}",
    "tool_call_parser": "json",
    "tools": []
  }"#;
    let response = http()
        .post(format!("{}/parse/function_call", gw.url))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer super-secret-key")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({
            "remaining_text": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": "{\"city\":\"SF\"}"}}],
            "success": true
        })
    );

    // §4 "Reasoning separation".
    let body = r#"{
    "text": "<think>internal</think>answer",
    "reasoning_parser": "deepseek_r1"
  }"#;
    let response = http()
        .post(format!("{}/parse/reasoning", gw.url))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer super-secret-key")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"normal_text": "answer", "reasoning_text": "internal", "success": true})
    );
}

// ---------------------------------------------------------------------------------------------
// Tool-call parsers, one test each

#[tokio::test]
async fn tool_passthrough() {
    let gw = GatewayProcess::start(&[]).await;
    // Never finds a call, whatever the text looks like.
    expect_untouched(
        &gw,
        "passthrough",
        r#"{"name":"get_weather","arguments":{"city":"SF"}}"#,
    )
    .await;
    expect_untouched(
        &gw,
        "passthrough",
        "Sure.\n<tool_call>\n{\"name\":\"a\",\"arguments\":{}}\n</tool_call>\n<tool_call>\n{\"name\":\"b\",\"arguments\":{}}\n</tool_call>",
    )
    .await;
    expect_untouched(&gw, "passthrough", "  plain answer with trailing space \n").await;
    expect_untouched(&gw, "passthrough", "").await;
}

#[tokio::test]
async fn tool_json() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "json";
    // One call, with `arguments` or `parameters`.
    expect(
        &gw,
        p,
        r#"{"name": "get_weather", "arguments": {"city": "San Francisco", "unit": "celsius"}}"#,
        "",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "unit": "celsius"}),
        )],
    )
    .await;
    expect(
        &gw,
        p,
        r#"{"name": "search", "parameters": {"query": "rust async", "limit": 5}}"#,
        "",
        vec![call("search", json!({"query": "rust async", "limit": 5}))],
    )
    .await;
    // Several calls: a JSON array.
    expect(
        &gw,
        p,
        r#"[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "Europe/Paris", "fmt": [24, true]}}]"#,
        "",
        vec![
            call("get_weather", json!({"city": "Paris"})),
            call("get_time", json!({"tz": "Europe/Paris", "fmt": [24, true]})),
        ],
    )
    .await;
    // Text around the call: both sides are kept, the JSON is cut out.
    expect(
        &gw,
        p,
        r#"Let me check. {"name": "get_weather", "arguments": {"city": "Tokyo"}} One moment."#,
        "Let me check.  One moment.",
        vec![call("get_weather", json!({"city": "Tokyo"}))],
    )
    .await;
    // Arguments given as a JSON string (OpenAI's wire style) are not decoded: they come back
    // double-encoded, a JSON string rather than an object.
    assert_eq!(
        raw_calls(&gw, p, r#"{"name": "f", "arguments": "{\"a\": 1}"}"#).await,
        vec![("f".to_string(), r#""{\"a\": 1}""#.to_string())]
    );
    // A call without arguments gets `{}`.
    expect(
        &gw,
        p,
        r#"{"name": "list_files"}"#,
        "",
        vec![call("list_files", json!({}))],
    )
    .await;
    // Malformed: truncated JSON is left as text.
    expect_untouched(
        &gw,
        p,
        r#"{"name": "get_weather", "arguments": {"city": "SF"}"#,
    )
    .await;
    expect_untouched(&gw, p, "No tools needed, the answer is 42.").await;
    // Valid JSON that is not a call (no `name`) is consumed as the "call" and dropped:
    // the text around it survives, the object does not.
    expect(
        &gw,
        p,
        r#"Result: {"city": "SF"} done"#,
        "Result:  done",
        vec![],
    )
    .await;
}

#[tokio::test]
async fn tool_mistral() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "mistral";
    expect(
        &gw,
        p,
        r#"[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]"#,
        "",
        vec![call(
            "get_weather",
            json!({"city": "Paris", "unit": "celsius"}),
        )],
    )
    .await;
    expect(
        &gw,
        p,
        r#"[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "search", "arguments": {"query": "[brackets] inside \"strings\""}}]"#,
        "",
        vec![
            call("get_weather", json!({"city": "Paris"})),
            call("search", json!({"query": "[brackets] inside \"strings\""})),
        ],
    )
    .await;
    // Text before the calls is kept; text after the array is dropped.
    expect(
        &gw,
        p,
        r#"I'll look that up. [TOOL_CALLS] [{"name": "search", "arguments": {"query": "mistral"}}] trailing"#,
        "I'll look that up. ",
        vec![call("search", json!({"query": "mistral"}))],
    )
    .await;
    // Malformed: unterminated array, invalid JSON, or no space after the marker.
    expect_untouched(
        &gw,
        p,
        r#"[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}"#,
    )
    .await;
    expect_untouched(&gw, p, r#"[TOOL_CALLS] [{"name": get_weather}]"#).await;
    expect_untouched(
        &gw,
        p,
        r#"[TOOL_CALLS][{"name": "get_weather", "arguments": {}}]"#,
    )
    .await;
}

#[tokio::test]
async fn tool_qwen() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "qwen";
    let one = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Boston, MA\", \"unit\": \"fahrenheit\"}}\n</tool_call>";
    expect(
        &gw,
        p,
        one,
        "",
        vec![call(
            "get_weather",
            json!({"location": "Boston, MA", "unit": "fahrenheit"}),
        )],
    )
    .await;
    let two = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Boston\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"America/New_York\"}}\n</tool_call>";
    expect(
        &gw,
        p,
        two,
        "",
        vec![
            call("get_weather", json!({"location": "Boston"})),
            call("get_time", json!({"timezone": "America/New_York"})),
        ],
    )
    .await;
    // Text before the first call is kept; text after the calls is dropped.
    expect(
        &gw,
        p,
        &format!("Let me check the weather for you.\n{one}\nAnything else?"),
        "Let me check the weather for you.\n",
        vec![call(
            "get_weather",
            json!({"location": "Boston, MA", "unit": "fahrenheit"}),
        )],
    )
    .await;
    // One bad block among good ones is skipped.
    expect(
        &gw,
        p,
        "<tool_call>\n{\"name\": oops}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        "",
        vec![call("get_time", json!({}))],
    )
    .await;
    // Malformed: invalid JSON, no newlines inside the tags, unclosed tag.
    expect_untouched(
        &gw,
        p,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\n</tool_call>",
    )
    .await;
    expect_untouched(
        &gw,
        p,
        "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>",
    )
    .await;
    expect_untouched(
        &gw,
        p,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}",
    )
    .await;
}

/// `qwen_xml` and `qwen_coder` are the same parser under two names.
async fn qwen_xml_family(p: &str) {
    let gw = GatewayProcess::start(&[]).await;
    let one = "<tool_call>\n<function=get_weather>\n<parameter=city>\nSan Francisco\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
    expect(
        &gw,
        p,
        one,
        "",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "days": 3}),
        )],
    )
    .await;
    // Several calls; values that are JSON come back as JSON, Python literals too.
    let two = "<tool_call>\n<function=search>\n<parameter=query>rust & <xml></parameter>\n<parameter=filters>{\"lang\": \"en\", \"year\": [2024, 2025]}</parameter>\n<parameter=exact>True</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>";
    expect(
        &gw,
        p,
        two,
        "",
        vec![
            call(
                "search",
                json!({"query": "rust & <xml>", "filters": {"lang": "en", "year": [2024, 2025]}, "exact": true}),
            ),
            call("get_time", json!({})),
        ],
    )
    .await;
    // Text before is kept, text after dropped.
    expect(
        &gw,
        p,
        &format!("I'll check.\n\n{one}\nDone."),
        "I'll check.\n\n",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "days": 3}),
        )],
    )
    .await;
    // Malformed: no <function=...>, or the block never closes.
    expect_untouched(
        &gw,
        p,
        "<tool_call>\n<parameter=city>SF</parameter>\n</tool_call>",
    )
    .await;
    expect_untouched(
        &gw,
        p,
        "<tool_call>\n<function=get_weather>\n<parameter=city>SF</parameter>\n</function>",
    )
    .await;

    // Schema-typed coercion from `tools`: a numeric-looking string parameter stays a string,
    // an integer parameter is a number, an array parameter is parsed.
    let typed = "<tool_call>\n<function=get_weather>\n<parameter=zip>\n94103\n</parameter>\n<parameter=days>\n 7 \n</parameter>\n<parameter=tags>[\"a\", \"b\"]</parameter>\n<parameter=metric>false</parameter>\n</function>\n</tool_call>";
    let (_, calls) = parse_with(&gw, p, typed, weather_tools()).await;
    assert_eq!(
        calls,
        vec![call(
            "get_weather",
            json!({"zip": "94103", "days": 7, "tags": ["a", "b"], "metric": false})
        )]
    );
    // Without the schema the parser infers: the zip code becomes a number.
    let (_, calls) = parse(&gw, p, typed).await;
    assert_eq!(calls[0].1["zip"], json!(94103));
    assert_eq!(calls[0].1["days"], json!(7));
}

#[tokio::test]
async fn tool_qwen_xml() {
    qwen_xml_family("qwen_xml").await;
}

#[tokio::test]
async fn tool_qwen_coder() {
    qwen_xml_family("qwen_coder").await;
}

#[tokio::test]
async fn tool_pythonic() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "pythonic";
    expect(
        &gw,
        p,
        r#"[get_weather(city="San Francisco", unit="celsius")]"#,
        "",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "unit": "celsius"}),
        )],
    )
    .await;
    // Several calls, Python literals: True/None, nested lists and dicts, negative numbers.
    expect(
        &gw,
        p,
        r#"[get_weather(city='Paris', days=3), search(query="rust", exact=True, page=None, tags=['a', 'b'], opts={'depth': -2, 'ratio': 0.5})]"#,
        "",
        vec![
            call("get_weather", json!({"city": "Paris", "days": 3})),
            call(
                "search",
                json!({"query": "rust", "exact": true, "page": null, "tags": ["a", "b"], "opts": {"depth": -2, "ratio": 0.5}}),
            ),
        ],
    )
    .await;
    // Text around the list is kept on both sides.
    expect(
        &gw,
        p,
        r#"Let me check. [get_time(tz="UTC")] One moment."#,
        "Let me check.  One moment.",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    // Llama 4 wraps the list in <|python_start|>/<|python_end|>; they are stripped.
    expect(
        &gw,
        p,
        r#"<|python_start|>[get_time(tz="UTC")]<|python_end|>"#,
        "",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    // Malformed: unclosed call, positional arguments, a plain list.
    expect_untouched(&gw, p, r#"[get_weather(city="SF""#).await;
    expect_untouched(&gw, p, r#"[get_weather("SF")]"#).await;
    expect_untouched(&gw, p, "The primes are [2, 3, 5, 7].").await;
}

#[tokio::test]
async fn tool_llama() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "llama";
    expect(
        &gw,
        p,
        r#"<|python_tag|>{"name": "get_weather", "parameters": {"city": "San Francisco", "unit": "celsius"}}"#,
        "",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "unit": "celsius"}),
        )],
    )
    .await;
    // Llama 3.2 also emits the bare JSON object.
    expect(
        &gw,
        p,
        r#"{"name": "get_time", "parameters": {"tz": "UTC"}}"#,
        "",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    // Several calls, separated by semicolons.
    expect(
        &gw,
        p,
        r#"<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {"tz": "Europe/Paris"}}"#,
        "",
        vec![
            call("get_weather", json!({"city": "Paris"})),
            call("get_time", json!({"tz": "Europe/Paris"})),
        ],
    )
    .await;
    // Text before the tag is kept.
    expect(
        &gw,
        p,
        r#"Let me look that up.<|python_tag|>{"name": "search", "parameters": {"query": "llama"}}"#,
        "Let me look that up.",
        vec![call("search", json!({"query": "llama"}))],
    )
    .await;
    // Llama reads `parameters` only: an `arguments` object is not the arguments.
    expect(
        &gw,
        p,
        r#"{"name": "search", "arguments": {"query": "x"}}"#,
        "",
        vec![call("search", json!({}))],
    )
    .await;
    // Malformed: truncated JSON, trailing text after the object, a semicolon inside a string
    // (the parser splits on every `;`, so the call is lost and the text kept).
    expect_untouched(
        &gw,
        p,
        r#"<|python_tag|>{"name": "get_weather", "parameters": {"#,
    )
    .await;
    expect_untouched(
        &gw,
        p,
        r#"<|python_tag|>{"name": "get_time", "parameters": {}} and then"#,
    )
    .await;
    expect_untouched(
        &gw,
        p,
        r#"{"name": "search", "parameters": {"query": "a;b"}}"#,
    )
    .await;
    expect_untouched(&gw, p, "It is sunny today.").await;
}

#[tokio::test]
async fn tool_deepseek() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "deepseek";
    let one_call = |name: &str, args: &str| {
        format!("{DS_CALL_BEGIN}function{DS_SEP}{name}\n```json\n{args}\n```{DS_CALL_END}")
    };
    let weather = one_call("get_weather", r#"{"city": "Hangzhou", "days": 2}"#);
    let time = one_call("get_time", r#"{"tz": "Asia/Shanghai"}"#);
    expect(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{weather}{DS_CALLS_END}"),
        "",
        vec![call("get_weather", json!({"city": "Hangzhou", "days": 2}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{weather}\n{time}{DS_CALLS_END}"),
        "",
        vec![
            call("get_weather", json!({"city": "Hangzhou", "days": 2})),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("Let me check.\n{DS_CALLS_BEGIN}{time}{DS_CALLS_END}<｜end▁of▁sentence｜>"),
        "Let me check.\n",
        vec![call("get_time", json!({"tz": "Asia/Shanghai"}))],
    )
    .await;
    // Arguments that are not an object are wrapped in {"value": ...}.
    expect(
        &gw,
        p,
        &format!(
            "{DS_CALLS_BEGIN}{}{DS_CALLS_END}",
            one_call("sum", "[1, 2, 3]")
        ),
        "",
        vec![call("sum", json!({"value": [1, 2, 3]}))],
    )
    .await;
    // Malformed: invalid JSON, the V3.1 shape (no `function`, no fence), unclosed call.
    expect_untouched(
        &gw,
        p,
        &format!(
            "{DS_CALLS_BEGIN}{}{DS_CALLS_END}",
            one_call("f", r#"{"city": }"#)
        ),
    )
    .await;
    expect_untouched(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{DS_CALL_BEGIN}get_weather{DS_SEP}{{\"city\": \"SF\"}}{DS_CALL_END}{DS_CALLS_END}"),
    )
    .await;
    expect_untouched(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{DS_CALL_BEGIN}function{DS_SEP}get_weather\n```json\n{{}}"),
    )
    .await;
}

#[tokio::test]
async fn tool_deepseek31() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "deepseek31";
    let one_call =
        |name: &str, args: &str| format!("{DS_CALL_BEGIN}{name}{DS_SEP}{args}{DS_CALL_END}");
    let weather = one_call("get_weather", r#"{"city": "Hangzhou", "unit": "celsius"}"#);
    let time = one_call("get_time", r#"{"tz": "Asia/Shanghai"}"#);
    expect(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{weather}{DS_CALLS_END}"),
        "",
        vec![call(
            "get_weather",
            json!({"city": "Hangzhou", "unit": "celsius"}),
        )],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{weather}{time}{DS_CALLS_END}"),
        "",
        vec![
            call(
                "get_weather",
                json!({"city": "Hangzhou", "unit": "celsius"}),
            ),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("I need two lookups.{DS_CALLS_BEGIN}{time}{DS_CALLS_END} trailing"),
        "I need two lookups.",
        vec![call("get_time", json!({"tz": "Asia/Shanghai"}))],
    )
    .await;
    // Malformed: invalid JSON; an unclosed call.
    expect_untouched(
        &gw,
        p,
        &format!(
            "{DS_CALLS_BEGIN}{}{DS_CALLS_END}",
            one_call("f", "{not json}")
        ),
    )
    .await;
    expect_untouched(
        &gw,
        p,
        &format!("{DS_CALLS_BEGIN}{DS_CALL_BEGIN}get_weather{DS_SEP}{{\"city\":"),
    )
    .await;
}

/// `deepseek32` and `deepseek_v4` share the DSML grammar; only the outer block differs.
async fn dsml_family(p: &str, block: &str, other_block: &str) {
    let gw = GatewayProcess::start(&[]).await;
    let param = |name: &str, string: bool, value: &str| {
        format!("<{DSML}parameter name=\"{name}\" string=\"{string}\">{value}</{DSML}parameter>")
    };
    let invoke =
        |name: &str, body: &str| format!("<{DSML}invoke name=\"{name}\">\n{body}\n</{DSML}invoke>");
    let wrap = |invokes: &str| format!("<{DSML}{block}>\n{invokes}\n</{DSML}{block}>");
    let weather = invoke(
        "get_weather",
        &format!(
            "{}\n{}\n{}",
            param("city", true, "San Francisco"),
            param("days", false, "3"),
            param("zip", true, "94103")
        ),
    );
    expect(
        &gw,
        p,
        &wrap(&weather),
        "",
        vec![call(
            "get_weather",
            json!({"city": "San Francisco", "days": 3, "zip": "94103"}),
        )],
    )
    .await;
    // Several invokes; string="false" values are JSON; an invoke may carry a JSON body.
    let search = invoke(
        "search",
        &param("filters", false, r#"{"lang": "en", "top": [1, 2]}"#),
    );
    let time = invoke("get_time", r#"{"tz": "UTC"}"#);
    expect(
        &gw,
        p,
        &wrap(&format!("{weather}\n{search}\n{time}")),
        "",
        vec![
            call(
                "get_weather",
                json!({"city": "San Francisco", "days": 3, "zip": "94103"}),
            ),
            call("search", json!({"filters": {"lang": "en", "top": [1, 2]}})),
            call("get_time", json!({"tz": "UTC"})),
        ],
    )
    .await;
    // Text before the block is kept (trailing whitespace trimmed); text after is dropped.
    expect(
        &gw,
        p,
        &format!("Let me check that.\n\n{}\nDone.", wrap(&time)),
        "Let me check that.",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    // The other generation's outer block is not a tool call for this parser.
    let foreign = format!("<{DSML}{other_block}>\n{time}\n</{DSML}{other_block}>");
    expect_untouched(&gw, p, &foreign).await;
    // Malformed: a block that never closes yields no call, and unlike most parsers the
    // malformed tail is dropped, keeping only the text before the block.
    expect(
        &gw,
        p,
        &format!("Checking.\n<{DSML}{block}>\n<{DSML}invoke name=\"get_time\">\n"),
        "Checking.",
        vec![],
    )
    .await;
    // A string="false" value that is not JSON stays a string.
    let loose = wrap(&invoke("f", &param("n", false, "not json")));
    expect(
        &gw,
        p,
        &loose,
        "",
        vec![call("f", json!({"n": "not json"}))],
    )
    .await;
    // A JSON body inside an invoke is passed through as written, unvalidated: a body that
    // merely starts with `{` and ends with `}` comes out as arguments that are not JSON.
    // (Upstream's parser does the same; pinned here so a change is deliberate.)
    let spaced = wrap(&invoke("f", "{\"a\":  [1,\n 2]}"));
    assert_eq!(
        raw_calls(&gw, p, &spaced).await,
        vec![("f".to_string(), "{\"a\":  [1,\n 2]}".to_string())]
    );
    let broken = wrap(&invoke("f", "{not json}"));
    assert_eq!(
        raw_calls(&gw, p, &broken).await,
        vec![("f".to_string(), "{not json}".to_string())]
    );
}

#[tokio::test]
async fn tool_deepseek32() {
    dsml_family("deepseek32", "function_calls", "tool_calls").await;
}

#[tokio::test]
async fn tool_deepseek_v4() {
    dsml_family("deepseek_v4", "tool_calls", "function_calls").await;
}

/// glm45_moe: `<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n</tool_call>`.
#[tokio::test]
async fn tool_glm45_moe() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "glm45_moe";
    let weather = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>";
    let time = "<tool_call>get_time\n<arg_key>tz</arg_key>\n<arg_value>Asia/Shanghai</arg_value>\n</tool_call>";
    expect(
        &gw,
        p,
        weather,
        "",
        vec![call("get_weather", json!({"city": "Beijing", "days": 3}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{weather}\n{time}"),
        "",
        vec![
            call("get_weather", json!({"city": "Beijing", "days": 3})),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("Let me look.\n{time}\nafter"),
        "Let me look.\n",
        vec![call("get_time", json!({"tz": "Asia/Shanghai"}))],
    )
    .await;
    // Malformed: the GLM-4.7 one-line shape (no newline after the name), an unclosed block.
    expect_untouched(
        &gw,
        p,
        "<tool_call>get_time<arg_key>tz</arg_key><arg_value>UTC</arg_value></tool_call>",
    )
    .await;
    expect_untouched(
        &gw,
        p,
        "<tool_call>get_time\n<arg_key>tz</arg_key>\n<arg_value>UTC",
    )
    .await;
    glm_coercion(&gw, p, "\n").await;
}

/// glm47_moe: the same tags on one line (whitespace-tolerant).
#[tokio::test]
async fn tool_glm47_moe() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "glm47_moe";
    let weather = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>";
    let time =
        "<tool_call>get_time<arg_key>tz</arg_key><arg_value>Asia/Shanghai</arg_value></tool_call>";
    expect(
        &gw,
        p,
        weather,
        "",
        vec![call("get_weather", json!({"city": "Beijing", "days": 3}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{weather}{time}"),
        "",
        vec![
            call("get_weather", json!({"city": "Beijing", "days": 3})),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    // The GLM-4.5 multi-line shape is accepted too.
    expect(
        &gw,
        p,
        "<tool_call>get_time\n<arg_key>tz</arg_key>\n<arg_value>UTC</arg_value>\n</tool_call>",
        "",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("Checking both.{time} after"),
        "Checking both.",
        vec![call("get_time", json!({"tz": "Asia/Shanghai"}))],
    )
    .await;
    // Malformed: no function name, an unclosed block.
    expect_untouched(
        &gw,
        p,
        "<tool_call><arg_key>tz</arg_key><arg_value>UTC</arg_value></tool_call>",
    )
    .await;
    expect_untouched(&gw, p, "<tool_call>get_time<arg_key>tz</arg_key>").await;
    glm_coercion(&gw, p, "").await;
}

/// Arguments typed by the tool schema (`sep` goes between tags: "\n" for 4.5, "" for 4.7).
async fn glm_coercion(gw: &GatewayProcess, p: &str, sep: &str) {
    let arg =
        |k: &str, v: &str| format!("<arg_key>{k}</arg_key>{sep}<arg_value>{v}</arg_value>{sep}");
    let text = format!(
        "<tool_call>get_weather\n{}{}{}{}</tool_call>",
        arg("zip", "94103"),
        arg("days", "7"),
        arg("tags", r#"["rain", "wind"]"#),
        arg("metric", "True"),
    );
    let (_, calls) = parse_with(gw, p, &text, weather_tools()).await;
    assert_eq!(
        calls,
        vec![call(
            "get_weather",
            json!({"zip": "94103", "days": 7, "tags": ["rain", "wind"], "metric": true})
        )],
        "{p}"
    );
    // Without the schema, the zip code is inferred to be a number.
    let (_, calls) = parse(gw, p, &text).await;
    assert_eq!(calls[0].1["zip"], json!(94103), "{p}");
}

#[tokio::test]
async fn tool_step3() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "step3";
    let one_call = |name: &str, params: &[(&str, &str)]| {
        let params: String = params
            .iter()
            .map(|(k, v)| format!("<steptml:parameter name=\"{k}\">{v}</steptml:parameter>"))
            .collect();
        format!(
            "{STEP_CALL_BEGIN}function{STEP_SEP}<steptml:invoke name=\"{name}\">{params}</steptml:invoke>{STEP_CALL_END}"
        )
    };
    let weather = one_call("get_weather", &[("city", "Beijing"), ("days", "3")]);
    let search = one_call(
        "search",
        &[
            ("query", "step 3"),
            ("exact", "True"),
            ("filters", r#"{"lang": "zh"}"#),
        ],
    );
    expect(
        &gw,
        p,
        &format!("{STEP_CALLS_BEGIN}{weather}{STEP_CALLS_END}"),
        "",
        vec![call("get_weather", json!({"city": "Beijing", "days": 3}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{STEP_CALLS_BEGIN}{weather}{search}{STEP_CALLS_END}"),
        "",
        vec![
            call("get_weather", json!({"city": "Beijing", "days": 3})),
            call(
                "search",
                json!({"query": "step 3", "exact": true, "filters": {"lang": "zh"}}),
            ),
        ],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("Let me check.{STEP_CALLS_BEGIN}{weather}{STEP_CALLS_END} after"),
        "Let me check.",
        vec![call("get_weather", json!({"city": "Beijing", "days": 3}))],
    )
    .await;
    // Malformed: not a `function` call, unclosed call.
    expect_untouched(
        &gw,
        p,
        &format!(
            "{STEP_CALLS_BEGIN}{STEP_CALL_BEGIN}other{STEP_SEP}<steptml:invoke name=\"f\"></steptml:invoke>{STEP_CALL_END}{STEP_CALLS_END}"
        ),
    )
    .await;
    expect_untouched(
        &gw,
        p,
        &format!(
            "{STEP_CALLS_BEGIN}{STEP_CALL_BEGIN}function{STEP_SEP}<steptml:invoke name=\"f\">"
        ),
    )
    .await;
}

#[tokio::test]
async fn tool_sarashina() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "sarashina";
    expect(
        &gw,
        p,
        "<|tool_calls|>[{'name': 'get_weather', 'arguments': {'city': 'Tokyo', 'unit': 'celsius'}}]",
        "",
        vec![call(
            "get_weather",
            json!({"city": "Tokyo", "unit": "celsius"}),
        )],
    )
    .await;
    // The marker is a special token that detokenization usually strips: a bare leading list
    // is a call list too. Python literals become JSON.
    expect(
        &gw,
        p,
        "[{'name': 'get_weather', 'arguments': {'city': 'Osaka'}}, {'name': 'search', 'arguments': {'query': \"it's\", 'exact': True, 'page': None}}]",
        "",
        vec![
            call("get_weather", json!({"city": "Osaka"})),
            call("search", json!({"query": "it's", "exact": true, "page": null})),
        ],
    )
    .await;
    // Text around a marked list is kept, joined as is (only the ends are trimmed).
    expect(
        &gw,
        p,
        "Let me check. <|tool_calls|>[{'name': 'get_time', 'arguments': {'tz': 'Asia/Tokyo'}}]  Thanks!",
        "Let me check.   Thanks!",
        vec![call("get_time", json!({"tz": "Asia/Tokyo"}))],
    )
    .await;
    // A list after prose without the marker is prose (the text comes back trimmed).
    expect(
        &gw,
        p,
        "Here it is: [{'name': 'get_time', 'arguments': {}}] \n",
        "Here it is: [{'name': 'get_time', 'arguments': {}}]",
        vec![],
    )
    .await;
    // Malformed: an unbalanced list after the marker; the marker itself is dropped.
    expect(
        &gw,
        p,
        "<|tool_calls|>[{'name': 'get_time', 'arguments': {",
        "[{'name': 'get_time', 'arguments': {",
        vec![],
    )
    .await;
    expect_untouched(&gw, p, "[{'no_name': 1}]").await;
}

#[tokio::test]
async fn tool_kimik2() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "kimik2";
    let one_call = |id: &str, args: &str| {
        format!("<|tool_call_begin|>{id}<|tool_call_argument_begin|>{args}<|tool_call_end|>")
    };
    let section =
        |calls: &str| format!("<|tool_calls_section_begin|>{calls}<|tool_calls_section_end|>");
    let weather = one_call(
        "functions.get_weather:0",
        r#"{"city": "Beijing", "nested": {"days": 3}}"#,
    );
    let time = one_call("functions.get_time:1", r#"{"tz": "Asia/Shanghai"}"#);
    expect(
        &gw,
        p,
        &section(&weather),
        "",
        vec![call(
            "get_weather",
            json!({"city": "Beijing", "nested": {"days": 3}}),
        )],
    )
    .await;
    expect(
        &gw,
        p,
        &section(&format!("{weather}{time}")),
        "",
        vec![
            call(
                "get_weather",
                json!({"city": "Beijing", "nested": {"days": 3}}),
            ),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    // Text before the section is kept; the `functions.` prefix is optional.
    expect(
        &gw,
        p,
        &format!(
            "I'll check the time.{} after",
            section(&one_call("get_time:0", r#"{"tz": "UTC"}"#))
        ),
        "I'll check the time.",
        vec![call("get_time", json!({"tz": "UTC"}))],
    )
    .await;
    // The arguments are the model's JSON text, spacing and all (validated, not re-encoded).
    assert_eq!(
        raw_calls(&gw, p, &section(&weather)).await,
        vec![(
            "get_weather".to_string(),
            r#"{"city": "Beijing", "nested": {"days": 3}}"#.to_string()
        )]
    );
    // Malformed: invalid JSON, a call id without an index, an unclosed call.
    expect_untouched(
        &gw,
        p,
        &section(&one_call("functions.f:0", r#"{"city": }"#)),
    )
    .await;
    expect_untouched(&gw, p, &section(&one_call("functions.f", "{}"))).await;
    expect_untouched(
        &gw,
        p,
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{\"a\": 1",
    )
    .await;
}

#[tokio::test]
async fn tool_kimi_k3() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "kimi_k3";
    let arg = |k: &str, t: &str, v: &str| {
        format!("<|open|>argument key=\"{k}\" type=\"{t}\"<|sep|>{v}<|close|>argument<|sep|>")
    };
    let one_call = |name: &str, index: usize, args: &str| {
        format!("<|open|>call tool=\"{name}\" index=\"{index}\"<|sep|>{args}<|close|>call<|sep|>")
    };
    let tools = |calls: &str| format!("<|open|>tools<|sep|>{calls}<|close|>tools<|sep|>");
    let weather = one_call(
        "get_weather",
        0,
        &format!(
            "{}{}{}",
            arg("city", "string", "Beijing"),
            arg("days", "integer", "3"),
            arg("zip", "string", "100000")
        ),
    );
    let time = one_call("get_time", 1, &arg("tz", "string", "Asia/Shanghai"));
    expect(
        &gw,
        p,
        &tools(&weather),
        "",
        vec![call(
            "get_weather",
            json!({"city": "Beijing", "days": 3, "zip": "100000"}),
        )],
    )
    .await;
    expect(
        &gw,
        p,
        &tools(&format!("{weather}{time}")),
        "",
        vec![
            call(
                "get_weather",
                json!({"city": "Beijing", "days": 3, "zip": "100000"}),
            ),
            call("get_time", json!({"tz": "Asia/Shanghai"})),
        ],
    )
    .await;
    // The `response` channel is unwrapped into the remaining text.
    expect(
        &gw,
        p,
        &format!(
            "<|open|>response<|sep|>Let me check.<|close|>response<|sep|>{}",
            tools(&time)
        ),
        "Let me check.",
        vec![call("get_time", json!({"tz": "Asia/Shanghai"}))],
    )
    .await;
    // Plain answers: wrappers stripped, nothing else touched.
    expect(
        &gw,
        p,
        "<|open|>response<|sep|>It is sunny.<|close|>response<|sep|>",
        "It is sunny.",
        vec![],
    )
    .await;
    // A non-string value that is not JSON stays a string.
    expect(
        &gw,
        p,
        &tools(&one_call("f", 0, &arg("n", "integer", "many"))),
        "",
        vec![call("f", json!({"n": "many"}))],
    )
    .await;
    // Malformed: a call that never closes yields no call; the tools section is consumed.
    expect(
        &gw,
        p,
        "Checking.<|open|>tools<|sep|><|open|>call tool=\"get_time\" index=\"0\"<|sep|>",
        "Checking.",
        vec![],
    )
    .await;
}

#[tokio::test]
async fn tool_inkling() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "inkling";
    let invoke = |name: &str, args: &str| {
        format!(
            "<|message_model|>{name}<|content_invoke_tool_json|>{{\"name\":\"{name}\",\"args\":{args}}}<|end_message|>"
        )
    };
    let weather = invoke("get_weather", r#"{"city":"Paris","days":3}"#);
    let time = invoke("get_time", r#"{"tz":"Europe/Paris"}"#);
    let text_block = "<|message_model|><|content_text|>Let me check.<|end_message|>";
    expect(
        &gw,
        p,
        &weather,
        "",
        vec![call("get_weather", json!({"city": "Paris", "days": 3}))],
    )
    .await;
    expect(
        &gw,
        p,
        &format!("{weather}{time}<|content_model_end_sampling|>"),
        "",
        vec![
            call("get_weather", json!({"city": "Paris", "days": 3})),
            call("get_time", json!({"tz": "Europe/Paris"})),
        ],
    )
    .await;
    // TML framing around ordinary text is stripped; the text is kept.
    expect(
        &gw,
        p,
        &format!("{text_block}{time}"),
        "Let me check.",
        vec![call("get_time", json!({"tz": "Europe/Paris"}))],
    )
    .await;
    // Malformed JSON and text-mode invocations are protocol data: the frame is suppressed,
    // no call comes out, the surrounding text survives.
    expect(
        &gw,
        p,
        &format!("{text_block}<|message_model|>f<|content_invoke_tool_json|>{{\"name\":\"f\",\"args\":{{<|end_message|>"),
        "Let me check.",
        vec![],
    )
    .await;
    expect(
        &gw,
        p,
        "Before.<|content_invoke_tool_text|>search for rust<|end_message|>After.",
        "Before.After.",
        vec![],
    )
    .await;
    // A call without an `args` object is dropped too.
    expect(
        &gw,
        p,
        "<|message_model|>f<|content_invoke_tool_json|>{\"name\":\"f\"}<|end_message|>",
        "",
        vec![],
    )
    .await;

    // With `tools`, only declared tools may be called: an undefined one is suppressed.
    // (Arguments are JSON already, so types need no coercion.)
    let undefined = invoke("delete_everything", r#"{"confirm":true}"#);
    let (text, calls) = parse_with(&gw, p, &format!("{weather}{undefined}"), weather_tools()).await;
    assert_eq!(text, "");
    assert_eq!(
        calls,
        vec![call("get_weather", json!({"city": "Paris", "days": 3}))]
    );
}

#[tokio::test]
async fn tool_minimax_m2() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "minimax_m2";
    let invoke = |name: &str, params: &[(&str, &str)]| {
        let params: String = params
            .iter()
            .map(|(k, v)| format!("<parameter name=\"{k}\">{v}</parameter>\n"))
            .collect();
        format!("<invoke name=\"{name}\">\n{params}</invoke>\n")
    };
    let wrap = |invokes: &str| format!("<minimax:tool_call>\n{invokes}</minimax:tool_call>");
    let weather = invoke(
        "get_weather",
        &[("city", "Shanghai"), ("days", "3"), ("metric", "true")],
    );
    let search = invoke(
        "search",
        &[
            ("query", "a &lt;b&gt; &amp; c"),
            ("ratio", "0.5"),
            ("page", "None"),
        ],
    );
    expect(
        &gw,
        p,
        &wrap(&weather),
        "",
        vec![call(
            "get_weather",
            json!({"city": "Shanghai", "days": 3, "metric": true}),
        )],
    )
    .await;
    // Parallel calls are several invokes in one wrapper; XML entities are decoded.
    expect(
        &gw,
        p,
        &wrap(&format!("{weather}{search}")),
        "",
        vec![
            call(
                "get_weather",
                json!({"city": "Shanghai", "days": 3, "metric": true}),
            ),
            call(
                "search",
                json!({"query": "a <b> & c", "ratio": 0.5, "page": null}),
            ),
        ],
    )
    .await;
    // Several wrappers; text before the first is kept, text after dropped.
    expect(
        &gw,
        p,
        &format!(
            "Let me check.\n{}\n{}\nDone.",
            wrap(&weather),
            wrap(&search)
        ),
        "Let me check.\n",
        vec![
            call(
                "get_weather",
                json!({"city": "Shanghai", "days": 3, "metric": true}),
            ),
            call(
                "search",
                json!({"query": "a <b> & c", "ratio": 0.5, "page": null}),
            ),
        ],
    )
    .await;
    // Malformed: an unclosed wrapper, a wrapper without an invoke.
    expect_untouched(
        &gw,
        p,
        "<minimax:tool_call>\n<invoke name=\"get_time\">\n<parameter name=\"tz\">UTC</parameter>\n",
    )
    .await;
    expect_untouched(
        &gw,
        p,
        "<minimax:tool_call>\nnothing here\n</minimax:tool_call>",
    )
    .await;

    // Schema-typed coercion: the zip stays a string, a padded integer becomes a number, the
    // array is parsed. Without the schema the padded integer stays a string and the array
    // stays text.
    let typed = wrap(&invoke(
        "get_weather",
        &[
            ("zip", "94103"),
            ("days", "\n7\n"),
            ("tags", r#"["rain", "wind"]"#),
            ("metric", "False"),
        ],
    ));
    let (_, calls) = parse_with(&gw, p, &typed, weather_tools()).await;
    assert_eq!(
        calls,
        vec![call(
            "get_weather",
            json!({"zip": "94103", "days": 7, "tags": ["rain", "wind"], "metric": false})
        )]
    );
    let (_, calls) = parse(&gw, p, &typed).await;
    assert_eq!(
        calls,
        vec![call(
            "get_weather",
            json!({"zip": 94103, "days": "\n7\n", "tags": "[\"rain\", \"wind\"]", "metric": false})
        )]
    );
}

#[tokio::test]
async fn tool_cohere() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "cohere";
    expect(
        &gw,
        p,
        "<|START_ACTION|>\n{\"tool_name\": \"search\", \"parameters\": {\"query\": \"rust programming\"}}\n<|END_ACTION|>",
        "",
        vec![call("search", json!({"query": "rust programming"}))],
    )
    .await;
    expect(
        &gw,
        p,
        "<|START_ACTION|>\n[\n  {\"tool_name\": \"search\", \"parameters\": {\"query\": \"rust\"}},\n  {\"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}\n]\n<|END_ACTION|>",
        "",
        vec![
            call("search", json!({"query": "rust"})),
            call("get_weather", json!({"city": "Paris", "days": 2})),
        ],
    )
    .await;
    // The response block's text is kept (markers stripped, trimmed), also after the action.
    expect(
        &gw,
        p,
        "<|START_RESPONSE|>Let me search for that.<|END_RESPONSE|>\n<|START_ACTION|>\n{\"tool_name\": \"search\", \"parameters\": {\"query\": \"<|END_ACTION|> in a string\"}}\n<|END_ACTION|>\nMore soon.",
        "Let me search for that.\n\nMore soon.",
        vec![call("search", json!({"query": "<|END_ACTION|> in a string"}))],
    )
    .await;
    // `parameters` that are not an object are passed on as their JSON.
    assert_eq!(
        raw_calls(
            &gw,
            p,
            "<|START_ACTION|>{\"tool_name\": \"f\", \"parameters\": \"just text\"}<|END_ACTION|>"
        )
        .await,
        vec![("f".to_string(), "\"just text\"".to_string())]
    );
    // No action: response markers stripped.
    expect(
        &gw,
        p,
        "<|START_RESPONSE|>The answer is 42.<|END_RESPONSE|>",
        "The answer is 42.",
        vec![],
    )
    .await;
    // Malformed: invalid JSON drops the action block but keeps the text around it; an
    // unclosed action is left as (trimmed) text.
    expect(
        &gw,
        p,
        "Before <|START_ACTION|>{\"tool_name\": oops}<|END_ACTION|> after",
        "Before  after",
        vec![],
    )
    .await;
    expect(
        &gw,
        p,
        "Before <|START_ACTION|>{\"tool_name\": \"search\", \"parameters\": {} \n",
        "Before <|START_ACTION|>{\"tool_name\": \"search\", \"parameters\": {}",
        vec![],
    )
    .await;
}

/// Garbage, truncated markers and odd Unicode never make any parser answer 5xx.
#[tokio::test]
async fn tool_parsers_survive_garbage() {
    let gw = GatewayProcess::start(&[]).await;
    let garbage = [
        String::new(),
        "\u{0}\u{1f}\u{7f}".to_string(),
        "{{{{[[[[".to_string(),
        "]]]]}}}}".to_string(),
        "<tool_call>".to_string(),
        "</tool_call><tool_call>".to_string(),
        "[TOOL_CALLS] [".to_string(),
        format!("{DS_CALLS_BEGIN}{DS_CALL_BEGIN}"),
        format!("<{DSML}function_calls><{DSML}tool_calls>"),
        "<|tool_calls_section_begin|><|tool_call_begin|>".to_string(),
        "<|open|>tools<|sep|><|open|>call<|sep|>".to_string(),
        "<|content_invoke_tool_json|>{".to_string(),
        "<minimax:tool_call><invoke name=\"".to_string(),
        "<|START_ACTION|><|END_ACTION|>".to_string(),
        "<|python_tag|>;;;".to_string(),
        "[f(a=1, ".to_string(),
        "<|tool_calls|>[{'name': 'f', 'arguments': {'a': 1e999}}]".to_string(),
        "[f(a=1e999)]".to_string(),
        "é漢字🦀\u{feff}".repeat(50),
        "[".repeat(2000),
        "{\"a\":".repeat(500),
    ];
    for parser in TOOL_PARSERS {
        for text in &garbage {
            let body = json!({"text": text, "tool_call_parser": parser, "tools": weather_tools()});
            let (status, answer) = post(&gw, "function_call", &body).await;
            match status {
                StatusCode::OK => {
                    assert_eq!(answer["success"], true);
                    assert!(answer["remaining_text"].is_string());
                    assert!(answer["tool_calls"].is_array());
                }
                StatusCode::BAD_REQUEST => {
                    assert_eq!(
                        answer["error"]["code"], "PARSE_FAILED",
                        "{parser}: {answer}"
                    )
                }
                other => panic!("{parser} on {text:?}: {other} {answer}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reasoning parsers

/// The `<think>` parsers that start outside reasoning: split at `</think>` when `<think>` is
/// there, everything is reasoning when the end token is missing, plain text is all answer.
async fn think_tags_not_in_reasoning(gw: &GatewayProcess, p: &str) {
    expect_split(
        gw,
        p,
        "<think>The user wants 2+2. That is 4.</think>The answer is 4.",
        "The answer is 4.",
        "The user wants 2+2. That is 4.",
    )
    .await;
    expect_split(
        gw,
        p,
        "<think>\nStep 1: recall.\nStep 2: answer.\n</think>\n\nParis is the capital of France.",
        "\n\nParis is the capital of France.",
        "\nStep 1: recall.\nStep 2: answer.\n",
    )
    .await;
    // No end token: the reasoning was cut short.
    expect_split(
        gw,
        p,
        "<think>Still thinking about",
        "",
        "Still thinking about",
    )
    .await;
    // No start token: not reasoning, even with an end token.
    expect_split(gw, p, "Just an answer.", "Just an answer.", "").await;
    expect_split(gw, p, "plan</think>answer", "plan</think>answer", "").await;
    // Only the first end token splits.
    expect_split(gw, p, "<think>a</think>b</think>c", "b</think>c", "a").await;
}

/// The `<think>` parsers that start inside reasoning (the chat template already opened it).
async fn think_tags_in_reasoning(gw: &GatewayProcess, p: &str) {
    expect_split(
        gw,
        p,
        "<think>The user wants 2+2.</think>The answer is 4.",
        "The answer is 4.",
        "The user wants 2+2.",
    )
    .await;
    // The template emitted <think>, so the output starts mid-thought.
    expect_split(
        gw,
        p,
        "The user wants 2+2.\n</think>\n\nThe answer is 4.",
        "\n\nThe answer is 4.",
        "The user wants 2+2.\n",
    )
    .await;
    // No end token: all of it is reasoning (truncated), with or without <think>.
    expect_split(gw, p, "Still thinking about", "", "Still thinking about").await;
    expect_split(gw, p, "<think>Still thinking", "", "Still thinking").await;
}

#[tokio::test]
async fn reasoning_base() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "base").await;
}

#[tokio::test]
async fn reasoning_passthrough() {
    let gw = GatewayProcess::start(&[]).await;
    // Never reasoning, whatever the tokens.
    for text in [
        "<think>plan</think>answer",
        "<think>unfinished",
        "plan</think>answer",
        "",
    ] {
        expect_split(&gw, "passthrough", text, text, "").await;
    }
}

#[tokio::test]
async fn reasoning_deepseek_r1() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_in_reasoning(&gw, "deepseek_r1").await;
}

#[tokio::test]
async fn reasoning_qwen3() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "qwen3").await;
}

#[tokio::test]
async fn reasoning_qwen3_thinking() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_in_reasoning(&gw, "qwen3_thinking").await;
}

#[tokio::test]
async fn reasoning_kimi() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "kimi";
    expect_split(
        &gw,
        p,
        &format!("{KIMI_THINK}The user greets me.{KIMI_END_THINK}Hello!"),
        "Hello!",
        "The user greets me.",
    )
    .await;
    expect_split(
        &gw,
        p,
        &format!("{KIMI_THINK}Still thinking"),
        "",
        "Still thinking",
    )
    .await;
    // Not in reasoning at the start; ASCII <think> tags mean nothing to this parser.
    expect_split(&gw, p, "Hello!", "Hello!", "").await;
    let ascii = "<think>plan</think>answer";
    expect_split(&gw, p, ascii, ascii, "").await;
}

#[tokio::test]
async fn reasoning_glm45() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "glm45").await;
}

#[tokio::test]
async fn reasoning_step3() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_in_reasoning(&gw, "step3").await;
}

#[tokio::test]
async fn reasoning_minimax() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_in_reasoning(&gw, "minimax").await;
}

#[tokio::test]
async fn reasoning_cohere_cmd() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "cohere_cmd";
    expect_split(
        &gw,
        p,
        "<|START_THINKING|>I should search first.<|END_THINKING|><|START_RESPONSE|>Here you go.<|END_RESPONSE|>",
        "<|START_RESPONSE|>Here you go.<|END_RESPONSE|>",
        "I should search first.",
    )
    .await;
    expect_split(
        &gw,
        p,
        "<|START_THINKING|>I should search",
        "",
        "I should search",
    )
    .await;
    expect_split(&gw, p, "Plain answer.", "Plain answer.", "").await;
    let think_tags = "<think>plan</think>answer";
    expect_split(&gw, p, think_tags, think_tags, "").await;
}

#[tokio::test]
async fn reasoning_nano_v3() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "nano_v3").await;
}

#[tokio::test]
async fn reasoning_deepseek_v31() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "deepseek_v31").await;
}

#[tokio::test]
async fn reasoning_kimi_k25() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_not_in_reasoning(&gw, "kimi_k25").await;
}

#[tokio::test]
async fn reasoning_kimi_thinking() {
    let gw = GatewayProcess::start(&[]).await;
    think_tags_in_reasoning(&gw, "kimi_thinking").await;
}

#[tokio::test]
async fn reasoning_kimi_k3() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "kimi_k3";
    let think = |t: &str| format!("<|open|>think<|sep|>{t}<|close|>think<|sep|>");
    let response = |t: &str| format!("<|open|>response<|sep|>{t}<|close|>response<|sep|>");
    expect_split(
        &gw,
        p,
        &format!(
            "{}{}",
            think("The user wants the time."),
            response("It is noon.")
        ),
        "It is noon.",
        "The user wants the time.",
    )
    .await;
    // No end token: the rest is reasoning.
    expect_split(
        &gw,
        p,
        "<|open|>think<|sep|>Still working it out",
        "",
        "Still working it out",
    )
    .await;
    // Not in reasoning at the start: no think channel means all answer (wrappers stripped).
    expect_split(&gw, p, &response("Hello!"), "Hello!", "").await;
    // The tools channel stays in the normal text for the tool parser.
    let tools = "<|open|>tools<|sep|><|open|>call tool=\"get_time\" index=\"0\"<|sep|><|close|>call<|sep|><|close|>tools<|sep|>";
    expect_split(
        &gw,
        p,
        &format!("{}{tools}", think("Need the time.")),
        tools,
        "Need the time.",
    )
    .await;
}

#[tokio::test]
async fn reasoning_inkling() {
    let gw = GatewayProcess::start(&[]).await;
    let p = "inkling";
    let tool_block = "<|content_invoke_tool_json|>{\"name\":\"search\",\"args\":{\"q\":\"rust\"}}<|end_message|>";
    expect_split(
        &gw,
        p,
        &format!(
            "<|message_model|><|content_thinking|>check sources<|end_message|><|message_model|><|content_text|>Here is the answer.<|end_message|><|message_model|>search{tool_block}<|content_model_end_sampling|>"
        ),
        &format!("Here is the answer.{tool_block}"),
        "check sources",
    )
    .await;
    // A thinking block cut short is all reasoning.
    expect_split(
        &gw,
        p,
        "<|message_model|><|content_thinking|>still checking",
        "",
        "still checking",
    )
    .await;
    // Untyped text is answer text; text-mode tool frames are suppressed.
    expect_split(&gw, p, "Just text.", "Just text.", "").await;
    expect_split(
        &gw,
        p,
        "<|content_invoke_tool_text|>search for rust<|end_message|>",
        "",
        "",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Names, errors and limits

#[tokio::test]
async fn parser_list_has_every_name_and_no_impostor() {
    let gw = GatewayProcess::start(&[]).await;
    let response = http()
        .get(format!("{}/parse/parsers", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    let names = |key: &str| -> Vec<String> {
        list[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let tools = names("tool_call_parsers");
    let reasoning = names("reasoning_parsers");
    for name in TOOL_PARSERS {
        assert!(tools.iter().any(|n| n == name), "missing {name}: {tools:?}");
    }
    for name in REASONING_PARSERS {
        assert!(
            reasoning.iter().any(|n| n == name),
            "missing {name}: {reasoning:?}"
        );
    }
    for name in NOT_TOOL_PARSERS {
        assert!(!tools.iter().any(|n| n == name), "{name} must not exist");
    }
    for name in NOT_REASONING_PARSERS {
        assert!(
            !reasoning.iter().any(|n| n == name),
            "{name} must not exist"
        );
    }
    let mut sorted = tools.clone();
    sorted.sort();
    assert_eq!(tools, sorted, "tool parsers are listed sorted");

    // Every listed name is usable.
    for name in &tools {
        parse(&gw, name, "hello").await;
    }
    for name in &reasoning {
        reason(&gw, name, "hello").await;
    }

    // The SDK sees the same list.
    let sdk = gw.client().parsers().await.unwrap();
    assert_eq!(sdk.tool_call_parsers, tools);
    assert_eq!(sdk.reasoning_parsers, reasoning);
}

#[tokio::test]
async fn unknown_names_are_400_listing_the_valid_ones() {
    let gw = GatewayProcess::start(&[]).await;
    for name in NOT_TOOL_PARSERS
        .iter()
        .chain(&["", "JSON", " json", "Qwen"])
    {
        let body = json!({"text": "x", "tool_call_parser": name, "tools": []});
        let response = send(&gw, "function_call", &body).await;
        let answer = assert_d1(
            response,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "UNKNOWN_TOOL_PARSER",
        )
        .await;
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Unknown tool parser: {name}")),
            "{message}"
        );
        for valid in TOOL_PARSERS {
            assert!(message.contains(valid), "{valid} not listed: {message}");
        }
    }
    for name in NOT_REASONING_PARSERS.iter().chain(&["", "DeepSeek_R1"]) {
        let body = json!({"text": "x", "reasoning_parser": name});
        let response = send(&gw, "reasoning", &body).await;
        let answer = assert_d1(
            response,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "UNKNOWN_REASONING_PARSER",
        )
        .await;
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Unknown reasoning parser: {name}")),
            "{message}"
        );
        for valid in REASONING_PARSERS {
            assert!(message.contains(valid), "{valid} not listed: {message}");
        }
    }
}

#[tokio::test]
async fn request_shape_errors() {
    let gw = GatewayProcess::start(&[]).await;
    // `tools` is required (may be empty), as upstream.
    let response = send(
        &gw,
        "function_call",
        &json!({"text": "x", "tool_call_parser": "json"}),
    )
    .await;
    let body = assert_d1(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        "UNPROCESSABLE_ENTITY",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("tools"),
        "{body}"
    );
    // So are `text` and the parser names.
    for body in [
        json!({"tool_call_parser": "json", "tools": []}),
        json!({"text": "x", "tools": []}),
        json!({"text": 1, "tool_call_parser": "json", "tools": []}),
        json!({"text": "x", "tool_call_parser": "json", "tools": [{"type": "function"}]}),
    ] {
        let response = send(&gw, "function_call", &body).await;
        assert_d1(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            "UNPROCESSABLE_ENTITY",
        )
        .await;
    }
    for body in [json!({"text": "x"}), json!({"reasoning_parser": "qwen3"})] {
        let response = send(&gw, "reasoning", &body).await;
        assert_d1(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            "UNPROCESSABLE_ENTITY",
        )
        .await;
    }
    // Unknown fields are ignored.
    let (_, calls) = {
        let body = json!({"text": r#"{"name":"f","arguments":{}}"#, "tool_call_parser": "json", "tools": [], "stream": true});
        let (status, answer) = post(&gw, "function_call", &body).await;
        assert_eq!(status, StatusCode::OK);
        decode_calls(&answer)
    };
    assert_eq!(calls, vec![call("f", json!({}))]);
    // Malformed JSON → 400, wrong content type → 415.
    let response = http()
        .post(format!("{}/parse/function_call", gw.url))
        .header("content-type", "application/json")
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_d1(
        response,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "BAD_REQUEST",
    )
    .await;
    let response = http()
        .post(format!("{}/parse/reasoning", gw.url))
        .header("content-type", "text/plain")
        .body(r#"{"text":"x","reasoning_parser":"qwen3"}"#)
        .send()
        .await
        .unwrap();
    assert_d1(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    // Wrong method on a parse route.
    let response = http()
        .get(format!("{}/parse/function_call", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let gw = GatewayProcess::start(&["--max-parse-body-bytes", "1024"]).await;
    let big = "x".repeat(2000);
    for (route, body) in [
        (
            "function_call",
            json!({"text": big, "tool_call_parser": "json", "tools": []}),
        ),
        (
            "reasoning",
            json!({"text": big, "reasoning_parser": "qwen3"}),
        ),
    ] {
        let response = send(&gw, route, &body).await;
        let answer = assert_d1(
            response,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "PAYLOAD_TOO_LARGE",
        )
        .await;
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too large"),
            "{answer}"
        );
    }
    // Just under the limit is fine.
    let text = "y".repeat(900);
    let body = json!({"text": text, "reasoning_parser": "qwen3"});
    assert!(serde_json::to_vec(&body).unwrap().len() <= 1024);
    assert_eq!(
        reason(&gw, "qwen3", &text).await,
        (text.clone(), String::new())
    );
    // The limit is the parse routes' own: other routes keep theirs.
    let response = http()
        .get(format!("{}/parse/parsers", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The reasoning parsers refuse text over their 4 MiB buffer; with a larger body limit that
/// is reachable, and it is a 400 PARSE_FAILED, not a 5xx.
#[tokio::test]
async fn reasoning_buffer_overflow_is_parse_failed() {
    let gw = GatewayProcess::start(&["--max-parse-body-bytes", "6000000"]).await;
    let text = format!("<think>{}", "z".repeat(4 * 1024 * 1024));
    let body = json!({"text": text, "reasoning_parser": "deepseek_r1"});
    let response = send(&gw, "reasoning", &body).await;
    let answer = assert_d1(
        response,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "PARSE_FAILED",
    )
    .await;
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Failed to separate reasoning:"),
        "{message}"
    );
    // The same text is fine for a tool-call parser (no such limit there).
    let (status, _) = post(
        &gw,
        "function_call",
        &json!({"text": text, "tool_call_parser": "qwen", "tools": []}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Through the SDK

#[tokio::test]
async fn sdk_calls() {
    let gw = GatewayProcess::start(&[]).await;
    let client = gw.client();

    let out = client
        .parse_function_call(
            r#"{"name":"get_weather","arguments":{"city":"SF"}}"#,
            "json",
            &[],
        )
        .await
        .unwrap();
    assert!(out.success);
    assert_eq!(out.remaining_text, "");
    assert_eq!(out.tool_calls.len(), 1);
    assert_eq!(out.tool_calls[0].function.name, "get_weather");
    let args: Value = serde_json::from_str(&out.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"city": "SF"}));

    // Tools typed by the SDK reach the schema-aware parsers.
    let tools: Vec<smg_sdk::Tool> = serde_json::from_value(weather_tools()).unwrap();
    let out = client
        .parse_function_call(
            "<tool_call>get_weather<arg_key>zip</arg_key><arg_value>02134</arg_value><arg_key>days</arg_key><arg_value>5</arg_value></tool_call>",
            "glm47_moe",
            &tools,
        )
        .await
        .unwrap();
    let args: Value = serde_json::from_str(&out.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"zip": "02134", "days": 5}));

    let out = client
        .parse_reasoning("<think>internal</think>answer", "deepseek_r1")
        .await
        .unwrap();
    assert_eq!(
        out,
        smg_sdk::ReasoningParseResponse {
            normal_text: "answer".into(),
            reasoning_text: "internal".into(),
            success: true
        }
    );

    // Errors carry the server's code and message.
    let err = client
        .parse_function_call("x", "hermes", &[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let api = err.api().unwrap();
    assert_eq!(api.code.as_deref(), Some("UNKNOWN_TOOL_PARSER"));
    assert!(api.message.contains("qwen_xml"), "{}", api.message);
    let err = client.parse_reasoning("x", "qwen").await.unwrap_err();
    assert_eq!(
        err.api().unwrap().code.as_deref(),
        Some("UNKNOWN_REASONING_PARSER")
    );
}

/// Parsing is stateless per request: the same parser answers many concurrent requests
/// correctly (no state leaks between them).
#[tokio::test]
async fn concurrent_requests_do_not_interfere() {
    let gw = GatewayProcess::start(&[]).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = gw.url.clone();
        tasks.push(tokio::spawn(async move {
            let text = format!(
                "Call {i}.\n<tool_call>\n{{\"name\": \"f{i}\", \"arguments\": {{\"i\": {i}}}}}\n</tool_call>"
            );
            let body = json!({"text": text, "tool_call_parser": "qwen", "tools": []});
            let answer: Value = http()
                .post(format!("{url}/parse/function_call"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let (remaining, calls) = decode_calls(&answer);
            assert_eq!(remaining, format!("Call {i}.\n"));
            assert_eq!(calls, vec![call(&format!("f{i}"), json!({"i": i}))]);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
