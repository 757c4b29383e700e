//! Tokenizers: the registry (`/v1/tokenizers*`, control plane, admin token) with a helper that
//! waits for the load job behind its 202, and tokenization (`/v1/tokenize`, `/v1/detokenize`,
//! serving routes, API key).

use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;

use super::{ApiRequest, Client, RouteKind};
use crate::error::{Error, Result};
use crate::types::{
    AddTokenizerRequest, AddTokenizerResponse, DeleteTokenizerResponse, DetokenizeRequest,
    DetokenizeResponse, JobState, TokenizeRequest, TokenizeResponse, TokenizerInfo, TokenizerList,
    TokenizerStatus,
};

/// Handle for the tokenizer registry; get one with [`Client::tokenizers`].
#[derive(Debug, Clone, Copy)]
pub struct Tokenizers<'a> {
    client: &'a Client,
}

impl<'a> Tokenizers<'a> {
    pub(super) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    fn request(method: Method, id_or_name: &str, status: bool) -> Result<ApiRequest> {
        if id_or_name.trim().is_empty() {
            return Err(Error::InvalidInput(
                "tokenizer id or name must not be empty".into(),
            ));
        }
        let mut segments = vec!["v1".into(), "tokenizers".into(), id_or_name.to_string()];
        if status {
            segments.push("status".into());
        }
        Ok(ApiRequest::from_segments(
            method,
            segments,
            RouteKind::Admin,
        ))
    }

    /// Register a tokenizer (`POST /v1/tokenizers`). The answer is a 202: loading runs in the
    /// background; see [`wait_for_tokenizer`](Self::wait_for_tokenizer) and
    /// [`add_and_wait`](Self::add_and_wait). A taken name is a 409 ([`Error::is_conflict`]).
    pub async fn add(&self, request: &AddTokenizerRequest) -> Result<AddTokenizerResponse> {
        let req =
            ApiRequest::new(Method::POST, "/v1/tokenizers", RouteKind::Admin).json(request)?;
        self.client.send_json(req).await
    }

    /// Every registered tokenizer (`GET /v1/tokenizers`).
    pub async fn list(&self) -> Result<TokenizerList> {
        let req = ApiRequest::new(Method::GET, "/v1/tokenizers", RouteKind::Admin);
        self.client.send_json(req).await
    }

    /// One tokenizer, by id or name (`GET /v1/tokenizers/{id_or_name}`).
    pub async fn get(&self, id_or_name: &str) -> Result<TokenizerInfo> {
        self.client
            .send_json(Self::request(Method::GET, id_or_name, false)?)
            .await
    }

    /// Load status, by id or name (`GET /v1/tokenizers/{id_or_name}/status`). A failed load
    /// is `Ok` with [`JobState::Failed`] and the reason in `message`.
    pub async fn status(&self, id_or_name: &str) -> Result<TokenizerStatus> {
        self.client
            .send_json(Self::request(Method::GET, id_or_name, true)?)
            .await
    }

    /// Remove a tokenizer, by id or name (`DELETE /v1/tokenizers/{id_or_name}`); synchronous.
    pub async fn delete(&self, id_or_name: &str) -> Result<DeleteTokenizerResponse> {
        self.client
            .send_json(Self::request(Method::DELETE, id_or_name, false)?)
            .await
    }

    /// Poll the status until the load finishes.
    ///
    /// - `completed` → `Ok(status)`;
    /// - `failed` → [`Error::JobFailed`] with the gateway's reason;
    /// - 404 before the tokenizer was first seen → keep polling; 404 after it was seen →
    ///   [`Error::JobFailed`] (it was removed meanwhile);
    /// - `timeout` elapsed → [`Error::WaitTimeout`] (its `last_status` is a worker status and
    ///   stays `None` here).
    pub async fn wait_for_tokenizer(
        &self,
        id_or_name: &str,
        timeout: Duration,
    ) -> Result<TokenizerStatus> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut seen = false;
        loop {
            match tokio::time::timeout_at(deadline, self.status(id_or_name)).await {
                Err(_elapsed) => break,
                Ok(Ok(status)) => {
                    seen = true;
                    match status.status {
                        JobState::Completed => return Ok(status),
                        JobState::Failed => {
                            return Err(Error::JobFailed {
                                id: id_or_name.to_string(),
                                message: status.message,
                            });
                        }
                        JobState::Pending | JobState::Processing => {}
                    }
                }
                Ok(Err(e)) if e.is_not_found() => {
                    if seen {
                        return Err(Error::JobFailed {
                            id: id_or_name.to_string(),
                            message: "the tokenizer was removed while waiting for it to load \
                                      (404 after it had been seen)"
                                .into(),
                        });
                    }
                }
                Ok(Err(e)) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep_until((now + self.client.poll_interval()).min(deadline)).await;
        }
        Err(Error::WaitTimeout {
            id: id_or_name.to_string(),
            last_status: None,
            waited: start.elapsed(),
        })
    }

    /// [`add`](Self::add), then [`wait_for_tokenizer`](Self::wait_for_tokenizer) on the new id;
    /// `timeout` bounds both.
    pub async fn add_and_wait(
        &self,
        request: &AddTokenizerRequest,
        timeout: Duration,
    ) -> Result<TokenizerStatus> {
        let start = Instant::now();
        let added = self.add(request).await?;
        self.wait_for_tokenizer(&added.id, timeout.saturating_sub(start.elapsed()))
            .await
    }
}

impl Client {
    /// The tokenizer registry (`/v1/tokenizers*`).
    pub fn tokenizers(&self) -> Tokenizers<'_> {
        Tokenizers::new(self)
    }

    /// Tokenize one prompt or a batch (`POST /v1/tokenize`, a serving route). Special tokens
    /// are not added.
    ///
    /// ```no_run
    /// # async fn demo(client: smg_sdk::Client) -> smg_sdk::Result<()> {
    /// use smg_sdk::TokenizeRequest;
    /// let answer = client.tokenize(&TokenizeRequest::new("llama3", "Hello")).await?;
    /// println!("{} tokens", answer.counts()[0]);
    /// # Ok(()) }
    /// ```
    pub async fn tokenize(&self, request: &TokenizeRequest) -> Result<TokenizeResponse> {
        let req =
            ApiRequest::new(Method::POST, "/v1/tokenize", RouteKind::Serving).json(request)?;
        self.send_json(req).await
    }

    /// Turn token ids back into text (`POST /v1/detokenize`, a serving route).
    pub async fn detokenize(&self, request: &DetokenizeRequest) -> Result<DetokenizeResponse> {
        let req =
            ApiRequest::new(Method::POST, "/v1/detokenize", RouteKind::Serving).json(request)?;
        self.send_json(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{body_json, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client(server: &MockServer) -> Client {
        Client::builder(server.uri())
            .admin_token("adm")
            .api_key("key")
            .poll_interval(Duration::from_millis(10))
            .build()
            .unwrap()
    }

    fn status(state: &str, message: &str) -> serde_json::Value {
        json!({"id": "t1", "status": state, "message": message})
    }

    #[tokio::test]
    async fn wait_reports_failure_with_the_reason() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tokenizers/t1/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(status("processing", "x")))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/tokenizers/t1/status"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(status("failed", "no tokenizer.json")),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .tokenizers()
            .wait_for_tokenizer("t1", Duration::from_secs(5))
            .await
            .unwrap_err();
        match err {
            Error::JobFailed { id, message } => {
                assert_eq!(id, "t1");
                assert_eq!(message, "no tokenizer.json");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn wait_completes_and_times_out() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tokenizers/t1/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "t1", "status": "completed", "message": "ready", "vocab_size": 7
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/tokenizers/t2/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(status("pending", "queued")))
            .mount(&server)
            .await;
        let c = client(&server);
        let done = c
            .tokenizers()
            .wait_for_tokenizer("t1", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(done.vocab_size, Some(7));
        let err = c
            .tokenizers()
            .wait_for_tokenizer("t2", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WaitTimeout { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn names_are_one_path_segment_and_routes_use_their_credentials() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tokenizers/org%2Fmodel"))
            .and(wiremock::matchers::header("authorization", "Bearer adm"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "t1", "name": "org/model", "source": "org/model", "vocab_size": 3
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/tokenize"))
            .and(wiremock::matchers::header("authorization", "Bearer key"))
            .and(body_json(json!({"model": "m", "prompt": ["a", "b"]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "tokens": [[1], [2]], "count": [1, 1], "char_count": [1, 1]
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/detokenize"))
            .and(header_exists("authorization"))
            .and(body_json(
                json!({"model": "m", "tokens": [1, 2], "skip_special_tokens": false}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "ab"})))
            .mount(&server)
            .await;
        let c = client(&server);
        assert_eq!(c.tokenizers().get("org/model").await.unwrap().vocab_size, 3);
        let tokens = c
            .tokenize(&TokenizeRequest::new("m", vec!["a".into(), "b".into()]))
            .await
            .unwrap();
        assert_eq!(tokens.counts(), vec![1, 1]);
        let text = c
            .detokenize(&DetokenizeRequest::new("m", vec![1, 2]).skip_special_tokens(false))
            .await
            .unwrap();
        assert_eq!(
            text.text,
            crate::types::DetokenizedText::Single("ab".into())
        );
        assert!(matches!(
            c.tokenizers().status(" ").await,
            Err(Error::InvalidInput(_))
        ));
    }
}
