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
    #[error("invalid --worker-urls entry '{url}': {source}")]
    WorkerUrl { url: String, source: WorkerError },
    #[error("cannot restore the workers from the store: {0}")]
    Restore(WorkerError),
    /// `cause` is not a `source`: the message already tells it where it helps.
    #[error("{}", bind_failure(.listener, .cause))]
    Bind {
        listener: Listener,
        cause: std::io::Error,
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
    /// Bind the listeners, open the store, restore runtime-added workers, register
    /// `--worker-urls`, and serve. The ports are taken first, so a gateway that cannot
    /// listen stops before it touches the store or starts any job.
    pub async fn start(config: GatewayConfig) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let (listener, addr) = Listener {
            host: config.host.clone(),
            port: config.port,
            host_flag: "--host",
            port_flag: "--port",
        }
        .bind()
        .await?;
        let (metrics_listener, metrics_addr) = Listener {
            host: config
                .prometheus_host
                .clone()
                .unwrap_or_else(|| config.host.clone()),
            port: config.prometheus_port,
            host_flag: if config.prometheus_host.is_some() {
                "--prometheus-host"
            } else {
                "--host"
            },
            port_flag: "--prometheus-port",
        }
        .bind()
        .await?;
        let store = store::open(&config.store).await?;
        let auth =
            crate::auth::AuthService::start(&config.auth, &config.host, store.clone()).await?;
        let http = WorkerHttp::new()?;
        let workers = WorkerService::start(config.clone(), store.clone(), http.clone());
        let restored = workers.restore().await.map_err(StartError::Restore)?;
        if restored > 0 {
            tracing::info!(count = restored, store = %config.store.display(), "restored workers from the store");
        }
        for url in &config.worker_urls {
            workers
                .add_startup_worker(url)
                .map_err(|source| StartError::WorkerUrl {
                    url: url.clone(),
                    source,
                })?;
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

/// A listener to open, and the flags that choose its address (for the error message).
#[derive(Debug, Clone)]
pub struct Listener {
    pub host: String,
    pub port: u16,
    pub host_flag: &'static str,
    pub port_flag: &'static str,
}

impl Listener {
    async fn bind(self) -> Result<(TcpListener, SocketAddr), StartError> {
        // A bracketed IPv6 literal (`[::1]`) is accepted like the bare form.
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let bound = match TcpListener::bind((host, self.port)).await {
            Ok(listener) => listener.local_addr().map(|addr| (listener, addr)),
            Err(e) => Err(e),
        };
        bound.map_err(|cause| StartError::Bind {
            listener: self,
            cause,
        })
    }
}

/// What went wrong binding `listener`, and what to do about it.
fn bind_failure(listener: &Listener, cause: &std::io::Error) -> String {
    let Listener {
        host,
        port,
        host_flag,
        port_flag,
    } = listener;
    match cause.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {port} on {host} is in use: stop the other process or pass {port_flag} with a free port (0 picks one)"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on port {port} on {host} ({cause}): ports below 1024 need privileges; pass {port_flag} with a higher port"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {host}: it is not an address of this machine ({cause}); pass {host_flag} with one of its addresses, or 0.0.0.0 for all"
        ),
        _ => format!(
            "cannot listen on {host} port {port} ({cause}); check {host_flag} (an IP address or a resolvable name) and {port_flag}"
        ),
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
