//! Inference endpoints: SGLang `/generate`, OpenAI chat/completions/embeddings, rerank,
//! classify and Anthropic messages, as JSON or Server-Sent Events. Every request passes
//! through the engine model (slot, prefix cache, prefill latency, per-token delay).

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::engine::{Run, Usage, tokenize};
use super::routes::ApiError;
use super::{CONTEXT_LENGTH, WorkerState};

type Shared = State<Arc<WorkerState>>;
type Object = Map<String, Value>;

/// Tokens generated when the request does not say.
pub const DEFAULT_MAX_TOKENS: usize = 16;
/// Requests asking for more are capped here (the advertised context length).
const MAX_GENERATED_TOKENS: usize = CONTEXT_LENGTH as usize;
/// Dimensions of the deterministic embedding vectors.
pub const EMBEDDING_DIM: usize = 8;
/// SSE events buffered ahead of a slow reader.
const STREAM_BUFFER: usize = 16;

fn parse_object(body: &[u8]) -> Result<Object, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
    }
}

fn overloaded() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "engine is shutting down",
        "server_error",
    )
}

/// The first of `keys` present in `object`, as a token count (capped).
fn max_tokens(object: &Object, keys: &[&str]) -> Result<usize, ApiError> {
    for key in keys {
        match object.get(*key) {
            None | Some(Value::Null) => {}
            Some(value) => {
                let n = value.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!("`{key}` must be a non-negative integer"))
                })?;
                return Ok(usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(MAX_GENERATED_TOKENS));
            }
        }
    }
    Ok(DEFAULT_MAX_TOKENS)
}

fn is_stream(object: &Object) -> bool {
    object
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn include_usage(object: &Object) -> bool {
    object
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The model named in the request, else the served one.
fn model_of(object: &Object, state: &WorkerState) -> String {
    object
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| state.served_model())
        .to_string()
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token_id(value: &Value) -> Option<u64> {
    // Negative ids are nonsense but harmless: they only feed a hash.
    value.as_u64().or_else(|| value.as_i64().map(|i| i as u64))
}

fn token_ids(values: &[Value]) -> Option<Vec<u64>> {
    values.iter().map(token_id).collect()
}

/// Text of a message `content`: a string, or an array of parts whose `text` fields count.
fn content_text(content: &Value) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => Ok(parts
            .iter()
            .filter_map(|part| part.as_str().or_else(|| part.get("text")?.as_str()))
            .collect::<Vec<_>>()
            .join(" ")),
        _ => Err(ApiError::bad_request(
            "message content must be a string or an array of content parts",
        )),
    }
}

/// The concatenated contents of a `messages` array.
fn messages_text(object: &Object) -> Result<Vec<String>, ApiError> {
    let messages = object
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("`messages` must be an array"))?;
    messages
        .iter()
        .map(|message| {
            let message = message
                .as_object()
                .ok_or_else(|| ApiError::bad_request("each message must be an object"))?;
            message
                .get("content")
                .map_or(Ok(String::new()), content_text)
        })
        .collect()
}

fn timings(state: &WorkerState) -> (Duration, Duration) {
    (
        Duration::from_millis(state.config.latency_ms),
        Duration::from_millis(state.config.itl_ms),
    )
}

/// Run a whole generation and return its text.
async fn generate_text(
    state: &WorkerState,
    prompt: &[u64],
    max_new: usize,
) -> Result<(String, Usage), ApiError> {
    let (prefill, itl) = timings(state);
    let mut run = state
        .engine
        .admit(prompt, true, prefill)
        .await
        .ok_or_else(overloaded)?;
    let mut text = String::new();
    for _ in 0..max_new {
        text.push_str(&run.next_token(itl).await);
    }
    Ok((text, run.usage()))
}

/// Hold a slot for a prefill-only request (embeddings, rerank, classify).
async fn prefill_only(state: &WorkerState, prompt: &[u64]) -> Result<Run, ApiError> {
    let (prefill, _) = timings(state);
    state
        .engine
        .admit(prompt, false, prefill)
        .await
        .ok_or_else(overloaded)
}

fn openai_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    })
}

// ---------------------------------------------------------------------------------------
// Streaming

/// Which wire format a stream speaks.
#[derive(Debug, Clone, Copy)]
enum StreamKind {
    /// SGLang native: cumulative `text` and `meta_info` per chunk.
    Generate,
    /// `chat.completion.chunk`.
    Chat { include_usage: bool },
    /// `text_completion` chunks.
    Completion { include_usage: bool },
    /// Anthropic Messages events.
    Messages,
}

struct StreamFormat {
    kind: StreamKind,
    id: String,
    model: String,
    created: i64,
    max_new: usize,
}

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

impl StreamFormat {
    fn generate_meta(&self, usage: &Usage, finished: bool) -> Value {
        json!({
            "id": self.id,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "finish_reason": if finished {
                json!({"type": "length", "length": self.max_new})
            } else {
                Value::Null
            },
        })
    }

    fn chat_chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn completion_chunk(&self, text: &str, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn usage_chunk(&self, object: &str, usage: &Usage) -> Value {
        json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": openai_usage(usage),
        })
    }

    /// Events before the first token.
    fn start(&self, usage: &Usage) -> Vec<String> {
        match self.kind {
            StreamKind::Messages => vec![
                event(
                    "message_start",
                    &json!({"type": "message_start", "message": {
                        "id": self.id, "type": "message", "role": "assistant",
                        "model": self.model, "content": [], "stop_reason": null,
                        "stop_sequence": null,
                        "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": 0},
                    }}),
                ),
                event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}),
                ),
            ],
            _ => Vec::new(),
        }
    }

    /// Events for generated token `index`; the last one carries the finish reason.
    fn token(&self, index: usize, piece: &str, text: &str, usage: &Usage) -> Vec<String> {
        let last = index + 1 == self.max_new;
        let finish = last.then_some("length");
        match self.kind {
            StreamKind::Generate => vec![data(
                &json!({"text": text, "meta_info": self.generate_meta(usage, last)}),
            )],
            StreamKind::Chat { .. } => {
                let delta = if index == 0 {
                    json!({"role": "assistant", "content": piece})
                } else {
                    json!({"content": piece})
                };
                vec![data(&self.chat_chunk(delta, finish))]
            }
            StreamKind::Completion { .. } => vec![data(&self.completion_chunk(piece, finish))],
            StreamKind::Messages => vec![event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": piece}}),
            )],
        }
    }

    /// Events after the last token (or instead of tokens when none were asked for).
    fn finish(&self, usage: &Usage) -> Vec<String> {
        let empty = self.max_new == 0;
        let mut events = Vec::new();
        match self.kind {
            StreamKind::Generate => {
                if empty {
                    events.push(data(
                        &json!({"text": "", "meta_info": self.generate_meta(usage, true)}),
                    ));
                }
                events.push(DONE.to_string());
            }
            StreamKind::Chat { include_usage } => {
                if empty {
                    events.push(data(&self.chat_chunk(
                        json!({"role": "assistant", "content": ""}),
                        Some("length"),
                    )));
                }
                if include_usage {
                    events.push(data(&self.usage_chunk("chat.completion.chunk", usage)));
                }
                events.push(DONE.to_string());
            }
            StreamKind::Completion { include_usage } => {
                if empty {
                    events.push(data(&self.completion_chunk("", Some("length"))));
                }
                if include_usage {
                    events.push(data(&self.usage_chunk("text_completion", usage)));
                }
                events.push(DONE.to_string());
            }
            StreamKind::Messages => {
                events.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
                events.push(event(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                            "usage": {"output_tokens": usage.completion_tokens}}),
                ));
                events.push(event("message_stop", &json!({"type": "message_stop"})));
            }
        }
        events
    }
}

/// A streamed body's items: an `Err` cuts the connection without the stream's end.
type Chunk = Result<Bytes, std::io::Error>;

async fn send_all(tx: &mpsc::Sender<Chunk>, events: Vec<String>) -> bool {
    for e in events {
        if tx.send(Ok(Bytes::from(e))).await.is_err() {
            return false;
        }
    }
    true
}

/// Cut a stream the way a crashing engine does: what was sent reaches the client, then
/// the connection ends without the stream's end.
async fn cut_stream(tx: &mpsc::Sender<Chunk>) {
    // hyper drops unflushed output when a body fails, and it flushes once the channel runs
    // dry: wait for the body to take every event, then a moment for the flush.
    for _ in 0..200 {
        if tx.capacity() == tx.max_capacity() || tx.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = std::io::Error::other("stream broken by injected fault");
    // Ignored: a client already gone needs no cut.
    let _ = tx.send(Err(cut)).await;
}

/// Answer with an SSE stream produced by a task that owns the engine slot; the task stops
/// (releasing the slot) as soon as the client goes away.
fn stream_generation(state: Arc<WorkerState>, prompt: Vec<u64>, format: StreamFormat) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(STREAM_BUFFER);
    let break_after = state.fault().break_stream_after;
    tokio::spawn(async move {
        let (prefill, itl) = timings(&state);
        let admitted = tokio::select! {
            run = state.engine.admit(&prompt, true, prefill) => run,
            () = tx.closed() => None,
        };
        let Some(mut run) = admitted else { return };
        if !send_all(&tx, format.start(&run.usage())).await {
            return;
        }
        let mut text = String::new();
        for index in 0..format.max_new {
            if break_after.is_some_and(|after| usize::try_from(after).is_ok_and(|a| index >= a)) {
                cut_stream(&tx).await;
                return;
            }
            let piece = tokio::select! {
                piece = run.next_token(itl) => piece,
                () = tx.closed() => return,
            };
            text.push_str(&piece);
            if !send_all(&tx, format.token(index, &piece, &text, &run.usage())).await {
                return;
            }
        }
        let usage = run.usage();
        // Release the slot before the final events, as an engine does once decoding ends.
        drop(run);
        send_all(&tx, format.finish(&usage)).await;
    });
    let body = Body::from_stream(ReceiverStream::new(rx));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// Handlers

/// SGLang `/generate` input: one prompt or a batch.
enum GenerateInput {
    Single(Vec<u64>),
    Batch(Vec<Vec<u64>>),
}

fn generate_input(object: &Object) -> Result<GenerateInput, ApiError> {
    let invalid =
        || ApiError::bad_request("`input_ids` must be an array of integers or of integer arrays");
    if let Some(text) = object.get("text").filter(|v| !v.is_null()) {
        return match text {
            Value::String(s) => Ok(GenerateInput::Single(tokenize(s))),
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(tokenize))
                .collect::<Option<Vec<_>>>()
                .map(GenerateInput::Batch)
                .ok_or_else(|| {
                    ApiError::bad_request("`text` must be a string or an array of strings")
                }),
            _ => Err(ApiError::bad_request(
                "`text` must be a string or an array of strings",
            )),
        };
    }
    match object.get("input_ids") {
        Some(Value::Array(items)) if items.iter().all(Value::is_array) && !items.is_empty() => {
            items
                .iter()
                .map(|item| item.as_array().and_then(|ids| token_ids(ids)))
                .collect::<Option<Vec<_>>>()
                .map(GenerateInput::Batch)
                .ok_or_else(invalid)
        }
        Some(Value::Array(items)) => token_ids(items)
            .map(GenerateInput::Single)
            .ok_or_else(invalid),
        Some(Value::Null) | None => Err(ApiError::bad_request(
            "Either text or input_ids should be provided.",
        )),
        Some(_) => Err(invalid()),
    }
}

/// `POST /generate` (SGLang native).
pub(crate) async fn generate(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    generate_inner(state, &body).await
}

async fn generate_inner(state: Arc<WorkerState>, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let input = generate_input(&object)?;
    let sampling = match object.get("sampling_params") {
        None | Some(Value::Null) => Object::new(),
        Some(Value::Object(params)) => params.clone(),
        Some(_) => return Err(ApiError::bad_request("`sampling_params` must be an object")),
    };
    let max_new = max_tokens(&sampling, &["max_new_tokens"])?;
    let stream = is_stream(&object);
    let prompts = match input {
        GenerateInput::Single(prompt) if stream => {
            let format = StreamFormat {
                kind: StreamKind::Generate,
                id: state.new_id("gen"),
                model: model_of(&object, &state),
                created: now_unix(),
                max_new,
            };
            return Ok(stream_generation(state, prompt, format));
        }
        GenerateInput::Batch(_) if stream => {
            return Err(ApiError::bad_request(
                "streaming is not supported for batch requests",
            ));
        }
        GenerateInput::Single(prompt) => {
            return Ok(Json(generate_one(&state, &prompt, max_new).await?).into_response());
        }
        GenerateInput::Batch(prompts) => prompts,
    };
    let results = futures::future::join_all(
        prompts
            .iter()
            .map(|prompt| generate_one(&state, prompt, max_new)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(results).into_response())
}

async fn generate_one(
    state: &WorkerState,
    prompt: &[u64],
    max_new: usize,
) -> Result<Value, ApiError> {
    let started = Instant::now();
    let (text, usage) = generate_text(state, prompt, max_new).await?;
    Ok(json!({
        "text": text,
        "meta_info": {
            "id": state.new_id("gen"),
            "finish_reason": {"type": "length", "length": max_new},
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "e2e_latency": started.elapsed().as_secs_f64(),
        },
    }))
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(state): Shared,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.count_inference();
    chat_inner(state, &body).await
}

async fn chat_inner(state: Arc<WorkerState>, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let prompt = tokenize(&messages_text(&object)?.join("\n"));
    let max_new = max_tokens(&object, &["max_completion_tokens", "max_tokens"])?;
    let model = model_of(&object, &state);
    let id = state.new_id("chatcmpl");
    let created = now_unix();
    if is_stream(&object) {
        let kind = StreamKind::Chat {
            include_usage: include_usage(&object),
        };
        let format = StreamFormat {
            kind,
            id,
            model,
            created,
            max_new,
        };
        return Ok(stream_generation(state, prompt, format));
    }
    let (text, usage) = generate_text(&state, &prompt, max_new).await?;
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": "length",
        }],
        "usage": openai_usage(&usage),
    }))
    .into_response())
}

/// Tokens of an OpenAI `prompt`/`input`: a string, strings (joined), token ids, or arrays
/// of those (flattened).
fn flat_tokens(value: &Value) -> Option<Vec<u64>> {
    match value {
        Value::String(s) => Some(tokenize(s)),
        Value::Number(_) => token_id(value).map(|id| vec![id]),
        Value::Array(items) => {
            let mut tokens = Vec::new();
            for item in items {
                tokens.extend(flat_tokens(item)?);
            }
            Some(tokens)
        }
        _ => None,
    }
}

/// `POST /v1/completions`.
pub(crate) async fn completions(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    completions_inner(state, &body).await
}

async fn completions_inner(state: Arc<WorkerState>, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let prompt = object
        .get("prompt")
        .and_then(flat_tokens)
        .ok_or_else(|| ApiError::bad_request("`prompt` must be a string, strings or token ids"))?;
    let max_new = max_tokens(&object, &["max_tokens"])?;
    let model = model_of(&object, &state);
    let id = state.new_id("cmpl");
    let created = now_unix();
    if is_stream(&object) {
        let kind = StreamKind::Completion {
            include_usage: include_usage(&object),
        };
        let format = StreamFormat {
            kind,
            id,
            model,
            created,
            max_new,
        };
        return Ok(stream_generation(state, prompt, format));
    }
    let (text, usage) = generate_text(&state, &prompt, max_new).await?;
    Ok(Json(json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": "length"}],
        "usage": openai_usage(&usage),
    }))
    .into_response())
}

/// Inputs of embeddings/classify: a string, strings, token ids, or arrays of token ids.
fn inputs(value: Option<&Value>, field: &str) -> Result<Vec<Vec<u64>>, ApiError> {
    let invalid =
        || ApiError::bad_request(format!("`{field}` must be a string, strings or token ids"));
    match value {
        Some(Value::String(s)) => Ok(vec![tokenize(s)]),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) && !items.is_empty() => {
            token_ids(items).map(|ids| vec![ids]).ok_or_else(invalid)
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(tokenize(s)),
                Value::Array(ids) => token_ids(ids),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid),
        _ => Err(invalid()),
    }
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A unit vector determined by the tokens.
pub(crate) fn embed(tokens: &[u64]) -> Vec<f32> {
    let seed = hash_of(tokens);
    let raw: Vec<f64> = (0..EMBEDDING_DIM)
        .map(|d| hash_of((seed, d)) as f64 / u64::MAX as f64 * 2.0 - 1.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    raw.iter().map(|x| (x / norm) as f32).collect()
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    embeddings_inner(&state, &body).await
}

async fn embeddings_inner(state: &WorkerState, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let inputs = inputs(object.get("input"), "input")?;
    let all: Vec<u64> = inputs.iter().flatten().copied().collect();
    let run = prefill_only(state, &all).await?;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, tokens)| json!({"object": "embedding", "index": index, "embedding": embed(tokens)}))
        .collect();
    let usage = run.usage();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": model_of(&object, state),
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
    }))
    .into_response())
}

fn words(text: &str) -> HashSet<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Relevance in 0..1: the share of query words the document contains.
pub(crate) fn relevance(query: &str, document: &str) -> f64 {
    let query = words(query);
    if query.is_empty() {
        return 0.0;
    }
    let document = words(document);
    query.iter().filter(|w| document.contains(*w)).count() as f64 / query.len() as f64
}

/// `POST /v1/rerank` and `POST /rerank`: SGLang's list of `{score, document, index}`, best
/// first.
pub(crate) async fn rerank(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    rerank_inner(&state, &body).await
}

async fn rerank_inner(state: &WorkerState, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let query = object
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("`query` must be a string"))?;
    let documents = object
        .get("documents")
        .and_then(Value::as_array)
        .and_then(|docs| {
            docs.iter()
                .map(|d| d.as_str().or_else(|| d.get("text")?.as_str()))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| ApiError::bad_request("`documents` must be an array of strings"))?;
    let top_n = match object.get("top_n").or_else(|| object.get("top_k")) {
        None | Some(Value::Null) => documents.len(),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ApiError::bad_request("`top_n` must be a non-negative integer"))?,
    };
    let return_documents = object
        .get("return_documents")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut prompt = tokenize(query);
    for document in &documents {
        prompt.extend(tokenize(document));
    }
    let _run = prefill_only(state, &prompt).await?;
    let mut scored: Vec<(usize, f64)> = documents
        .iter()
        .enumerate()
        .map(|(index, document)| (index, relevance(query, document)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let results: Vec<Value> = scored
        .into_iter()
        .take(top_n)
        .map(|(index, score)| {
            let mut result = json!({"score": score, "index": index});
            if return_documents {
                result["document"] = json!(documents[index]);
            }
            result
        })
        .collect();
    Ok(Json(results).into_response())
}

/// `POST /v1/classify`: two labels with deterministic probabilities.
pub(crate) async fn classify(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    classify_inner(&state, &body).await
}

async fn classify_inner(state: &WorkerState, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let value = object.get("input").or_else(|| object.get("text"));
    let inputs = inputs(value, "input")?;
    let all: Vec<u64> = inputs.iter().flatten().copied().collect();
    let run = prefill_only(state, &all).await?;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, tokens)| {
            let p = (hash_of(tokens) % 1000) as f64 / 1000.0;
            let label = if p >= 0.5 { "LABEL_0" } else { "LABEL_1" };
            json!({"index": index, "label": label, "probs": [p, 1.0 - p], "num_classes": 2})
        })
        .collect();
    let usage = run.usage();
    Ok(Json(json!({
        "id": state.new_id("classify"),
        "object": "list",
        "created": now_unix(),
        "model": model_of(&object, state),
        "data": data,
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": 0,
                  "total_tokens": usage.prompt_tokens},
    }))
    .into_response())
}

/// `POST /v1/messages` (Anthropic Messages).
pub(crate) async fn messages(State(state): Shared, body: Bytes) -> Result<Response, ApiError> {
    state.count_inference();
    messages_inner(state, &body).await
}

async fn messages_inner(state: Arc<WorkerState>, body: &[u8]) -> Result<Response, ApiError> {
    let object = parse_object(body)?;
    let mut parts = match object.get("system") {
        Some(system) => vec![content_text(system)?],
        None => Vec::new(),
    };
    parts.extend(messages_text(&object)?);
    let prompt = tokenize(&parts.join("\n"));
    let max_new = max_tokens(&object, &["max_tokens"])?;
    let model = model_of(&object, &state);
    let id = state.new_id("msg");
    if is_stream(&object) {
        let format = StreamFormat {
            kind: StreamKind::Messages,
            id,
            model,
            created: now_unix(),
            max_new,
        };
        return Ok(stream_generation(state, prompt, format));
    }
    let (text, usage) = generate_text(&state, &prompt, max_new).await?;
    Ok(Json(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens",
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "cache_read_input_tokens": usage.cached_tokens,
        },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embed(&tokenize("hello world"));
        assert_eq!(a.len(), EMBEDDING_DIM);
        assert_eq!(a, embed(&tokenize("hello   world")));
        assert_ne!(a, embed(&tokenize("goodbye")));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn relevance_counts_query_words() {
        assert_eq!(relevance("giant panda", "The giant panda is a bear."), 1.0);
        assert_eq!(relevance("giant panda", "A panda."), 0.5);
        assert_eq!(relevance("giant panda", "hi"), 0.0);
        assert_eq!(relevance("", "hi"), 0.0);
    }
}
