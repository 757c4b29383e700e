//! Fetching tokenizer files from the Hugging Face Hub with one kept client: only tokenizer
//! and chat-template files (never weights), `HF_TOKEN` honoured, the whole fetch bounded by
//! `--hf-hub-timeout-secs` so an unreachable hub fails the load quickly instead of hanging.
//! Files land in the standard Hugging Face cache; a repository already cached is used when the
//! hub cannot be reached.

use std::path::PathBuf;
use std::time::Duration;

use hf_hub::api::tokio::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use super::source::{LoadError, is_tokenizer_file};

pub struct Hub {
    api: Result<Api, String>,
    cache: Cache,
    endpoint: String,
    timeout: Duration,
}

impl Hub {
    /// A client for `endpoint`, caching under `cache_dir` (else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`), authenticating with `HF_TOKEN` (else the cache's token file).
    pub fn new(endpoint: &str, cache_dir: Option<PathBuf>, timeout: Duration) -> Self {
        let cache = cache_dir.map(Cache::new).unwrap_or_else(Cache::from_env);
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let token = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|t| !t.trim().is_empty()))
            .map(|t| t.trim().to_string())
            .or_else(|| cache.token());
        let api = ApiBuilder::from_cache(cache.clone())
            .with_endpoint(endpoint.clone())
            .with_token(token)
            .with_progress(false)
            .with_user_agent("smg-gateway", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| format!("cannot set up the Hugging Face Hub client: {e}"));
        Self {
            api,
            cache,
            endpoint,
            timeout,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Download the tokenizer files of `repo` and return the local directory holding them.
    pub async fn fetch(&self, repo: &str, revision: Option<&str>) -> Result<PathBuf, LoadError> {
        let handle = Repo::with_revision(
            repo.to_string(),
            RepoType::Model,
            revision.unwrap_or("main").to_string(),
        );
        let outcome = tokio::time::timeout(self.timeout, self.download(&handle, repo)).await;
        let failure = match outcome {
            Ok(Ok(dir)) => return Ok(dir),
            Ok(Err(Failure::Final(e))) => return Err(e),
            Ok(Err(Failure::Unreachable(e))) => e,
            Err(_elapsed) => LoadError::new(format!(
                "the Hugging Face Hub at {} did not answer within {}s (--hf-hub-timeout-secs) \
                 while fetching '{repo}'",
                self.endpoint,
                self.timeout.as_secs_f64()
            )),
        };
        // Offline: a repository fetched before is still good.
        match self.cache.repo(handle).get("tokenizer.json") {
            Some(path) => {
                tracing::warn!(%repo, reason = %failure, "hub unreachable; using the cached tokenizer");
                path.parent().map(PathBuf::from).ok_or(failure)
            }
            None => Err(failure),
        }
    }

    async fn download(&self, handle: &Repo, repo: &str) -> Result<PathBuf, Failure> {
        let api = self
            .api
            .as_ref()
            .map_err(|e| Failure::Final(LoadError::new(e.clone())))?;
        let remote = api.repo(handle.clone());
        let info = remote.info().await.map_err(|e| self.classify(repo, e))?;
        let wanted: Vec<String> = info
            .siblings
            .into_iter()
            .map(|s| s.rfilename)
            .filter(|name| is_tokenizer_file(name))
            .collect();
        let has = |name: &str| wanted.iter().any(|w| w == name);
        let usable = has("tokenizer.json") || (has("vocab.json") && has("merges.txt"));
        if !usable {
            return Err(Failure::Final(LoadError::new(format!(
                "model '{repo}' on the Hugging Face Hub has no tokenizer.json"
            ))));
        }
        let mut dir = None;
        for name in &wanted {
            let path = remote.get(name).await.map_err(|e| self.classify(repo, e))?;
            if dir.is_none() {
                dir = path.parent().map(PathBuf::from);
            }
        }
        dir.ok_or_else(|| {
            Failure::Final(LoadError::new(format!(
                "model '{repo}': downloaded files have no directory"
            )))
        })
    }

    fn classify(&self, repo: &str, err: ApiError) -> Failure {
        if let ApiError::RequestError(e) = &err {
            match e.status().map(|s| s.as_u16()) {
                Some(401 | 403) => {
                    return Failure::Final(LoadError::new(format!(
                        "access to model '{repo}' on the Hugging Face Hub was denied (a gated or \
                         private model needs HF_TOKEN on the gateway host)"
                    )));
                }
                Some(404) => {
                    return Failure::Final(LoadError::new(format!(
                        "model '{repo}' was not found on the Hugging Face Hub at {}",
                        self.endpoint
                    )));
                }
                Some(status) => {
                    return Failure::Final(LoadError::new(format!(
                        "the Hugging Face Hub at {} answered {status} for '{repo}'",
                        self.endpoint
                    )));
                }
                None => {
                    return Failure::Unreachable(LoadError::new(format!(
                        "cannot reach the Hugging Face Hub at {} to fetch '{repo}': {}",
                        self.endpoint,
                        error_chain(e)
                    )));
                }
            }
        }
        Failure::Final(LoadError::new(format!(
            "fetching '{repo}' from the Hugging Face Hub failed: {}",
            error_chain(&err)
        )))
    }
}

enum Failure {
    /// The hub could not be reached: a cached copy may still do.
    Unreachable(LoadError),
    Final(LoadError),
}

/// An error and its sources, without repeating a message its source already says.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_fails_fast_with_the_reason() {
        // Bind then drop: nothing listens on the port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cache = tempfile::tempdir().unwrap();
        let hub = Hub::new(
            &format!("http://127.0.0.1:{port}"),
            Some(cache.path().join("hub")),
            Duration::from_secs(10),
        );
        let started = std::time::Instant::now();
        let err = hub.fetch("org/model", None).await.unwrap_err().0;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.contains("cannot reach the Hugging Face Hub"), "{err}");
        assert!(err.to_lowercase().contains("refused"), "{err}");
    }

    #[tokio::test]
    async fn silent_hub_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and never answer.
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let cache = tempfile::tempdir().unwrap();
        let hub = Hub::new(
            &format!("http://{addr}"),
            Some(cache.path().join("hub")),
            Duration::from_millis(300),
        );
        let err = hub.fetch("org/model", None).await.unwrap_err().0;
        assert!(err.contains("did not answer within 0.3s"), "{err}");
        hold.abort();
    }

    /// A stand-in for the Hub's API: repository info, and files served with the headers and
    /// range answers `hf-hub` relies on.
    async fn fake_hub(files: Vec<(&'static str, Vec<u8>)>) -> wiremock::MockServer {
        use wiremock::matchers::{method, path, path_regex};
        use wiremock::{Mock, ResponseTemplate};
        let server = wiremock::MockServer::start().await;
        let mut siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|(name, _)| serde_json::json!({"rfilename": name}))
            .collect();
        siblings.push(serde_json::json!({"rfilename": "model.safetensors"}));
        siblings.push(serde_json::json!({"rfilename": "nested/tokenizer.json"}));
        Mock::given(method("GET"))
            .and(path("/api/models/org/model/revision/main"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"sha": "c0ffee", "siblings": siblings})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/org/model/resolve/main/[^/]+$"))
            .respond_with(move |req: &wiremock::Request| {
                let name = req.url.path().rsplit('/').next().unwrap_or_default();
                let Some((_, body)) = files.iter().find(|(n, _)| *n == name) else {
                    return ResponseTemplate::new(404);
                };
                let range = req
                    .headers
                    .get("range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes="))
                    .and_then(|v| v.split_once('-'))
                    .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
                    .unwrap_or((0, body.len() - 1));
                let (start, stop) = (range.0, range.1.min(body.len() - 1));
                ResponseTemplate::new(206)
                    .insert_header("etag", format!("\"etag-{name}\""))
                    .insert_header("x-repo-commit", "c0ffee")
                    .insert_header(
                        "content-range",
                        format!("bytes {start}-{stop}/{}", body.len()),
                    )
                    .set_body_bytes(body[start..=stop].to_vec())
            })
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn fetches_only_tokenizer_files_and_uses_the_cache_offline() {
        let source = tempfile::tempdir().unwrap();
        let json =
            std::fs::read(crate::tokenizers::testing::write_tokenizer(source.path())).unwrap();
        let server = fake_hub(vec![
            ("tokenizer.json", json.clone()),
            ("chat_template.jinja", b"{{ messages }}".to_vec()),
        ])
        .await;
        let cache = tempfile::tempdir().unwrap();
        let hub = Hub::new(
            &server.uri(),
            Some(cache.path().join("hub")),
            Duration::from_secs(10),
        );
        let dir = hub.fetch("org/model", None).await.unwrap();
        assert_eq!(std::fs::read(dir.join("tokenizer.json")).unwrap(), json);
        let loaded = super::super::source::load_local(&dir, None).unwrap();
        assert_eq!(loaded.vocab_size, 5);
        assert_eq!(loaded.chat_template.as_deref(), Some("{{ messages }}"));
        let fetched: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_string())
            .collect();
        assert!(
            fetched
                .iter()
                .all(|p| !p.contains("safetensors") && !p.contains("nested")),
            "{fetched:?}"
        );

        // Hub gone: the cached copy is used.
        drop(server);
        let offline = Hub::new(
            "http://127.0.0.1:9",
            Some(cache.path().join("hub")),
            Duration::from_secs(5),
        );
        assert_eq!(offline.fetch("org/model", None).await.unwrap(), dir);
    }

    #[tokio::test]
    async fn repository_without_tokenizer_json_fails() {
        let server = fake_hub(vec![("tokenizer_config.json", b"{}".to_vec())]).await;
        let cache = tempfile::tempdir().unwrap();
        let hub = Hub::new(
            &server.uri(),
            Some(cache.path().join("hub")),
            Duration::from_secs(10),
        );
        let err = hub.fetch("org/model", None).await.unwrap_err().0;
        assert_eq!(
            err,
            "model 'org/model' on the Hugging Face Hub has no tokenizer.json"
        );
        let err = hub.fetch("org/other", None).await.unwrap_err().0;
        assert!(
            err.contains("was not found on the Hugging Face Hub"),
            "{err}"
        );
    }
}
