//! Start-up and shared state: open the store, restore workers, bind, serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::loads::Fanout;
use crate::metrics::Metrics;
use crate::parsers::Parsers;
use crate::proxy::Proxy;
use crate::proxy::policy::Policy;
use crate::store::{self, StoreError};
use crate::upstream::WorkerHttp;
use crate::workers::{WorkerError, WorkerService};

/// Everything handlers share. One pointer: axum clones the state for every extractor and
/// middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub config: Arc<GatewayConfig>,
    pub workers: Arc<WorkerService>,
    pub http: WorkerHttp,
    pub parsers: Arc<Parsers>,
    /// WASM middleware modules; `None` without `--enable-wasm`.
    pub wasm: Option<Arc<crate::wasm::WasmService>>,
    pub tokenizers: Arc<crate::tokenizers::TokenizerService>,
    pub proxy: Arc<Proxy>,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<crate::auth::AuthService>,
    draining: AtomicBool,
}

impl SharedState {
    pub fn fanout(&self) -> Fanout<'_> {
        Fanout {
            http: &self.http,
            config: &self.config,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthSetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid --worker-urls entry: {0}")]
    WorkerUrl(#[from] WorkerError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Wasm(#[from] crate::wasm::WasmError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served.
    pub metrics_addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// Open the store, restore runtime-added workers, register `--worker-urls`, and serve.
    pub async fn start(config: GatewayConfig) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let store = store::open(&config.store).await?;
        let auth =
            crate::auth::AuthService::start(&config.auth, &config.host, store.clone()).await?;
        let http = WorkerHttp::new()?;
        let workers = WorkerService::start(config.clone(), store.clone(), http.clone());
        let restored = workers.restore().await?;
        if restored > 0 {
            tracing::info!(count = restored, store = %config.store.display(), "restored workers from the store");
        }
        for url in &config.worker_urls {
            workers.add_startup_worker(url)?;
        }
        let wasm = if config.enable_wasm {
            let limits = crate::wasm::Limits::default();
            Some(crate::wasm::WasmService::start(store.clone(), limits).await?)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new()?);
        let proxy = Arc::new(Proxy::new(
            Policy::new(config.policy, config.cache_aware()),
            metrics.clone(),
            std::time::Duration::from_secs(config.request_timeout_secs),
            config.retry(),
        )?);
        let tokenizers = crate::tokenizers::TokenizerService::start(&config, store.clone());
        let reloading = tokenizers.restore().await?;
        if reloading > 0 {
            tracing::info!(count = reloading, "reloading tokenizers from the store");
        }
        let state = AppState(Arc::new(SharedState {
            config: config.clone(),
            workers,
            http,
            parsers: Arc::new(Parsers::new()),
            wasm,
            tokenizers,
            proxy,
            metrics,
            auth,
            draining: AtomicBool::new(false),
        }));
        let bind = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: bind.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr: bind, source })?;
        let metrics_bind = format!(
            "{}:{}",
            config.prometheus_host.as_deref().unwrap_or(&config.host),
            config.prometheus_port
        );
        let metrics_listener =
            TcpListener::bind(&metrics_bind)
                .await
                .map_err(|source| StartError::Bind {
                    addr: metrics_bind.clone(),
                    source,
                })?;
        let metrics_addr = metrics_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: metrics_bind,
                source,
            })?;
        let shutdown = CancellationToken::new();
        crate::monitor::spawn(
            state.workers.registry.clone(),
            state.http.clone(),
            config.clone(),
            shutdown.clone(),
        );
        tokio::spawn(serve_metrics(
            metrics_listener,
            state.clone(),
            shutdown.clone(),
        ));
        let app = crate::routes::router(state.clone());
        let token = shutdown.clone();
        // No Nagle delay: streamed chunks (SSE) must leave as soon as they are written.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        });
        Ok(Self {
            addr,
            metrics_addr,
            state,
            shutdown,
            server,
        })
    }

    /// Stop accepting traffic (readiness turns 503 `draining`) and finish in-flight requests.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.state.draining.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
        let served = match self.server.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        };
        // Refusals counted since the last note would otherwise be lost with the process.
        self.state.auth.audit.flush_suppressed().await;
        served
    }
}

async fn serve_metrics(listener: TcpListener, state: AppState, shutdown: CancellationToken) {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || async move {
            let text = state
                .metrics
                .render(&state.workers.registry, state.workers.queue_depth());
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "metrics listener failed");
    }
}
