//! Inference: chat, completions, generate (JSON and streamed), embeddings and rerank. These
//! are serving routes: the client sends its API key, never the admin token.

use std::pin::Pin;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApiRequest, Client, RouteKind};
use crate::error::{Error, Result};
use crate::types::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, CompletionRequest,
    CompletionResponse, EmbeddingRequest, EmbeddingResponse, GenerateRequest, GenerateResponse,
    RerankRequest, RerankResult,
};

/// A stream of parsed server-sent events, ending at `data: [DONE]` or end of body.
pub type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

impl Client {
    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let req = ApiRequest::new(Method::POST, path, RouteKind::Serving).json(body)?;
        self.send_json(req).await
    }

    /// Open a streaming request and parse each SSE `data:` payload as `T`. No total timeout
    /// applies (a generation may stream for minutes); the connect timeout still does.
    async fn post_stream<B: Serialize, T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<EventStream<T>> {
        let req = ApiRequest::new(Method::POST, path, RouteKind::Serving)
            .json(body)?
            .timeout(None);
        let response = self.execute(req).await?;
        let url = response.url().to_string();
        let events = response.bytes_stream().eventsource();
        let stream = events
            .take_while(|event| {
                let done = matches!(event, Ok(e) if e.data.trim() == "[DONE]");
                futures::future::ready(!done)
            })
            .filter_map(move |event| {
                let url = url.clone();
                futures::future::ready(match event {
                    Ok(e) if e.data.trim().is_empty() => None,
                    Ok(e) => Some(
                        serde_json::from_str::<T>(&e.data)
                            .map_err(|err| Error::decode(&url, err, e.data.as_bytes())),
                    ),
                    Err(err) => Some(Err(Error::InvalidInput(format!(
                        "broken event stream from {url}: {err}"
                    )))),
                })
            });
        Ok(Box::pin(stream))
    }

    /// `POST /v1/chat/completions`.
    pub async fn chat_completions(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse> {
        let mut request = request.clone();
        request.stream = None;
        self.post_json("/v1/chat/completions", &request).await
    }

    /// `POST /v1/chat/completions` with `stream: true`: the chunks as they arrive.
    pub async fn chat_completions_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<EventStream<ChatCompletionChunk>> {
        let mut request = request.clone();
        request.stream = Some(true);
        self.post_stream("/v1/chat/completions", &request).await
    }

    /// `POST /v1/completions`.
    pub async fn completions(&self, request: &CompletionRequest) -> Result<CompletionResponse> {
        let mut request = request.clone();
        request.stream = None;
        self.post_json("/v1/completions", &request).await
    }

    /// `POST /v1/completions` with `stream: true`.
    pub async fn completions_stream(
        &self,
        request: &CompletionRequest,
    ) -> Result<EventStream<CompletionResponse>> {
        let mut request = request.clone();
        request.stream = Some(true);
        self.post_stream("/v1/completions", &request).await
    }

    /// SGLang's `POST /generate`.
    pub async fn generate(&self, request: &GenerateRequest) -> Result<GenerateResponse> {
        let mut request = request.clone();
        request.stream = None;
        self.post_json("/generate", &request).await
    }

    /// SGLang's `POST /generate` with `stream: true` (each chunk's `text` is cumulative).
    pub async fn generate_stream(
        &self,
        request: &GenerateRequest,
    ) -> Result<EventStream<GenerateResponse>> {
        let mut request = request.clone();
        request.stream = Some(true);
        self.post_stream("/generate", &request).await
    }

    /// `POST /v1/embeddings`.
    pub async fn embeddings(&self, request: &EmbeddingRequest) -> Result<EmbeddingResponse> {
        self.post_json("/v1/embeddings", request).await
    }

    /// `POST /v1/rerank`: documents best first.
    pub async fn rerank(&self, request: &RerankRequest) -> Result<Vec<RerankResult>> {
        self.post_json("/v1/rerank", request).await
    }
}
