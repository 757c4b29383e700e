//! Module management behind `/wasm`: validation, compilation, durable registration (bytes and
//! descriptor written to the store before the answer), removal, the snapshot the middleware
//! runs, and execution metrics. Free of HTTP.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smg_sdk::{
    MiddlewareAttachPoint, WasmMetrics, WasmModule, WasmModuleAddResult, WasmModuleAttachPoint,
    WasmModuleDescriptor, WasmModuleList, WasmModuleMeta, WasmModuleType,
};
use uuid::Uuid;

use super::abi::{Action, ErrorInfo, Request, Response};
use super::runtime::{CompiledModule, ExecError, Limits, LoadError, RuntimeError, WasmRuntime};
use super::validate;
use crate::store::{Collection, SharedStore, StoreError};

const META_KIND: &str = "wasm_modules";
const BYTES_KIND: &str = "wasm_module_bytes";

/// Prefix of `file_path` for uploaded modules.
pub const UPLOAD_PREFIX: &str = "upload://";

#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored WASM module {uuid} ('{name}') cannot be loaded: {message}")]
    Restore {
        uuid: String,
        name: String,
        message: String,
    },
}

/// Why `DELETE /wasm/{uuid}` failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("Module with UUID {0} not found")]
    NotFound(String),
    #[error("Failed to remove module {uuid}: {source}")]
    Store { uuid: String, source: StoreError },
}

/// A module as stored: the descriptor and its metadata (the bytes are a separate record).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredModule {
    name: String,
    file_path: String,
    #[serde(default)]
    module_type: WasmModuleType,
    sha256_hash: String,
    size_bytes: u64,
    created_at: DateTime<Utc>,
    attach_points: Vec<WasmModuleAttachPoint>,
}

/// Execution counters (times in microseconds).
#[derive(Default)]
struct Counters {
    total: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
}

impl Counters {
    fn record(&self, elapsed: Duration, ok: bool) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.total.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WasmMetrics {
        let total = self.total.load(Ordering::Relaxed);
        let total_us = self.total_us.load(Ordering::Relaxed);
        WasmMetrics {
            total_executions: total,
            successful_executions: self.ok.load(Ordering::Relaxed),
            failed_executions: self.failed.load(Ordering::Relaxed),
            total_execution_time_ms: total_us / 1000,
            max_execution_time_ms: self.max_us.load(Ordering::Relaxed) / 1000,
            average_execution_time_ms: (total > 0).then(|| total_us as f64 / total as f64 / 1000.0),
        }
    }
}

/// A registered, compiled module.
pub struct LoadedModule {
    pub uuid: String,
    meta: StoredModule,
    points: Vec<MiddlewareAttachPoint>,
    compiled: CompiledModule,
    counters: Counters,
    last_accessed_us: AtomicI64,
}

impl LoadedModule {
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn attached(&self, point: MiddlewareAttachPoint) -> bool {
        self.points.contains(&point)
    }

    fn to_wire(&self) -> WasmModule {
        let last = DateTime::from_timestamp_micros(self.last_accessed_us.load(Ordering::Relaxed))
            .unwrap_or(self.meta.created_at);
        let metrics = self.counters.snapshot();
        WasmModule {
            module_uuid: self.uuid.clone(),
            module_meta: WasmModuleMeta {
                name: self.meta.name.clone(),
                file_path: self.meta.file_path.clone(),
                sha256_hash: self.meta.sha256_hash.clone(),
                size_bytes: self.meta.size_bytes,
                created_at: self.meta.created_at,
                last_accessed_at: last.max(self.meta.created_at),
                access_count: metrics.total_executions,
                attach_points: self.meta.attach_points.clone(),
            },
            metrics: Some(metrics),
        }
    }
}

/// The modules the middleware runs, oldest first.
pub type Snapshot = Arc<Vec<Arc<LoadedModule>>>;

pub struct WasmService {
    runtime: Arc<WasmRuntime>,
    meta: Collection<StoredModule>,
    store: SharedStore,
    modules: RwLock<Snapshot>,
    /// Registrations and removals run one at a time (the duplicate check needs it).
    write_lock: tokio::sync::Mutex<()>,
    counters: Counters,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn points_of(points: &[WasmModuleAttachPoint]) -> Vec<MiddlewareAttachPoint> {
    let mut out: Vec<MiddlewareAttachPoint> = points.iter().map(|p| p.middleware()).collect();
    out.sort();
    out.dedup();
    out
}

impl WasmService {
    /// Build the runtime and load the modules in the store. A stored module that no longer
    /// loads is an error, never silently dropped (it may be someone's authentication).
    pub async fn start(store: SharedStore, limits: Limits) -> Result<Arc<Self>, WasmError> {
        let runtime = Arc::new(WasmRuntime::new(limits)?);
        let service = Arc::new(Self {
            runtime,
            meta: Collection::new(store.clone(), META_KIND),
            store,
            modules: RwLock::new(Arc::new(Vec::new())),
            write_lock: tokio::sync::Mutex::new(()),
            counters: Counters::default(),
        });
        service.restore().await?;
        Ok(service)
    }

    async fn restore(&self) -> Result<(), WasmError> {
        let records = self.meta.list().await?;
        let mut loaded = Vec::with_capacity(records.len());
        for (uuid, meta) in records {
            let fail = |message: String| WasmError::Restore {
                uuid: uuid.clone(),
                name: meta.name.clone(),
                message,
            };
            let bytes = self
                .store
                .get(BYTES_KIND, &uuid)
                .await?
                .ok_or_else(|| fail("its bytes are missing from the store".into()))?;
            if sha256_hex(&bytes) != meta.sha256_hash {
                return Err(fail("its stored bytes do not match its SHA-256".into()));
            }
            let points = points_of(&meta.attach_points);
            let compiled = self
                .compile(bytes, points.clone())
                .await
                .map_err(|e| fail(e.to_string()))?;
            loaded.push(Arc::new(LoadedModule {
                uuid,
                last_accessed_us: AtomicI64::new(meta.created_at.timestamp_micros()),
                meta,
                points,
                compiled,
                counters: Counters::default(),
            }));
        }
        if !loaded.is_empty() {
            tracing::info!(count = loaded.len(), "restored WASM modules from the store");
        }
        *self.modules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    pub fn limits(&self) -> &Limits {
        self.runtime.limits()
    }

    /// The modules to run, oldest first.
    pub fn snapshot(&self) -> Snapshot {
        self.modules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn compile(
        &self,
        bytes: Vec<u8>,
        points: Vec<MiddlewareAttachPoint>,
    ) -> Result<CompiledModule, LoadError> {
        let runtime = self.runtime.clone();
        let check_points = points.clone();
        let compiled = tokio::task::spawn_blocking(move || runtime.compile(&bytes, &points))
            .await
            .map_err(|e| LoadError::Compile(format!("compilation task failed: {e}")))??;
        self.runtime.check(&compiled, &check_points).await?;
        Ok(compiled)
    }

    /// Register the module file on this host named by `descriptor` (`POST /wasm`, JSON form).
    /// The descriptor comes back with its `add_result`.
    /// The file may be at most `max_bytes` long (`--max-wasm-upload-bytes`, as for uploads).
    pub async fn add_from_path(
        &self,
        mut descriptor: WasmModuleDescriptor,
        max_bytes: usize,
    ) -> WasmModuleDescriptor {
        let result = async {
            check_attach_points(&descriptor)?;
            let bytes =
                validate::read_module_file(&descriptor.name, &descriptor.file_path, max_bytes)
                    .await?;
            self.register(&descriptor, bytes).await
        }
        .await;
        descriptor.add_result = Some(match result {
            Ok(uuid) => WasmModuleAddResult::Success(uuid),
            Err(message) => WasmModuleAddResult::Error(message),
        });
        descriptor
    }

    /// Register uploaded bytes (`POST /wasm`, multipart form). `descriptor.file_path` is
    /// already `upload://<file name>`.
    pub async fn add_bytes(
        &self,
        mut descriptor: WasmModuleDescriptor,
        bytes: Vec<u8>,
    ) -> WasmModuleDescriptor {
        let result = if descriptor.name.trim().is_empty() {
            Err("name must not be empty".to_string())
        } else if bytes.is_empty() {
            Err("the uploaded module is empty".to_string())
        } else if let Err(message) = check_attach_points(&descriptor) {
            Err(message)
        } else {
            self.register(&descriptor, bytes).await
        };
        descriptor.add_result = Some(match result {
            Ok(uuid) => WasmModuleAddResult::Success(uuid),
            Err(message) => WasmModuleAddResult::Error(message),
        });
        descriptor
    }

    async fn register(
        &self,
        descriptor: &WasmModuleDescriptor,
        bytes: Vec<u8>,
    ) -> Result<String, String> {
        let _guard = self.write_lock.lock().await;
        let sha = sha256_hex(&bytes);
        if let Some(existing) = self.snapshot().iter().find(|m| m.meta.sha256_hash == sha) {
            return Err(format!(
                "module with same sha256 already exists: {sha} is module {} ('{}')",
                existing.uuid, existing.meta.name
            ));
        }
        let points = points_of(&descriptor.attach_points);
        let size = bytes.len() as u64;
        let compiled = self
            .compile(bytes.clone(), points.clone())
            .await
            .map_err(|e| e.to_string())?;
        let uuid = Uuid::now_v7().to_string();
        let meta = StoredModule {
            name: descriptor.name.clone(),
            file_path: descriptor.file_path.clone(),
            module_type: descriptor.module_type,
            sha256_hash: sha,
            size_bytes: size,
            created_at: Utc::now(),
            attach_points: descriptor.attach_points.clone(),
        };
        // Bytes first: a crash in between leaves an orphan blob, never a module without bytes.
        self.store
            .put(BYTES_KIND, &uuid, bytes)
            .await
            .map_err(|e| format!("could not persist the module: {e}"))?;
        if let Err(e) = self.meta.put(&uuid, &meta).await {
            let _ = self.store.delete(BYTES_KIND, &uuid).await;
            return Err(format!("could not persist the module: {e}"));
        }
        let module = Arc::new(LoadedModule {
            uuid: uuid.clone(),
            last_accessed_us: AtomicI64::new(meta.created_at.timestamp_micros()),
            meta,
            points,
            compiled,
            counters: Counters::default(),
        });
        let mut modules = self.modules.write().unwrap_or_else(|p| p.into_inner());
        let mut next = Vec::with_capacity(modules.len() + 1);
        next.extend(modules.iter().cloned());
        next.push(module.clone());
        *modules = Arc::new(next);
        drop(modules);
        tracing::info!(
            uuid = %uuid, name = %module.meta.name, file_path = %module.meta.file_path,
            sha256 = %module.meta.sha256_hash, attach_points = ?module.points,
            "registered WASM module"
        );
        Ok(uuid)
    }

    /// Remove a module (`DELETE /wasm/{uuid}`): from the store first, then from the pipeline.
    pub async fn remove(&self, uuid: &Uuid) -> Result<(), RemoveError> {
        let _guard = self.write_lock.lock().await;
        let id = uuid.to_string();
        if !self.snapshot().iter().any(|m| m.uuid == id) {
            return Err(RemoveError::NotFound(id));
        }
        let store_err = |source| RemoveError::Store {
            uuid: id.clone(),
            source,
        };
        self.meta.delete(&id).await.map_err(store_err)?;
        self.store
            .delete(BYTES_KIND, &id)
            .await
            .map_err(store_err)?;
        let mut modules = self.modules.write().unwrap_or_else(|p| p.into_inner());
        let next: Vec<_> = modules.iter().filter(|m| m.uuid != id).cloned().collect();
        *modules = Arc::new(next);
        drop(modules);
        tracing::info!(uuid = %id, "removed WASM module");
        Ok(())
    }

    /// `GET /wasm`.
    pub fn list(&self) -> WasmModuleList {
        WasmModuleList {
            modules: self.snapshot().iter().map(|m| m.to_wire()).collect(),
            metrics: self.counters.snapshot(),
        }
    }

    pub async fn on_request(&self, module: &LoadedModule, request: &Request) -> Option<Action> {
        let started = std::time::Instant::now();
        let result = self.runtime.on_request(&module.compiled, request).await;
        self.finish(module, MiddlewareAttachPoint::OnRequest, started, result)
    }

    pub async fn on_response(&self, module: &LoadedModule, response: &Response) -> Option<Action> {
        let started = std::time::Instant::now();
        let result = self.runtime.on_response(&module.compiled, response).await;
        self.finish(module, MiddlewareAttachPoint::OnResponse, started, result)
    }

    pub async fn on_error(&self, module: &LoadedModule, info: &ErrorInfo) -> Option<Action> {
        let started = std::time::Instant::now();
        let result = self.runtime.on_error(&module.compiled, info).await;
        self.finish(module, MiddlewareAttachPoint::OnError, started, result)
    }

    /// Count the call; a failure is logged and becomes `None` (treated as `continue`).
    fn finish(
        &self,
        module: &LoadedModule,
        point: MiddlewareAttachPoint,
        started: std::time::Instant,
        result: Result<Action, ExecError>,
    ) -> Option<Action> {
        let elapsed = started.elapsed();
        let ok = result.is_ok();
        self.counters.record(elapsed, ok);
        module.counters.record(elapsed, ok);
        module
            .last_accessed_us
            .store(Utc::now().timestamp_micros(), Ordering::Relaxed);
        match result {
            Ok(action) => Some(action),
            Err(error) => {
                tracing::warn!(
                    module_uuid = %module.uuid, module = %module.meta.name, attach_point = %point,
                    elapsed_ms = elapsed.as_millis() as u64, %error,
                    "WASM module failed; continuing as if it answered `continue`"
                );
                None
            }
        }
    }
}

/// A module without an attach point would never run: refuse it rather than register it.
fn check_attach_points(descriptor: &WasmModuleDescriptor) -> Result<(), String> {
    if descriptor.attach_points.is_empty() {
        return Err(
            "attach_points is empty: a module needs at least one attach point \
             ({\"Middleware\":\"OnRequest\"}, {\"Middleware\":\"OnResponse\"} or \
             {\"Middleware\":\"OnError\"}), otherwise it would never run"
                .to_string(),
        );
    }
    Ok(())
}

/// `upload://<file name>` for an uploaded file name (directories stripped).
pub fn upload_path(file_name: &str) -> String {
    let base = Path::new(file_name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "module.wasm".into());
    format!("{UPLOAD_PREFIX}{base}")
}
