//! The sandbox: one `wasmtime` engine with the pooling allocator, epoch interruption driven by
//! a ticker thread, a memory limiter, WASI preview 2 (no files, no network, no environment),
//! and a fresh instance for every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use smg_sdk::MiddlewareAttachPoint;
use tokio::sync::Semaphore;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Linker, Lower,
    ResourceTable,
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::abi::{Action, ErrorInfo, Request, Response};

/// Upstream's limits (`crates/wasm/src/config.rs`): 64 MiB of memory, 1 s per call, 10 MiB
/// bodies, 1 MiB of wasm stack.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: usize,
    pub time: Duration,
    pub body_bytes: usize,
    pub stack_bytes: usize,
    /// Calls in flight at once; more wait for a slot.
    pub concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 * 1024 * 1024,
            time: Duration::from_millis(1000),
            body_bytes: 10 * 1024 * 1024,
            stack_bytes: 1024 * 1024,
            concurrency: 256,
        }
    }
}

/// How often the engine's epoch advances: the resolution of the time limit, and how often a
/// long-running call yields to other tasks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The exported interface and function of each attach point.
pub fn export_of(point: MiddlewareAttachPoint) -> (&'static str, &'static str) {
    match point {
        MiddlewareAttachPoint::OnRequest => ("smg:gateway/middleware-on-request", "on-request"),
        MiddlewareAttachPoint::OnResponse => ("smg:gateway/middleware-on-response", "on-response"),
        MiddlewareAttachPoint::OnError => ("smg:gateway/middleware-on-error", "on-error"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot configure the WASM engine: {0:#}")]
    Engine(wasmtime::Error),
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "the file is a core WebAssembly module, not a component: wrap it with `wasm-tools component new module.wasm -o component.wasm` (add `--adapt wasi_snapshot_preview1.reactor.wasm` if it imports WASI preview 1), or build it for the `wasm32-wasip2` target"
    )]
    CoreModule,
    #[error("the file is not WebAssembly (no `\\0asm` header)")]
    NotWasm,
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error("the component cannot be linked: {0}")]
    Link(String),
    #[error(
        "the component does not export `{interface}` (function `{function}`), which the {point} attach point needs"
    )]
    MissingExport {
        point: MiddlewareAttachPoint,
        interface: &'static str,
        function: &'static str,
    },
    #[error("the component's `{interface}` export does not match smg:gateway's WIT: {message}")]
    WrongType {
        interface: &'static str,
        message: String,
    },
    #[error("the component failed to start: {0}")]
    Start(String),
}

/// Why one call failed. Every failure is logged, counted, and treated as `continue`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("exceeded the {0} MiB memory limit")]
    OutOfMemory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("could not instantiate: {0}")]
    Instantiate(String),
    #[error("the module does not export the function of this attach point")]
    NoExport,
}

/// A compiled component, ready to instantiate.
pub struct CompiledModule {
    pre: InstancePre<HostState>,
    on_request: Option<ComponentExportIndex>,
    on_response: Option<ComponentExportIndex>,
    on_error: Option<ComponentExportIndex>,
}

impl CompiledModule {
    fn export(&self, point: MiddlewareAttachPoint) -> Option<&ComponentExportIndex> {
        match point {
            MiddlewareAttachPoint::OnRequest => self.on_request.as_ref(),
            MiddlewareAttachPoint::OnResponse => self.on_response.as_ref(),
            MiddlewareAttachPoint::OnError => self.on_error.as_ref(),
        }
    }
}

/// Per-call store data: WASI state and the memory limiter.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory (growth past the cap traps, with a typed error) and tables.
struct Limiter {
    memory_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
struct MemoryLimitExceeded;

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(MemoryLimitExceeded.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let weak = engine.weak();
        let spawned = std::thread::Builder::new()
            .name("smg-wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the ticker a looping module would only be stopped by the backstop timer.
            tracing::error!(error = %e, "cannot start the WASM epoch thread");
        }
        Self { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct WasmRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    slots: Semaphore,
    _ticker: Ticker,
}

impl WasmRuntime {
    pub fn new(limits: Limits) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::new();
        let slots = limits.concurrency.max(1);
        // Components built by common toolchains hold a few core instances (the program, the
        // WASI adapter, shims), usually one memory and a few tables.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(4)
            .max_core_instances_per_component(16)
            .max_tables_per_component(16)
            // Reset what a typical middleware touches with memset instead of an madvise
            // system call on every call's teardown; anything beyond is still decommitted.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .async_support(true)
            .epoch_interruption(true)
            .wasm_component_model(true)
            .max_wasm_stack(limits.stack_bytes)
            .async_stack_size(limits.stack_bytes + 512 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(RuntimeError::Engine)?;
        let ticker = Ticker::start(&engine);
        Ok(Self {
            engine,
            linker,
            slots: Semaphore::new(slots as usize),
            limits,
            _ticker: ticker,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compile and link `bytes`, and find the exports of the attach points. CPU-heavy: call
    /// it off the async threads. Exports are only looked up here; [`check`](Self::check)
    /// instantiates once to type-check them.
    pub fn compile(
        &self,
        bytes: &[u8],
        points: &[MiddlewareAttachPoint],
    ) -> Result<CompiledModule, LoadError> {
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(LoadError::CoreModule),
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => return Err(LoadError::NotWasm),
        }
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let lookup = |point| {
            let (interface, function) = export_of(point);
            let iface = component.get_export_index(None, interface)?;
            component.get_export_index(Some(&iface), function)
        };
        let on_request = lookup(MiddlewareAttachPoint::OnRequest);
        let on_response = lookup(MiddlewareAttachPoint::OnResponse);
        let on_error = lookup(MiddlewareAttachPoint::OnError);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let module = CompiledModule {
            pre,
            on_request,
            on_response,
            on_error,
        };
        for &point in points {
            if module.export(point).is_none() {
                let (interface, function) = export_of(point);
                return Err(LoadError::MissingExport {
                    point,
                    interface,
                    function,
                });
            }
        }
        Ok(module)
    }

    /// Instantiate once and type-check the export of every attach point.
    pub async fn check(
        &self,
        module: &CompiledModule,
        points: &[MiddlewareAttachPoint],
    ) -> Result<(), LoadError> {
        let _slot = self.slots.acquire().await;
        let mut store = self.store();
        let run = async {
            let instance = module
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| LoadError::Start(self.classify(e).to_string()))?;
            for &point in points {
                let Some(index) = module.export(point) else {
                    continue;
                };
                let typed = match point {
                    MiddlewareAttachPoint::OnRequest => instance
                        .get_typed_func::<(&Request,), (Action,)>(&mut store, index)
                        .map(drop),
                    MiddlewareAttachPoint::OnResponse => instance
                        .get_typed_func::<(&Response,), (Action,)>(&mut store, index)
                        .map(drop),
                    MiddlewareAttachPoint::OnError => instance
                        .get_typed_func::<(&ErrorInfo,), (Action,)>(&mut store, index)
                        .map(drop),
                };
                typed.map_err(|e| LoadError::WrongType {
                    interface: export_of(point).0,
                    message: format!("{e:#}"),
                })?;
            }
            Ok(())
        };
        match tokio::time::timeout(self.backstop(), run).await {
            Ok(result) => result,
            Err(_) => Err(LoadError::Start(
                ExecError::Timeout(self.limits.time).to_string(),
            )),
        }
    }

    pub async fn on_request(
        &self,
        module: &CompiledModule,
        request: &Request,
    ) -> Result<Action, ExecError> {
        self.call(module, MiddlewareAttachPoint::OnRequest, (request,))
            .await
            .map(|(action,)| action)
    }

    pub async fn on_response(
        &self,
        module: &CompiledModule,
        response: &Response,
    ) -> Result<Action, ExecError> {
        self.call(module, MiddlewareAttachPoint::OnResponse, (response,))
            .await
            .map(|(action,)| action)
    }

    pub async fn on_error(
        &self,
        module: &CompiledModule,
        info: &ErrorInfo,
    ) -> Result<Action, ExecError> {
        self.call(module, MiddlewareAttachPoint::OnError, (info,))
            .await
            .map(|(action,)| action)
    }

    /// Instantiate `module` in a fresh store and call the export of `point`.
    async fn call<P, R>(
        &self,
        module: &CompiledModule,
        point: MiddlewareAttachPoint,
        params: P,
    ) -> Result<R, ExecError>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let index = module.export(point).ok_or(ExecError::NoExport)?;
        let _slot = self.slots.acquire().await;
        let mut store = self.store();
        let run = async {
            let instance =
                module
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| match self.classify(e) {
                        ExecError::Trap(message) => ExecError::Instantiate(message),
                        other => other,
                    })?;
            let func = instance
                .get_typed_func::<P, R>(&mut store, index)
                .map_err(|e| ExecError::Instantiate(format!("{e:#}")))?;
            func.call_async(&mut store, params)
                .await
                .map_err(|e| self.classify(e))
        };
        // The epoch deadline stops wasm code; this also stops a call blocked in a host function.
        match tokio::time::timeout(self.backstop(), run).await {
            Ok(result) => result,
            Err(_) => Err(ExecError::Timeout(self.limits.time)),
        }
    }

    /// A store for one call: no files, network, environment or inherited stdio; the memory
    /// limiter; a deadline of [`Limits::time`] from now, checked every epoch tick (yielding to
    /// other tasks in between).
    fn store(&self) -> Store<HostState> {
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: self.limits.memory_bytes,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let deadline = Instant::now() + self.limits.time;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // tokio's `yield_now` lets the I/O and timer drivers run before this task
                // resumes, so a long call does not starve its worker thread's other tasks.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        store
    }

    fn backstop(&self) -> Duration {
        self.limits.time + Duration::from_millis(250)
    }

    fn classify(&self, error: wasmtime::Error) -> ExecError {
        if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
            return ExecError::OutOfMemory(self.limits.memory_bytes / (1024 * 1024));
        }
        if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
            return ExecError::Timeout(self.limits.time);
        }
        ExecError::Trap(format!("{error:#}"))
    }
}
