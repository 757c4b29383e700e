//! Start-up and shared state: open the store, restore workers, bind, serve.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::loads::Fanout;
use crate::parsers::Parsers;
use crate::store::{self, StoreError};
use crate::upstream::WorkerHttp;
use crate::workers::{WorkerError, WorkerService};

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<GatewayConfig>,
    pub workers: Arc<WorkerService>,
    pub http: WorkerHttp,
    pub parsers: Arc<Parsers>,
    draining: Arc<AtomicBool>,
}

impl AppState {
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
}

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Gateway {
    /// Open the store, restore runtime-added workers, register `--worker-urls`, and serve.
    pub async fn start(config: GatewayConfig) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let store = store::open(&config.store).await?;
        let http = WorkerHttp::new()?;
        let workers = WorkerService::start(config.clone(), store.clone(), http.clone());
        let restored = workers.restore().await?;
        if restored > 0 {
            tracing::info!(count = restored, store = %config.store.display(), "restored workers from the store");
        }
        for url in &config.worker_urls {
            workers.add_startup_worker(url)?;
        }
        let state = AppState {
            config: config.clone(),
            workers,
            http,
            parsers: Arc::new(Parsers::new()),
            draining: Arc::new(AtomicBool::new(false)),
        };
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
        let shutdown = CancellationToken::new();
        let app = crate::routes::router(state.clone());
        let token = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        });
        Ok(Self {
            addr,
            state,
            shutdown,
            server,
        })
    }

    /// Stop accepting traffic (readiness turns 503 `draining`) and finish in-flight requests.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.state.draining.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
        match self.server.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
